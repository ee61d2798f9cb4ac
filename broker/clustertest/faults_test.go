package clustertest_test

// The cluster under faults (issue 12, "What must show"): three combined
// nodes whose active controller is killed while topics are created, a
// broker killed with records in its partitions, and after each fault every
// broker's metadata image equal. The tests record what the clients saw
// acknowledged and check that against the cluster afterwards (STYLE.md
// 20), rather than reading logs.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/clustertest"
	"runnel/internal/wait"
)

// Timeouts of the fault tests' clusters, short so that a fault is over in
// seconds: a broker silent for sessionTimeout is fenced; a voter that has
// not heard from a leader for electionTimeout (Raft draws it from
// [electionTimeout, 2*electionTimeout)) starts an election.
const (
	sessionTimeout    = 2 * time.Second
	heartbeatInterval = 200 * time.Millisecond
	electionTimeout   = time.Second
)

// startFaultCluster starts three combined nodes with admin listeners (for
// their image hashes) and the short timeouts, ready when each lists all.
func startFaultCluster(t *testing.T) *clustertest.Cluster {
	t.Helper()
	c, err := clustertest.Start(clustertest.Options{
		Test:  t,
		Admin: true,
		Ready: clustertest.MetadataListsAllBrokers,
		Properties: []string{
			fmt.Sprintf("broker.session.timeout.ms=%d", sessionTimeout.Milliseconds()),
			fmt.Sprintf("broker.heartbeat.interval.ms=%d", heartbeatInterval.Milliseconds()),
			fmt.Sprintf("controller.quorum.election.timeout.ms=%d", electionTimeout.Milliseconds()),
			"offsets.topic.num.partitions=3",
			"group.initial.rebalance.delay.ms=0",
			"runnel.segment.preallocate.bytes=65536",
			"log.index.size.max.bytes=65536",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitEqualImages waits until every running node serves the same image.
func waitEqualImages(t *testing.T, c *clustertest.Cluster, after string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.WaitFor(ctx, clustertest.EqualImages); err != nil {
		t.Fatalf("images after %s: %v", after, err)
	}
	t.Logf("images equal %v after %s", time.Since(start).Round(time.Millisecond), after)
}

// waitActiveController waits until a controller answers DescribeQuorum as
// the leader, and wants it to name itself by node id.
func waitActiveController(t *testing.T, c *clustertest.Cluster, timeout time.Duration) int {
	t.Helper()
	active := -1
	var last error
	wait.Until(t, timeout, "an active controller", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var leader int32
		active, leader, last = c.ActiveController(ctx)
		if last != nil {
			return false
		}
		if id := c.Node(active).ID; leader != id {
			t.Errorf("node %d answers DescribeQuorum as the leader with LeaderID %d, want its node id", id, leader)
		}
		return true
	})
	return active
}

// metadata asks node i for the topics' metadata (all topics when none).
func metadata(ctx context.Context, c *clustertest.Cluster, i int, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := c.Request(ctx, i, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// createTopic creates a topic of the given partitions through node i.
func createTopic(t *testing.T, c *clustertest.Cluster, i int, name string, partitions int32) {
	t.Helper()
	if err := tryCreateTopic(c, i, name, partitions); err != nil {
		t.Fatal(err)
	}
}

// tryCreateTopic is createTopic's request and its error.
func tryCreateTopic(c *clustertest.Cluster, i int, name string, partitions int32) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, rt)
	resp, err := c.Request(ctx, i, req)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode); err != nil {
		return fmt.Errorf("create %s through node %d: %w", name, c.Node(i).ID, err)
	}
	return nil
}

// leaders are a topic's partition leaders as node i reports them.
func leaders(t *testing.T, c *clustertest.Cluster, i int, topic string) []int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lead, err := leadersOf(ctx, c, i, topic)
	if err != nil {
		t.Fatal(err)
	}
	return lead
}

// leadersOf is leaders with an error when node i does not know the topic.
func leadersOf(ctx context.Context, c *clustertest.Cluster, i int, topic string) ([]int32, error) {
	resp, err := metadata(ctx, c, i, topic)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil, fmt.Errorf("node %d: metadata of %s: %+v", c.Node(i).ID, topic, resp.Topics)
	}
	out := make([]int32, len(resp.Topics[0].Partitions))
	for _, p := range resp.Topics[0].Partitions {
		out[p.Partition] = p.Leader
	}
	return out, nil
}

// creator creates topics one by one, each once, until stopped, and
// records which creations were acknowledged (answered without an error):
// a creation that failed may or may not have happened.
type creator struct {
	cl    *kgo.Client
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	acked []string
	// ackedAt are the times of the acknowledgements, for the time from a
	// kill to the next successful creation.
	ackedAt []time.Time
	failed  int
}

func startCreator(t *testing.T, c *clustertest.Cluster) *creator {
	cl, err := c.Client(kgo.RetryTimeout(3 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cr := &creator{cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go cr.run()
	return cr
}

// creationEvery paces the creations, so that a test's few seconds of
// faults create hundreds of topics, not thousands of logs.
const creationEvery = 50 * time.Millisecond

func (cr *creator) run() {
	defer close(cr.done)
	pace := time.NewTicker(creationEvery)
	defer pace.Stop()
	for k := 0; ; k++ {
		select {
		case <-cr.stop:
			return
		case <-pace.C:
		}
		name := fmt.Sprintf("failover-%04d", k)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 4000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cr.cl)
		cancel()
		cr.mu.Lock()
		if err == nil && resp.Topics[0].ErrorCode == 0 {
			cr.acked = append(cr.acked, name)
			cr.ackedAt = append(cr.ackedAt, time.Now())
		} else {
			cr.failed++
		}
		cr.mu.Unlock()
	}
}

// ackedCount is how many creations were acknowledged so far.
func (cr *creator) ackedCount() int {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return len(cr.acked)
}

// firstAckAfter is the first acknowledgement after t, false when none.
func (cr *creator) firstAckAfter(t time.Time) (time.Time, bool) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	for _, at := range cr.ackedAt {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

func (cr *creator) finish() (acked []string, failed int) {
	close(cr.stop)
	<-cr.done
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return cr.acked, cr.failed
}

// TestControllerFailover kills the active controller (SIGKILL) while a
// client creates topics, restarts it, over several rounds. Each time a new
// controller is active within the election timeout's range, creations
// succeed again, and at the end every acknowledged topic exists on every
// broker and every broker's image is the same.
func TestControllerFailover(t *testing.T) {
	c := startFaultCluster(t)
	cr := startCreator(t, c)
	const rounds = 3
	for round := range rounds {
		before := cr.ackedCount()
		wait.Until(t, 20*time.Second, "topics created before the kill", func() bool { return cr.ackedCount() >= before+5 })
		active := waitActiveController(t, c, 10*time.Second)
		killed := time.Now()
		if err := c.Kill(active); err != nil {
			t.Fatal(err)
		}
		next := waitActiveController(t, c, 6*electionTimeout)
		elected := time.Since(killed)
		if next == active {
			t.Fatalf("round %d: killed node %d still the active controller", round, c.Node(active).ID)
		}
		// A follower waits out its randomized election timeout, in
		// [electionTimeout, 2*electionTimeout), then a round of pre-votes
		// and one of votes, and the leader commits an entry of its term.
		// The two survivors may split a round (CI saw term 3 fail and term
		// 4 win, 3.2 s): one more randomized timeout is allowed for it.
		if elected > 4*electionTimeout+time.Second {
			t.Errorf("round %d: a new controller active %v after the kill, election timeout %v", round, elected, electionTimeout)
		}
		var created time.Duration
		wait.Until(t, 15*time.Second, "a creation after the kill", func() bool {
			at, ok := cr.firstAckAfter(killed)
			created = at.Sub(killed)
			return ok
		})
		t.Logf("round %d: killed node %d; node %d active after %v; first topic created after %v",
			round, c.Node(active).ID, c.Node(next).ID, elected.Round(time.Millisecond), created.Round(time.Millisecond))
		if err := c.Restart(active); err != nil {
			t.Fatal(err)
		}
		waitEqualImages(t, c, fmt.Sprintf("round %d", round))
	}
	acked, failed := cr.finish()
	t.Logf("%d creations acknowledged, %d failed", len(acked), failed)
	waitEqualImages(t, c, "the creations")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range c.Len() {
		resp, err := metadata(ctx, c, i)
		if err != nil {
			t.Fatal(err)
		}
		var have []string
		for _, rt := range resp.Topics {
			if rt.ErrorCode == 0 && rt.Topic != nil {
				have = append(have, *rt.Topic)
			}
		}
		slices.Sort(have)
		for _, name := range acked {
			if _, found := slices.BinarySearch(have, name); !found {
				t.Errorf("node %d lacks topic %s, whose creation was acknowledged", c.Node(i).ID, name)
			}
		}
	}
}

// TestBrokerFailure kills a broker that leads partitions holding records:
// after the session timeout the controller fences it, the other brokers no
// longer list it and report its partitions LEADER_NOT_AVAILABLE with no
// leader, while the other partitions take records; restarted, it leads
// its partitions again with every acknowledged record. The images are
// equal after each step.
func TestBrokerFailure(t *testing.T) {
	c := startFaultCluster(t)
	const topic, partitions, perPartition = "held", 6, 20
	createTopic(t, c, 0, topic, partitions)
	cl, err := c.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	acked := make(map[int32][]string)
	for k := range perPartition {
		for p := range int32(partitions) {
			v := fmt.Sprintf("p%d-%d", p, k)
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce to %s-%d: %v", topic, p, err)
			}
			acked[p] = append(acked[p], v)
		}
	}
	cl.Close()

	// The victim leads partitions and is not the active controller, so
	// that only the broker fails.
	active := waitActiveController(t, c, 10*time.Second)
	lead := leaders(t, c, 0, topic)
	victim := -1
	for i := range c.Len() {
		if i != active && slices.Contains(lead, c.Node(i).ID) {
			victim = i
			break
		}
	}
	if victim < 0 {
		t.Fatalf("no node but the active controller (%d) leads a partition: leaders %v", c.Node(active).ID, lead)
	}
	victimID := c.Node(victim).ID
	var held []int32
	for p, l := range lead {
		if l == victimID {
			held = append(held, int32(p))
		}
	}
	killed := time.Now()
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	fenced := wait.Until(t, sessionTimeout+5*time.Second, fmt.Sprintf("node %d's partitions %v without a leader on every other node", victimID, held), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for i := range c.Len() {
			if i == victim {
				continue
			}
			resp, err := metadata(ctx, c, i, topic)
			if err != nil || len(resp.Topics) != 1 {
				return false
			}
			for _, b := range resp.Brokers {
				if b.NodeID == victimID {
					return false
				}
			}
			for _, p := range resp.Topics[0].Partitions {
				gone := p.Leader == -1 && p.ErrorCode == kerr.LeaderNotAvailable.Code
				if gone != slices.Contains(held, p.Partition) {
					return false
				}
			}
		}
		return true
	})
	t.Logf("node %d (partitions %v) fenced and its partitions leaderless %v after the kill (session timeout %v)", victimID, held, fenced.Round(time.Millisecond), sessionTimeout)
	if since := time.Since(killed); since < sessionTimeout-heartbeatInterval {
		t.Errorf("node %d fenced %v after the kill, before its session (%v) could have expired", victimID, since, sessionTimeout)
	}
	waitEqualImages(t, c, "the fencing")

	// The other brokers' partitions take records meanwhile.
	cl, err = c.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(partitions) {
		if slices.Contains(held, p) {
			continue
		}
		v := fmt.Sprintf("p%d-while-node-%d-is-down", p, victimID)
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce to %s-%d, led by a live broker, while node %d is down: %v", topic, p, victimID, err)
		}
		acked[p] = append(acked[p], v)
	}
	cl.Close()

	if err := c.Restart(victim); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, fmt.Sprintf("node %d leading %v again", victimID, held), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for i := range c.Len() {
			if now, err := leadersOf(ctx, c, i, topic); err != nil || !slices.Equal(now, lead) {
				return false
			}
		}
		return true
	})
	waitEqualImages(t, c, "the restart")
	for p := range int32(partitions) {
		if got := consumePartition(t, c, topic, p, len(acked[p])); !slices.Equal(got, acked[p]) {
			t.Errorf("%s-%d after node %d's restart: %q, want the acknowledged %q", topic, p, victimID, got, acked[p])
		}
	}
}

// consumePartition reads n records of topic-p from the start through a
// client seeded with every node.
func consumePartition(t *testing.T, c *clustertest.Cluster, topic string, p int32, n int) []string {
	t.Helper()
	cl, err := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Errorf("consume %s-%d: %d of %d records", topic, p, len(got), n)
			break
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// TestControllerRestartKeepsItsPartitions kills the active controller,
// whose broker alone holds a partition with records, and restarts it once
// another controller is active, over rounds. The restarted node must open
// its logs against the image the cluster had committed: its own Raft
// commit index is persisted only with a new term or vote, and the new
// leader's first heartbeats do not move it, so an image taken when the
// leader is first known may lack the partition's topic, and the partition
// was deleted as a deleted topic's (a CI failure of
// TestNodesServeKillRestartAndAddBroker).
func TestControllerRestartKeepsItsPartitions(t *testing.T) {
	c := startFaultCluster(t)
	const records = 5
	for round := range 3 {
		active := waitActiveController(t, c, 10*time.Second)
		id := c.Node(active).ID
		name := fmt.Sprintf("kept-%d", round)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Replicas = []int32{id}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		req.Topics = append(req.Topics, rt)
		cl, err := c.Client(kgo.DefaultProduceTopic(name))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
		}
		if err != nil {
			t.Fatalf("round %d: create %s on node %d: %v", round, name, id, err)
		}
		for k := range records {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s %d", name, k))).FirstErr(); err != nil {
				t.Fatalf("round %d: produce to %s: %v", round, name, err)
			}
		}
		cancel()
		cl.Close()

		if err := c.Kill(active); err != nil {
			t.Fatal(err)
		}
		if next := waitActiveController(t, c, 4*electionTimeout); next == active {
			t.Fatalf("round %d: killed node %d still the active controller", round, id)
		}
		if err := c.Restart(active); err != nil {
			t.Fatal(err)
		}
		waitEqualImages(t, c, fmt.Sprintf("round %d", round))
		for r := range round + 1 { // this round's topic and the earlier ones
			topic := fmt.Sprintf("kept-%d", r)
			got := consumePartition(t, c, topic, 0, records)
			if len(got) != records {
				t.Fatalf("round %d: %s holds %d records, want %d", round, topic, len(got), records)
			}
			for k, v := range got {
				if want := fmt.Sprintf("%s %d", topic, k); v != want {
					t.Fatalf("round %d: %s record %d is %q, want %q", round, topic, k, v, want)
				}
			}
		}
	}
}
