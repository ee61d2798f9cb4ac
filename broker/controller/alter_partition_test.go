package controller

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// alterReq is an AlterPartition of version v from broker id at epoch for
// one partition of topic t, as its state p says, with the new ISR isr.
func alterReq(v int16, id int32, epoch int64, t *metadata.Topic, p metadata.Partition, isr ...int32) *kmsg.AlterPartitionRequest {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version, req.BrokerID, req.BrokerEpoch = v, id, epoch
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic, rt.TopicID = t.Name(), t.ID()
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = p.Partition, p.LeaderEpoch, p.PartitionEpoch
	if v >= 3 {
		for _, m := range isr {
			e := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
			e.BrokerID, e.BrokerEpoch = m, -1
			rp.NewEpochISR = append(rp.NewEpochISR, e)
		}
	} else {
		rp.NewISR = isr
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// onePartition is the answer to a request of one partition.
func onePartition(t testing.TB, resp *kmsg.AlterPartitionResponse) kmsg.AlterPartitionResponseTopicPartition {
	t.Helper()
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("AlterPartition answered %+v, want one partition", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// TestControllerAlterPartition checks each of AlterPartition's rules on a
// topic of replication factor 3 over three brokers: shrinking and growing
// the ISR, an unchanged ISR, and every error.
func TestControllerAlterPartition(t *testing.T) {
	tc := newTestCluster(t)
	epochs := map[int32]int64{}
	for i, rack := range []string{"a", "b", "c"} {
		epochs[int32(i+1)] = tc.register(int32(i+1), rack)
	}
	a := tc.active()
	if got := a.CreateTopics(ctx(t), createReq("t", 2, 3)).Topics[0].ErrorCode; got != 0 {
		t.Fatalf("CreateTopics: %v", kerr.ErrorForCode(got))
	}
	state := func(partition int32) (*metadata.Topic, metadata.Partition) {
		t.Helper()
		topic, _ := a.Image().Topic("t")
		p, _ := topic.Partition(partition)
		return topic, p
	}
	topic, p := state(0)
	leader := p.Leader
	followers := slices.DeleteFunc(slices.Clone(p.Replicas), func(id int32) bool { return id == leader })
	others := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return id == followers[0] })

	expectError := func(what string, resp *kmsg.AlterPartitionResponse, want *kerr.Error) {
		t.Helper()
		if got := onePartition(t, resp).ErrorCode; got != want.Code {
			t.Errorf("%s: %v, want %v", what, kerr.ErrorForCode(got), want)
		}
		if _, after := state(p.Partition); after.PartitionEpoch != p.PartitionEpoch || !slices.Equal(after.ISR, p.ISR) {
			t.Errorf("%s changed the partition: %+v, was %+v", what, after, p)
		}
	}

	// The leader drops a follower: one record, partition epoch + 1.
	before := a.AppliedOffset()
	sp := onePartition(t, a.AlterPartition(ctx(t), alterReq(2, leader, epochs[leader], topic, p, others...)))
	if sp.ErrorCode != 0 || sp.LeaderID != leader || sp.LeaderEpoch != p.LeaderEpoch || sp.PartitionEpoch != p.PartitionEpoch+1 || !slices.Equal(sp.ISR, others) {
		t.Fatalf("shrinking the ISR answered %+v (was %+v)", sp, p)
	}
	if _, now := state(0); !slices.Equal(now.ISR, others) || now.PartitionEpoch != p.PartitionEpoch+1 || now.LeaderEpoch != p.LeaderEpoch || now.Leader != leader {
		t.Fatalf("after shrinking the ISR: %+v", now)
	}
	if got := a.AppliedOffset(); got != before+1 {
		t.Fatalf("shrinking the ISR took %d entries, want 1", got-before)
	}

	// The same ISR again (another order): the current state, no record.
	_, p = state(0)
	before = a.AppliedOffset()
	reversed := slices.Clone(others)
	slices.Reverse(reversed)
	sp = onePartition(t, a.AlterPartition(ctx(t), alterReq(1, leader, epochs[leader], topic, p, reversed...)))
	if sp.ErrorCode != 0 || sp.PartitionEpoch != p.PartitionEpoch || !slices.Equal(sp.ISR, p.ISR) || a.AppliedOffset() != before {
		t.Fatalf("an unchanged ISR answered %+v and wrote %d entries (state %+v)", sp, a.AppliedOffset()-before, p)
	}

	// Errors, none of which changes the partition.
	expectError("a stale sender epoch", a.AlterPartition(ctx(t), alterReq(2, leader, epochs[leader]-1, topic, p, p.Replicas...)), kerr.StaleBrokerEpoch)
	if resp := a.AlterPartition(ctx(t), alterReq(2, leader, epochs[leader]-1, topic, p, p.Replicas...)); resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Errorf("a stale sender epoch: top-level %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	unknownID := alterReq(2, leader, epochs[leader], topic, p, p.Replicas...)
	unknownID.Topics[0].TopicID = [16]byte{9}
	expectError("an unknown topic id", a.AlterPartition(ctx(t), unknownID), kerr.UnknownTopicID)
	unknownName := alterReq(1, leader, epochs[leader], topic, p, p.Replicas...)
	unknownName.Topics[0].Topic = "nope"
	expectError("an unknown topic name", a.AlterPartition(ctx(t), unknownName), kerr.UnknownTopicOrPartition)
	unknownPartition := alterReq(2, leader, epochs[leader], topic, p, p.Replicas...)
	unknownPartition.Topics[0].Partitions[0].Partition = 7
	if got := onePartition(t, a.AlterPartition(ctx(t), unknownPartition)).ErrorCode; got != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("an unknown partition: %v", kerr.ErrorForCode(got))
	}
	expectError("a follower's request", a.AlterPartition(ctx(t), alterReq(2, followers[1], epochs[followers[1]], topic, p, p.Replicas...)), kerr.NotLeaderForPartition)
	stale := alterReq(2, leader, epochs[leader], topic, p, p.Replicas...)
	stale.Topics[0].Partitions[0].LeaderEpoch--
	expectError("a stale leader epoch", a.AlterPartition(ctx(t), stale), kerr.FencedLeaderEpoch)
	stale = alterReq(2, leader, epochs[leader], topic, p, p.Replicas...)
	stale.Topics[0].Partitions[0].PartitionEpoch--
	expectError("a stale partition epoch", a.AlterPartition(ctx(t), stale), kerr.InvalidUpdateVersion)
	expectError("an ISR without the leader", a.AlterPartition(ctx(t), alterReq(2, leader, epochs[leader], topic, p, followers...)), kerr.InvalidRequest)
	expectError("an ISR with a non-replica", a.AlterPartition(ctx(t), alterReq(2, leader, epochs[leader], topic, p, append(slices.Clone(p.ISR), 9)...)), kerr.InvalidRequest)
	expectError("an ISR with a broker twice", a.AlterPartition(ctx(t), alterReq(2, leader, epochs[leader], topic, p, append(slices.Clone(p.ISR), leader)...)), kerr.InvalidRequest)
	for _, c := range tc.running() {
		if c != a {
			expectError("a request to a follower controller", c.AlterPartition(ctx(t), alterReq(2, leader, epochs[leader], topic, p, p.Replicas...)), kerr.NotController)
		}
	}

	// The dropped follower is fenced: it cannot join (OPERATION_NOT_ATTEMPTED
	// before v2), nor with a stale epoch once unfenced (v3).
	dropped := followers[0]
	fence := kmsg.NewPtrBrokerHeartbeatRequest()
	fence.BrokerID, fence.BrokerEpoch, fence.CurrentMetadataOffset, fence.WantFence = dropped, epochs[dropped], a.AppliedOffset(), true
	if hb := a.BrokerHeartbeat(ctx(t), fence); hb.ErrorCode != 0 || !hb.IsFenced {
		t.Fatalf("fencing broker %d: %+v", dropped, hb)
	}
	_, p = state(0)
	expectError("adding a fenced broker", a.AlterPartition(ctx(t), alterReq(2, leader, epochs[leader], topic, p, p.Replicas...)), kerr.IneligibleReplica)
	expectError("adding a fenced broker (v1)", a.AlterPartition(ctx(t), alterReq(1, leader, epochs[leader], topic, p, p.Replicas...)), kerr.OperationNotAttempted)
	if hb := tc.heartbeat(a, dropped, epochs[dropped], a.AppliedOffset()); hb.ErrorCode != 0 || hb.IsFenced {
		t.Fatalf("unfencing broker %d: %+v", dropped, hb)
	}
	_, p = state(0)
	add := alterReq(3, leader, epochs[leader], topic, p, p.Replicas...)
	for i := range add.Topics[0].Partitions[0].NewEpochISR {
		m := &add.Topics[0].Partitions[0].NewEpochISR[i]
		m.BrokerEpoch = epochs[m.BrokerID]
		if m.BrokerID == dropped {
			m.BrokerEpoch--
		}
	}
	expectError("adding a broker with a stale epoch (v3)", a.AlterPartition(ctx(t), add), kerr.IneligibleReplica)
	add.Topics[0].Partitions[0].NewEpochISR[slices.Index(p.Replicas, dropped)].BrokerEpoch = epochs[dropped]
	sp = onePartition(t, a.AlterPartition(ctx(t), add))
	if sp.ErrorCode != 0 || !slices.Equal(sp.ISR, p.Replicas) || sp.PartitionEpoch != p.PartitionEpoch+1 {
		t.Fatalf("adding broker %d back (v3): %+v", dropped, sp)
	}

	// Two partitions of one leader in one request: one entry.
	assigned := createReq("u", -1, -1)
	for _, replicas := range [][]int32{{1, 2, 3}, {1, 3, 2}} {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(len(assigned.Topics[0].ReplicaAssignment)), replicas
		assigned.Topics[0].ReplicaAssignment = append(assigned.Topics[0].ReplicaAssignment, ra)
	}
	if got := a.CreateTopics(ctx(t), assigned).Topics[0].ErrorCode; got != 0 {
		t.Fatalf("CreateTopics u: %v", kerr.ErrorForCode(got))
	}
	u, _ := a.Image().Topic("u")
	p0, _ := u.Partition(0)
	p1, _ := u.Partition(1)
	req := alterReq(2, 1, epochs[1], u, p0, 1, 2)
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, alterReq(2, 1, epochs[1], u, p1, 1, 3).Topics[0].Partitions...)
	before = a.AppliedOffset()
	resp := a.AlterPartition(ctx(t), req)
	for _, sp := range resp.Topics[0].Partitions {
		if sp.ErrorCode != 0 || len(sp.ISR) != 2 || sp.PartitionEpoch != 1 {
			t.Errorf("partition %d of two: %+v", sp.Partition, sp)
		}
	}
	if got := a.AppliedOffset(); got != before+1 {
		t.Errorf("one request took %d entries, want 1", got-before)
	}
	tc.converged()
}
