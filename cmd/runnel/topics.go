package main

// runnel topics: Kafka's kafka-topics.sh (and the topic half of
// kafka-configs.sh) as subcommands, with the same flags and output.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func topicsCommand() *cobra.Command {
	var bootstrap string
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create, list, describe, alter and delete topics (kafka-topics.sh)",
		Long: `Manage topics as Kafka's kafka-topics.sh does, with its flag names.
Wherever --topic names existing topics (describe, alter, delete, list) it is
a regular expression matched against whole names, as in Kafka. The action is
a subcommand (runnel topics create ...) or, as in kafka-topics.sh, a flag
(runnel topics --create ...).`,
		Example: `  runnel topics create --topic test --partitions 3 --config retention.ms=86400000
  runnel topics list
  runnel topics describe --topic test
  runnel topics alter --topic test --partitions 6
  runnel topics delete --topic test
  runnel topics reassign --reassignment-json-file move.json --execute
  runnel topics elect-leaders --election-type preferred --all-topic-partitions
  runnel topics --create --topic quickstart-events --bootstrap-server localhost:9092`,
	}
	addBootstrapFlag(cmd, &bootstrap)
	cmd.SetFlagErrorFunc(flagErrorHint)
	cmd.AddCommand(topicsCreateCommand(&bootstrap), topicsListCommand(&bootstrap),
		topicsDescribeCommand(&bootstrap), topicsAlterCommand(&bootstrap), topicsDeleteCommand(&bootstrap),
		topicsElectLeadersCommand(&bootstrap), topicsReassignCommand(&bootstrap))
	acceptKafkaActions(cmd)
	return cmd
}

func topicsCreateCommand(bootstrap *string) *cobra.Command {
	var (
		topic             string
		partitions        int32
		replicationFactor int16
		configs           []string
		ifNotExists       bool
	)
	cmd := &cobra.Command{
		Use:   "create --topic NAME",
		Short: "Create a topic",
		Long: `Create a topic. Without --partitions or --replication-factor the broker's
defaults apply (num.partitions, default.replication.factor). Prints
"Created topic NAME." as Kafka does.`,
		Example: `  runnel topics create --topic test
  runnel topics create --topic orders --partitions 8 --config retention.ms=3600000 --config segment.bytes=104857600`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := parseKeyValues("config", configs)
			if err != nil {
				return err
			}
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			resp, err := adm.CreateTopic(ctx, partitions, replicationFactor, stringPointers(cfg), topic)
			if err == nil {
				err = itemError(resp.Err, resp.ErrMessage)
			}
			switch {
			case ifNotExists && errors.Is(err, kerr.TopicAlreadyExists):
				return nil
			case err != nil:
				return fmt.Errorf("create topic %q: %w", topic, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created topic %s.\n", topic)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "name of the topic to create")
	f.Int32Var(&partitions, "partitions", -1, "number of partitions (-1: the broker's num.partitions)")
	f.Int16Var(&replicationFactor, "replication-factor", -1, "replicas of each partition (-1: the broker's default)")
	f.StringArrayVar(&configs, "config", nil, "topic config key=value, repeatable (retention.ms, segment.bytes, ...)")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "succeed quietly if the topic exists")
	cmd.MarkFlagRequired("topic")
	return cmd
}

func topicsListCommand(bootstrap *string) *cobra.Command {
	var (
		topic           string
		excludeInternal bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topic names, one a line",
		Example: `  runnel topics list
  runnel topics list --topic 'orders.*'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			names, err := matchTopics(ctx, adm, topic, !excludeInternal)
			if err != nil {
				return err
			}
			for _, name := range names {
				fmt.Fprintln(cmd.OutOrStdout(), name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "list only topics matching this regular expression")
	cmd.Flags().BoolVar(&excludeInternal, "exclude-internal", false, "leave out internal topics (__consumer_offsets)")
	return cmd
}

func topicsDescribeCommand(bootstrap *string) *cobra.Command {
	var (
		topic           string
		ifExists        bool
		excludeInternal bool
		offsets         bool
		filter          partitionFilter
	)
	cmd := &cobra.Command{
		Use:   "describe [--topic REGEX]",
		Short: "Show partitions, leaders, replicas, ISR and configs",
		Long: `Describe topics as kafka-topics.sh --describe does, line for line: a line
per topic (id, partition count, replication factor, configs not at their
default, in the order Kafka's tool prints them), then a line per partition
(Leader, Replicas, Isr; Elr and LastKnownElr are N/A, as Kafka's tool prints
them from a Metadata answer). A partition with offline replicas also shows
them (Offline). Without --topic it describes every topic.

The report flags print only the matching partitions, without the topic
lines: --under-replicated-partitions (fewer in the ISR than replicas),
--unavailable-partitions (no leader, or a leader that is not a live
broker), --under-min-isr-partitions and --at-min-isr-partitions (against
the topic's min.insync.replicas, 1 when the broker does not report it).
--topics-with-overrides prints only the topic lines of topics with configs
set. --offsets adds each partition's log start and end offsets (not
Kafka's).`,
		Example: `  runnel topics describe --topic test
  runnel topics describe
  runnel topics describe --under-replicated-partitions
  runnel topics --describe --unavailable-partitions --bootstrap-server localhost:9092`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if filter.count() > 1 {
				return errors.New("give at most one of --under-replicated-partitions, --unavailable-partitions, --under-min-isr-partitions, --at-min-isr-partitions, --topics-with-overrides")
			}
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			names, err := matchTopics(ctx, adm, topic, !excludeInternal)
			if err == nil && len(names) == 0 && !ifExists {
				err = fmt.Errorf("topic %q does not exist", topic)
			}
			if err != nil || len(names) == 0 {
				return err
			}
			return describeTopics(ctx, adm, names, filter, offsets, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "regular expression of the topics to describe (default: all)")
	f.BoolVar(&ifExists, "if-exists", false, "succeed quietly if no topic matches")
	f.BoolVar(&excludeInternal, "exclude-internal", false, "leave out internal topics (__consumer_offsets)")
	f.BoolVar(&filter.underReplicated, "under-replicated-partitions", false, "only partitions whose ISR is smaller than their replicas")
	f.BoolVar(&filter.unavailable, "unavailable-partitions", false, "only partitions without a leader or whose leader is not a live broker")
	f.BoolVar(&filter.underMinISR, "under-min-isr-partitions", false, "only partitions whose ISR is below min.insync.replicas")
	f.BoolVar(&filter.atMinISR, "at-min-isr-partitions", false, "only partitions whose ISR is exactly min.insync.replicas")
	f.BoolVar(&filter.withOverrides, "topics-with-overrides", false, "only the topic lines of topics with configs set")
	f.BoolVar(&offsets, "offsets", false, "add each partition's LogStartOffset and LogEndOffset (Runnel's, not Kafka's)")
	return cmd
}

// partitionFilter is kafka-topics.sh --describe's report flags; at most
// one is set.
type partitionFilter struct {
	underReplicated, unavailable, underMinISR, atMinISR, withOverrides bool
}

func (f partitionFilter) count() int {
	n := 0
	for _, set := range []bool{f.underReplicated, f.unavailable, f.underMinISR, f.atMinISR, f.withOverrides} {
		if set {
			n++
		}
	}
	return n
}

// topicLines says whether the topic lines are printed: without a
// partition report flag (TopicCommand's describeConfigs).
func (f partitionFilter) topicLines() bool {
	return !f.underReplicated && !f.unavailable && !f.underMinISR && !f.atMinISR
}

// keep says whether partition p is printed, as TopicCommand's
// shouldPrintTopicPartition decides; live holds the live brokers' ids,
// moving the partition's reassignment (nil: none).
func (f partitionFilter) keep(p kadm.PartitionDetail, moving *kadm.ListPartitionReassignmentsResponse, minISR int, live map[int32]bool) bool {
	switch {
	case f.withOverrides:
		return false
	case f.topicLines():
		return true
	}
	hasLeader := p.Leader >= 0
	return f.underReplicated && len(p.ISR) < replicationFactor(p, moving) ||
		f.unavailable && (!hasLeader || !live[p.Leader]) ||
		f.underMinISR && (!hasLeader || len(p.ISR) < minISR) ||
		f.atMinISR && len(p.ISR) == minISR
}

// replicationFactor is a partition's replication factor as TopicCommand's
// getReplicationFactor counts it: during a reassignment, the replicas
// without those being removed.
func replicationFactor(p kadm.PartitionDetail, moving *kadm.ListPartitionReassignmentsResponse) int {
	if moving != nil {
		return len(p.Replicas) - len(moving.RemovingReplicas)
	}
	return len(p.Replicas)
}

// describeTopics prints the kafka-topics.sh --describe lines of names.
func describeTopics(ctx context.Context, adm *kadm.Client, names []string, filter partitionFilter, offsets bool, w io.Writer) error {
	meta, err := adm.Metadata(ctx, names...)
	if err != nil {
		return err
	}
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return err
	}
	var starts, ends kadm.ListedOffsets
	if offsets {
		if starts, err = adm.ListStartOffsets(ctx, names...); err != nil {
			return err
		}
		if ends, err = adm.ListEndOffsets(ctx, names...); err != nil {
			return err
		}
	}
	live := make(map[int32]bool, len(meta.Brokers))
	for _, b := range meta.Brokers {
		live[b.NodeID] = true
	}
	reassignments, err := reassignmentsOf(ctx, adm, meta.Topics)
	if err != nil {
		return err
	}
	for _, name := range names {
		td, ok := meta.Topics[name]
		if !ok {
			return fmt.Errorf("topic %q: missing from the metadata answer", name)
		}
		if td.Err != nil {
			return fmt.Errorf("describe topic %q: %w", name, td.Err)
		}
		var set []kadm.Config
		if rc, err := configs.On(name, nil); err == nil {
			set = rc.Configs
		}
		writeTopicDescription(w, td, set, reassignments[name], filter, live, func(p int32) string {
			if !offsets {
				return ""
			}
			return "\tLogStartOffset: " + listedOffset(starts, name, p) + "\tLogEndOffset: " + listedOffset(ends, name, p)
		})
	}
	return nil
}

// reassignmentsOf lists the reassignments in progress of the topics'
// partitions, as TopicCommand's listAllReassignments: none when the
// cluster does not serve ListPartitionReassignments or refuses it.
func reassignmentsOf(ctx context.Context, adm *kadm.Client, topics kadm.TopicDetails) (kadm.ListPartitionReassignmentsResponses, error) {
	set := kadm.TopicsSet{}
	for _, td := range topics {
		for p := range td.Partitions {
			set.Add(td.Topic, p)
		}
	}
	listed, err := adm.ListPartitionReassignments(ctx, set)
	if errors.Is(err, kerr.UnsupportedVersion) || errors.Is(err, kerr.ClusterAuthorizationFailed) {
		return nil, nil
	}
	return listed, err
}

// writeTopicDescription prints one topic as TopicCommand does: its line
// (TopicDescription.printDescription) unless the filter is a partition
// report, then its partitions' lines (PartitionDescription.printDescription)
// that the filter keeps. configs are the topic's described configs in the
// broker's order, moving its partitions' reassignments in progress; extra
// adds to a partition's line.
func writeTopicDescription(w io.Writer, td kadm.TopicDetail, configs []kadm.Config, moving map[int32]kadm.ListPartitionReassignmentsResponse, filter partitionFilter, live map[int32]bool, extra func(partition int32) string) {
	reassignment := func(p int32) *kadm.ListPartitionReassignmentsResponse {
		if r, ok := moving[p]; ok {
			return &r
		}
		return nil
	}
	var overrides []string
	minISR := 1
	for _, i := range javaHashMapOrder(configs, func(c kadm.Config) string { return c.Key }) {
		c := configs[i]
		if c.Key == "min.insync.replicas" && c.Value != nil {
			if n, err := strconv.Atoi(*c.Value); err == nil {
				minISR = n
			}
		}
		if c.Source == kmsg.ConfigSourceDefaultConfig {
			continue
		}
		value := "null" // Java's string of a null (sensitive) value
		if c.Value != nil {
			value = *c.Value
		}
		overrides = append(overrides, c.Key+"="+value)
	}
	partitions := td.Partitions.Sorted()
	if filter.topicLines() && (!filter.withOverrides || len(overrides) > 0) && len(partitions) > 0 {
		fmt.Fprintf(w, "Topic: %s", td.Topic)
		if td.ID != [16]byte{} {
			// The topic id as Kafka's Uuid.toString prints it.
			fmt.Fprintf(w, "\tTopicId: %s", uuidString(td.ID))
		}
		fmt.Fprintf(w, "\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
			len(partitions), replicationFactor(partitions[0], reassignment(partitions[0].Partition)), strings.Join(overrides, ","))
	}
	for _, p := range partitions {
		r := reassignment(p.Partition)
		if !filter.keep(p, r, minISR, live) {
			continue
		}
		leader := "none"
		if p.Leader >= 0 {
			leader = strconv.Itoa(int(p.Leader))
		}
		fmt.Fprintf(w, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s",
			td.Topic, p.Partition, leader, joinInt32(p.Replicas), joinInt32(p.ISR))
		if r != nil {
			fmt.Fprintf(w, "\tAdding Replicas: %s\tRemoving Replicas: %s", joinInt32(r.AddingReplicas), joinInt32(r.RemovingReplicas))
		}
		if len(p.OfflineReplicas) > 0 {
			fmt.Fprintf(w, "\tOffline: %s", joinInt32(p.OfflineReplicas))
		}
		// Kafka's tool prints N/A where the answer (Metadata) carries no
		// eligible leader replicas.
		fmt.Fprintf(w, "\tElr: N/A\tLastKnownElr: N/A%s\n", extra(p.Partition))
	}
}

// javaHashMapOrder returns the indexes of items in the order a Java
// HashMap, filled with them in order under key, iterates over them: the
// order Kafka's tools print a map in (Kafka's Config keeps a topic's
// configs in a HashMap). A HashMap of n entries has a table of the
// smallest power of two from 16 whose three quarters hold n; an entry
// goes to the bucket of its spread String.hashCode, and a bucket keeps
// insertion order (through resizes too; the few entries here never make a
// bucket a tree).
func javaHashMapOrder[T any](items []T, key func(T) string) []int {
	size := 16
	for len(items) > size*3/4 {
		size *= 2
	}
	bucket := func(s string) int {
		var h int32
		for _, c := range utf16.Encode([]rune(s)) {
			h = 31*h + int32(c)
		}
		return int((uint32(h) ^ uint32(h)>>16) & uint32(size-1))
	}
	order := make([]int, len(items))
	buckets := make([]int, len(items))
	for i, it := range items {
		order[i], buckets[i] = i, bucket(key(it))
	}
	slices.SortStableFunc(order, func(a, b int) int { return buckets[a] - buckets[b] })
	return order
}

func topicsAlterCommand(bootstrap *string) *cobra.Command {
	var (
		topic         string
		partitions    int32
		configs       []string
		deleteConfigs []string
		ifExists      bool
	)
	cmd := &cobra.Command{
		Use:   "alter --topic REGEX",
		Short: "Add partitions or change topic configs",
		Long: `Alter topics: --partitions sets the new total (it can only grow, as in
Kafka; keys then map to other partitions), --config key=value sets a topic
config and --delete-config key removes one so the broker default applies
again (kafka-configs.sh --alter --add-config / --delete-config).`,
		Example: `  runnel topics alter --topic test --partitions 6
  runnel topics alter --topic test --config retention.ms=3600000 --delete-config segment.bytes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if partitions < 0 && len(configs) == 0 && len(deleteConfigs) == 0 {
				return errors.New("nothing to alter: give --partitions, --config or --delete-config")
			}
			cfg, err := parseKeyValues("config", configs)
			if err != nil {
				return err
			}
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			names, err := existingTopics(ctx, adm, topic, ifExists)
			if err != nil || len(names) == 0 {
				return err
			}
			if partitions >= 0 {
				resps, err := adm.UpdatePartitions(ctx, int(partitions), names...)
				if err != nil {
					return err
				}
				for _, r := range resps.Sorted() {
					if err := itemError(r.Err, r.ErrMessage); err != nil {
						return fmt.Errorf("alter partitions of topic %q: %w", r.Topic, err)
					}
				}
			}
			if len(cfg) == 0 && len(deleteConfigs) == 0 {
				return nil
			}
			var alters []kadm.AlterConfig
			for _, k := range slices.Sorted(maps.Keys(cfg)) {
				v := cfg[k]
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
			}
			for _, k := range deleteConfigs {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			resps, err := adm.AlterTopicConfigs(ctx, alters, names...)
			if err != nil {
				return err
			}
			for _, r := range resps {
				if err := itemError(r.Err, r.ErrMessage); err != nil {
					return fmt.Errorf("alter configs of topic %q: %w", r.Name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Completed updating config for topic %s.\n", r.Name)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "regular expression of the topics to alter")
	f.Int32Var(&partitions, "partitions", -1, "new total number of partitions (more than now)")
	f.StringArrayVar(&configs, "config", nil, "set a topic config key=value, repeatable")
	f.StringArrayVar(&deleteConfigs, "delete-config", nil, "remove a topic config (back to the broker default), repeatable")
	f.BoolVar(&ifExists, "if-exists", false, "succeed quietly if no topic matches")
	cmd.MarkFlagRequired("topic")
	return cmd
}

func topicsDeleteCommand(bootstrap *string) *cobra.Command {
	var (
		topic    string
		ifExists bool
	)
	cmd := &cobra.Command{
		Use:   "delete --topic REGEX",
		Short: "Delete topics and their data",
		Long: `Delete the topics matching --topic and all their records. Like Kafka's
tool it prints nothing on success.`,
		Example: `  runnel topics delete --topic test
  runnel topics delete --topic 'tmp-.*' --if-exists`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := openAdmin(cmd, *bootstrap)
			if err != nil {
				return err
			}
			defer done()
			names, err := existingTopics(ctx, adm, topic, ifExists)
			if err != nil || len(names) == 0 {
				return err
			}
			resps, err := adm.DeleteTopics(ctx, names...)
			if err != nil {
				return err
			}
			for _, r := range resps.Sorted() {
				if err := itemError(r.Err, r.ErrMessage); err != nil {
					return fmt.Errorf("delete topic %q: %w", r.Topic, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "regular expression of the topics to delete")
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed quietly if no topic matches")
	cmd.MarkFlagRequired("topic")
	return cmd
}

// matchTopics returns the sorted names of the topics whose whole name
// matches pattern (every topic when pattern is empty).
func matchTopics(ctx context.Context, adm *kadm.Client, pattern string, internal bool) ([]string, error) {
	var re *regexp.Regexp
	if pattern != "" {
		var err error
		if re, err = regexp.Compile(`^(?:` + pattern + `)$`); err != nil {
			return nil, fmt.Errorf("--topic: %w", err)
		}
	}
	list := adm.ListTopics
	if internal {
		list = adm.ListTopicsWithInternal
	}
	topics, err := list(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, name := range topics.Names() {
		if re == nil || re.MatchString(name) {
			names = append(names, name)
		}
	}
	return names, nil
}

// existingTopics is matchTopics for commands that act on the topics: no
// match is an error unless ifExists.
func existingTopics(ctx context.Context, adm *kadm.Client, pattern string, ifExists bool) ([]string, error) {
	names, err := matchTopics(ctx, adm, pattern, true)
	if err == nil && len(names) == 0 && !ifExists {
		err = fmt.Errorf("topic %q does not exist", pattern)
	}
	return names, err
}

// topicPartitions returns, for the produce and consume commands, how many
// partitions topic has, or an error if it does not exist.
func topicPartitions(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	meta, err := adm.Metadata(ctx, topic)
	if err != nil {
		return 0, err
	}
	td, ok := meta.Topics[topic]
	switch {
	case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
		return 0, fmt.Errorf("topic %q does not exist", topic)
	case td.Err != nil:
		return 0, fmt.Errorf("topic %q: %w", topic, td.Err)
	}
	return len(td.Partitions), nil
}

func listedOffset(l kadm.ListedOffsets, topic string, partition int32) string {
	o, ok := l.Lookup(topic, partition)
	if !ok || o.Err != nil {
		return "?"
	}
	return strconv.FormatInt(o.Offset, 10)
}

func joinInt32(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

func stringPointers(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	p := make(map[string]*string, len(m))
	for k, v := range m {
		p[k] = &v
	}
	return p
}
