package broker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"runnel/broker/brokertest"
	"runnel/internal/wait"
)

// groupBroker starts a broker whose groups rebalance fast: short minimum
// session timeout and initial rebalance delay.
func groupBroker(t *testing.T, extra ...string) *brokertest.Broker {
	return brokertest.Start(t, append([]string{
		"group.min.session.timeout.ms=500",
		"group.initial.rebalance.delay.ms=200",
		"offsets.topic.num.partitions=4",
	}, extra...)...)
}

// sessionTimeout of the test consumers; they heartbeat every 200 ms.
const sessionTimeout = 1500 * time.Millisecond

func createGroupTopic(t *testing.T, b *brokertest.Broker, topic string, partitions int32) {
	t.Helper()
	resp, err := b.Admin(t).CreateTopic(ctx(t), partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// produceKeys produces n records with keys "0".."n-1", round-robin over the
// partitions, and waits for all of them.
func produceKeys(t *testing.T, b *brokertest.Broker, topic string, n int) {
	t.Helper()
	cl := b.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// owners tracks which member owns which partitions, from the consumers'
// rebalance callbacks.
type owners struct {
	mu      sync.Mutex
	owned   map[string]map[int32]bool // member name -> partitions
	revoked map[string][]int32        // member name -> every partition revoked or lost
	events  map[string]int            // member name -> callbacks seen
}

func newOwners() *owners {
	return &owners{owned: map[string]map[int32]bool{}, revoked: map[string][]int32{}, events: map[string]int{}}
}

func (o *owners) opts(name string) []kgo.Opt {
	update := func(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.events[name]++
			if o.owned[name] == nil {
				o.owned[name] = map[int32]bool{}
			}
			for _, ps := range m {
				for _, p := range ps {
					if add {
						o.owned[name][p] = true
					} else {
						delete(o.owned[name], p)
						o.revoked[name] = append(o.revoked[name], p)
					}
				}
			}
		}
	}
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(update(true)),
		kgo.OnPartitionsRevoked(update(false)),
		kgo.OnPartitionsLost(update(false)),
	}
}

// counts returns how many partitions each named member owns.
func (o *owners) counts(names ...string) []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = len(o.owned[n])
	}
	return out
}

// crashDialer lets a test cut a client off the network, as if its process
// died: every connection is closed and new ones fail, so it neither
// heartbeats nor leaves its group.
type crashDialer struct {
	mu      sync.Mutex
	crashed bool
	conns   []net.Conn
}

func (d *crashDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.crashed {
		return nil, fmt.Errorf("crashed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *crashDialer) isCrashed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.crashed
}

func (d *crashDialer) crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.crashed = true
	for _, c := range d.conns {
		c.Close()
	}
}

func groupOpts(group, topic string, extra ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.RebalanceTimeout(5 * time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, extra...)
}

// pollLoop polls cl until ctx ends (a group consumer must poll to take
// part in rebalances).
func pollLoop(ctx context.Context, cl *kgo.Client) {
	for ctx.Err() == nil {
		cl.PollFetches(ctx)
	}
}

// consumeUntilStopped runs consume(ctx, cl) on a new goroutine; stop cancels
// ctx and returns once consume has.
func consumeUntilStopped(cl *kgo.Client, consume func(context.Context, *kgo.Client)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		consume(ctx, cl)
	}()
	return func() { cancel(); <-done }
}

// waitCommittedToEnd waits until group has committed every partition of
// topic at its end offset: from then on no member is handed a record again,
// so a test that then stops its consumers has seen every delivery.
func waitCommittedToEnd(t *testing.T, b *brokertest.Broker, group, topic string) {
	t.Helper()
	adm := b.Admin(t)
	wait.Until(t, 20*time.Second, group+" to commit the end of "+topic, func() bool {
		ends, err := adm.ListEndOffsets(ctx(t), topic)
		if err != nil || ends.Error() != nil {
			return false
		}
		committed, err := adm.FetchOffsets(ctx(t), group)
		if err != nil {
			return false
		}
		all := true
		ends.Each(func(e kadm.ListedOffset) {
			if c, ok := committed.Lookup(topic, e.Partition); !ok || c.Err != nil || c.At != e.Offset {
				all = false
			}
		})
		return all
	})
}

func TestGroupMembersShareMoveAndCrash(t *testing.T) {
	b := groupBroker(t)
	createGroupTopic(t, b, "six", 6)
	o := newOwners()
	pollCtx, stop := context.WithCancel(context.Background())
	defer stop()
	var dialer crashDialer
	clients := map[string]*kgo.Client{}
	for _, name := range []string{"a", "b", "c"} {
		opts := append(groupOpts("g3", "six"), o.opts(name)...)
		if name == "c" {
			opts = append(opts, kgo.Dialer(dialer.dial))
		}
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		clients[name] = cl
		go pollLoop(pollCtx, cl)
	}
	defer clients["b"].Close()
	defer clients["c"].Close()
	wait.Until(t, 15*time.Second, "three members with two partitions each", func() bool {
		return slices.Equal(o.counts("a", "b", "c"), []int{2, 2, 2})
	})
	dg, err := b.Admin(t).DescribeGroups(ctx(t), "g3")
	if err != nil {
		t.Fatal(err)
	}
	if g := dg["g3"]; g.State != "Stable" || len(g.Members) != 3 || g.Protocol != "cooperative-sticky" || g.ProtocolType != "consumer" {
		t.Fatalf("describe: state %s, %d members, protocol %s/%s", g.State, len(g.Members), g.ProtocolType, g.Protocol)
	}

	// a leaves: b and c take its partitions.
	clients["a"].Close()
	took := wait.Until(t, 10*time.Second, "b and c with three partitions each", func() bool {
		return slices.Equal(o.counts("b", "c"), []int{3, 3})
	})
	t.Logf("partitions of the member that left moved in %v", took)

	// c crashes: its session expires and b takes everything, within
	// the session timeout (plus a heartbeat and the rejoin).
	dialer.crash()
	took = wait.Until(t, sessionTimeout+3*time.Second, "b with all six partitions", func() bool {
		return slices.Equal(o.counts("b"), []int{6})
	})
	t.Logf("partitions of the crashed member moved in %v (session timeout %v)", took, sessionTimeout)
}

func TestGroupCooperativeStickyKeepsPartitions(t *testing.T) {
	b := groupBroker(t)
	createGroupTopic(t, b, "coop", 6)
	o := newOwners()
	pollCtx, stop := context.WithCancel(context.Background())
	defer stop()
	start := func(name string) *kgo.Client {
		cl := b.Client(t, append(groupOpts("gc", "coop", kgo.Balancers(kgo.CooperativeStickyBalancer())), o.opts(name)...)...)
		go pollLoop(pollCtx, cl)
		return cl
	}
	start("a")
	start("b")
	wait.Until(t, 10*time.Second, "two members with three partitions each", func() bool {
		return slices.Equal(o.counts("a", "b"), []int{3, 3})
	})
	o.mu.Lock()
	before := map[string][]int32{}
	for _, n := range []string{"a", "b"} {
		for p := range o.owned[n] {
			before[n] = append(before[n], p)
		}
	}
	o.mu.Unlock()

	start("c")
	wait.Until(t, 10*time.Second, "three members with two partitions each", func() bool {
		return slices.Equal(o.counts("a", "b", "c"), []int{2, 2, 2})
	})
	// Cooperative: a and b gave up only the partitions that moved (one
	// each; an eager rebalance revokes everything) and kept the rest
	// throughout. (A slow machine may see an extra rebalance that moves
	// the same partition back and forth, hence distinct partitions.)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range []string{"a", "b"} {
		if distinct := slices.Compact(slices.Sorted(slices.Values(o.revoked[n]))); len(distinct) != 1 {
			t.Errorf("%s revoked %v, want exactly one partition", n, o.revoked[n])
		}
		for p := range o.owned[n] {
			if !slices.Contains(before[n], p) {
				t.Errorf("%s gained partition %d", n, p)
			}
		}
	}
}

func TestGroupSyncCommitsNoDuplicatesNoGaps(t *testing.T) {
	const n = 600
	b := groupBroker(t)
	createGroupTopic(t, b, "exact", 6)
	produceKeys(t, b, "exact", n)

	var mu sync.Mutex
	seen := map[string]int{}
	total := 0
	consume := func(ctx context.Context, cl *kgo.Client) {
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 7)
			fs.EachRecord(func(r *kgo.Record) {
				mu.Lock()
				seen[string(r.Key)]++
				total++
				mu.Unlock()
			})
			if len(fs.Records()) > 0 {
				if err := cl.CommitUncommittedOffsets(context.Background()); err != nil {
					t.Errorf("commit: %v", err)
				}
				// A slow consumer on purpose: rebalances land mid-stream.
				// A slow consumer on purpose: rebalances land mid-stream.
				time.Sleep(5 * time.Millisecond)
			}
			cl.AllowRebalance()
		}
	}
	progress := func() int {
		mu.Lock()
		defer mu.Unlock()
		return total
	}
	member := func() (*kgo.Client, func()) {
		cl := b.Client(t, groupOpts("gx", "exact", kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll())...)
		return cl, consumeUntilStopped(cl, consume)
	}
	a, stopA := member()
	_, stopB := member()
	defer stopB()
	wait.Until(t, 15*time.Second, "100 records", func() bool { return progress() >= 100 })
	_, stopC := member() // a rebalance: c joins
	defer stopC()
	wait.Until(t, 15*time.Second, "300 records", func() bool { return progress() >= 300 })
	stopA() // and another: a leaves
	a.Close()
	wait.Until(t, 20*time.Second, fmt.Sprint(n, " records"), func() bool { return progress() >= n })
	// A duplicate could still come from a record handed out again: none
	// is once everything is committed, and then the consumers stop.
	waitCommittedToEnd(t, b, "gx", "exact")
	stopB()
	stopC()

	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprint(i)]; c != 1 {
			t.Errorf("record %d consumed %d times", i, c)
		}
	}
	if total != n {
		t.Errorf("consumed %d records, want %d", total, n)
	}
}

func TestGroupCommitsSurviveRestart(t *testing.T) {
	b := groupBroker(t)
	createGroupTopic(t, b, "durable", 3)
	produceKeys(t, b, "durable", 30)
	cl := b.Client(t, groupOpts("gd", "durable", kgo.DisableAutoCommit())...)
	got := 0
	for got < 30 {
		fs := cl.PollFetches(ctx(t))
		got += len(fs.Records())
	}
	if err := cl.CommitUncommittedOffsets(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// A standalone commit too, through the admin API.
	adm := b.Admin(t)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "durable", Partition: 1, At: 7, LeaderEpoch: -1, Metadata: "meta"})
	if _, err := adm.CommitOffsets(ctx(t), "solo", os); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	b = b.Restart(t)
	adm = b.Admin(t)
	fetched, err := adm.FetchOffsets(ctx(t), "gd")
	if err != nil {
		t.Fatal(err)
	}
	sum := int64(0)
	fetched.Each(func(r kadm.OffsetResponse) { sum += r.At })
	if sum != 30 {
		t.Fatalf("committed offsets after restart sum to %d, want 30: %v", sum, fetched)
	}
	solo, err := adm.FetchOffsets(ctx(t), "solo")
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := solo.Lookup("durable", 1); !ok || r.At != 7 || r.Metadata != "meta" {
		t.Fatalf("solo after restart: %+v", r)
	}
	// A consumer of the group resumes where it left off.
	produceKeys(t, b, "durable", 3)
	cl = b.Client(t, groupOpts("gd", "durable")...)
	fs := cl.PollRecords(ctx(t), 100)
	for len(fs.Records()) < 3 {
		more := cl.PollRecords(ctx(t), 100)
		fs = append(fs, more...)
	}
	if n := len(fs.Records()); n != 3 {
		t.Fatalf("resumed consumer got %d records, want the 3 new ones", n)
	}
}

func TestGroupStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	b := groupBroker(t)
	createGroupTopic(t, b, "static", 4)
	o := newOwners()
	pollCtx, stop := context.WithCancel(context.Background())
	defer stop()
	start := func(name, instance string) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr), kgo.InstanceID(instance)},
			append(groupOpts("gs", "static"), o.opts(name)...)...)...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(pollCtx)
		go pollLoop(ctx, cl)
		t.Cleanup(func() { cancel(); cl.Close() })
		return cl
	}
	a := start("a", "instance-a")
	b1 := start("b", "instance-b")
	wait.Until(t, 10*time.Second, "two static members with two partitions each", func() bool {
		return slices.Equal(o.counts("a", "b"), []int{2, 2})
	})
	o.mu.Lock()
	eventsA := o.events["a"]
	var ownedB []int32
	for p := range o.owned["b"] {
		ownedB = append(ownedB, p)
	}
	o.mu.Unlock()
	sort.Slice(ownedB, func(i, j int) bool { return ownedB[i] < ownedB[j] })
	idA, generation := a.GroupMetadata()

	// b restarts (a static member's close does not leave the group).
	b1.Close()
	o.mu.Lock()
	o.owned["b2"] = nil
	o.mu.Unlock()
	b2 := start("b2", "instance-b")
	wait.Until(t, 10*time.Second, "the restarted member with its two partitions", func() bool {
		return slices.Equal(o.counts("b2"), []int{2})
	})
	// No rebalance happened: b2 joined the generation a is in. None is
	// coming: the group is stable with a and b2 alone, so no old member's
	// session is left to expire.
	id2, generation2 := b2.GroupMetadata()
	if generation2 != generation {
		t.Errorf("the restarted member joined generation %d, want %d: the group rebalanced", generation2, generation)
	}
	groups, err := b.Admin(t).DescribeGroups(ctx(t), "gs")
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for _, m := range groups["gs"].Members {
		members = append(members, m.MemberID)
	}
	slices.Sort(members)
	if want := []string{idA, id2}; groups["gs"].State != "Stable" || !slices.Equal(members, slices.Sorted(slices.Values(want))) {
		t.Errorf("group %s with members %v, want Stable with a and b2 %v", groups["gs"].State, members, want)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.events["a"] != eventsA {
		t.Errorf("a saw %d rebalance callbacks after b's restart", o.events["a"]-eventsA)
	}
	var ownedB2 []int32
	for p := range o.owned["b2"] {
		ownedB2 = append(ownedB2, p)
	}
	sort.Slice(ownedB2, func(i, j int) bool { return ownedB2[i] < ownedB2[j] })
	if !slices.Equal(ownedB, ownedB2) {
		t.Errorf("restarted member owns %v, before %v", ownedB2, ownedB)
	}
}

func TestGroupAdmin(t *testing.T) {
	b := groupBroker(t)
	createGroupTopic(t, b, "lag", 2)
	produceKeys(t, b, "lag", 10) // 5 per partition
	adm := b.Admin(t)

	// A group with a live member, and one with only commits.
	pollCtx, stop := context.WithCancel(context.Background())
	defer stop()
	cl := b.Client(t, groupOpts("live", "lag", kgo.DisableAutoCommit())...)
	go pollLoop(pollCtx, cl)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "lag", Partition: 0, At: 2, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "lag", Partition: 1, At: 5, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx(t), "idle", os); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "the live group to be stable", func() bool {
		lg, err := adm.ListGroups(ctx(t), "Stable")
		return err == nil && slices.Equal(lg.Groups(), []string{"live"})
	})
	lg, err := adm.ListGroups(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := lg.Groups(); !slices.Equal(got, []string{"idle", "live"}) {
		t.Fatalf("groups %v", got)
	}
	if lg["idle"].State != "Empty" {
		t.Fatalf("idle listed as %+v", lg["idle"])
	}

	lags, err := adm.Lag(ctx(t), "idle")
	if err != nil {
		t.Fatal(err)
	}
	l := lags["idle"]
	if err := l.Error(); err != nil {
		t.Fatal(err)
	}
	if l0, _ := l.Lag.Lookup("lag", 0); l0.Lag != 3 || l0.End.Offset != 5 {
		t.Errorf("lag of partition 0: %+v", l0)
	}
	if l1, _ := l.Lag.Lookup("lag", 1); l1.Lag != 0 {
		t.Errorf("lag of partition 1: %+v", l1)
	}
	if total := l.Lag.Total(); total != 3 {
		t.Errorf("total lag %d, want 3", total)
	}

	dr, err := adm.DeleteGroups(ctx(t), "idle", "live", "nope")
	if err != nil {
		t.Fatal(err)
	}
	if dr["idle"].Err != nil || !errors.Is(dr["live"].Err, kerr.NonEmptyGroup) || !errors.Is(dr["nope"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("delete: idle %v, live %v, nope %v", dr["idle"].Err, dr["live"].Err, dr["nope"].Err)
	}
	fetched, err := adm.FetchOffsets(ctx(t), "idle")
	if err != nil || len(fetched) != 0 {
		t.Fatalf("offsets of a deleted group: %v %v", fetched, err)
	}

	// __consumer_offsets is an internal topic.
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx(t), b.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mt := range md.Topics {
		if *mt.Topic == "__consumer_offsets" {
			found = mt.IsInternal && len(mt.Partitions) == 4
		}
	}
	if !found {
		t.Errorf("__consumer_offsets missing from metadata or not internal with 4 partitions")
	}
}

// TestGroupOlderProtocolVersions runs a group consumer and the admin calls
// with the API versions of older Kafka releases: JoinGroup before KIP-394
// (no MEMBER_ID_REQUIRED), single-member LeaveGroup, single-group
// OffsetFetch, FindCoordinator before batching.
func TestGroupOlderProtocolVersions(t *testing.T) {
	b := groupBroker(t)
	createGroupTopic(t, b, "old", 2)
	produceKeys(t, b, "old", 10)
	for _, v := range []struct {
		name     string
		versions *kversion.Versions
	}{
		{"0.11", kversion.V0_11_0()},
		{"2.0", kversion.V2_0_0()},
		{"2.4", kversion.V2_4_0()},
		{"3.0", kversion.V3_0_0()},
	} {
		t.Run(v.name, func(t *testing.T) {
			group := "old-" + v.name
			cl := b.Client(t, groupOpts(group, "old", kgo.DisableAutoCommit(), kgo.MaxVersions(v.versions))...)
			got := 0
			for got < 10 {
				got += len(cl.PollFetches(ctx(t)).Records())
			}
			if err := cl.CommitUncommittedOffsets(ctx(t)); err != nil {
				t.Fatal(err)
			}
			adm := b.Admin(t, kgo.MaxVersions(v.versions))
			dg, err := adm.DescribeGroups(ctx(t), group)
			if err != nil {
				t.Fatal(err)
			}
			if g := dg[group]; g.State != "Stable" || len(g.Members) != 1 {
				t.Fatalf("describe: %+v", g)
			}
			cl.Close() // leaves
			fetched, err := adm.FetchOffsets(ctx(t), group)
			if err != nil {
				t.Fatal(err)
			}
			sum := int64(0)
			fetched.Each(func(r kadm.OffsetResponse) { sum += r.At })
			if sum != 10 {
				t.Fatalf("committed %v", fetched)
			}
			lg, err := adm.ListGroups(ctx(t))
			if err != nil || lg[group].State != "Empty" && lg[group].State != "" {
				t.Fatalf("list: %v %+v", err, lg[group])
			}
		})
	}
}

// TestGroupKIP848 runs franz-go's KIP-848 consumers (server-side
// assignment): three members share six partitions, a crashed member's
// partitions move after the broker's session timeout, and a group that
// commits synchronously after each poll reads every record exactly once
// while members come and go.
func TestGroupKIP848(t *testing.T) {
	const n = 300
	b := groupBroker(t, "group.consumer.session.timeout.ms=1500", "group.consumer.heartbeat.interval.ms=200")
	createGroupTopic(t, b, "next", 6)
	produceKeys(t, b, "next", n)

	o := newOwners()
	var dialer crashDialer
	var mu sync.Mutex
	seen := map[string]int{}
	// A record the crashed member polled but whose commit failed may or may not
	// have been committed (the reply can be lost with the connection): it is
	// consumed again by the survivor, or not at all.
	uncertain := map[string]bool{}
	consume := func(ctx context.Context, cl *kgo.Client) {
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 5)
			var keys []string
			fs.EachRecord(func(r *kgo.Record) { keys = append(keys, string(r.Key)) })
			if len(keys) > 0 {
				err := cl.CommitUncommittedOffsets(context.Background())
				mu.Lock()
				for _, k := range keys {
					if err != nil {
						uncertain[k] = true
						continue
					}
					seen[k]++
				}
				mu.Unlock()
				if err != nil && !dialer.isCrashed() {
					t.Errorf("commit: %v", err)
				}
				// A slow consumer on purpose: rebalances land mid-stream.
				time.Sleep(5 * time.Millisecond)
			}
			cl.AllowRebalance()
		}
	}
	progress := func() int {
		mu.Lock()
		defer mu.Unlock()
		done := len(seen)
		for k := range uncertain {
			if seen[k] == 0 {
				done++
			}
		}
		return done
	}
	start := func(name string, extra ...kgo.Opt) (*kgo.Client, func()) {
		opts := append(groupOpts("g848", "next", kgo.ServerSideBalancer(), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll()), o.opts(name)...)
		cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...), extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		return cl, consumeUntilStopped(cl, consume)
	}
	a, stopA := start("a")
	_, stopB := start("b")
	c, stopC := start("c", kgo.Dialer(dialer.dial))
	defer stopB()
	defer func() { c.Close(); stopC() }() // closed first: a crashed client's commit ends
	wait.Until(t, 15*time.Second, "three members with two partitions each", func() bool {
		return slices.Equal(o.counts("a", "b", "c"), []int{2, 2, 2})
	})
	lg, err := b.Admin(t).ListGroups(ctx(t))
	if err != nil || lg["g848"].State == "" {
		t.Fatalf("list: %v %+v", err, lg)
	}
	dcg, err := b.Admin(t).DescribeConsumerGroups(ctx(t), "g848")
	if err != nil {
		t.Fatal(err)
	}
	if g := dcg["g848"]; g.Err != nil || len(g.Members) != 3 || g.AssignorName != "uniform" || g.Epoch < 1 {
		t.Fatalf("describe consumer group: %+v", g)
	}

	stopA() // a leaves: b and c share its partitions
	a.Close()
	wait.Until(t, 15*time.Second, "b and c with three partitions each", func() bool {
		return slices.Equal(o.counts("b", "c"), []int{3, 3})
	})
	dialer.crash() // c crashes: b gets everything after the session timeout
	took := wait.Until(t, 10*time.Second, "b with all six partitions", func() bool {
		return slices.Equal(o.counts("b"), []int{6})
	})
	t.Logf("the crashed member's partitions moved in %v", took)
	wait.Until(t, 20*time.Second, fmt.Sprint(n, " records"), func() bool { return progress() >= n })
	// As in TestGroupSyncCommitsNoDuplicatesNoGaps; c, crashed, can no
	// longer commit, so it counts nothing more.
	waitCommittedToEnd(t, b, "g848", "next")
	stopB()
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < n; i++ {
		k := fmt.Sprint(i)
		if c := seen[k]; c != 1 && !(c == 0 && uncertain[k]) {
			t.Errorf("record %d consumed and committed %d times", i, c)
		}
	}
}

// TestGroupKIP848Regex: a franz-go KIP-848 consumer subscribing with a
// regular expression (the broker resolves it) reads the matching topics,
// including one created after it joined, and not the others.
func TestGroupKIP848Regex(t *testing.T) {
	b := groupBroker(t, "group.consumer.session.timeout.ms=1500", "group.consumer.heartbeat.interval.ms=200")
	createGroupTopic(t, b, "rx-a", 2)
	createGroupTopic(t, b, "other", 1)
	produceKeys(t, b, "rx-a", 10)
	produceKeys(t, b, "other", 10)

	cl := b.Client(t, groupOpts("grx", "rx-.*", kgo.ServerSideBalancer(), kgo.ConsumeRegex())...)
	got := map[string]int{}
	poll := func(want map[string]int) {
		t.Helper()
		wait.Until(t, 15*time.Second, fmt.Sprint("records ", want), func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[r.Topic]++ })
			return maps.Equal(got, want)
		})
	}
	poll(map[string]int{"rx-a": 10})
	createGroupTopic(t, b, "rx-b", 1)
	produceKeys(t, b, "rx-b", 5)
	poll(map[string]int{"rx-a": 10, "rx-b": 5})

	dcg, err := b.Admin(t).DescribeConsumerGroups(ctx(t), "grx")
	if err != nil {
		t.Fatal(err)
	}
	if m := dcg["grx"].Members; len(m) != 1 || m[0].SubscribedTopicRegex == nil {
		t.Fatalf("describe: %+v", dcg["grx"])
	}
}
