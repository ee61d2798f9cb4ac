package controller

import (
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// reassignReq asks for each partition of topic "t" in targets (nil:
// cancel) to move to its replicas.
func reassignReq(targets map[int32][]int32) *kmsg.AlterPartitionAssignmentsRequest {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.Version = 1
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = "t"
	for _, p := range slices.Sorted(maps.Keys(targets)) {
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = p, targets[p]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// reassign sends req to a and returns each partition's error code.
func reassign(t *testing.T, a *Controller, req *kmsg.AlterPartitionAssignmentsRequest) map[int32]int16 {
	t.Helper()
	resp := a.AlterPartitionReassignments(ctx(t), req)
	out := map[int32]int16{}
	for _, st := range resp.Topics {
		for _, sp := range st.Partitions {
			out[sp.Partition] = sp.ErrorCode
		}
	}
	return out
}

// reassignCluster is an active controller with brokers 1-4 registered and
// topic "t" of four partitions, each on brokers 1, 2, 3 led by 1.
func reassignCluster(t *testing.T) (*testCluster, *Controller) {
	tc := newTestCluster(t)
	for id := int32(1); id <= 4; id++ {
		tc.register(id, "")
	}
	a := tc.active()
	req := createReq("t", -1, -1)
	for p := range int32(4) {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = p, []int32{1, 2, 3}
		req.Topics[0].ReplicaAssignment = append(req.Topics[0].ReplicaAssignment, ra)
	}
	if code := a.CreateTopics(ctx(t), req).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("CreateTopics: %v", kerr.ErrorForCode(code))
	}
	return tc, a
}

func partitionOf(t *testing.T, a *Controller, p int32) metadata.Partition {
	t.Helper()
	part, ok := a.Image().Partition("t", p)
	if !ok {
		t.Fatalf("no partition t-%d", p)
	}
	return part
}

// listed is ListPartitionReassignments' answer for topic "t" (all topics
// when partitions is nil) by partition.
func listed(t *testing.T, a *Controller, partitions []int32) map[int32]kmsg.ListPartitionReassignmentsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	if partitions != nil {
		rt := kmsg.NewListPartitionReassignmentsRequestTopic()
		rt.Topic, rt.Partitions = "t", partitions
		unknown := kmsg.NewListPartitionReassignmentsRequestTopic()
		unknown.Topic, unknown.Partitions = "nope", []int32{0}
		req.Topics = append(req.Topics, rt, unknown)
	}
	resp := a.ListPartitionReassignments(ctx(t), req)
	if resp.ErrorCode != 0 {
		t.Fatalf("ListPartitionReassignments: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	out := map[int32]kmsg.ListPartitionReassignmentsResponseTopicPartition{}
	for _, st := range resp.Topics {
		if st.Topic != "t" {
			t.Fatalf("listed topic %q", st.Topic)
		}
		for _, sp := range st.Partitions {
			out[sp.Partition] = sp
		}
	}
	return out
}

// TestReassignmentStartAndComplete: a move of partition 0 from 1,2,3 to
// 2,3,4 adds 4 and removes 1 and is listed; it completes once an ISR change
// puts 4 in sync, in the same entry: replicas 2,3,4, leader 1 (removed)
// replaced by 2 with the next leader epoch. The followers agree.
func TestReassignmentStartAndComplete(t *testing.T) {
	tc, a := reassignCluster(t)
	before := partitionOf(t, a, 0)
	if codes := reassign(t, a, reassignReq(map[int32][]int32{0: {2, 3, 4}})); codes[0] != 0 {
		t.Fatalf("reassign: %v", kerr.ErrorForCode(codes[0]))
	}
	p := partitionOf(t, a, 0)
	if !slices.Equal(p.Replicas, []int32{2, 3, 4, 1}) || !slices.Equal(p.AddingReplicas, []int32{4}) || !slices.Equal(p.RemovingReplicas, []int32{1}) ||
		!slices.Equal(p.ISR, []int32{1, 2, 3}) || p.Leader != 1 || p.LeaderEpoch != before.LeaderEpoch || p.PartitionEpoch != before.PartitionEpoch+1 {
		t.Fatalf("after the start: %+v", p)
	}
	got := listed(t, a, nil)
	if l, ok := got[0]; len(got) != 1 || !ok || !slices.Equal(l.Replicas, []int32{2, 3, 4, 1}) || !slices.Equal(l.AddingReplicas, []int32{4}) || !slices.Equal(l.RemovingReplicas, []int32{1}) {
		t.Fatalf("listed %+v", got)
	}
	if got := listed(t, a, []int32{0, 1, 9}); len(got) != 1 {
		t.Fatalf("listed by name %+v", got)
	}
	// Again the same target: nothing changes.
	if codes := reassign(t, a, reassignReq(map[int32][]int32{0: {2, 3, 4}})); codes[0] != 0 || partitionOf(t, a, 0).PartitionEpoch != p.PartitionEpoch {
		t.Fatalf("the same target again: %v, %+v", codes, partitionOf(t, a, 0))
	}

	// 2 drops out of the ISR: 4 still missing, nothing completes.
	topic, _ := a.Image().Topic("t")
	if err := a.Import(ctx(t), []metadata.Record{&metadata.PartitionChangeRecord{TopicID: topic.ID(), Partition: 0, ISR: []int32{1, 3},
		Leader: metadata.LeaderUnchanged, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1}}); err != nil {
		t.Fatal(err)
	}
	if p = partitionOf(t, a, 0); !p.Reassigning() {
		t.Fatalf("completed without 4 in the ISR: %+v", p)
	}
	// 4 joins (as AlterPartition would commit it): the reassignment completes.
	if err := a.Import(ctx(t), []metadata.Record{&metadata.PartitionChangeRecord{TopicID: topic.ID(), Partition: 0, ISR: []int32{1, 3, 4},
		Leader: metadata.LeaderUnchanged, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1}}); err != nil {
		t.Fatal(err)
	}
	done := partitionOf(t, a, 0)
	if done.Reassigning() || !slices.Equal(done.Replicas, []int32{2, 3, 4}) || !slices.Equal(done.ISR, []int32{3, 4}) ||
		done.Leader != 3 || done.LeaderEpoch != p.LeaderEpoch+1 || done.PartitionEpoch != p.PartitionEpoch+2 {
		t.Fatalf("after completion: %+v (before %+v)", done, p)
	}
	if got := listed(t, a, nil); len(got) != 0 {
		t.Fatalf("listed after completion: %+v", got)
	}
	tc.converged()
}

// TestReassignmentRemovingOnlyCompletesAtOnce: a target that only drops a
// replica needs no catching up, and a reorder of the same replicas is no
// reassignment at all.
func TestReassignmentRemovingOnlyCompletesAtOnce(t *testing.T) {
	_, a := reassignCluster(t)
	before := partitionOf(t, a, 1)
	if codes := reassign(t, a, reassignReq(map[int32][]int32{1: {2, 3}, 2: {3, 1, 2}})); codes[1] != 0 || codes[2] != 0 {
		t.Fatalf("reassign: %v", codes)
	}
	if p := partitionOf(t, a, 1); p.Reassigning() || !slices.Equal(p.Replicas, []int32{2, 3}) || !slices.Equal(p.ISR, []int32{2, 3}) ||
		p.Leader != 2 || p.LeaderEpoch != before.LeaderEpoch+1 {
		t.Fatalf("partition 1 after dropping 1: %+v", p)
	}
	if p := partitionOf(t, a, 2); p.Reassigning() || !slices.Equal(p.Replicas, []int32{3, 1, 2}) || p.Leader != 1 || p.LeaderEpoch != before.LeaderEpoch {
		t.Fatalf("partition 2 after a reorder: %+v", p)
	}
}

// TestReassignmentCancel: null replicas take a partition back to its
// original replicas (the adding one removed, the leader epoch raised so it
// is fenced); a partition not being reassigned is
// NO_REASSIGNMENT_IN_PROGRESS. A new target replaces an ongoing one.
func TestReassignmentCancel(t *testing.T) {
	tc, a := reassignCluster(t)
	before := partitionOf(t, a, 0)
	if codes := reassign(t, a, reassignReq(map[int32][]int32{0: {4, 1, 2}})); codes[0] != 0 {
		t.Fatalf("reassign: %v", kerr.ErrorForCode(codes[0]))
	}
	if p := partitionOf(t, a, 0); !slices.Equal(p.Replicas, []int32{4, 1, 2, 3}) || !slices.Equal(p.AddingReplicas, []int32{4}) || !slices.Equal(p.RemovingReplicas, []int32{3}) {
		t.Fatalf("after the start: %+v", p)
	}
	// A new target over the ongoing one starts from the original replicas.
	if codes := reassign(t, a, reassignReq(map[int32][]int32{0: {1, 2, 3, 4}})); codes[0] != 0 {
		t.Fatalf("reassign again: %v", kerr.ErrorForCode(codes[0]))
	}
	if p := partitionOf(t, a, 0); !slices.Equal(p.Replicas, []int32{1, 2, 3, 4}) || !slices.Equal(p.AddingReplicas, []int32{4}) || len(p.RemovingReplicas) != 0 {
		t.Fatalf("after the second target: %+v", p)
	}
	if codes := reassign(t, a, reassignReq(map[int32][]int32{0: nil, 1: nil})); codes[0] != 0 || codes[1] != kerr.NoReassignmentInProgress.Code {
		t.Fatalf("cancel: %v", codes)
	}
	p := partitionOf(t, a, 0)
	if p.Reassigning() || !slices.Equal(p.Replicas, before.Replicas) || !slices.Equal(p.ISR, before.ISR) || p.Leader != before.Leader ||
		p.LeaderEpoch != before.LeaderEpoch+1 {
		t.Fatalf("after the cancel: %+v (before %+v)", p, before)
	}
	tc.converged()
}

// TestReassignmentErrors: Kafka's answers to bad targets.
func TestReassignmentErrors(t *testing.T) {
	tc, a := reassignCluster(t)
	// Broker 4 asks to be fenced.
	b4, _ := a.Image().Broker(4)
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch, hb.CurrentMetadataOffset, hb.WantFence = 4, b4.Epoch, a.AppliedOffset(), true
	if resp := a.BrokerHeartbeat(ctx(t), hb); resp.ErrorCode != 0 || !resp.IsFenced {
		t.Fatalf("fencing broker 4: %+v", resp)
	}
	codes := reassign(t, a, reassignReq(map[int32][]int32{0: {}, 1: {1, 1, 2}, 2: {1, 2, 9}, 3: {1, 2, 4}, 7: {1}}))
	want := map[int32]int16{0: kerr.InvalidReplicaAssignment.Code, 1: kerr.InvalidReplicaAssignment.Code, 2: kerr.InvalidReplicaAssignment.Code,
		3: kerr.InvalidReplicaAssignment.Code, 7: kerr.UnknownTopicOrPartition.Code}
	for p, code := range want {
		if codes[p] != code {
			t.Errorf("partition %d: %v, want %v", p, kerr.ErrorForCode(codes[p]), kerr.ErrorForCode(code))
		}
	}
	req := reassignReq(map[int32][]int32{0: {1, 2}})
	req.AllowReplicationFactorChange = false
	if codes := reassign(t, a, req); codes[0] != kerr.InvalidReplicationFactor.Code {
		t.Errorf("a new factor without AllowReplicationFactorChange: %v", kerr.ErrorForCode(codes[0]))
	}
	req = reassignReq(map[int32][]int32{0: {1, 2}})
	req.Topics[0].Topic = "nope"
	if codes := reassign(t, a, req); codes[0] != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: %v", kerr.ErrorForCode(codes[0]))
	}
	for _, c := range tc.running() {
		if c != a {
			if resp := c.ListPartitionReassignments(ctx(t), kmsg.NewPtrListPartitionReassignmentsRequest()); resp.ErrorCode != kerr.NotController.Code {
				t.Errorf("List on a follower: %v", kerr.ErrorForCode(resp.ErrorCode))
			}
		}
	}
	if got := listed(t, a, nil); len(got) != 0 {
		t.Fatalf("listed after refusals: %+v", got)
	}
}

// TestReassignmentCompletesThroughAlterPartition: the leader's
// AlterPartition that adds the last adding replica to the ISR completes the
// reassignment in the same entry; the leader, being removed, is replaced,
// which the answer says with NEW_LEADER_ELECTED, as Kafka's.
func TestReassignmentCompletesThroughAlterPartition(t *testing.T) {
	_, a := reassignCluster(t)
	if codes := reassign(t, a, reassignReq(map[int32][]int32{0: {4, 2, 3}})); codes[0] != 0 {
		t.Fatalf("reassign: %v", kerr.ErrorForCode(codes[0]))
	}
	p := partitionOf(t, a, 0)
	topic, _ := a.Image().Topic("t")
	b1, _ := a.Image().Broker(1)
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version, req.BrokerID, req.BrokerEpoch = 2, 1, b1.Epoch
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.TopicID = topic.ID()
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = 0, p.LeaderEpoch, p.PartitionEpoch, []int32{1, 2, 3, 4}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if resp := a.AlterPartition(ctx(t), req); resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != kerr.NewLeaderElected.Code {
		t.Fatalf("AlterPartition: %+v", resp)
	}
	done := partitionOf(t, a, 0)
	if done.Reassigning() || !slices.Equal(done.Replicas, []int32{4, 2, 3}) || !slices.Equal(done.ISR, []int32{2, 3, 4}) ||
		done.Leader != 4 || done.LeaderEpoch != p.LeaderEpoch+1 {
		t.Fatalf("after AlterPartition: %+v", done)
	}
}
