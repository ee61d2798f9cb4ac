package group

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

// fakeClock is a Clock that moves only when a test advances it; timers
// fire in order, synchronously, from Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at   time.Time
	f    func()
	done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		stopped := !t.done
		t.done = true
		return stopped
	}
}

// Advance moves time forward by d, firing every timer due on the way.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.done && !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.now = target
	live := c.timers[:0]
	for _, t := range c.timers {
		if !t.done {
			live = append(live, t)
		}
	}
	c.timers = live
	c.mu.Unlock()
}

// memStore keeps __consumer_offsets in memory; done is called from a new
// goroutine, as the broker's flusher does.
type memStore struct {
	mu      sync.Mutex
	batches map[int32][][]byte
	fail    error
}

func newMemStore() *memStore { return &memStore{batches: map[int32][][]byte{}} }

func (s *memStore) Append(p int32, batch []byte, done func(error)) {
	s.mu.Lock()
	err := s.fail
	if err == nil {
		if _, verr := segment.ValidateBatch(batch); verr != nil {
			panic(verr)
		}
		s.batches[p] = append(s.batches[p], bytes.Clone(batch))
	}
	s.mu.Unlock()
	go done(err)
}

func (s *memStore) Replay(p int32, fn func([]byte) error) error {
	s.mu.Lock()
	batches := s.batches[p]
	s.mu.Unlock()
	for _, b := range batches {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// records returns every record stored for group, decoded, in order.
func (s *memStore) records(t testing.TB, group string) []Record {
	t.Helper()
	var out []Record
	err := s.Replay(PartitionFor(group, testPartitions), func(b []byte) error {
		recs, err := segment.Records(b)
		for _, r := range recs {
			d, err := DecodeRecord(r.Key, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if d.Group == group {
				out = append(out, d)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const testPartitions = 4

type env struct {
	t     testing.TB
	clock *fakeClock
	store *memStore
	c     *Coordinator
}

func newEnv(t testing.TB, adjust ...func(*Config)) *env {
	e := &env{t: t, clock: newFakeClock(), store: newMemStore()}
	e.c = e.open(adjust...)
	return e
}

// open starts a coordinator over the env's store (a restart).
func (e *env) open(adjust ...func(*Config)) *Coordinator {
	cfg := DefaultConfig()
	cfg.Partitions = testPartitions
	cfg.MinSessionTimeout = time.Second
	cfg.InitialRebalanceDelay = 100 * time.Millisecond
	cfg.Clock = e.clock
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, a := range adjust {
		a(&cfg)
	}
	c, err := New(cfg, e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

type joinOpts struct {
	memberID, instance string
	version            int16
	session            time.Duration
	protocols          []kmsg.JoinGroupRequestProtocol
}

func (e *env) join(group string, o joinOpts) chan *kmsg.JoinGroupResponse {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	if o.version != 0 {
		req.Version = o.version
	}
	req.Group = group
	req.MemberID = o.memberID
	if o.instance != "" {
		req.InstanceID = kmsg.StringPtr(o.instance)
	}
	req.SessionTimeoutMillis = 10000
	if o.session != 0 {
		req.SessionTimeoutMillis = int32(o.session.Milliseconds())
	}
	req.RebalanceTimeoutMillis = 30000
	req.ProtocolType = "consumer"
	req.Protocols = o.protocols
	if req.Protocols == nil {
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: subscription("t")}}
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	e.c.JoinGroup(req, "client", "/127.0.0.1", func(r *kmsg.JoinGroupResponse) { ch <- r })
	return ch
}

func subscription(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

// joinNew joins with MEMBER_ID_REQUIRED's round trip and returns the
// channel of the second join.
func (e *env) joinNew(group string, o joinOpts) chan *kmsg.JoinGroupResponse {
	e.t.Helper()
	if o.instance != "" {
		return e.join(group, o)
	}
	r := recv(e.t, e.join(group, o))
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		e.t.Fatalf("first join: error %d member %q, want MEMBER_ID_REQUIRED", r.ErrorCode, r.MemberID)
	}
	o.memberID = r.MemberID
	return e.join(group, o)
}

func (e *env) sync(group, member string, gen int32, assign map[string]string) chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, member, gen
	var ids []string
	for id := range assign {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(assign[id])})
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	e.c.SyncGroup(req, func(r *kmsg.SyncGroupResponse) { ch <- r })
	return ch
}

func (e *env) heartbeat(group, member string, gen int32) *kerr.Error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	return e.c.Heartbeat(req)
}

func (e *env) commit(group, member string, gen int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitResponse {
	e.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ch := make(chan *kmsg.OffsetCommitResponse, 1)
	e.c.CommitOffsets(req, func(r *kmsg.OffsetCommitResponse) { ch <- r })
	return recv(e.t, ch)
}

// fetched returns the group's committed offsets of topic (all topics asked).
func (e *env) fetched(c *Coordinator, group, topic string) map[int32]int64 {
	got := map[int32]int64{}
	resp := c.FetchOffsets(kmsg.OffsetFetchRequestGroup{Group: group})
	for _, t := range resp.Topics {
		if t.Topic == topic {
			for _, p := range t.Partitions {
				got[p.Partition] = p.Offset
			}
		}
	}
	return got
}

func recv[T any](t testing.TB, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no response")
		panic("unreachable")
	}
}

func pendingResp[T any](t testing.TB, ch chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected response %+v", v)
	case <-time.After(20 * time.Millisecond):
	}
}

func code(t testing.TB, what string, got int16, want *kerr.Error) {
	t.Helper()
	w := int16(0)
	if want != nil {
		w = want.Code
	}
	if got != w {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// stable brings n dynamic members into group and returns their ids (the
// leader first) and the generation.
func (e *env) stable(group string, n int) ([]string, int32) {
	e.t.Helper()
	var chans []chan *kmsg.JoinGroupResponse
	for i := 0; i < n; i++ {
		chans = append(chans, e.joinNew(group, joinOpts{}))
	}
	e.clock.Advance(250 * time.Millisecond) // the initial rebalance delay, extended once
	var leader string
	var others []string
	var gen int32
	for _, ch := range chans {
		r := recv(e.t, ch)
		code(e.t, "join", r.ErrorCode, nil)
		gen = r.Generation
		if r.LeaderID == r.MemberID {
			leader = r.MemberID
			if len(r.Members) != n {
				e.t.Fatalf("leader got %d members, want %d", len(r.Members), n)
			}
		} else {
			others = append(others, r.MemberID)
		}
	}
	ids := append([]string{leader}, others...)
	assign := map[string]string{}
	for _, id := range ids {
		assign[id] = "assignment of " + id
	}
	var syncs []chan *kmsg.SyncGroupResponse
	for _, id := range others {
		syncs = append(syncs, e.sync(group, id, gen, nil))
	}
	syncs = append(syncs, e.sync(group, leader, gen, assign))
	for i, ch := range syncs {
		r := recv(e.t, ch)
		code(e.t, "sync", r.ErrorCode, nil)
		id := leader
		if i < len(others) {
			id = others[i]
		}
		if string(r.MemberAssignment) != "assignment of "+id {
			e.t.Fatalf("member %s got assignment %q", id, r.MemberAssignment)
		}
	}
	return ids, gen
}

func TestPartitionForMatchesKafka(t *testing.T) {
	for _, tc := range []struct {
		group string
		n     int32
		want  int32
	}{
		{"", 50, 0},
		{"hello", 50, 99162322 % 50},             // "hello".hashCode() = 99162322
		{"polygenelubricants", 50, 0},            // hashCode() = Integer.MIN_VALUE; Kafka's abs masks it to 0
		{"Aa", 7, 2112 % 7}, {"BB", 7, 2112 % 7}, // a classic collision
		{"gr\u00fc\U0001F600", 50, int32((uint32(((('g'*31+'r')*31+0xfc)*31+0xd83d)*31+0xde00) & 0x7fffffff) % 50)},
	} {
		if got := PartitionFor(tc.group, tc.n); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.group, tc.n, got, tc.want)
		}
	}
}

func TestJoinSyncHeartbeat(t *testing.T) {
	e := newEnv(t)
	// v4+: a new dynamic member first gets its id.
	r := recv(t, e.join("g-new", joinOpts{}))
	code(t, "first join", r.ErrorCode, kerr.MemberIDRequired)
	// Older clients join at once.
	oldCh := e.join("g-old", joinOpts{version: 3})
	e.clock.Advance(time.Second)
	code(t, "v3 join", recv(t, oldCh).ErrorCode, nil)

	ids, gen := e.stable("g", 3)
	if gen != 1 {
		t.Fatalf("generation %d, want 1", gen)
	}
	for _, id := range ids {
		if err := e.heartbeat("g", id, gen); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	if err := e.heartbeat("g", ids[0], gen-1); err != kerr.IllegalGeneration {
		t.Fatalf("old generation heartbeat: %v", err)
	}
	if err := e.heartbeat("g", "nobody", gen); err != kerr.UnknownMemberID {
		t.Fatalf("unknown member heartbeat: %v", err)
	}
	// The assignment is durable.
	recs := e.store.records(t, "g")
	last := recs[len(recs)-1]
	if last.Metadata == nil || last.Metadata.Generation != gen || len(last.Metadata.Members) != 3 || *last.Metadata.Protocol != "range" {
		t.Fatalf("stored group metadata %+v", last.Metadata)
	}
	// A follower rejoining with the same metadata gets the same generation.
	same := recv(t, e.join("g", joinOpts{memberID: ids[1]}))
	if same.ErrorCode != 0 || same.Generation != gen {
		t.Fatalf("rejoin: %+v", same)
	}
	// New metadata starts a rebalance: heartbeats say so, and the others'
	// joins complete it.
	ch := e.join("g", joinOpts{memberID: ids[1], protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: subscription("t", "u")}}})
	pendingResp(t, ch)
	if err := e.heartbeat("g", ids[0], gen); err != kerr.RebalanceInProgress {
		t.Fatalf("heartbeat during rebalance: %v", err)
	}
	c0, c2 := e.join("g", joinOpts{memberID: ids[0]}), e.join("g", joinOpts{memberID: ids[2]})
	for _, c := range []chan *kmsg.JoinGroupResponse{ch, c0, c2} {
		r := recv(t, c)
		if r.ErrorCode != 0 || r.Generation != gen+1 {
			t.Fatalf("rejoin after change: %+v", r)
		}
	}
}

func TestProtocolSelection(t *testing.T) {
	e := newEnv(t)
	p := func(names ...string) []kmsg.JoinGroupRequestProtocol {
		var out []kmsg.JoinGroupRequestProtocol
		for _, n := range names {
			out = append(out, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: []byte(n)})
		}
		return out
	}
	a := e.joinNew("g", joinOpts{protocols: p("cooperative-sticky", "range")})
	b := e.joinNew("g", joinOpts{protocols: p("range", "cooperative-sticky")})
	c := e.joinNew("g", joinOpts{protocols: p("range")})
	e.clock.Advance(time.Second)
	for _, ch := range []chan *kmsg.JoinGroupResponse{a, b, c} {
		r := recv(t, ch)
		if r.ErrorCode != 0 || *r.Protocol != "range" {
			t.Fatalf("join: error %d protocol %v, want range", r.ErrorCode, r.Protocol)
		}
		if r.LeaderID == r.MemberID {
			for _, m := range r.Members {
				if string(m.ProtocolMetadata) != "range" {
					t.Fatalf("leader got metadata %q for range", m.ProtocolMetadata)
				}
			}
		}
	}
	bad := recv(t, e.join("g", joinOpts{protocols: p("roundrobin")}))
	code(t, "join with no common protocol", bad.ErrorCode, kerr.InconsistentGroupProtocol)
}

func TestSessionExpiryRebalances(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.stable("g", 2)
	// Member 0 keeps heartbeating, member 1 goes silent.
	for i := 0; i < 4; i++ {
		e.clock.Advance(3 * time.Second)
		if err := e.heartbeat("g", ids[0], gen); err != nil && i < 3 {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
	}
	// 12 s > the 10 s session: member 1 is gone, a rebalance started.
	if err := e.heartbeat("g", ids[1], gen); err != kerr.UnknownMemberID {
		t.Fatalf("expired member heartbeat: %v", err)
	}
	r := recv(t, e.join("g", joinOpts{memberID: ids[0]}))
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
}

func TestRebalanceTimeoutRemovesLateMembers(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.stable("g", 2)
	ch := e.join("g", joinOpts{memberID: ids[0], protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: subscription("x")}}})
	// ids[1] heartbeats but never rejoins; the 30 s rebalance timeout ends the join.
	for i := 0; i < 9; i++ {
		e.clock.Advance(3 * time.Second)
		e.heartbeat("g", ids[1], gen)
	}
	pendingResp(t, ch)
	e.clock.Advance(4 * time.Second)
	r := recv(t, ch)
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("join after timeout: %+v", r)
	}
	if err := e.heartbeat("g", ids[1], gen); err != kerr.UnknownMemberID {
		t.Fatalf("late member: %v", err)
	}
}

func TestLeaveGroup(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.stable("g", 2)
	errs, err := e.c.LeaveGroup("g", []Leaving{{MemberID: ids[1]}, {MemberID: "nobody"}})
	if err != nil || errs[0] != nil || errs[1] != kerr.UnknownMemberID {
		t.Fatalf("leave: %v %v", errs, err)
	}
	r := recv(t, e.join("g", joinOpts{memberID: ids[0]}))
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
	// The last member leaving empties the group (a new generation, stored).
	e.sync("g", ids[0], gen+1, map[string]string{ids[0]: "a"})
	if errs, _ := e.c.LeaveGroup("g", []Leaving{{MemberID: ids[0]}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	d := e.c.DescribeGroup("g")
	if d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("describe after all left: %+v", d)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	a := e.joinNew("g", joinOpts{})
	e.clock.Advance(2 * time.Second)
	b := e.joinNew("g", joinOpts{}) // extends the delay by another 3 s
	e.clock.Advance(2 * time.Second)
	pendingResp(t, a)
	e.clock.Advance(2 * time.Second)
	ra, rb := recv(t, a), recv(t, b)
	if ra.ErrorCode != 0 || rb.ErrorCode != 0 || ra.Generation != 1 || rb.Generation != 1 {
		t.Fatalf("joins: %+v %+v", ra, rb)
	}
}

func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	e := newEnv(t)
	var chans []chan *kmsg.JoinGroupResponse
	for _, inst := range []string{"i1", "i2"} {
		chans = append(chans, e.join("g", joinOpts{instance: inst}))
	}
	e.clock.Advance(250 * time.Millisecond)
	ids := map[string]string{} // instance -> member id
	var gen int32
	var leader string
	for _, ch := range chans {
		r := recv(t, ch)
		code(t, "static join", r.ErrorCode, nil)
		gen, leader = r.Generation, r.LeaderID
		for _, m := range r.Members {
			ids[*m.InstanceID] = m.MemberID
		}
	}
	follower := "i1"
	if ids["i1"] == leader {
		follower = "i2"
	}
	s1 := e.sync("g", ids[follower], gen, nil)
	recv(t, e.sync("g", leader, gen, map[string]string{ids["i1"]: "one", ids["i2"]: "two"}))
	recv(t, s1)

	// The follower restarts: joins with its instance id and no member id.
	r := recv(t, e.join("g", joinOpts{instance: follower}))
	if r.ErrorCode != 0 || r.Generation != gen || r.MemberID == ids[follower] || !strings.HasPrefix(r.MemberID, follower+"-") || len(r.Members) != 0 || r.SkipAssignment {
		t.Fatalf("static rejoin: %+v", r)
	}
	sr := recv(t, e.sync("g", r.MemberID, gen, nil))
	want := map[string]string{"i1": "one", "i2": "two"}[follower]
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != want {
		t.Fatalf("static sync: %+v", sr)
	}
	if err := e.heartbeat("g", leader, gen); err != nil {
		t.Fatalf("leader heartbeat: %v (rebalance?)", err)
	}
	// The old incarnation is fenced.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "g", ids[follower], gen, kmsg.StringPtr(follower)
	if err := e.c.Heartbeat(hb); err != kerr.FencedInstanceID {
		t.Fatalf("old incarnation: %v", err)
	}
	// The leader restarts too: from v9 it learns the members but must not
	// assign; before v9 the answer names its old id as the leader's.
	leaderInst := map[bool]string{true: "i1", false: "i2"}[follower == "i2"]
	for _, v := range []int16{9, 8} {
		lr := recv(t, e.join("g", joinOpts{instance: leaderInst, version: v}))
		switch {
		case lr.ErrorCode != 0 || lr.Generation != gen:
			t.Fatalf("v%d leader rejoin: %+v", v, lr)
		case v == 9 && (!lr.SkipAssignment || lr.LeaderID != lr.MemberID || len(lr.Members) != 2):
			t.Fatalf("v9 leader rejoin: skip %v leader %s member %s members %d", lr.SkipAssignment, lr.LeaderID, lr.MemberID, len(lr.Members))
		case v == 8 && (lr.LeaderID == lr.MemberID || len(lr.Members) != 0 || lr.LeaderID != leader):
			t.Fatalf("v8 leader rejoin: leader %s member %s (old %s) members %d", lr.LeaderID, lr.MemberID, leader, len(lr.Members))
		}
		leader = lr.MemberID
	}
	if err := e.heartbeat("g", leader, gen); err != nil {
		t.Fatalf("heartbeat of the rejoined leader: %v", err)
	}
	// The replacement is stored: a restart knows the new member id.
	e.c.Close()
	e.c = e.open()
	if err := e.heartbeat("g", r.MemberID, gen); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
}

func TestMembersThatDoNotSyncAreRemoved(t *testing.T) {
	e := newEnv(t)
	a, b := e.joinNew("g", joinOpts{}), e.joinNew("g", joinOpts{})
	e.clock.Advance(250 * time.Millisecond)
	ra, rb := recv(t, a), recv(t, b)
	leader, follower := ra, rb
	if rb.LeaderID == rb.MemberID {
		leader, follower = rb, ra
	}
	// Only the leader syncs; the follower keeps heartbeating but never
	// syncs, so after the rebalance timeout it is removed.
	recv(t, e.sync("g", leader.MemberID, leader.Generation, map[string]string{leader.MemberID: "x", follower.MemberID: "y"}))
	for i := 0; i < 11; i++ {
		e.clock.Advance(3 * time.Second)
		e.heartbeat("g", leader.MemberID, leader.Generation)
		e.heartbeat("g", follower.MemberID, follower.Generation)
	}
	if err := e.heartbeat("g", follower.MemberID, follower.Generation); err != kerr.UnknownMemberID {
		t.Fatalf("follower that never synced: %v", err)
	}
	r := recv(t, e.join("g", joinOpts{memberID: leader.MemberID}))
	if r.ErrorCode != 0 || len(r.Members) != 1 {
		t.Fatalf("leader rejoin: %+v", r)
	}
}

func TestStaticMemberThatDoesNotRejoinStays(t *testing.T) {
	e := newEnv(t)
	s1, s2 := e.join("g", joinOpts{instance: "s1"}), e.join("g", joinOpts{instance: "s2"})
	e.clock.Advance(250 * time.Millisecond)
	r1, r2 := recv(t, s1), recv(t, s2)
	gen := r1.Generation
	recv(t, e.sync("g", r1.LeaderID, gen, map[string]string{r1.MemberID: "1", r2.MemberID: "2"}))
	// s1 changes its subscription; s2 never rejoins (but heartbeats): at
	// the rebalance timeout the join completes without it, and it stays a
	// member, unlike a dynamic member.
	ch := e.join("g", joinOpts{memberID: r1.MemberID, instance: "s1", protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: subscription("t", "u")}}})
	for i := 0; i < 11; i++ {
		e.clock.Advance(3 * time.Second)
		e.heartbeat("g", r2.MemberID, gen)
	}
	r := recv(t, ch)
	if r.ErrorCode != 0 || r.Generation != gen+1 || r.LeaderID != r1.MemberID || len(r.Members) != 2 {
		t.Fatalf("join after timeout: error %d gen %d leader %s members %d", r.ErrorCode, r.Generation, r.LeaderID, len(r.Members))
	}
}

// BenchmarkHeartbeat: heartbeats of members of many groups in parallel,
// on the system clock; each takes only its group's lock. The baseline is
// the least a heartbeat must do: lock a mutex and read the clock.
func BenchmarkHeartbeat(b *testing.B) {
	b.Run("baseline=mutex+clock", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var mu sync.Mutex
			var last time.Time
			for pb.Next() {
				mu.Lock()
				last = time.Now()
				mu.Unlock()
			}
			_ = last
		})
	})
	for _, groups := range []int{1, 64} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			e := newEnv(b, func(c *Config) { c.Clock, c.InitialRebalanceDelay = realClock{}, 0 })
			var reqs []*kmsg.HeartbeatRequest
			for i := 0; i < groups; i++ {
				name := fmt.Sprint("g", i)
				r := recv(b, e.join(name, joinOpts{version: 3, session: 30 * time.Minute}))
				recv(b, e.sync(name, r.MemberID, r.Generation, map[string]string{r.MemberID: "a"}))
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.MemberID, req.Generation = name, r.MemberID, r.Generation
				reqs = append(reqs, req)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := reqs[int(next.Add(1))%len(reqs)]
				for pb.Next() {
					if err := e.c.Heartbeat(req); err != nil {
						panic(err)
					}
				}
			})
		})
	}
}
