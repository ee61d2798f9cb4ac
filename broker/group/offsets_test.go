package group

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

func TestCommitFetchReplay(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.stable("g", 2)
	resp := e.commit("g", ids[0], gen, "t", map[int32]int64{0: 10, 1: 20})
	for _, p := range resp.Topics[0].Partitions {
		code(t, "commit", p.ErrorCode, nil)
	}
	code(t, "old generation", e.commit("g", ids[0], gen-1, "t", map[int32]int64{0: 1}).Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration)
	code(t, "unknown member", e.commit("g", "x", gen, "t", map[int32]int64{0: 1}).Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)
	code(t, "simple commit to a live group", e.commit("g", "", -1, "t", map[int32]int64{0: 1}).Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)
	// Standalone commits create an offsets-only group.
	code(t, "simple commit", e.commit("solo", "", -1, "u", map[int32]int64{3: 7}).Topics[0].Partitions[0].ErrorCode, nil)

	want := map[int32]int64{0: 10, 1: 20}
	if got := e.fetched(e.c, "g", "t"); !maps.Equal(got, want) {
		t.Fatalf("fetched %v, want %v", got, want)
	}
	// Asking for named partitions: -1 for one without a commit.
	r := e.c.FetchOffsets(kmsg.OffsetFetchRequestGroup{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{1, 5}}}})
	if p := r.Topics[0].Partitions; p[0].Offset != 20 || p[1].Offset != -1 {
		t.Fatalf("fetch named: %+v", p)
	}
	if r := e.c.FetchOffsets(kmsg.OffsetFetchRequestGroup{Group: "none"}); r.ErrorCode != 0 || len(r.Topics) != 0 {
		t.Fatalf("unknown group: %+v", r)
	}

	// A restart replays them; the members come back Stable.
	e.c.Close()
	c2 := e.open()
	if got := e.fetched(c2, "g", "t"); !maps.Equal(got, want) {
		t.Fatalf("after restart fetched %v, want %v", got, want)
	}
	if got := e.fetched(c2, "solo", "u"); got[3] != 7 {
		t.Fatalf("after restart solo %v", got)
	}
	e.c = c2
	if err := e.heartbeat("g", ids[1], gen); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
	if d := c2.DescribeGroup("g"); d.State != "Stable" || len(d.Members) != 2 || string(d.Members[0].MemberAssignment) == "" {
		t.Fatalf("describe after restart: %+v", d)
	}
}

func TestCommitFailsWhenStoreFails(t *testing.T) {
	e := newEnv(t)
	e.store.fail = errors.New("disk on fire")
	code(t, "commit", e.commit("solo", "", -1, "t", map[int32]int64{0: 1}).Topics[0].Partitions[0].ErrorCode, kerr.CoordinatorNotAvailable)
	if got := e.fetched(e.c, "solo", "t"); len(got) != 0 {
		t.Fatalf("failed commit visible: %v", got)
	}
}

func TestOffsetExpiry(t *testing.T) {
	const retention = time.Hour
	e := newEnv(t, func(c *Config) {
		c.OffsetsRetention = retention
		c.OffsetsRetentionCheckInterval = time.Minute
	})
	// A consumer group that commits, then empties.
	ids, gen := e.stable("g", 1)
	e.commit("g", ids[0], gen, "t", map[int32]int64{0: 5})
	// A standalone commit.
	e.commit("solo", "", -1, "t", map[int32]int64{0: 9})

	for i := 0; i < 600; i++ { // 50 minutes of heartbeats
		e.clock.Advance(5 * time.Second)
		if err := e.heartbeat("g", ids[0], gen); err != nil {
			t.Fatal(err)
		}
	}
	if errs, _ := e.c.LeaveGroup("g", []Leaving{{MemberID: ids[0]}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	// solo's commit is 61 minutes old: gone. g's offsets stay: the group
	// has been empty only 11 minutes, though the commit is older.
	e.clock.Advance(11 * time.Minute)
	if got := e.fetched(e.c, "solo", "t"); len(got) != 0 {
		t.Fatalf("solo offsets not expired: %v", got)
	}
	if got := e.fetched(e.c, "g", "t"); got[0] != 5 {
		t.Fatalf("empty group's offsets expired early: %v", got)
	}
	for _, g := range e.c.ListGroups(nil, nil) {
		if g.Group == "solo" {
			t.Fatalf("solo still listed")
		}
	}
	e.clock.Advance(50 * time.Minute)
	if got := e.fetched(e.c, "g", "t"); len(got) != 0 {
		t.Fatalf("empty group's offsets not expired: %v", got)
	}
	if d := e.c.DescribeGroup("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("expired group still there: %+v", d)
	}
	// The tombstones are stored: a restart does not bring them back.
	e.c.Close()
	c2 := e.open()
	if got := e.fetched(c2, "g", "t"); len(got) != 0 {
		t.Fatalf("after restart: %v", got)
	}
	if got := e.fetched(c2, "solo", "t"); len(got) != 0 {
		t.Fatalf("after restart: %v", got)
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t)
	ids, gen := e.stable("live", 2)
	e.commit("live", ids[0], gen, "t", map[int32]int64{0: 1})
	e.commit("idle", "", -1, "t", map[int32]int64{0: 1, 1: 2})

	all := e.c.ListGroups(nil, nil)
	if len(all) != 2 || all[0].Group != "idle" || all[0].GroupState != "Empty" || all[1].Group != "live" || all[1].GroupState != "Stable" || all[1].ProtocolType != "consumer" {
		t.Fatalf("list: %+v", all)
	}
	if got := e.c.ListGroups([]string{"stable"}, nil); len(got) != 1 || got[0].Group != "live" {
		t.Fatalf("list stable: %+v", got)
	}
	if got := e.c.ListGroups(nil, []string{"consumer"}); len(got) != 0 {
		t.Fatalf("list consumer-type groups: %+v", got)
	}
	d := e.c.DescribeGroup("live")
	if d.State != "Stable" || d.Protocol != "range" || len(d.Members) != 2 || d.Members[0].ClientID != "client" {
		t.Fatalf("describe: %+v", d)
	}

	// OffsetDelete: refused for a subscribed topic, done for others.
	e.commit("live", ids[0], gen, "other", map[int32]int64{0: 1})
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "live"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}, {Topic: "other", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	ch := make(chan *kmsg.OffsetDeleteResponse, 1)
	e.c.DeleteOffsets(od, func(r *kmsg.OffsetDeleteResponse) { ch <- r })
	odr := recv(t, ch)
	code(t, "delete subscribed", odr.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	code(t, "delete other", odr.Topics[1].Partitions[0].ErrorCode, nil)
	if got := e.fetched(e.c, "live", "other"); len(got) != 0 {
		t.Fatalf("deleted offset still there: %v", got)
	}

	dg := make(chan []kmsg.DeleteGroupsResponseGroup, 1)
	e.c.DeleteGroups([]string{"idle", "live", "none"}, func(r []kmsg.DeleteGroupsResponseGroup) { dg <- r })
	res := recv(t, dg)
	code(t, "delete idle", res[0].ErrorCode, nil)
	code(t, "delete live", res[1].ErrorCode, kerr.NonEmptyGroup)
	code(t, "delete none", res[2].ErrorCode, kerr.GroupIDNotFound)
	if got := e.fetched(e.c, "idle", "t"); len(got) != 0 {
		t.Fatalf("deleted group's offsets: %v", got)
	}
	e.c.Close()
	c2 := e.open()
	if got := c2.ListGroups(nil, nil); len(got) != 1 || got[0].Group != "live" {
		t.Fatalf("after restart: %+v", got)
	}
}

func TestCloseAnswersWaiters(t *testing.T) {
	e := newEnv(t)
	ch := e.joinNew("g", joinOpts{})
	e.c.Close()
	code(t, "join after close", recv(t, ch).ErrorCode, kerr.NotCoordinator)
	code(t, "new join", recv(t, e.join("g", joinOpts{})).ErrorCode, kerr.NotCoordinator)
}

// TestReplaySkipsUndecodableRecords: a record of __consumer_offsets that
// does not decode (unknown key version, truncated value) is logged and
// skipped; the records around it load.
func TestReplaySkipsUndecodableRecords(t *testing.T) {
	e := newEnv(t)
	e.commit("g", "", -1, "t", map[int32]int64{0: 3})
	p := PartitionFor("g", testPartitions)
	good := offsetValue(offset{offset: 4, leaderEpoch: -1, committed: e.clock.Now()})
	e.store.Append(p, segment.BuildBatch(nil, 0, []segment.KeyValue{
		{Key: []byte{0x7f, 0x7f, 1, 2}, Value: []byte("?")},      // unknown key version
		{Key: []byte{0}, Value: nil},                             // short key
		{Key: offsetKey("g", "t", 1), Value: good[:len(good)-3]}, // truncated value
		{Key: offsetKey("g", "t", 2), Value: good},
	}), func(error) {})
	e.c.Close()
	c2 := e.open()
	if got := e.fetched(c2, "g", "t"); !maps.Equal(got, map[int32]int64{0: 3, 2: 4}) {
		t.Fatalf("after replay: %v", got)
	}
}
