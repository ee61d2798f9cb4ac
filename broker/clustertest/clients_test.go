package clustertest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/clustertest"
	"runnel/internal/wait"
)

// TestClientsAcrossBrokers: franz-go clients on a three-node cluster. A
// six-partition topic is led by several brokers; a producer that knows only
// node 1 writes to every partition and a consumer that knows only node 2
// reads it all; each broker hands out its own producer ids; a consumer
// group whose coordinator is not its bootstrap broker commits, and a new
// member of the group resumes from those commits.
func TestClientsAcrossBrokers(t *testing.T) {
	c := startFaultCluster(t)
	const topic, partitions = "spread", 6
	createTopic(t, c, 0, topic, partitions)
	var lead []int32
	wait.Until(t, 10*time.Second, "every node to know the partitions' leaders", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for i := range c.Len() {
			var err error
			if lead, err = leadersOf(ctx, c, i, topic); err != nil || slices.Contains(lead, -1) {
				return false
			}
		}
		return true
	})
	// Placement spreads each topic evenly over the registered brokers:
	// every node leads its share.
	perNode := map[int32]int{}
	for _, l := range lead {
		perNode[l]++
	}
	for _, n := range c.Nodes() {
		if perNode[n.ID] != partitions/c.Len() {
			t.Errorf("%s's leaders by partition %v: node %d leads %d, want %d", topic, lead, n.ID, perNode[n.ID], partitions/c.Len())
		}
	}
	t.Logf("%s's leaders by partition: %v", topic, lead)

	// Idempotent producers bootstrapped from different brokers must not
	// get the same producer id, or they would share sequence numbers.
	ids := map[int64]int32{}
	for i := range c.Len() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.Request(ctx, i, kmsg.NewPtrInitProducerIDRequest())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.InitProducerIDResponse)
		if prev, dup := ids[r.ProducerID]; dup || r.ErrorCode != 0 {
			t.Errorf("node %d's InitProducerId: id %d (error %d), node %d's too", c.Node(i).ID, r.ProducerID, r.ErrorCode, prev)
		}
		ids[r.ProducerID] = c.Node(i).ID
	}

	produced := produceRound(t, c, topic, partitions, "first", 10)
	cl, err := c.Client(kgo.SeedBrokers(c.Node(1).Addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	got := pollN(t, cl, count(produced))
	cl.Close()
	if !samePerPartition(got, produced) {
		t.Errorf("a consumer of node 2 read %v, want %v", got, produced)
	}

	// The group's members know only a broker that does not coordinate
	// it.
	const group = "resumed"
	coordinator := coordinatorOf(t, c, group)
	bootstrap := (coordinator + 1) % c.Len()
	t.Logf("group %s: coordinator node %d, bootstrap node %d", group, c.Node(coordinator).ID, c.Node(bootstrap).ID)
	member := func() *kgo.Client {
		cl, err := c.Client(kgo.SeedBrokers(c.Node(bootstrap).Addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	first := member()
	if got := pollN(t, first, count(produced)); !samePerPartition(got, produced) {
		t.Errorf("the group's first member read %v, want %v", got, produced)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	first.Close() // leaves the group
	adm := kadm.NewClient(member())
	offsets, err := adm.FetchOffsets(ctx, group)
	if err != nil || offsets.Error() != nil {
		t.Fatalf("fetch %s's offsets: %v %v", group, err, offsets.Error())
	}
	for p := range int32(partitions) {
		if o, ok := offsets.Lookup(topic, p); !ok || o.At != int64(len(produced[p])) {
			t.Errorf("%s's committed offset of %s-%d: %+v, want %d", group, topic, p, o, len(produced[p]))
		}
	}
	adm.Close()

	more := produceRound(t, c, topic, partitions, "second", 5)
	second := member()
	if got := pollN(t, second, count(more)); !samePerPartition(got, more) {
		t.Errorf("the group's new member read %v, want only the records after the commits, %v", got, more)
	}
}

// record is a consumed or produced value with its partition.
type record struct {
	partition int32
	value     string
}

// produceRound writes n records to each partition through a producer that
// knows only node 1 and returns them by partition.
func produceRound(t *testing.T, c *clustertest.Cluster, topic string, partitions int32, round string, n int) map[int32][]string {
	t.Helper()
	cl, err := c.Client(kgo.SeedBrokers(c.Node(0).Addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out := map[int32][]string{}
	var rs []*kgo.Record
	for k := range n {
		for p := range partitions {
			v := fmt.Sprintf("%s p%d-%d", round, p, k)
			rs = append(rs, &kgo.Record{Partition: p, Value: []byte(v)})
			out[p] = append(out[p], v)
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce through node 1: %v", err)
	}
	return out
}

// pollN polls until it has n records (more are kept) or 15 s pass.
func pollN(t *testing.T, cl *kgo.Client, n int) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Errorf("polled %d of %d records", len(got), n)
			break
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, record{r.Partition, string(r.Value)}) })
	}
	return got
}

// count is the number of records of a round.
func count(byPartition map[int32][]string) int {
	n := 0
	for _, vs := range byPartition {
		n += len(vs)
	}
	return n
}

// samePerPartition reports whether got holds exactly want's values, in
// want's order within each partition.
func samePerPartition(got []record, want map[int32][]string) bool {
	by := map[int32][]string{}
	for _, r := range got {
		by[r.partition] = append(by[r.partition], r.value)
	}
	if len(by) != len(want) {
		return false
	}
	for p, vs := range want {
		if !slices.Equal(by[p], vs) {
			return false
		}
	}
	return true
}

// coordinatorOf is the index of the node that coordinates group, as
// node 1 answers FindCoordinator.
func coordinatorOf(t *testing.T, c *clustertest.Cluster, group string) int {
	t.Helper()
	var coordinator int32
	wait.Until(t, 10*time.Second, "FindCoordinator "+group, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = group
		req.CoordinatorKeys = []string{group}
		resp, err := c.Request(ctx, 0, req)
		if err != nil {
			return false
		}
		r := resp.(*kmsg.FindCoordinatorResponse)
		code, node := r.ErrorCode, r.NodeID
		if len(r.Coordinators) > 0 {
			code, node = r.Coordinators[0].ErrorCode, r.Coordinators[0].NodeID
		}
		coordinator = node
		return kerr.ErrorForCode(code) == nil
	})
	for i, n := range c.Nodes() {
		if n.ID == coordinator {
			return i
		}
	}
	t.Fatalf("FindCoordinator %s: node %d is not in the cluster", group, coordinator)
	return -1
}
