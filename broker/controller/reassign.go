package controller

// Partition reassignment (KIP-455), as KRaft's ReplicationControlManager
// and PartitionReassignmentReplicas do it.
//
// A reassignment of a partition with replicas R to the target T writes the
// replicas T then R\T, AddingReplicas T\R and RemovingReplicas R\T; the ISR
// keeps the members still replicas and the leader stays (unless it is no
// longer a replica). The brokers of T\R create the partition's log, since
// the replicas name them, and catch up as followers; the leader adds each
// to the ISR through AlterPartition. Whenever a partition change leaves
// every adding replica in the ISR (at once, for a reassignment that only
// removes), the same entry completes it: replicas T, ISR ∩ T, no adding or
// removing, and a new leader (ElectLeader over T) if the leader was being
// removed. A change that takes replicas away raises the leader epoch, so a
// removed replica's fetches are fenced. A null target cancels: the replicas
// go back to R (the current ones without the adding), the ISR to its
// members in R.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// AlterPartitionReassignments starts or cancels reassignments, one
// partition at a time against the image the ones before it left (Kafka's
// AlterPartitionReassignments, versions 0-1). A target is
// INVALID_REPLICA_ASSIGNMENT when empty, when it names a broker twice or
// one not registered, when a broker it adds is fenced or when every broker
// of it is fenced; with AllowReplicationFactorChange false (v1) a target of
// another length is INVALID_REPLICATION_FACTOR. An unknown topic or
// partition is UNKNOWN_TOPIC_OR_PARTITION; cancelling (null replicas) a
// partition not being reassigned is NO_REASSIGNMENT_IN_PROGRESS. The answer
// comes once the changes are committed and applied here.
func (c *Controller) AlterPartitionReassignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	type item struct{ topic, partition int }
	var items []item
	for i, rt := range req.Topics {
		for j := range rt.Partitions {
			items = append(items, item{i, j})
		}
	}
	keepFactor := req.Version >= 1 && !req.AllowReplicationFactorChange
	errs := c.operate(ctx, len(items), false, func(img *metadata.Image, k int) ([]metadata.Record, error) {
		rt := req.Topics[items[k].topic]
		rp := rt.Partitions[items[k].partition]
		t, ok := img.Topic(rt.Topic)
		if !ok {
			return nil, placementErr(kerr.UnknownTopicOrPartition, "The topic %s does not exist.", rt.Topic)
		}
		p, ok := t.Partition(rp.Partition)
		if !ok {
			return nil, placementErr(kerr.UnknownTopicOrPartition, "Unable to find partition %s:%d.", rt.Topic, rp.Partition)
		}
		if rp.Replicas == nil {
			return cancelReassignment(c.unavailable(img), t.ID(), p)
		}
		if keepFactor && len(rp.Replicas) != len(originalReplicas(p)) {
			return nil, placementErr(kerr.InvalidReplicationFactor, "The replication factor is changed from %d to %d but AllowReplicationFactorChange is false.", len(originalReplicas(p)), len(rp.Replicas))
		}
		if err := checkReassignment(img, p, rp.Replicas); err != nil {
			return nil, err
		}
		return startReassignment(c.unavailable(img), t.ID(), p, rp.Replicas)
	})
	for i, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		resp.Topics = append(resp.Topics, st)
		for range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
		}
	}
	for k, it := range items {
		sp := &resp.Topics[it.topic].Partitions[it.partition]
		sp.Partition = req.Topics[it.topic].Partitions[it.partition].Partition
		sp.ErrorCode, sp.ErrorMessage = errorCode(errs[k])
	}
	return resp
}

// ListPartitionReassignments lists the reassignments under way (Kafka's
// ListPartitionReassignments, version 0): of every partition when Topics
// is null, else of the partitions named (unknown ones are left out, as
// Kafka leaves them). Only the active controller answers (NOT_CONTROLLER).
func (c *Controller) ListPartitionReassignments(_ context.Context, req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !c.Active() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	img := c.holder.Load()
	add := func(t *metadata.Topic, p metadata.Partition) {
		if !p.Reassigning() {
			return
		}
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != t.Name() {
			st := kmsg.NewListPartitionReassignmentsResponseTopic()
			st.Topic = t.Name()
			resp.Topics = append(resp.Topics, st)
		}
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition = p.Partition
		sp.Replicas = slices.Clone(p.Replicas)
		sp.AddingReplicas = append([]int32{}, p.AddingReplicas...)
		sp.RemovingReplicas = append([]int32{}, p.RemovingReplicas...)
		st := &resp.Topics[len(resp.Topics)-1]
		st.Partitions = append(st.Partitions, sp)
	}
	if req.Topics == nil {
		for t := range img.Topics() {
			for p := range t.Partitions() {
				add(t, p)
			}
		}
		return resp
	}
	for _, rt := range req.Topics {
		t, ok := img.Topic(rt.Topic)
		if !ok {
			continue
		}
		for _, n := range rt.Partitions {
			if p, ok := t.Partition(n); ok {
				add(t, p)
			}
		}
	}
	return resp
}

// originalReplicas are the replicas a partition had before its ongoing
// reassignment (all of them when none is under way): what a new target
// replaces and what a cancellation goes back to.
func originalReplicas(p metadata.Partition) []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.AddingReplicas, r) })
}

// checkReassignment validates a target as Kafka's
// validateManualPartitionAssignment does, and refuses fenced brokers the
// target adds (they cannot catch up) and a target of fenced brokers only.
func checkReassignment(img *metadata.Image, p metadata.Partition, target []int32) error {
	if len(target) == 0 {
		return placementErr(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	original := originalReplicas(p)
	allFenced := true
	for i, id := range target {
		if slices.Contains(target[:i], id) {
			return placementErr(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", id)
		}
		b, ok := img.Broker(id)
		if !ok {
			return placementErr(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if b.Fenced && !slices.Contains(original, id) {
			return placementErr(kerr.InvalidReplicaAssignment, "The manual partition assignment adds broker %d, which is fenced.", id)
		}
		allFenced = allFenced && b.Fenced
	}
	if allFenced {
		return placementErr(kerr.InvalidReplicaAssignment, "All brokers specified in the manual partition assignment are fenced.")
	}
	return nil
}

// startReassignment returns the change that moves partition p of topic id
// towards target (replacing any reassignment under way): replicas target
// then the original ones not in it, adding and removing as the difference.
// The completion follows in the same entry when nothing is left to add
// (completeReassignments).
func startReassignment(unavailable func(int32) bool, id metadata.UUID, p metadata.Partition, target []int32) ([]metadata.Record, error) {
	original := originalReplicas(p)
	replicas := slices.Clone(target)
	var adding, removing []int32
	for _, r := range original {
		if !slices.Contains(target, r) {
			replicas = append(replicas, r)
			removing = append(removing, r)
		}
	}
	for _, r := range target {
		if !slices.Contains(original, r) {
			adding = append(adding, r)
		}
	}
	if slices.Equal(replicas, p.Replicas) && slices.Equal(adding, p.AddingReplicas) && slices.Equal(removing, p.RemovingReplicas) {
		return nil, nil // already so
	}
	if !slices.ContainsFunc(p.ISR, func(r int32) bool { return slices.Contains(replicas, r) }) {
		// Only replicas an earlier target added are in sync, and this one
		// drops them: cancel that one first, or keep them.
		return nil, placementErr(kerr.InvalidReplicaAssignment, "The new assignment would leave partition %d no in-sync replica (ISR %v).", p.Partition, p.ISR)
	}
	change := replicaChange(unavailable, id, p, replicas)
	if p.Reassigning() || len(adding) > 0 || len(removing) > 0 {
		change.AddingReplicas, change.RemovingReplicas = orEmpty(adding), orEmpty(removing)
	}
	return []metadata.Record{change}, nil
}

// cancelReassignment returns the change that takes partition p back to
// its original replicas, as Kafka's PartitionReassignmentRevert: the ISR
// keeps its members among them (all of them, if none is left, as Kafka
// does: the adding replicas were the only ones in sync).
func cancelReassignment(unavailable func(int32) bool, id metadata.UUID, p metadata.Partition) ([]metadata.Record, error) {
	if !p.Reassigning() {
		return nil, placementErr(kerr.NoReassignmentInProgress, "No ongoing reassignment for partition %d.", p.Partition)
	}
	change := replicaChange(unavailable, id, p, originalReplicas(p))
	change.AddingReplicas, change.RemovingReplicas = []int32{}, []int32{}
	return []metadata.Record{change}, nil
}

// replicaChange returns the change of partition p to replicas: the ISR
// keeps its members that stay (all of replicas when none does: only a
// cancel can leave none, as Kafka's revert), the leader
// stays if it can, else ElectLeader over replicas; the leader epoch rises
// with a new leader or when replicas are taken away.
func replicaChange(unavailable func(int32) bool, id metadata.UUID, p metadata.Partition, replicas []int32) *metadata.PartitionChangeRecord {
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(replicas, r) })
	if len(isr) == 0 {
		isr = slices.Clone(replicas)
	}
	change := &metadata.PartitionChangeRecord{TopicID: id, Partition: p.Partition, Replicas: replicas, Leader: metadata.LeaderUnchanged,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1}
	if !slices.Equal(isr, p.ISR) {
		change.ISR = isr
	}
	setLeader(change, p, ElectLeader(replicas, isr, unavailable), replicas)
	return change
}

// setLeader makes change keep p's leader when it stays in the change's ISR
// (leader elected otherwise) and raises the leader epoch when the leader
// changes or a replica of p is no longer one.
func setLeader(change *metadata.PartitionChangeRecord, p metadata.Partition, elected int32, replicas []int32) {
	isr := p.ISR
	if change.ISR != nil {
		isr = change.ISR
	}
	if p.Leader == metadata.NoLeader || !slices.Contains(isr, p.Leader) {
		if elected != p.Leader {
			change.Leader = elected
		}
	}
	if change.Leader != metadata.LeaderUnchanged || slices.ContainsFunc(p.Replicas, func(r int32) bool { return !slices.Contains(replicas, r) }) {
		change.LeaderEpoch = p.LeaderEpoch + 1
	}
}

// completeReassignments returns, for the records of an operation (which
// left img as it is), a change completing each reassignment they touched
// that now has every adding replica in the ISR and an ISR member
// among its target replicas: replicas the target, the ISR its members in
// the target, no adding or removing, the leader kept if it stays, else
// ElectLeader over the target, as Kafka's
// PartitionReassignmentReplicas.maybeCompleteReassignment. operate calls
// it for every operation, so any change that fills the ISR (AlterPartition,
// an unfenced broker, a reassignment that only removes) completes in the
// same entry.
func completeReassignments(img *metadata.Image, unavailable func(int32) bool, records []metadata.Record) []metadata.Record {
	type key struct {
		id        metadata.UUID
		partition int32
	}
	seen := map[key]bool{}
	var out []metadata.Record
	for _, r := range records {
		var k key
		switch r := r.(type) {
		case *metadata.PartitionChangeRecord:
			k = key{r.TopicID, r.Partition}
		case *metadata.PartitionRecord:
			k = key{r.TopicID, r.Partition}
		default:
			continue
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		t, ok := img.TopicByID(k.id)
		if !ok {
			continue
		}
		p, ok := t.Partition(k.partition)
		if !ok || !p.Reassigning() || slices.ContainsFunc(p.AddingReplicas, func(r int32) bool { return !slices.Contains(p.ISR, r) }) {
			continue
		}
		target := slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.RemovingReplicas, r) })
		isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(target, r) })
		if len(isr) == 0 {
			continue // wait until a target replica is in sync
		}
		change := &metadata.PartitionChangeRecord{TopicID: k.id, Partition: p.Partition, Replicas: target, Leader: metadata.LeaderUnchanged,
			LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1, AddingReplicas: []int32{}, RemovingReplicas: []int32{}}
		if !slices.Equal(isr, p.ISR) {
			change.ISR = isr
		}
		setLeader(change, p, ElectLeader(target, isr, unavailable), target)
		out = append(out, change)
	}
	return out
}

// orEmpty is s, or an empty non-nil list (a change that clears a list).
func orEmpty(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
