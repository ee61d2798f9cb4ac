package clustertest_test

// Replicated partitions under faults (issue 13, "What must show"): three
// nodes, topics with replication factor 3 and min.insync.replicas 2,
// idempotent acks=all producers whose every acknowledged record is
// recorded (clustertest.Workload) and checked against what consumers read
// back and against every replica's log on disk, after each fault.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/clustertest"
	"runnel/internal/wait"
	"runnel/segment"
)

// replicaLagMax is replica.lag.time.max.ms of the replication tests: a
// follower that has not caught up for this long leaves the ISR.
const replicaLagMax = 2 * time.Second

// metadataMinAge is how often the kill test's producers may refresh
// metadata.
const metadataMinAge = 100 * time.Millisecond

// tunedTimeouts are the short timeouts of the replication tests: a
// broker silent for sessionTimeout is fenced, a controller elected within
// electionTimeout's range, a follower behind for replicaLagMax leaves the
// ISR, and a follower's fetch from a silent leader fails after 3 s.
var tunedTimeouts = []string{
	fmt.Sprintf("broker.session.timeout.ms=%d", sessionTimeout.Milliseconds()),
	fmt.Sprintf("broker.heartbeat.interval.ms=%d", heartbeatInterval.Milliseconds()),
	fmt.Sprintf("controller.quorum.election.timeout.ms=%d", electionTimeout.Milliseconds()),
	fmt.Sprintf("replica.lag.time.max.ms=%d", replicaLagMax.Milliseconds()),
	"replica.fetch.wait.max.ms=100",
	"replica.socket.timeout.ms=3000",
}

// startReplicatedCluster starts three combined nodes with the tuned
// timeouts (Kafka's defaults when tuned is false), replication on by
// default (factor 3, min.insync.replicas 2, no unclean election), each
// node in a network namespace of its own when namespaces is set.
func startReplicatedCluster(t *testing.T, namespaces, tuned bool) *clustertest.Cluster {
	t.Helper()
	var timeouts []string
	if tuned {
		timeouts = tunedTimeouts
	}
	c, err := clustertest.Start(clustertest.Options{
		Test:       t,
		Namespaces: namespaces,
		Ready:      clustertest.MetadataListsAllBrokers,
		Properties: append(slices.Clone(timeouts),
			"default.replication.factor=3",
			"min.insync.replicas=2",
			"unclean.leader.election.enable=false",
			"offsets.topic.replication.factor=3",
			"offsets.topic.num.partitions=3",
			"group.initial.rebalance.delay.ms=0",
			"runnel.segment.preallocate.bytes=65536",
			"log.index.size.max.bytes=65536",
		),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createReplicatedTopic creates a topic of replication factor 3 and
// min.insync.replicas 2 and waits until every partition has a leader and
// all three replicas in its ISR on every node.
func createReplicatedTopic(t *testing.T, c *clustertest.Cluster, name string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 3
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, cfg)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Request(ctx, 0, req)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	r := resp.(*kmsg.CreateTopicsResponse).Topics[0]
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		t.Fatalf("create %s (replication factor 3): %v", name, err)
	}
	waitFullISR(t, c, name, partitions, "the creation")
}

// partitionState is a partition as one node's Metadata describes it.
type partitionState struct {
	leader int32
	epoch  int32
	isr    []int32
}

// partitionStates asks node i for topic's partitions.
func partitionStates(ctx context.Context, c *clustertest.Cluster, i int, topic string) ([]partitionState, error) {
	resp, err := metadata(ctx, c, i, topic)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil, fmt.Errorf("node %d: metadata of %s: %+v", c.Node(i).ID, topic, resp.Topics)
	}
	out := make([]partitionState, len(resp.Topics[0].Partitions))
	for _, p := range resp.Topics[0].Partitions {
		isr := slices.Clone(p.ISR)
		slices.Sort(isr)
		out[p.Partition] = partitionState{leader: p.Leader, epoch: p.LeaderEpoch, isr: isr}
	}
	return out, nil
}

// agreedStates are topic's partitions as every running node describes
// them, when they all agree (else an error saying how they differ).
func agreedStates(c *clustertest.Cluster, topic string, except ...int) ([]partitionState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var first []partitionState
	for i := range c.Len() {
		if !c.Running(i) || slices.Contains(except, i) {
			continue
		}
		states, err := partitionStates(ctx, c, i, topic)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = states
		} else if !slices.EqualFunc(first, states, func(a, b partitionState) bool {
			return a.leader == b.leader && a.epoch == b.epoch && slices.Equal(a.isr, b.isr)
		}) {
			return nil, fmt.Errorf("nodes differ on %s: %+v and node %d's %+v", topic, first, c.Node(i).ID, states)
		}
	}
	return first, nil
}

// waitFullISR waits until every running node agrees that every partition
// of topic has a running leader and all three replicas in its ISR.
func waitFullISR(t *testing.T, c *clustertest.Cluster, topic string, partitions int32, after string) {
	t.Helper()
	var last error
	took := wait.Until(t, 30*time.Second, fmt.Sprintf("%s's partitions led with 3 replicas in sync after %s", topic, after), func() bool {
		states, err := agreedStates(c, topic)
		if err == nil && len(states) != int(partitions) {
			err = fmt.Errorf("%d partitions", len(states))
		}
		for p, s := range states {
			if err == nil && (s.leader < 1 || !c.Running(int(s.leader-1)) || len(s.isr) != 3) {
				err = fmt.Errorf("partition %d: leader %d, ISR %v", p, s.leader, s.isr)
			}
		}
		if err != nil && (last == nil || err.Error() != last.Error()) {
			t.Logf("waiting for the full ISR: %v", err)
		}
		last = err
		return err == nil
	})
	t.Logf("%s: every partition has 3 replicas in sync %v after %s", topic, took.Round(time.Millisecond), after)
}

// leaderIndex is the index of partition p's leader, as every running node
// agrees.
func leaderIndex(t *testing.T, c *clustertest.Cluster, topic string, p int32) int {
	t.Helper()
	states, err := agreedStates(c, topic)
	if err != nil {
		t.Fatal(err)
	}
	if int(p) >= len(states) || states[p].leader < 1 {
		t.Fatalf("%s-%d has no leader: %+v", topic, p, states)
	}
	return int(states[p].leader - 1)
}

// checkRound checks the history so far and the replicas: every record
// acknowledged is read back at its offset, nothing is duplicated or
// reordered, and the replicas' logs hold the same batches.
func checkRound(t *testing.T, c *clustertest.Cluster, topic string, partitions int32, acked []clustertest.Ack, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	violations, err := c.VerifyHistory(ctx, topic, partitions, acked)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	for k, v := range violations {
		if k == 10 {
			t.Errorf("%s: and %d violations more", when, len(violations)-k)
			break
		}
		t.Errorf("%s: %s", when, v)
	}
	for p := range partitions {
		logs, err := c.ReplicaLogs(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(logs) != 3 {
			t.Errorf("%s: %s-%d has replicas on nodes %v, want 3", when, topic, p, keys(logs))
		}
		for _, d := range clustertest.CompareReplicas(logs) {
			t.Errorf("%s: replicas of %s-%d differ: %s", when, topic, p, d)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func keys(logs map[int32][]clustertest.Batch) []int32 {
	var ids []int32
	for id := range logs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// killRounds is RUNNEL_KILL_ROUNDS, else def.
func killRounds(t *testing.T, def int) int {
	v := os.Getenv("RUNNEL_KILL_ROUNDS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("RUNNEL_KILL_ROUNDS=%q: want a positive number", v)
	}
	return n
}

// TestLeaderKilledUnderLoad kills (SIGKILL) the leader of a partition
// while idempotent producers write to it with acks=all, restarts it, and
// repeats (RUNNEL_KILL_ROUNDS rounds, 5 by default; `make cluster-faults`
// runs 100). After each round no acknowledged record is lost or
// reordered and the replicas hold the same batches. It logs the failover
// time, from the kill to the first record of that partition acknowledged
// after it, per round and its minimum, median and maximum: with the tuned
// timeouts, or Kafka's defaults under RUNNEL_KILL_TIMEOUTS=default.
func TestLeaderKilledUnderLoad(t *testing.T) {
	rounds := killRounds(t, 5)
	tuned := os.Getenv("RUNNEL_KILL_TIMEOUTS") != "default"
	c := startReplicatedCluster(t, false, tuned)
	const topic, partitions = "killed", 3
	createReplicatedTopic(t, c, topic, partitions)
	// kgo refreshes metadata at most every 5 s by default, which would
	// then be most of the failover measured; Java's producer asks again
	// after retry.backoff.ms (100 ms).
	w, err := c.StartWorkload(clustertest.WorkloadOptions{Topic: topic, Partitions: partitions, Producers: 2, Interval: 5 * time.Millisecond,
		Opts: []kgo.Opt{kgo.MetadataMinAge(metadataMinAge)}})
	if err != nil {
		t.Fatal(err)
	}
	var failovers []time.Duration
	for round := range rounds {
		waitAcked(t, w, 100)
		victim := leaderIndex(t, c, topic, 0)
		killed := time.Now()
		if err := c.Kill(victim); err != nil {
			t.Fatal(err)
		}
		var failover time.Duration
		wait.Until(t, 30*time.Second, fmt.Sprintf("round %d: a record of %s-0 acknowledged after node %d's kill", round, topic, c.Node(victim).ID), func() bool {
			at, ok := w.FirstAckAfter(killed, 0)
			failover = at.Sub(killed)
			return ok
		})
		failovers = append(failovers, failover)
		t.Logf("round %d: killed node %d, leader of %s-0; first acks=all produce acknowledged %v later", round, c.Node(victim).ID, topic, failover.Round(time.Millisecond))
		if err := c.Restart(victim); err != nil {
			t.Fatal(err)
		}
		waitFullISR(t, c, topic, partitions, fmt.Sprintf("round %d's restart", round))
		checkRound(t, c, topic, partitions, w.Acks(), fmt.Sprintf("round %d", round))
	}
	acked, failures := w.Stop()
	t.Logf("%d records acknowledged, %d failed", len(acked), len(failures))
	for k, f := range failures[:min(len(failures), 5)] {
		t.Logf("failure %d: %v", k, f)
	}
	checkRound(t, c, topic, partitions, acked, "the end")
	slices.Sort(failovers)
	timeouts := "Kafka's default timeouts"
	if tuned {
		timeouts = strings.Join(tunedTimeouts, " ")
	}
	t.Logf("failover over %d rounds (%s; producers' kgo.MetadataMinAge %v): min %v, median %v, max %v", rounds, timeouts, metadataMinAge,
		failovers[0].Round(time.Millisecond), failovers[len(failovers)/2].Round(time.Millisecond), failovers[len(failovers)-1].Round(time.Millisecond))
}

// produceDirect sends one acks=all produce of value to topic-p to node i
// alone, with the given timeout, and returns its error code (or the
// request's error). It names the topic by name and by id (Produce v13,
// KIP-516, names it by id only).
func produceDirect(c *clustertest.Cluster, i int, topic string, p int32, value string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+2*time.Second)
	defer cancel()
	md, err := metadata(ctx, c, i, topic)
	if err != nil {
		return err
	}
	if len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 {
		return fmt.Errorf("metadata of %s: %+v", topic, md.Topics)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, int32(timeout.Milliseconds())
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, md.Topics[0].TopicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p
	rp.Records = segment.BuildBatch(nil, time.Now().UnixMilli(), []segment.KeyValue{{Value: []byte(value)}})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Request(ctx, i, req)
	if err != nil {
		return err
	}
	r := resp.(*kmsg.ProduceResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return fmt.Errorf("a produce answered with %d topics", len(r.Topics))
	}
	return kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode)
}

// TestSplitBrain isolates a partition's leader from the other nodes but
// not from the clients, under idempotent acks=all load. The isolated node
// acknowledges no acks=all produce sent to it directly, neither while
// its followers fall behind nor once the others have elected a leader
// without it; after Heal it truncates its divergent tail (the records it
// appended alone, which consumers never see), rejoins the ISR, and no
// acknowledged record is lost.
func TestSplitBrain(t *testing.T) {
	needNamespaces(t)
	c := startReplicatedCluster(t, true, true)
	const topic, partitions = "split", 1
	createReplicatedTopic(t, c, topic, partitions)
	// The isolated node still answers the clients, with its stale
	// metadata (naming itself leader at the old epoch) and, to the
	// produces it holds, REQUEST_TIMED_OUT when their timeout ends, as an
	// isolated Kafka broker does. franz-go ignores a leader epoch going
	// backwards only five times in a row, then adopts it; with its
	// default 10 s produce timeout and 5 s metadata age, two or three
	// such detours to the isolated node outlast the wait for the majority
	// side's acknowledgements below: the likely cause of the one failure
	// seen in CI, whose clients' log was not kept (it is now: the
	// workload prints it when a test fails). Shorter detours keep the
	// test about the brokers, not about the client's patience.
	w, err := c.StartWorkload(clustertest.WorkloadOptions{Topic: topic, Partitions: partitions, Producers: 2, Interval: 5 * time.Millisecond,
		Opts: []kgo.Opt{kgo.ProduceRequestTimeout(2 * time.Second), kgo.MetadataMinAge(250 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	waitAcked(t, w, 200)
	old := leaderIndex(t, c, topic, 0)
	oldID := c.Node(old).ID
	before, err := agreedStates(c, topic)
	if err != nil {
		t.Fatal(err)
	}
	isolated := time.Now()
	if err := c.Isolate(old); err != nil {
		t.Fatal(err)
	}
	t.Logf("isolated node %d, leader of %s-0 at epoch %d", oldID, topic, before[0].epoch)

	// Sent at once, while the isolated leader still believes in its ISR:
	// its followers no longer fetch, so the high watermark cannot reach it.
	sent := 0
	tryOld := func(when string) {
		sent++
		v := fmt.Sprintf("split-%d", sent) // a value CheckHistory reports, should it survive
		if err := produceDirect(c, old, topic, 0, v, time.Second); err == nil {
			t.Errorf("%s: the isolated node %d acknowledged an acks=all produce (%s)", when, oldID, v)
		} else {
			t.Logf("%s: the isolated node %d answered %s: %v", when, oldID, v, err)
		}
	}
	tryOld("just isolated")

	// The others elect a leader without it.
	var now []partitionState
	took := wait.Until(t, sessionTimeout+replicaLagMax+15*time.Second, fmt.Sprintf("a leader of %s-0 other than the isolated node %d, out of the ISR", topic, oldID), func() bool {
		states, err := agreedStates(c, topic, old)
		if err != nil || states[0].leader < 1 || states[0].leader == oldID || slices.Contains(states[0].isr, oldID) {
			return false
		}
		now = states
		return true
	})
	t.Logf("node %d leads %s-0 at epoch %d with ISR %v, %v after the isolation", now[0].leader, topic, now[0].epoch, now[0].isr, took.Round(time.Millisecond))
	if now[0].epoch <= before[0].epoch {
		t.Errorf("the new leader's epoch %d is not above the isolated one's %d", now[0].epoch, before[0].epoch)
	}
	for k := range 3 {
		tryOld(fmt.Sprintf("out of the ISR (%d)", k))
	}
	waitAcked(t, w, 100) // the majority side takes records meanwhile
	if _, ok := w.FirstAckAfter(isolated, 0); !ok {
		t.Fatal("no record acknowledged since the isolation")
	}

	// The isolated node's log has a tail of its own by now (what it
	// appended alone); Heal must make it truncate that.
	logs, err := c.ReplicaLogs(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	diverged := clustertest.CompareReplicas(map[int32][]clustertest.Batch{oldID: logs[oldID], now[0].leader: logs[now[0].leader]})
	t.Logf("before the heal, the isolated node's log against the new leader's: %q", diverged)

	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	waitFullISR(t, c, topic, partitions, "the heal")
	acked, failures := w.Stop()
	t.Logf("%d records acknowledged, %d failed", len(acked), len(failures))
	for k, f := range failures[:min(len(failures), 5)] {
		t.Logf("failure %d: %v", k, f)
	}
	// With the load stopped the replicas reach one end; then they must
	// hold the same batches, the isolated node's divergent tail gone.
	wait.Until(t, 20*time.Second, "every replica at the same end", func() bool {
		logs, err := c.ReplicaLogs(topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		ends := map[int64]bool{}
		for _, batches := range logs {
			end := int64(0)
			if len(batches) > 0 {
				end = batches[len(batches)-1].LastOffset + 1
			}
			ends[end] = true
		}
		return len(logs) == 3 && len(ends) == 1
	})
	checkRound(t, c, topic, partitions, acked, "after the heal")
}

// TestRollingRestart stops (SIGTERM, a controlled shutdown) and restarts
// each of the three nodes in turn under idempotent acks=all load, waiting
// for the full ISR between them as an operator would: the producers see
// no error and no record is duplicated, lost or reordered.
func TestRollingRestart(t *testing.T) {
	c := startReplicatedCluster(t, false, true)
	const topic, partitions = "rolling", 3
	createReplicatedTopic(t, c, topic, partitions)
	w, err := c.StartWorkload(clustertest.WorkloadOptions{Topic: topic, Partitions: partitions, Producers: 2, Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Len() {
		waitAcked(t, w, 100)
		start := time.Now()
		if err := c.Restart(i); err != nil {
			t.Fatal(err)
		}
		t.Logf("node %d stopped and restarted in %v", c.Node(i).ID, time.Since(start).Round(time.Millisecond))
		waitFullISR(t, c, topic, partitions, fmt.Sprintf("node %d's restart", c.Node(i).ID))
		if f := w.Failures(); len(f) > 0 {
			t.Errorf("after node %d's restart, %d records failed, the first: %v", c.Node(i).ID, len(f), f[0])
		}
	}
	waitAcked(t, w, 100)
	acked, failures := w.Stop()
	t.Logf("%d records acknowledged, %d failed", len(acked), len(failures))
	if len(failures) > 0 {
		t.Errorf("%d records failed in the rolling restart, the first: %v", len(failures), failures[0])
	}
	checkRound(t, c, topic, partitions, acked, "the rolling restart")
}
