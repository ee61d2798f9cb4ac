package bench

// The cluster in the bench (issue 12): the produce scenarios again against
// three combined nodes (TargetRunnelCluster) beside one, and the metadata
// figures of a three-node controller quorum (MeasureClusterMetadata): the
// commit latency of topic creations one at a time, and the time from
// SIGKILLing the active controller to a new one and to the next successful
// creation. The nodes are started by broker/clustertest, as the cluster
// tests start them.
//
// Replication (issue 13): the acks=all scenario runs on three nodes with a
// topic of one replica, then on the same nodes (sameCluster: the run
// keeps them for the next target) with a topic replicated three times
// (min.insync.replicas 2), followers fsyncing what they append; then on
// fresh nodes whose followers do not (runnel.replica.fsync=false). Each
// cluster target reads the bytes its leaders sent to followers
// (runnel_replication_bytes_out_total on every node's /metrics) before and
// after the load.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/clustertest"
)

// TargetRunnelCluster is three combined `runnel serve` nodes
// (process.roles=broker,controller) on loopback; the load generator is
// given the first, and finds the partitions' leaders from its Metadata.
const TargetRunnelCluster = "runnel-3"

// The replicated cluster targets: TargetRunnelCluster's three nodes, the
// scenario's topic created with three replicas and min.insync.replicas 2,
// followers fsyncing each append before they fetch on, or not.
const (
	TargetRunnelClusterRF3        = "runnel-3-rf3"
	TargetRunnelClusterRF3NoFsync = "runnel-3-rf3-nofsync"
)

// clusterNodes is the size of TargetRunnelCluster.
const clusterNodes = 3

// clusterTarget is what a cluster target's nodes and topic differ by.
type clusterTarget struct {
	replicas    int16    // the scenario's topic's replication factor
	topicConfig []string // its configs, key=value
	properties  []string // the nodes' settings beyond clusterDefaults
}

// clusterTargets are the cluster targets by kind.
var clusterTargets = map[string]clusterTarget{
	TargetRunnelCluster:           {1, nil, []string{"runnel.replica.fsync=true"}},
	TargetRunnelClusterRF3:        {3, []string{"min.insync.replicas=2"}, []string{"runnel.replica.fsync=true"}},
	TargetRunnelClusterRF3NoFsync: {3, []string{"min.insync.replicas=2"}, []string{"runnel.replica.fsync=false"}},
}

// clusterAcksAll is the acks=all scenario on the cluster targets, the
// replicated ones beside.
const clusterAcksAll = "cluster-produce-acksall"

// clusterScenarios are the produce scenarios of the matrix again, run
// against one node and against three, under the identical load. The load
// goes through franz-go's producer, not raw batches, which go to the first
// bootstrap broker only.
func clusterScenarios(matrix []Scenario) []Scenario {
	var out []Scenario
	for _, sc := range matrix {
		if sc.Name != "produce-acks1" && sc.Name != "produce-acksall" {
			continue
		}
		sc.Name = "cluster-" + sc.Name
		sc.Load.Raw = false
		sc.Title = strings.Replace(sc.Title, ", raw batches)", ")", 1) +
			fmt.Sprintf(", through franz-go's producer: %d brokers beside 1", clusterNodes)
		sc.Targets = []string{TargetRunnel, TargetRunnelCluster}
		if sc.Name == clusterAcksAll {
			sc.Title += "; and on 3 brokers with the topic replicated 3 times (min.insync.replicas 2), followers fsyncing or not"
			sc.Targets = append(sc.Targets, TargetRunnelClusterRF3, TargetRunnelClusterRF3NoFsync)
		}
		out = append(out, sc)
	}
	return out
}

// clusterDefaults are the cluster nodes' settings: the bench's own, with
// small preallocation where a scenario creates many topics.
var clusterDefaults = []string{"runnel.shutdown.timeout.ms=5000"}

// startClusterTarget starts the cluster target kind over a new directory
// in workDir with the Runnel properties extra; its logs go to logPath when
// it stops, if a node logged anything. Its nodes have admin listeners, for
// /metrics.
func startClusterTarget(kind, runnel, workDir, logPath string, extra []string) (*target, error) {
	dir, err := os.MkdirTemp(workDir, "runnel-cluster-")
	if err != nil {
		return nil, err
	}
	props := append(slices.Concat(clusterDefaults, clusterTargets[kind].properties), extra...)
	c, err := clustertest.Start(clustertest.Options{
		Nodes: clusterNodes, Binary: runnel, Dir: dir, LogLevel: "warn", Admin: true,
		Properties: props, Ready: clustertest.MetadataListsAllBrokers, Timeout: time.Minute,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: %s: %w", kind, err)
	}
	return &target{kind: kind, addr: c.Node(0).Addr, dataDir: dir, logPath: logPath, cluster: c}, nil
}

// createClusterTopic creates a cluster target's topic for the load, with
// the target's replication factor and configs (the load generator would
// create it with one replica), named after the scenario's and the target
// (two targets may share a cluster), and returns its name; other targets'
// topics are the load generator's to create.
func (t *target) createClusterTopic(ctx context.Context, scenarioTopic string, partitions int) (string, error) {
	ct, ok := clusterTargets[t.kind]
	if !ok {
		return scenarioTopic, nil
	}
	topic := scenarioTopic + "-" + t.kind
	cl, err := t.cluster.Client()
	if err != nil {
		return "", err
	}
	defer cl.Close()
	configs := map[string]*string{}
	for _, kv := range ct.topicConfig {
		k, v, _ := strings.Cut(kv, "=")
		configs[k] = &v
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), ct.replicas, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return "", fmt.Errorf("bench: %s: create %s with %d replicas %v: %w", t.kind, topic, ct.replicas, ct.topicConfig, err)
	}
	return topic, nil
}

// sameCluster reports whether the cluster targets a and b run on nodes of
// the same settings, so that b can run on a's nodes after a: RF=3 beside
// RF=1 on the same three brokers.
func sameCluster(a, b string) bool {
	ca, okA := clusterTargets[a]
	cb, okB := clusterTargets[b]
	return okA && okB && slices.Equal(ca.properties, cb.properties)
}

// replicationBytesMetric counts the bytes a broker's leaders sent to
// followers (labelled or not: every sample is summed).
const replicationBytesMetric = "runnel_replication_bytes_out_total"

// replicationBytes is replicationBytesMetric summed over a cluster
// target's nodes, nil when no node has it (a Runnel without replication)
// or the target is not a cluster.
func (t *target) replicationBytes(ctx context.Context) *float64 {
	if t.cluster == nil {
		return nil
	}
	var sum float64
	found := false
	for _, n := range t.cluster.Nodes() {
		e, err := scrape(ctx, n.AdminAddr, 10*time.Second)
		if err != nil {
			continue
		}
		if v, ok := e.value(replicationBytesMetric); ok {
			sum, found = sum+v, true
		}
	}
	if !found {
		return nil
	}
	return &sum
}

// replicationTable is the scenario's replication figures, for a scenario
// with a replicated cluster target: each cluster target's topic
// replication factor and the bytes its leaders sent to followers.
func replicationTable(b *strings.Builder, rep *Report, sc Scenario) {
	if !slices.ContainsFunc(sc.Targets, func(k string) bool { return clusterTargets[k].replicas > 1 }) {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\nReplication: the bytes the leaders sent to followers over the whole load, warm-up included (`%s` summed over the nodes' /metrics, "+
		"before and after; n/a where the brokers do not have it), beside the bytes of record values acked:\n\n", replicationBytesMetric)
	w("| target | replication factor | topic configs and node settings | sent to followers (MB) | per byte of values acked |\n|---|---:|---|---:|---:|\n")
	for _, kind := range sc.Targets {
		ct, ok := clusterTargets[kind]
		run := rep.Find(sc.Name, kind)
		if !ok || run == nil {
			continue
		}
		sent, per := "n/a", "n/a"
		if run.ReplicationBytesOut != nil {
			sent = fmt.Sprintf("%.1f", *run.ReplicationBytesOut/1e6)
			if run.Result != nil && run.Result.Totals.AckedBytes > 0 {
				per = fmt.Sprintf("%.2f", *run.ReplicationBytesOut/float64(run.Result.Totals.AckedBytes))
			}
		}
		configs := strings.Join(append(slices.Clone(ct.topicConfig), ct.properties...), ", ")
		w("| %s | %d | %s | %s | %s |\n", kind, ct.replicas, configs, sent, per)
	}
}

// stopCluster stops TargetRunnelCluster's nodes (SIGKILL: each wrote its
// records before it answered) and keeps their logs when they logged.
func (t *target) stopCluster() error {
	logs := t.cluster.Logs()
	err := t.cluster.Close()
	if strings.Contains(logs, "level=") {
		os.WriteFile(t.logPath, []byte(logs), 0o644)
	}
	if rerr := os.RemoveAll(t.dataDir); err == nil {
		err = rerr
	}
	return err
}

// pids are the target's broker processes, whose CPU time is the run's.
func (t *target) pids() []int {
	if t.cluster == nil {
		return []int{t.cmd.Process.Pid}
	}
	var pids []int
	for i := range t.cluster.Len() {
		pids = append(pids, t.cluster.Pid(i))
	}
	return pids
}

// ClusterMetadata is what MeasureClusterMetadata measured.
type ClusterMetadata struct {
	Nodes  int `json:"nodes"`
	Topics int `json:"topics"` // created one at a time, one partition each
	// CreateP50, CreateP99 and CreateMax are the creations' latencies
	// (ms): a CreateTopics request answered once the controller quorum
	// committed the topic and the answering broker applied it.
	CreateP50 float64 `json:"create_p50_ms"`
	CreateP99 float64 `json:"create_p99_ms"`
	CreateMax float64 `json:"create_max_ms"`
	// ElectionTimeout is controller.quorum.election.timeout.ms.
	ElectionTimeout float64    `json:"election_timeout_ms"`
	Failovers       []Failover `json:"failovers"`
	Err             string     `json:"error,omitempty"`
}

// Failover is one SIGKILL of the active controller.
type Failover struct {
	Killed int32 `json:"killed_node"`
	// Elected is the time (ms) from the kill until another controller
	// answered DescribeQuorum as the leader, Created until a topic
	// creation succeeded.
	Elected float64 `json:"elected_ms"`
	Created float64 `json:"created_ms"`
}

// clusterMetadataSizes are MeasureClusterMetadata's topics and failovers,
// full and quick.
var (
	fullClusterMetadata  = [2]int{1000, 5}
	quickClusterMetadata = [2]int{100, 2}
)

// electionTimeout is the quorum's election timeout in the measurement
// (Kafka's default for controller.quorum.election.timeout.ms).
const electionTimeout = time.Second

// MeasureClusterMetadata starts three combined nodes over workDir,
// creates topics of one partition one at a time through a client that
// knows every node, then SIGKILLs the active controller failovers times
// (each restarted before the next), measuring how long until a new one
// is active and a creation succeeds.
func MeasureClusterMetadata(ctx context.Context, runnel, workDir string, topics, failovers int) (*ClusterMetadata, error) {
	dir, err := os.MkdirTemp(workDir, "runnel-cluster-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	c, err := clustertest.Start(clustertest.Options{
		Nodes: clusterNodes, Binary: runnel, Dir: dir, LogLevel: "warn", Timeout: time.Minute,
		Ready: clustertest.MetadataListsAllBrokers,
		Properties: append(slices.Clone(clusterDefaults),
			// topics logs: small preallocation, small indexes
			"runnel.segment.preallocate.bytes=65536", "log.index.size.max.bytes=65536",
			fmt.Sprintf("controller.quorum.election.timeout.ms=%d", electionTimeout.Milliseconds())),
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cl, err := c.Client(kgo.RetryTimeout(10 * time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	m := &ClusterMetadata{Nodes: clusterNodes, Topics: topics, ElectionTimeout: float64(electionTimeout.Milliseconds())}
	lat := make([]time.Duration, 0, topics)
	for k := range topics {
		start := time.Now()
		if err := createTopic(ctx, cl, fmt.Sprintf("metadata-%05d", k)); err != nil {
			return m, err
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return msOf(lat[min(len(lat)-1, int(q*float64(len(lat))))]) }
	m.CreateP50, m.CreateP99, m.CreateMax = at(0.50), at(0.99), msOf(lat[len(lat)-1])
	for round := range failovers {
		f, err := failover(ctx, c, cl, round)
		if err != nil {
			return m, fmt.Errorf("bench: failover %d: %w\n%s", round, err, c.Logs())
		}
		m.Failovers = append(m.Failovers, f)
	}
	return m, nil
}

// failover kills the active controller, measures the failover and
// restarts the node.
func failover(ctx context.Context, c *clustertest.Cluster, cl *kgo.Client, round int) (Failover, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	active, err := waitActive(ctx, c, -1)
	if err != nil {
		return Failover{}, err
	}
	f := Failover{Killed: c.Node(active).ID}
	killed := time.Now()
	if err := c.Kill(active); err != nil {
		return f, err
	}
	type election struct {
		after time.Duration
		err   error
	}
	elected := make(chan election, 1)
	go func() {
		_, err := waitActive(ctx, c, active)
		elected <- election{time.Since(killed), err}
	}()
	for k := 0; ; k++ {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		err := createTopic(attempt, cl, fmt.Sprintf("failover-%d-%d", round, k))
		cancelAttempt()
		if err == nil {
			f.Created = msOf(time.Since(killed))
			break
		}
		if ctx.Err() != nil {
			return f, fmt.Errorf("no creation succeeded: %w", err)
		}
	}
	e := <-elected
	if e.err != nil {
		return f, e.err
	}
	f.Elected = msOf(e.after)
	return f, c.Restart(active)
}

// waitActive polls DescribeQuorum until a controller other than not
// answers as the leader.
func waitActive(ctx context.Context, c *clustertest.Cluster, not int) (int, error) {
	for {
		probe, cancel := context.WithTimeout(ctx, time.Second)
		i, _, err := c.ActiveController(probe)
		cancel()
		if err == nil && i != not {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no active controller: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// createTopic creates a topic of one partition, an error unless created.
func createTopic(ctx context.Context, cl *kgo.Client, name string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// clusterMetadataSection is report.md's section of the cluster's metadata
// figures.
func clusterMetadataSection(b *strings.Builder, rep *Report) {
	m := rep.ClusterMetadata
	if m == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Cluster metadata (%d combined nodes)\n\n", m.Nodes)
	if m.Err != "" {
		w("Failed: %s\n\n", oneLine(m.Err))
	}
	w("%d topics of one partition created one at a time through a client that knows every node: each CreateTopics answered "+
		"once the quorum committed the topic and the answering broker applied it. Commit latency p50 %s ms, p99 %s ms, max %s ms.\n\n",
		m.Topics, ms(m.CreateP50), ms(m.CreateP99), ms(m.CreateMax))
	w("Controller failover: the active controller (found with DescribeQuorum) SIGKILLed while idle, election timeout %.0f ms.\n\n", m.ElectionTimeout)
	w("| kill | node | new controller active (ms) | next topic created (ms) |\n|---:|---:|---:|---:|\n")
	for i, f := range m.Failovers {
		w("| %d | %d | %.0f | %.0f |\n", i+1, f.Killed, f.Elected, f.Created)
	}
	w("\n")
}

// ClusterMetadataName is what Options.Only selects MeasureClusterMetadata
// by, as a scenario's name.
const ClusterMetadataName = "cluster-metadata"

// measureClusterMetadataInto runs MeasureClusterMetadata for the report,
// unless Options.Only leaves it out.
func measureClusterMetadataInto(ctx context.Context, opts Options, workDir string, rep *Report) {
	if len(selected([]Scenario{{Name: ClusterMetadataName}}, opts.Only)) == 0 {
		return
	}
	size := fullClusterMetadata
	if opts.Quick {
		size = quickClusterMetadata
	}
	fmt.Fprintf(opts.Log, "cluster metadata: %d topics created, %d controller failovers, on %d nodes\n", size[0], size[1], clusterNodes)
	m, err := MeasureClusterMetadata(ctx, opts.Runnel, workDir, size[0], size[1])
	if m == nil {
		m = &ClusterMetadata{Nodes: clusterNodes}
	}
	if err != nil {
		m.Err = err.Error()
		fmt.Fprintf(opts.Log, "  FAILED: %s\n", oneLine(m.Err))
	} else {
		fmt.Fprintf(opts.Log, "  create p50 %s ms, p99 %s ms; failovers %v\n", ms(m.CreateP50), ms(m.CreateP99), m.Failovers)
	}
	rep.ClusterMetadata = m
}
