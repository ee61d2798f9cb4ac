package main

// runnel topics reassign: Kafka's kafka-reassign-partitions.sh (KIP-455)
// with its JSON file, flags and output: --execute, --verify, --cancel and
// --list.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reassignmentFile is kafka-reassign-partitions.sh's JSON:
// {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]};
// log_dirs, when given, must be "any" for each replica (Runnel moves no
// replica between the log dirs of a broker).
type reassignmentFile struct {
	Version    int                   `json:"version"`
	Partitions []partitionAssignment `json:"partitions"`
}

type partitionAssignment struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// name is the partition as Kafka's TopicPartition prints it.
func (p partitionAssignment) name() string { return p.Topic + "-" + strconv.Itoa(int(p.Partition)) }

func topicsReassignCommand(bootstrap *string) *cobra.Command {
	var (
		file                          string
		execute, verify, cancel, list bool
		additional, preserveThrottles bool
		throttle                      int64
	)
	cmd := &cobra.Command{
		Use:   "reassign --reassignment-json-file FILE --execute|--verify|--cancel, or --list",
		Short: "Move partitions to other brokers (kafka-reassign-partitions.sh)",
		Long: `Reassign partitions as Kafka's kafka-reassign-partitions.sh does, with its
JSON file ({"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3,4]}]})
and output. --execute prints the current assignment (save it to roll back)
and starts the moves: the new replicas copy the partition and join the ISR,
then the controller drops the replicas left out. It refuses while one of
the partitions is being moved, unless --additional. --throttle B/s holds
the copy to that rate, as Kafka's tool sets it: the brokers' dynamic
leader.replication.throttled.rate and follower.replication.throttled.rate,
the topics' leader.replication.throttled.replicas (the current replicas of
the moving partitions) and follower.replication.throttled.replicas (the new
ones). --verify says which moves have completed and, once none is in
progress, clears those throttles (unless --preserve-throttles); --cancel
stops the ongoing moves (the partitions go back to their replicas before
the move) and --list lists every ongoing move.`,
		Example: `  runnel topics reassign --reassignment-json-file move.json --execute --throttle 50000000
  runnel topics reassign --reassignment-json-file move.json --verify
  runnel topics reassign --reassignment-json-file move.json --cancel
  runnel topics reassign --list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, set := range []bool{execute, verify, cancel, list} {
				if set {
					n++
				}
			}
			if n != 1 {
				return errors.New("give exactly one of --execute, --verify, --cancel, --list")
			}
			if list {
				cl, err := connect(cmd.Context(), *bootstrap)
				if err != nil {
					return err
				}
				defer cl.Close()
				ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
				defer cancel()
				return listReassignments(ctx, cl, cmd.OutOrStdout())
			}
			if file == "" {
				return errors.New("--reassignment-json-file is required with --execute, --verify and --cancel")
			}
			assignments, err := readReassignmentFile(file)
			if err != nil {
				return err
			}
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			w := cmd.OutOrStdout()
			switch {
			case execute:
				return executeReassignment(ctx, adm, assignments, additional, throttle, w)
			case verify:
				return verifyReassignment(ctx, adm, assignments, preserveThrottles, w)
			}
			return cancelReassignment(ctx, adm, assignments, w)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "reassignment-json-file", "", "the JSON file of the partitions to move and their new replicas")
	f.BoolVar(&execute, "execute", false, "start the reassignment the file describes")
	f.BoolVar(&verify, "verify", false, "report whether the file's reassignment has completed")
	f.BoolVar(&cancel, "cancel", false, "cancel the file's reassignments still in progress")
	f.BoolVar(&list, "list", false, "list every reassignment in progress")
	f.BoolVar(&additional, "additional", false, "with --execute: start even while some of the partitions are being reassigned")
	f.Int64Var(&throttle, "throttle", -1, "with --execute: the replication rate of the moves, bytes/s (-1: none)")
	f.BoolVar(&preserveThrottles, "preserve-throttles", false, "with --verify: keep the throttles when every move has completed")
	return cmd
}

// readReassignmentFile parses and checks a reassignment file as Kafka's
// parsePartitionReassignmentData does; the result is sorted by topic and
// partition.
func readReassignmentFile(path string) ([]partitionAssignment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f reassignmentFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%s: not supported version field value %d (want 1)", path, f.Version)
	}
	if len(f.Partitions) == 0 {
		return nil, fmt.Errorf("%s: partition reassignment list cannot be empty", path)
	}
	out := slices.Clone(f.Partitions)
	slices.SortFunc(out, func(a, b partitionAssignment) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	for i, p := range out {
		switch {
		case i > 0 && out[i-1].Topic == p.Topic && out[i-1].Partition == p.Partition:
			return nil, fmt.Errorf("%s: duplicate reassignment of partition %s", path, p.name())
		case len(p.Replicas) == 0:
			return nil, fmt.Errorf("%s: partition replica list for %s cannot be empty", path, p.name())
		case p.LogDirs != nil && len(p.LogDirs) != len(p.Replicas):
			return nil, fmt.Errorf("%s: the log_dirs of %s must name one log dir per replica", path, p.name())
		case slices.ContainsFunc(p.LogDirs, func(d string) bool { return d != "any" }):
			return nil, fmt.Errorf("%s: %s: Runnel moves no replica between log dirs: log_dirs must be \"any\"", path, p.name())
		}
		for k, r := range p.Replicas {
			if slices.Contains(p.Replicas[:k], r) {
				return nil, fmt.Errorf("%s: partition replica lists may not contain duplicate entries: %s lists broker %d twice", path, p.name(), r)
			}
		}
	}
	return out, nil
}

// currentAssignment returns the replicas each partition of assignments
// has now (from Metadata), in the same order.
func currentAssignment(ctx context.Context, adm *kadm.Client, assignments []partitionAssignment) ([]partitionAssignment, error) {
	var topics []string
	for _, p := range assignments {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
	}
	meta, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := make([]partitionAssignment, len(assignments))
	for i, p := range assignments {
		td, ok := meta.Topics[p.Topic]
		if !ok || td.Err != nil {
			return nil, fmt.Errorf("topic %s not found", p.Topic)
		}
		pd, ok := td.Partitions[p.Partition]
		if !ok {
			return nil, fmt.Errorf("unable to find partition: %s", p.name())
		}
		out[i] = partitionAssignment{Topic: p.Topic, Partition: p.Partition, Replicas: pd.Replicas}
	}
	return out, nil
}

// ongoingReassignments lists the reassignments in progress of the
// partitions in assignments.
func ongoingReassignments(ctx context.Context, adm *kadm.Client, assignments []partitionAssignment) (kadm.ListPartitionReassignmentsResponses, error) {
	set := kadm.TopicsSet{}
	for _, p := range assignments {
		set.Add(p.Topic, p.Partition)
	}
	return adm.ListPartitionReassignments(ctx, set)
}

// reassignmentJSON formats assignments as kafka-reassign-partitions.sh
// prints them, log_dirs "any" for every replica.
func reassignmentJSON(assignments []partitionAssignment) string {
	f := reassignmentFile{Version: 1, Partitions: make([]partitionAssignment, len(assignments))}
	for i, p := range assignments {
		p.LogDirs = slices.Repeat([]string{"any"}, len(p.Replicas))
		f.Partitions[i] = p
	}
	b, _ := json.Marshal(f) // plain data: cannot fail
	return string(b)
}

// plural is "s" unless n is 1, for Kafka's "reassignment%s".
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func partitionNames(assignments []partitionAssignment) string {
	names := make([]string, len(assignments))
	for i, p := range assignments {
		names[i] = p.name()
	}
	return strings.Join(names, ",")
}

// executeReassignment is kafka-reassign-partitions.sh --execute.
func executeReassignment(ctx context.Context, adm *kadm.Client, assignments []partitionAssignment, additional bool, throttle int64, w io.Writer) error {
	current, err := currentAssignment(ctx, adm, assignments)
	if err != nil {
		return err
	}
	if !additional {
		ongoing, err := ongoingReassignments(ctx, adm, assignments)
		if err != nil {
			return err
		}
		if len(ongoing.Sorted()) > 0 {
			return errors.New("cannot execute because there is an existing partition assignment. Use --additional to override this and create a new partition assignment in addition to the existing one")
		}
	}
	fmt.Fprintf(w, "Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n", reassignmentJSON(current))
	if throttle >= 0 {
		fmt.Fprintln(w, "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.")
		if err := setThrottles(ctx, adm, assignments, current, throttle); err != nil {
			return err
		}
		fmt.Fprintf(w, "The inter-broker throttle limit was set to %d B/s\n", throttle)
	}
	var req kadm.AlterPartitionAssignmentsReq
	for _, p := range assignments {
		req.Assign(p.Topic, p.Partition, p.Replicas)
	}
	if err := alterAssignments(ctx, adm, req, "reassigning"); err != nil {
		return err
	}
	fmt.Fprintf(w, "Successfully started partition reassignment%s for %s\n", plural(len(assignments)), partitionNames(assignments))
	return nil
}

// alterAssignments sends req and reports the partitions that failed as
// Kafka's tool does ("Error reassigning partition(s):", one a line).
func alterAssignments(ctx context.Context, adm *kadm.Client, req kadm.AlterPartitionAssignmentsReq, doing string) error {
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range resps.Sorted() {
		if err := itemError(r.Err, r.ErrMessage); err != nil {
			failed = append(failed, fmt.Sprintf("%s-%d: %v", r.Topic, r.Partition, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("error %s partition(s):\n%s", doing, strings.Join(failed, "\n"))
	}
	return nil
}

// verifyReassignment is kafka-reassign-partitions.sh --verify: per
// partition, completed, still in progress, or not in progress with other
// replicas than the file's.
func verifyReassignment(ctx context.Context, adm *kadm.Client, assignments []partitionAssignment, preserveThrottles bool, w io.Writer) error {
	ongoing, err := ongoingReassignments(ctx, adm, assignments)
	if err != nil {
		return err
	}
	current, err := currentAssignment(ctx, adm, assignments)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Status of partition reassignment:")
	for i, p := range assignments {
		switch _, moving := ongoing[p.Topic][p.Partition]; {
		case moving:
			fmt.Fprintf(w, "Reassignment of partition %s is still in progress.\n", p.name())
		case slices.Equal(current[i].Replicas, p.Replicas):
			fmt.Fprintf(w, "Reassignment of partition %s is completed.\n", p.name())
		default:
			fmt.Fprintf(w, "There is no active reassignment of partition %s, but replica set is %s rather than %s.\n",
				p.name(), javaList(current[i].Replicas), javaList(p.Replicas))
		}
	}
	if len(ongoing) > 0 || preserveThrottles {
		return nil
	}
	return clearThrottles(ctx, adm, assignments, w)
}

// The configs of kafka-reassign-partitions.sh's throttle.
const (
	leaderThrottledRate       = "leader.replication.throttled.rate"
	followerThrottledRate     = "follower.replication.throttled.rate"
	leaderThrottledReplicas   = "leader.replication.throttled.replicas"
	followerThrottledReplicas = "follower.replication.throttled.replicas"
)

// setThrottles sets the rate on every broker of the moving partitions
// (old and new replicas) and, per topic, the current replicas as the
// leader's throttled ones and the new replicas as the followers', as
// Kafka's calculateLeaderThrottles and calculateFollowerThrottles do.
func setThrottles(ctx context.Context, adm *kadm.Client, assignments, current []partitionAssignment, rate int64) error {
	var brokers []int32
	leaders, followers := map[string][]string{}, map[string][]string{}
	var topics []string
	for i, p := range assignments {
		if slices.Equal(current[i].Replicas, p.Replicas) {
			continue
		}
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
		for _, r := range current[i].Replicas {
			leaders[p.Topic] = append(leaders[p.Topic], fmt.Sprintf("%d:%d", p.Partition, r))
		}
		for _, r := range p.Replicas {
			if !slices.Contains(current[i].Replicas, r) {
				followers[p.Topic] = append(followers[p.Topic], fmt.Sprintf("%d:%d", p.Partition, r))
			}
		}
		for _, r := range append(slices.Clone(current[i].Replicas), p.Replicas...) {
			if !slices.Contains(brokers, r) {
				brokers = append(brokers, r)
			}
		}
	}
	for _, topic := range topics {
		l, f := strings.Join(leaders[topic], ","), strings.Join(followers[topic], ",")
		if err := alterConfigs(ctx, adm, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: leaderThrottledReplicas, Value: &l},
			{Op: kadm.SetConfig, Name: followerThrottledReplicas, Value: &f}}, topic, nil); err != nil {
			return err
		}
	}
	value := strconv.FormatInt(rate, 10)
	slices.Sort(brokers)
	for _, id := range brokers {
		if err := alterConfigs(ctx, adm, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: leaderThrottledRate, Value: &value},
			{Op: kadm.SetConfig, Name: followerThrottledRate, Value: &value}}, "", &id); err != nil {
			return err
		}
	}
	return nil
}

// clearThrottles deletes the throttle rates of every broker and the
// throttled replicas of the file's topics, as Kafka's clearAllThrottles.
func clearThrottles(ctx context.Context, adm *kadm.Client, assignments []partitionAssignment, w io.Writer) error {
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	ids := meta.Brokers.NodeIDs()
	slices.Sort(ids)
	var names []string
	for _, id := range ids {
		names = append(names, strconv.Itoa(int(id)))
		if err := alterConfigs(ctx, adm, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: leaderThrottledRate},
			{Op: kadm.DeleteConfig, Name: followerThrottledRate}}, "", &id); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "Clearing broker-level throttles on brokers %s\n", strings.Join(names, ","))
	var topics []string
	for _, p := range assignments {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
			if err := alterConfigs(ctx, adm, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: leaderThrottledReplicas},
				{Op: kadm.DeleteConfig, Name: followerThrottledReplicas}}, p.Topic, nil); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(w, "Clearing topic-level throttles on topic%s %s\n", plural(len(topics)), strings.Join(topics, ","))
	return nil
}

// alterConfigs applies ops (IncrementalAlterConfigs) to a topic, or to
// broker *broker when it is not nil.
func alterConfigs(ctx context.Context, adm *kadm.Client, ops []kadm.AlterConfig, topic string, broker *int32) error {
	var resps kadm.AlterConfigsResponses
	var err error
	if broker != nil {
		resps, err = adm.AlterBrokerConfigs(ctx, ops, *broker)
	} else {
		resps, err = adm.AlterTopicConfigs(ctx, ops, topic)
	}
	if err != nil {
		return err
	}
	for _, r := range resps {
		if err := itemError(r.Err, r.ErrMessage); err != nil {
			return fmt.Errorf("throttle configs of %s: %w", r.Name, err)
		}
	}
	return nil
}

// javaList prints ids as Java's List.toString: [1, 2, 3].
func javaList(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// cancelReassignment is kafka-reassign-partitions.sh --cancel: it cancels
// the file's partitions that are being reassigned.
func cancelReassignment(ctx context.Context, adm *kadm.Client, assignments []partitionAssignment, w io.Writer) error {
	ongoing, err := ongoingReassignments(ctx, adm, assignments)
	if err != nil {
		return err
	}
	var req kadm.AlterPartitionAssignmentsReq
	var moving []partitionAssignment
	for _, p := range assignments {
		if _, ok := ongoing[p.Topic][p.Partition]; ok {
			req.CancelAssign(p.Topic, p.Partition)
			moving = append(moving, p)
		}
	}
	if len(moving) == 0 {
		fmt.Fprintln(w, "None of the specified partition reassignments are active.")
		return nil
	}
	if err := alterAssignments(ctx, adm, req, "cancelling"); err != nil {
		return err
	}
	fmt.Fprintf(w, "Successfully cancelled partition reassignment%s for: %s\n", plural(len(moving)), partitionNames(moving))
	return nil
}

// listReassignments is kafka-reassign-partitions.sh --list: every
// reassignment in progress (ListPartitionReassignments of all topics,
// which kadm does not ask).
func listReassignments(ctx context.Context, cl *kgo.Client, w io.Writer) error {
	resp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("list partition reassignments: %w", err)
	}
	var lines []string
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			lines = append(lines, fmt.Sprintf("%s-%d: replicas: %s. adding: %s. removing: %s.", rt.Topic, rp.Partition,
				joinInt32(rp.Replicas), joinInt32(rp.AddingReplicas), joinInt32(rp.RemovingReplicas)))
		}
	}
	if len(lines) == 0 {
		fmt.Fprintln(w, "No partition reassignments found.")
		return nil
	}
	slices.Sort(lines)
	fmt.Fprintf(w, "Current partition reassignments:\n%s\n", strings.Join(lines, "\n"))
	return nil
}
