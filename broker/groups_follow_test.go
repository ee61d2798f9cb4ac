package broker

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"runnel/broker/group"
	"runnel/broker/metadata"
	"runnel/internal/wait"
)

// groupInPartition returns a group name whose records go to partition p of
// __consumer_offsets of n partitions, other than avoid.
func groupInPartition(p, n int32, avoid string) string {
	for i := 0; ; i++ {
		if name := fmt.Sprint("group-", i); name != avoid && group.PartitionFor(name, n) == p {
			return name
		}
	}
}

// groupErrorRequests are one request of every group API about group g,
// each with how to read the error the coordinator answered for g.
func groupErrorRequests(g string) []struct {
	req  kmsg.Request
	code func(kmsg.Response) int16
} {
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.MemberID, join.ProtocolType = g, "m", "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10000, 10000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID = g, "m"
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID = g, "m"
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = g, "m"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = g, -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = g
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: g, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = g
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.Groups = []string{g}
	deleteGroups := kmsg.NewPtrDeleteGroupsRequest()
	deleteGroups.Groups = []string{g}
	cgh := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	cgh.Group, cgh.MemberID, cgh.RebalanceTimeoutMillis, cgh.SubscribedTopicNames = g, "m", 10000, []string{"t"}
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Groups = []string{g}
	return []struct {
		req  kmsg.Request
		code func(kmsg.Response) int16
	}{
		{join, func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }},
		{sync, func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }},
		{hb, func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }},
		{leave, func(r kmsg.Response) int16 { return r.(*kmsg.LeaveGroupResponse).ErrorCode }},
		{commit, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode }},
		{fetch, func(r kmsg.Response) int16 {
			resp := r.(*kmsg.OffsetFetchResponse)
			switch {
			case resp.Version >= 8:
				return resp.Groups[0].ErrorCode
			case resp.Version >= 2:
				return resp.ErrorCode
			}
			return resp.Topics[0].Partitions[0].ErrorCode
		}},
		{del, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode }},
		{describe, func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode }},
		{deleteGroups, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode }},
		{cgh, func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode }},
		{cgd, func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode }},
	}
}

// findCoordinator asks for group g's coordinator with FindCoordinator v.
func findCoordinator(t *testing.T, d *dataBroker, v int16, g string) (errCode int16, node int32, host string, port int32) {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorKey, req.CoordinatorKeys = v, g, []string{g}
	rc := dialRaw(t, d.addr)
	rc.send(req, true)
	resp := rc.receive().(*kmsg.FindCoordinatorResponse)
	if v >= 4 {
		c := resp.Coordinators[0]
		return c.ErrorCode, c.NodeID, c.Host, c.Port
	}
	return resp.ErrorCode, resp.NodeID, resp.Host, resp.Port
}

// committedOffset is group g's committed offset of t-0 (OffsetFetch v8)
// and the group's error.
func committedOffset(t *testing.T, d *dataBroker, g string) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: g, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
	rc := dialRaw(t, d.addr)
	rc.send(req, true)
	rg := rc.receive().(*kmsg.OffsetFetchResponse).Groups[0]
	if rg.ErrorCode != 0 {
		return -1, rg.ErrorCode
	}
	return rg.Topics[0].Partitions[0].Offset, 0
}

// TestGroupsFollowLeadership: when the image moves a partition of
// __consumer_offsets to another broker, its groups are unloaded (a member
// waiting in JoinGroup is answered NOT_COORDINATOR, every group API
// answers NOT_COORDINATOR, ListGroups leaves them out) and FindCoordinator
// names the new leader; without a leader, COORDINATOR_NOT_AVAILABLE; when
// the partition comes back, so do its groups with their committed offsets.
// Groups of partitions that stay are served throughout.
func TestGroupsFollowLeadership(t *testing.T) {
	d := startDataBroker(t, func(c *Config) {
		c.Groups.InitialRebalanceDelay = time.Minute // a join waits for the whole test
		c.Groups.MinSessionTimeout = time.Second
	})
	d.createTopic("t", 1, nil)
	offsets := d.b.topic(offsetsTopic)
	n := int32(len(offsets.partitions()))
	const moved = "g"
	p := group.PartitionFor(moved, n)
	stay := groupInPartition((p+1)%n, n, "")
	waiter := groupInPartition(p, n, moved)

	rc := dialRaw(t, d.addr)
	for _, g := range []string{moved, stay} {
		commit := kmsg.NewPtrOffsetCommitRequest()
		commit.Version, commit.Group, commit.Generation = 8, g, -1
		commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 42}}}}
		rc.send(commit, true)
		code(t, "commit "+g, rc.receive().(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, nil)
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version, join.Group, join.ProtocolType = 9, waiter, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10000, 60000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	rc.send(join, true)
	first := rc.receive().(*kmsg.JoinGroupResponse)
	code(t, "first join", first.ErrorCode, kerr.MemberIDRequired)
	join.MemberID = first.MemberID
	waiting := dialRaw(t, d.addr)
	waiting.send(join, true) // waits out the initial rebalance delay

	// The partition moves to node 2.
	id := offsets.id
	leaders := make([]int32, n)
	for i := range leaders {
		leaders[i] = 1
	}
	leaders[p] = 2
	records := append(registerTestBrokers("127.0.0.1", 9092), topicTestRecords(offsetsTopic, id, leaders...)...)
	publishTestImage(t, d.b, records...)

	code(t, "the waiting join", waiting.receive().(*kmsg.JoinGroupResponse).ErrorCode, kerr.NotCoordinator)
	for _, r := range groupErrorRequests(moved) {
		api := apis[r.req.Key()]
		for _, v := range []int16{api.minVersion, api.maxVersion} {
			r.req.SetVersion(v)
			rc.send(r.req, true)
			code(t, fmt.Sprintf("%s v%d", kmsg.NameForKey(r.req.Key()), v), r.code(rc.receive()), kerr.NotCoordinator)
		}
	}
	for v := int16(0); v <= 6; v++ {
		errCode, node, host, port := findCoordinator(t, d, v, moved)
		if errCode != 0 || node != 2 || host != otherHost || port != otherPort {
			t.Fatalf("FindCoordinator v%d of a moved group: error %d node %d at %s:%d", v, errCode, node, host, port)
		}
		ownHost, ownPort := d.b.advertised()
		if e, node, h, p := findCoordinator(t, d, v, stay); e != 0 || node != 1 || h != ownHost || p != ownPort {
			t.Fatalf("FindCoordinator v%d of a group that stays: error %d node %d at %s:%d", v, e, node, h, p)
		}
	}
	list := kmsg.NewPtrListGroupsRequest()
	list.Version = 5
	rc.send(list, true)
	lr := rc.receive().(*kmsg.ListGroupsResponse)
	code(t, "list groups", lr.ErrorCode, nil)
	for _, g := range lr.Groups {
		if g.Group == moved || g.Group == waiter {
			t.Fatalf("ListGroups lists %s, whose partition moved away: %+v", g.Group, lr.Groups)
		}
	}
	if o, e := committedOffset(t, d, stay); e != 0 || o != 42 {
		t.Fatalf("a group that stays: offset %d error %d", o, e)
	}

	// No leader: no coordinator.
	publishTestImage(t, d.b, &metadata.PartitionChangeRecord{TopicID: id, Partition: p, Leader: metadata.NoLeader, LeaderEpoch: 5 + p + 1, PartitionEpoch: 1})
	if e, _, _, _ := findCoordinator(t, d, 4, moved); e != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("FindCoordinator without a leader: error %v", kerr.ErrorForCode(e))
	}
	if _, e := committedOffset(t, d, moved); e != kerr.NotCoordinator.Code {
		t.Fatalf("offset fetch without a leader: error %v", kerr.ErrorForCode(e))
	}

	// Back here: loaded again, with its offsets.
	publishTestImage(t, d.b, &metadata.PartitionChangeRecord{TopicID: id, Partition: p, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 5 + p + 2, PartitionEpoch: 2})
	wait.Until(t, 10*time.Second, "the group's partition loaded again", func() bool {
		_, e := committedOffset(t, d, moved)
		return e == 0
	})
	if o, _ := committedOffset(t, d, moved); o != 42 {
		t.Fatalf("after coming back: offset %d, want 42", o)
	}
	if e, node, _, _ := findCoordinator(t, d, 4, moved); e != 0 || node != 1 {
		t.Fatalf("FindCoordinator after coming back: error %d node %d", e, node)
	}
}

// hostPort splits a test broker's address for its RegisterBroker record.
func hostPort(t *testing.T, addr string) (string, uint16) {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Addr().String(), ap.Port()
}

// twoBrokerImage is the image both test brokers of a two-node test hold:
// nodes 1 and 2 at their addresses, and per topic of b (its own ids) the
// leaders given.
func twoBrokerImage(t *testing.T, b *Broker, d1, d2 *dataBroker, leaders map[string][]int32) []metadata.Record {
	h1, p1 := hostPort(t, d1.addr)
	h2, p2 := hostPort(t, d2.addr)
	records := []metadata.Record{
		&metadata.RegisterBrokerRecord{NodeID: 1, IncarnationID: metadata.UUID{1}, BrokerEpoch: 1,
			Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: h1, Port: p1}}},
		&metadata.RegisterBrokerRecord{NodeID: 2, IncarnationID: metadata.UUID{2}, BrokerEpoch: 1,
			Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: h2, Port: p2}}},
	}
	for name, l := range leaders {
		records = append(records, topicTestRecords(name, b.topic(name).id, l...)...)
	}
	return records
}

// TestKgoProduceFollowsLeader: a franz-go producer that knows only broker
// 1, whose metadata says it leads every partition, produces to a partition
// the image places on broker 2: the NOT_LEADER_OR_FOLLOWER answer's leader
// and endpoint (KIP-951) move the partition to broker 2 without a metadata
// refresh, and its records land there. (Produce is capped at v12, which
// names topics: the two brokers' local topics have different ids until the
// controller quorum creates them. A kgo consumer group coordinated by
// broker 2 needs Metadata to list broker 2, which kgo requires of a
// coordinator: it waits for the cluster's Metadata.)
func TestKgoProduceFollowsLeader(t *testing.T) {
	d1 := startDataBroker(t, nil)
	d2 := startDataBroker(t, func(c *Config) { c.NodeID, c.ClusterID = 2, d1.b.ClusterID() })
	for _, d := range []*dataBroker{d1, d2} {
		d.createTopic("routed", 2, nil)
	}
	for _, d := range []*dataBroker{d1, d2} {
		publishTestImage(t, d.b, twoBrokerImage(t, d.b, d1, d2, map[string][]int32{"routed": {1, 2}})...)
	}

	versions := kversion.Stable()
	versions.SetMaxKeyVersion(kmsg.Produce.Int16(), 12)
	producer := d1.client(kgo.MaxVersions(versions), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(2) {
		for i := range 3 {
			r := &kgo.Record{Topic: "routed", Partition: p, Value: []byte(fmt.Sprint(i))}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := producer.ProduceSync(ctx, r).FirstErr()
			cancel()
			if err != nil {
				t.Fatalf("producing to partition %d: %v", p, err)
			}
		}
	}
	for _, tc := range []struct {
		d         *dataBroker
		partition int32
		end       int64
	}{{d1, 0, 3}, {d1, 1, 0}, {d2, 0, 0}, {d2, 1, 3}} {
		p, err := tc.d.b.partition("routed", tc.partition)
		if err != nil {
			t.Fatal(err)
		}
		if end := p.log.EndOffset(); end != tc.end {
			t.Fatalf("broker %d partition %d holds %d records, want %d", tc.d.b.cfg.NodeID, tc.partition, end, tc.end)
		}
	}
}
