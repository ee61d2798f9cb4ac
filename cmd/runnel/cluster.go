package main

// runnel cluster and runnel metadata-quorum: the cluster's brokers and its
// controller quorum. `cluster describe` shows the brokers (DescribeCluster)
// and the quorum (DescribeQuorum, KIP-595 and KIP-836); `cluster
// cluster-id` is kafka-cluster.sh cluster-id; `metadata-quorum describe` is
// kafka-metadata-quorum.sh describe, with its flags and its output.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic is the controller quorum's partition, the one DescribeQuorum
// describes (partition 0).
const metadataTopic = "__cluster_metadata"

// errQuorumUnsupported: the broker has no controller quorum to describe.
var errQuorumUnsupported = errors.New("the broker does not serve DescribeQuorum (UNSUPPORTED_VERSION): it runs no controller quorum, or predates it")

func clusterCommand() *cobra.Command {
	var bootstrap string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Describe the cluster: brokers, racks, fenced state, controller and quorum (kafka-cluster.sh)",
		Long: `Describe the cluster. The action is a subcommand (runnel cluster describe)
or, as in Kafka's tools, a flag (runnel cluster --describe).`,
		Example: `  runnel cluster describe
  runnel cluster cluster-id
  runnel cluster --describe --bootstrap-server localhost:9092`,
	}
	addBootstrapFlag(cmd, &bootstrap)
	cmd.SetFlagErrorFunc(flagErrorHint)
	cmd.AddCommand(&cobra.Command{
		Use:   "describe",
		Short: "Show the brokers, the controller and the metadata quorum",
		Long: `Show the cluster id, the controller the broker reports (DescribeCluster's
ControllerId), then a line per broker: its id, host:port, rack ("null" for
none) and whether it is fenced (DescribeCluster v2 lists fenced brokers too;
from an older broker, or one that does not serve DescribeCluster (then from
Metadata), only the live ones). Then the controller quorum as
kafka-metadata-quorum.sh describe --status and --replication print it: the
leader (the active controller), its epoch, the high watermark, how far the
furthest voter lags, the voters and observers, and a line per replica of
the metadata log. A broker without a controller quorum (one that does not
serve DescribeQuorum) is said so, and the command still succeeds.`,
		Example: `  runnel cluster describe
  runnel cluster describe --bootstrap-server broker1:9092`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, bootstrap, func(ctx context.Context, cl *kgo.Client) error {
				info, err := describeCluster(ctx, cl)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				writeCluster(w, info)
				resp, err := describeQuorum(ctx, cl)
				if errors.Is(err, errQuorumUnsupported) {
					fmt.Fprintf(w, "\nQuorum: not described: %v\n", err)
					return nil
				}
				if err != nil {
					return err
				}
				fmt.Fprintln(w)
				if err := writeQuorumStatus(w, resp); err != nil {
					return err
				}
				fmt.Fprintln(w)
				return writeQuorumReplication(w, resp, false, time.Now())
			})
		},
	}, &cobra.Command{
		Use:     "cluster-id",
		Short:   "Print the cluster id (kafka-cluster.sh cluster-id)",
		Example: `  runnel cluster cluster-id`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, bootstrap, func(ctx context.Context, cl *kgo.Client) error {
				info, err := describeCluster(ctx, cl)
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "Cluster ID: %s\n", info.clusterID)
				}
				return err
			})
		},
	})
	acceptKafkaActions(cmd)
	return cmd
}

func metadataQuorumCommand() *cobra.Command {
	var (
		bootstrap                          string
		status, replication, humanReadable bool
	)
	cmd := &cobra.Command{
		Use:   "metadata-quorum",
		Short: "Describe the controller quorum (kafka-metadata-quorum.sh)",
		Example: `  runnel metadata-quorum describe --status
  runnel metadata-quorum --bootstrap-server localhost:9092 describe --replication`,
		Args: cobra.ArbitraryArgs,
		RunE: requireSubcommand,
	}
	addBootstrapFlag(cmd, &bootstrap)
	cmd.SetFlagErrorFunc(flagErrorHint)
	describe := &cobra.Command{
		Use:   "describe --status|--replication",
		Short: "Show the quorum's status or its replication",
		Long: `Describe the controller quorum (DescribeQuorum) as kafka-metadata-quorum.sh
describe does. --status: the cluster id, the leader (the active controller),
its epoch, the high watermark, how far the furthest voter lags behind the
leader in offsets (MaxFollowerLag) and in time (MaxFollowerLagTimeMs), the
voters and the observers. --replication: a line per replica of the
metadata log, the leader first, then the other voters, then the observers,
with its log end offset, its lag and when it last fetched and was last
caught up (milliseconds since the epoch; --human-readable: how long ago).`,
		Example: `  runnel metadata-quorum describe --status
  runnel metadata-quorum describe --replication --human-readable`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case status && replication:
				return errors.New("only one of --status or --replication should be specified with describe sub-command")
			case !status && !replication:
				return errors.New("one of --status or --replication must be specified with describe sub-command")
			case status && humanReadable:
				return errors.New("the option --human-readable is only supported along with --replication")
			}
			return withClient(cmd, bootstrap, func(ctx context.Context, cl *kgo.Client) error {
				w := cmd.OutOrStdout()
				if replication {
					resp, err := describeQuorum(ctx, cl)
					if err != nil {
						return err
					}
					return writeQuorumReplication(w, resp, humanReadable, time.Now())
				}
				info, err := describeCluster(ctx, cl)
				if err != nil {
					return err
				}
				resp, err := describeQuorum(ctx, cl)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%-24s%s\n", "ClusterId:", info.clusterID)
				return writeQuorumStatus(w, resp)
			})
		},
	}
	f := describe.Flags()
	f.BoolVar(&status, "status", false, "a summary of the quorum's state")
	f.BoolVar(&replication, "replication", false, "the replication of the metadata log, a replica a line")
	f.BoolVar(&humanReadable, "human-readable", false, "with --replication: timestamps as how long ago")
	cmd.AddCommand(describe)
	return cmd
}

// withClient connects to the cluster and runs fn with a context bounded by
// requestTimeout.
func withClient(cmd *cobra.Command, bootstrap string, fn func(ctx context.Context, cl *kgo.Client) error) error {
	cl, err := connect(cmd.Context(), bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
	defer cancel()
	return fn(ctx, cl)
}

// clusterInfo is what describeCluster learns of the cluster.
type clusterInfo struct {
	clusterID  string
	controller int32
	brokers    []kmsg.DescribeClusterResponseBroker // by node id
	// withFenced: the answer lists fenced brokers too (DescribeCluster v2+).
	withFenced bool
}

// describeCluster asks for the brokers with DescribeCluster, fenced ones
// included where the broker knows how (v2+), or with Metadata from a broker
// that does not serve DescribeCluster.
func describeCluster(ctx context.Context, cl *kgo.Client) (clusterInfo, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeFencedBrokers = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		if ok, serr := serves(ctx, cl, kmsg.DescribeCluster); serr != nil || ok {
			return clusterInfo{}, fmt.Errorf("describe cluster: %w", err)
		}
		meta, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		if err != nil {
			return clusterInfo{}, fmt.Errorf("describe cluster: %w", err)
		}
		info := clusterInfo{clusterID: meta.Cluster, controller: meta.Controller}
		for _, b := range meta.Brokers {
			info.brokers = append(info.brokers, kmsg.DescribeClusterResponseBroker{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
		}
		return info, nil
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return clusterInfo{}, fmt.Errorf("describe cluster: %w", itemError(err, derefString(resp.ErrorMessage)))
	}
	brokers := slices.SortedFunc(slices.Values(resp.Brokers), func(a, b kmsg.DescribeClusterResponseBroker) int { return int(a.NodeID) - int(b.NodeID) })
	return clusterInfo{clusterID: resp.ClusterID, controller: resp.ControllerID, brokers: brokers, withFenced: resp.Version >= 2}, nil
}

// serves reports whether the broker that answers an ApiVersions request
// serves the API key.
func serves(ctx context.Context, cl *kgo.Client, key kmsg.Key) (bool, error) {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(resp.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool { return k.ApiKey == key.Int16() }), nil
}

// describeQuorum asks for the state of the controller quorum. A broker that
// does not serve DescribeQuorum is errQuorumUnsupported; an error of the
// request or of the partition is an error.
func describeQuorum(ctx context.Context, cl *kgo.Client) (*kmsg.DescribeQuorumResponse, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = metadataTopic
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		if ok, serr := serves(ctx, cl, kmsg.DescribeQuorum); serr == nil && !ok {
			return nil, errQuorumUnsupported
		}
		return nil, fmt.Errorf("describe quorum: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		if errors.Is(err, kerr.UnsupportedVersion) {
			return nil, errQuorumUnsupported
		}
		return nil, fmt.Errorf("describe quorum: %w", itemError(err, derefString(resp.ErrorMessage)))
	}
	if _, err := quorumPartition(resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// quorumPartition is the answer's partition of the metadata log, as
// Kafka's admin client checks it: one topic, the metadata topic, one
// partition, no error.
func quorumPartition(resp *kmsg.DescribeQuorumResponse) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != metadataTopic || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("describe quorum: the answer is not of partition %s-0 alone", metadataTopic)
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe quorum: %w", itemError(err, derefString(p.ErrorMessage)))
	}
	return p, nil
}

// writeCluster prints the cluster id, the controller and a line per
// broker.
func writeCluster(w io.Writer, info clusterInfo) {
	fmt.Fprintf(w, "%-24s%s\n", "ClusterId:", info.clusterID)
	fmt.Fprintf(w, "%-24s%d\n", "ControllerId:", info.controller)
	fmt.Fprintln(w)
	rows := make([][]string, len(info.brokers))
	for i, b := range info.brokers {
		rack := "null"
		if b.Rack != nil {
			rack = *b.Rack
		}
		rows[i] = []string{strconv.Itoa(int(b.NodeID)), hostPort(b.Host, int(b.Port)), rack, strconv.FormatBool(b.IsFenced)}
	}
	writeTable(w, []string{"NodeId", "Host:Port", "Rack", "Fenced"}, rows)
	if !info.withFenced {
		fmt.Fprintln(w, "(the broker lists only unfenced brokers: DescribeCluster before v2)")
	}
}

// writeQuorumStatus prints the lines of kafka-metadata-quorum.sh describe
// --status after its ClusterId line (MetadataQuorumCommand.handleDescribeStatus).
func writeQuorumStatus(w io.Writer, resp *kmsg.DescribeQuorumResponse) error {
	p, leader, err := quorumLeader(resp)
	if err != nil {
		return err
	}
	// The voter furthest behind: the first with the lowest log end offset.
	furthest := leader
	if len(p.CurrentVoters) > 0 {
		furthest = &p.CurrentVoters[0]
		for i := range p.CurrentVoters {
			if p.CurrentVoters[i].LogEndOffset < furthest.LogEndOffset {
				furthest = &p.CurrentVoters[i]
			}
		}
	}
	lagTime := int64(-1)
	switch {
	case furthest == leader:
		lagTime = 0
	case leader.LastCaughtUpTimestamp != -1 && furthest.LastCaughtUpTimestamp != -1:
		lagTime = leader.LastCaughtUpTimestamp - furthest.LastCaughtUpTimestamp
	}
	endpoints := make(map[int32][]string, len(resp.Nodes))
	for _, n := range resp.Nodes {
		for _, l := range n.Listeners {
			endpoints[n.NodeID] = append(endpoints[n.NodeID], l.Name+"://"+hostPort(l.Host, int(l.Port)))
		}
	}
	for _, line := range [][2]string{
		{"LeaderId:", strconv.Itoa(int(p.LeaderID))},
		{"LeaderEpoch:", strconv.Itoa(int(p.LeaderEpoch))},
		{"HighWatermark:", strconv.FormatInt(p.HighWatermark, 10)},
		{"MaxFollowerLag:", strconv.FormatInt(leader.LogEndOffset-furthest.LogEndOffset, 10)},
		{"MaxFollowerLagTimeMs:", strconv.FormatInt(lagTime, 10)},
		{"CurrentVoters:", replicaList(p.CurrentVoters, endpoints)},
		{"CurrentObservers:", replicaList(p.Observers, endpoints)},
	} {
		fmt.Fprintf(w, "%-24s%s\n", line[0], line[1])
	}
	return nil
}

// quorumLeader is the answer's partition of the metadata log
// (quorumPartition) and the voter that leads; without one (an election
// under way) the quorum cannot be described, as with Kafka's tool.
func quorumLeader(resp *kmsg.DescribeQuorumResponse) (*kmsg.DescribeQuorumResponseTopicPartition, *kmsg.DescribeQuorumResponseTopicPartitionReplicaState, error) {
	p, err := quorumPartition(resp)
	if err != nil {
		return nil, nil, err
	}
	for i := range p.CurrentVoters {
		if p.CurrentVoters[i].ReplicaID == p.LeaderID {
			return p, &p.CurrentVoters[i], nil
		}
	}
	return nil, nil, fmt.Errorf("describe quorum: the leader (LeaderId %d, epoch %d) is not one of the voters: no leader is elected; try again", p.LeaderID, p.LeaderEpoch)
}

// replicaList formats replicas as kafka-metadata-quorum.sh does:
// [{"id": 1, "directoryId": null, "endpoints": ["CONTROLLER://host:9093"]}, ...].
func replicaList(replicas []kmsg.DescribeQuorumResponseTopicPartitionReplicaState, endpoints map[int32][]string) string {
	items := make([]string, len(replicas))
	for i, r := range replicas {
		var b strings.Builder
		fmt.Fprintf(&b, `{"id": %d, "directoryId": `, r.ReplicaID)
		if r.ReplicaDirectoryID == [16]byte{} {
			b.WriteString("null")
		} else {
			fmt.Fprintf(&b, "%q", uuidString(r.ReplicaDirectoryID))
		}
		if eps := endpoints[r.ReplicaID]; len(eps) > 0 {
			fmt.Fprintf(&b, `, "endpoints": ["%s"]`, strings.Join(eps, `", "`))
		}
		b.WriteString("}")
		items[i] = b.String()
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// writeQuorumReplication prints kafka-metadata-quorum.sh describe
// --replication's table: the leader, the other voters, the observers.
// humanReadable prints timestamps as how long before now they were.
func writeQuorumReplication(w io.Writer, resp *kmsg.DescribeQuorumResponse, humanReadable bool, now time.Time) error {
	p, leader, err := quorumLeader(resp)
	if err != nil {
		return err
	}
	timestamp := func(ms int64, what string) (string, error) {
		switch {
		case ms == -1:
			return "-1", nil
		case !humanReadable:
			return strconv.FormatInt(ms, 10), nil
		case ms <= 0 || ms > now.UnixMilli():
			return "", fmt.Errorf("error while computing relative time, possible drift in system clock: current timestamp is %d, %s timestamp is %d", now.UnixMilli(), what, ms)
		}
		return fmt.Sprintf("%d ms ago", now.UnixMilli()-ms), nil
	}
	var rows [][]string
	add := func(r *kmsg.DescribeQuorumResponseTopicPartitionReplicaState, status string) error {
		fetched, err := timestamp(r.LastFetchTimestamp, "last fetch")
		if err != nil {
			return err
		}
		caughtUp, err := timestamp(r.LastCaughtUpTimestamp, "last caught up")
		if err != nil {
			return err
		}
		rows = append(rows, []string{strconv.Itoa(int(r.ReplicaID)), uuidString(r.ReplicaDirectoryID),
			strconv.FormatInt(r.LogEndOffset, 10), strconv.FormatInt(leader.LogEndOffset-r.LogEndOffset, 10), fetched, caughtUp, status})
		return nil
	}
	errs := []error{add(leader, "Leader")}
	for i := range p.CurrentVoters {
		if p.CurrentVoters[i].ReplicaID != p.LeaderID {
			errs = append(errs, add(&p.CurrentVoters[i], "Follower"))
		}
	}
	for i := range p.Observers {
		errs = append(errs, add(&p.Observers[i], "Observer"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	writeTable(w, []string{"NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"}, rows)
	return nil
}

// writeTable prints a table as Kafka's ToolsUtils.prettyPrintTable does:
// every value padded to its column's width and followed by a tab.
func writeTable(w io.Writer, headers []string, rows [][]string) {
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = len(h)
		for _, r := range rows {
			widths[i] = max(widths[i], len(r[i]))
		}
	}
	for _, r := range append([][]string{headers}, rows...) {
		var b strings.Builder
		for i, v := range r {
			fmt.Fprintf(&b, "%-*s\t", widths[i], v)
		}
		fmt.Fprintln(w, b.String())
	}
}

// hostPort joins host and port, an IPv6 host in brackets.
func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// uuidString formats a 16-byte id as Kafka's Uuid.toString does.
func uuidString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
