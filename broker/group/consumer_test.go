package group

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topics848 is the cluster the KIP-848 tests see: topic t with 6
// partitions (id 1) and u with 2 (id 2).
func topics848(c *Config) {
	ids := map[string][16]byte{"t": {1}, "u": {2}}
	counts := map[string]int32{"t": 6, "u": 2}
	c.TopicInfo = func(name string) ([16]byte, int32, bool) {
		id, ok := ids[name]
		return id, counts[name], ok
	}
	c.TopicName = func(id [16]byte) (string, bool) {
		for n, i := range ids {
			if i == id {
				return n, true
			}
		}
		return "", false
	}
}

// client848 is a KIP-848 member that does what it is told at once: it
// owns exactly the last assignment it received.
type client848 struct {
	id       string
	epoch    int32
	owned    map[string][]int32
	assignor string
}

func (e *env) heartbeat848(cl *client848, topics []string, full bool) *kmsg.ConsumerGroupHeartbeatResponse {
	e.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = "g848", cl.id, cl.epoch
	req.RebalanceTimeoutMillis = 30000
	req.SubscribedTopicNames = topics
	if cl.assignor != "" {
		req.ServerAssignor = &cl.assignor
	}
	if full || cl.epoch == 0 {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		ids := map[string][16]byte{"t": {1}, "u": {2}}
		for t, ps := range cl.owned {
			req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: ids[t], Partitions: ps})
		}
	}
	resp := e.c.ConsumerGroupHeartbeat(req, "client", "/127.0.0.1")
	if resp.ErrorCode == 0 {
		cl.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			cl.owned = map[string][]int32{}
			names := map[[16]byte]string{{1}: "t", {2}: "u"}
			for _, t := range resp.Assignment.Topics {
				cl.owned[names[t.TopicID]] = t.Partitions
			}
		}
	}
	return resp
}

// checkNoOverlap fails if two clients own one partition.
func checkNoOverlap(t *testing.T, clients ...*client848) {
	t.Helper()
	seen := map[string]string{}
	for _, cl := range clients {
		for topic, ps := range cl.owned {
			for _, p := range ps {
				k := topic + "/" + string(rune('0'+p))
				if other, ok := seen[k]; ok {
					t.Fatalf("partition %s owned by %s and %s", k, other, cl.id)
				}
				seen[k] = cl.id
			}
		}
	}
}

func count(cl *client848) int {
	n := 0
	for _, ps := range cl.owned {
		n += len(ps)
	}
	return n
}

func TestConsumerGroupReconciles(t *testing.T) {
	e := newEnv(t, topics848)
	a, b, c := &client848{id: "a"}, &client848{id: "b"}, &client848{id: "c"}
	all := []*client848{a, b, c}
	for _, cl := range []*client848{a, b} {
		if r := e.heartbeat848(cl, []string{"t"}, true); r.ErrorCode != 0 {
			t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	// Heartbeat round after round; each client reports what it owns.
	rounds := func(n int, members ...*client848) {
		for i := 0; i < n; i++ {
			for _, cl := range members {
				if r := e.heartbeat848(cl, []string{"t"}, true); r.ErrorCode != 0 {
					t.Fatalf("%s heartbeat: %v", cl.id, kerr.ErrorForCode(r.ErrorCode))
				}

				checkNoOverlap(t, all...)
			}
		}
	}
	rounds(3, a, b)
	if count(a) != 3 || count(b) != 3 {
		t.Fatalf("two members: %v / %v", a.owned, b.owned)
	}
	if d := e.c.DescribeGroup("g848"); d.State != "Stable" || d.ProtocolType != "consumer" || len(d.Members) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	// c joins: a and b give up one partition each before c gets them.
	if r := e.heartbeat848(c, []string{"t"}, true); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	checkNoOverlap(t, all...)
	rounds(4, a, b, c)
	if count(a) != 2 || count(b) != 2 || count(c) != 2 {
		t.Fatalf("three members: %v / %v / %v", a.owned, b.owned, c.owned)
	}
	// A commit with the current epoch is accepted; an old one is not.
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation = "g848", "a", a.epoch
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: a.owned["t"][0], Offset: 5, LeaderEpoch: -1}}}}
	ch := make(chan *kmsg.OffsetCommitResponse, 1)
	e.c.CommitOffsets(req, func(r *kmsg.OffsetCommitResponse) { ch <- r })
	code(t, "commit", recv(t, ch).Topics[0].Partitions[0].ErrorCode, nil)
	req.Generation = 1
	e.c.CommitOffsets(req, func(r *kmsg.OffsetCommitResponse) { ch <- r })
	code(t, "stale commit", recv(t, ch).Topics[0].Partitions[0].ErrorCode, kerr.StaleMemberEpoch)

	// c crashes (stops heartbeating, owns nothing any more): after the
	// session timeout its partitions go back to a and b.
	c.owned = nil
	for i := 0; i < 10; i++ {
		e.clock.Advance(5 * time.Second)
		rounds(1, a, b)
	}
	rounds(2, a, b)
	if count(a) != 3 || count(b) != 3 {
		t.Fatalf("after c expired: %v / %v", a.owned, b.owned)
	}
	// Leaving.
	req848 := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req848.Group, req848.MemberID, req848.MemberEpoch = "g848", "b", -1
	if r := e.c.ConsumerGroupHeartbeat(req848, "client", "h"); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	b.owned = nil
	rounds(2, a)
	if count(a) != 6 {
		t.Fatalf("alone: %v", a.owned)
	}
	// A classic join is refused while members remain; a stale epoch is
	// fenced (the member must join again), and the empty group then takes
	// a classic member, keeping its offsets.
	code(t, "classic join", recv(t, e.join("g848", joinOpts{})).ErrorCode, kerr.InconsistentGroupProtocol)
	old := &client848{id: "a", epoch: a.epoch - 5, owned: a.owned}
	code(t, "stale heartbeat", e.heartbeat848(old, []string{"t"}, true).ErrorCode, kerr.FencedMemberEpoch)
	code(t, "classic join of the empty group", recv(t, e.join("g848", joinOpts{})).ErrorCode, kerr.MemberIDRequired)
	if got := e.fetched(e.c, "g848", "t"); len(got) != 1 {
		t.Fatalf("offsets after the change of kind: %v", got)
	}
}

func TestConsumerGroupSubscriptionChange(t *testing.T) {
	e := newEnv(t, topics848)
	a, b := &client848{id: "a"}, &client848{id: "b"}
	for i := 0; i < 3; i++ {
		for _, cl := range []*client848{a, b} {
			e.heartbeat848(cl, []string{"t", "u"}, true)
			checkNoOverlap(t, a, b)
		}
	}
	if count(a)+count(b) != 8 {
		t.Fatalf("t and u: %v / %v", a.owned, b.owned)
	}
	// b drops u: u goes to a only.
	for i := 0; i < 3; i++ {
		e.heartbeat848(a, []string{"t", "u"}, true)
		e.heartbeat848(b, []string{"t"}, true)
		checkNoOverlap(t, a, b)
	}
	if len(b.owned["u"]) != 0 || len(a.owned["u"]) != 2 {
		t.Fatalf("after b unsubscribed from u: %v / %v", a.owned, b.owned)
	}
	if lg := e.c.ListGroups(nil, []string{"consumer"}); len(lg) != 1 || lg[0].GroupType != "consumer" {
		t.Fatalf("list consumer groups: %+v", lg)
	}
}

func TestConsumerGroupRangeAssignor(t *testing.T) {
	e := newEnv(t, topics848)
	a, b := &client848{id: "a", assignor: "range"}, &client848{id: "b", assignor: "range"}
	for i := 0; i < 3; i++ {
		for _, cl := range []*client848{a, b} {
			e.heartbeat848(cl, []string{"t", "u"}, true)
			checkNoOverlap(t, a, b)
		}
	}
	if !slices.Equal(a.owned["t"], []int32{0, 1, 2}) || !slices.Equal(b.owned["t"], []int32{3, 4, 5}) ||
		!slices.Equal(a.owned["u"], []int32{0}) || !slices.Equal(b.owned["u"], []int32{1}) {
		t.Fatalf("range: %v / %v", a.owned, b.owned)
	}
	d := e.c.DescribeConsumerGroup("g848")
	if d.ErrorCode != 0 || d.State != "Stable" || d.AssignorName != "range" || len(d.Members) != 2 || len(d.Members[0].TargetAssignment.TopicPartitions) != 2 {
		t.Fatalf("describe consumer group: %+v", d)
	}
	e.commit("classic", "", -1, "t", map[int32]int64{0: 1})
	code(t, "describe a classic group", e.c.DescribeConsumerGroup("classic").ErrorCode, kerr.GroupIDNotFound)
	bad := "sticky"
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.RebalanceTimeoutMillis, req.SubscribedTopicNames, req.ServerAssignor = "g848", "x", 1000, []string{"t"}, &bad
	code(t, "unknown assignor", e.c.ConsumerGroupHeartbeat(req, "c", "h").ErrorCode, kerr.UnsupportedAssignor)
}

func TestConsumerGroupStaticMemberRestarts(t *testing.T) {
	e := newEnv(t, topics848)
	a, b := &client848{id: "a"}, &client848{id: "b1"}
	join := func(cl *client848, instance string) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group, req.MemberID, req.MemberEpoch = "g848", cl.id, 0
		req.InstanceID = kmsg.StringPtr(instance)
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{"t"}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		r := e.c.ConsumerGroupHeartbeat(req, "client", "h")
		cl.epoch = r.MemberEpoch
		cl.owned = map[string][]int32{}
		for _, tp := range r.Assignment.Topics {
			cl.owned["t"] = tp.Partitions
		}
		return r
	}
	join(a, "ia")
	join(b, "ib")
	for i := 0; i < 3; i++ {
		e.heartbeat848(a, []string{"t"}, true)
		e.heartbeat848(b, []string{"t"}, true)
	}
	if count(a) != 3 || count(b) != 3 {
		t.Fatalf("two static members: %v / %v", a.owned, b.owned)
	}
	epoch := e.c.DescribeConsumerGroup("g848").Epoch
	// b leaves for a restart (-2) and comes back as b2: same partitions,
	// same epoch, no new assignment.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = "g848", "b1", -2, kmsg.StringPtr("ib")
	if r := e.c.ConsumerGroupHeartbeat(req, "client", "h"); r.ErrorCode != 0 || r.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", r)
	}
	before := b.owned["t"]
	b2 := &client848{id: "b2"}
	if r := join(b2, "ib"); r.ErrorCode != 0 || !slices.Equal(b2.owned["t"], before) {
		t.Fatalf("static rejoin: error %d owned %v, before %v", r.ErrorCode, b2.owned, before)
	}
	if got := e.c.DescribeConsumerGroup("g848").Epoch; got != epoch {
		t.Fatalf("group epoch %d after a static restart, was %d", got, epoch)
	}
	e.heartbeat848(a, []string{"t"}, true)
	if count(a) != 3 {
		t.Fatalf("a after b's restart: %v", a.owned)
	}
}

// regexTopics is a topic list that a test changes: name -> partitions.
type regexTopics struct {
	counts  map[string]int32
	version int // bumped on every change
}

func (rt *regexTopics) id(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	return id
}

func (rt *regexTopics) name(id [16]byte) (string, bool) {
	for name := range rt.counts {
		if rt.id(name) == id {
			return name, true
		}
	}
	return "", false
}

func (rt *regexTopics) config(c *Config) {
	c.TopicInfo = func(name string) ([16]byte, int32, bool) {
		n, ok := rt.counts[name]
		return rt.id(name), n, ok
	}
	c.TopicName = rt.name
	c.TopicNames = func() ([]string, any) {
		var names []string
		for name := range rt.counts {
			names = append(names, name)
		}
		return names, rt.version
	}
}

// TestConsumerGroupRegex: a regular-expression subscription is resolved
// against every topic (internal ones included), whole names only, together
// with the member's topic names; a topic created or deleted later is picked
// up at the next heartbeat; an expression that does not compile is
// INVALID_REGULAR_EXPRESSION.
func TestConsumerGroupRegex(t *testing.T) {
	rt := &regexTopics{counts: map[string]int32{"orders": 2, "orders-eu": 1, "xorders": 1, "users": 1, "__consumer_offsets": 3}}
	e := newEnv(t, rt.config)
	var epoch int32
	owned := map[[16]byte][]int32{}
	heartbeat := func(id string, regex *string, names []string) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group, req.MemberID, req.MemberEpoch = "rx", id, epoch
		req.RebalanceTimeoutMillis = 30000
		req.SubscribedTopicRegex, req.SubscribedTopicNames = regex, names
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for tid, ps := range owned {
			req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tid, Partitions: ps})
		}
		resp := e.c.ConsumerGroupHeartbeat(req, "client", "/127.0.0.1")
		if resp.ErrorCode == 0 {
			epoch = resp.MemberEpoch
			if resp.Assignment != nil {
				owned = map[[16]byte][]int32{}
				for _, at := range resp.Assignment.Topics {
					owned[at.TopicID] = at.Partitions
				}
			}
		}
		return resp
	}
	// settle sends the change, then heartbeats until the member owns its
	// target (a release comes first), and returns what it owns.
	settle := func(regex *string, names []string) map[string]int {
		t.Helper()
		for i := range 4 {
			if i > 0 {
				regex, names = nil, nil // unchanged
			}
			if r := heartbeat("a", regex, names); r.ErrorCode != 0 {
				t.Fatalf("heartbeat: %v", kerr.ErrorForCode(r.ErrorCode))
			}
		}
		out := map[string]int{}
		for tid, ps := range owned {
			name, _ := rt.name(tid)
			out[name] = len(ps)
		}
		return out
	}
	if r := heartbeat("bad", kmsg.StringPtr("orders("), nil); r.ErrorCode != kerr.InvalidRegularExpression.Code {
		t.Fatalf("an invalid expression: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if got, want := settle(kmsg.StringPtr("orders.*"), []string{"users"}), map[string]int{"orders": 2, "orders-eu": 1, "users": 1}; !maps.Equal(got, want) {
		t.Fatalf("join with a regex and a name: %v, want %v", got, want)
	}
	// A new matching topic is assigned at the next heartbeat; one that
	// matches only part of its name is not.
	before := epoch
	rt.counts["orders-us"], rt.counts["old-orders"] = 2, 1
	rt.version++
	if got, want := settle(nil, nil), map[string]int{"orders": 2, "orders-eu": 1, "orders-us": 2, "users": 1}; !maps.Equal(got, want) {
		t.Fatalf("after creating orders-us: %v, want %v", got, want)
	}
	if epoch <= before {
		t.Fatalf("member epoch %d after a new topic, was %d", epoch, before)
	}
	delete(rt.counts, "orders-eu")
	rt.version++
	if got, want := settle(nil, nil), map[string]int{"orders": 2, "orders-us": 2, "users": 1}; !maps.Equal(got, want) {
		t.Fatalf("after deleting orders-eu: %v, want %v", got, want)
	}
	// Internal topics match too, as in Kafka.
	if got, want := settle(kmsg.StringPtr("__.*"), []string{}), map[string]int{"__consumer_offsets": 3}; !maps.Equal(got, want) {
		t.Fatalf("regex __.*: %v, want %v", got, want)
	}
	if d := e.c.DescribeConsumerGroup("rx"); len(d.Members) != 1 || d.Members[0].SubscribedTopicRegex == nil || *d.Members[0].SubscribedTopicRegex != "__.*" {
		t.Fatalf("describe: %+v", d.Members)
	}
	// An empty expression is none.
	if got, want := settle(kmsg.StringPtr(""), []string{"users"}), map[string]int{"users": 1}; !maps.Equal(got, want) {
		t.Fatalf("regex cleared: %v, want %v", got, want)
	}
}
