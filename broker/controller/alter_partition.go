package controller

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// AlterPartition changes partitions' ISRs at their leaders' request
// (KIP-497, versions 0-3), as Kafka's ReplicationControlManager.
// alterPartition. The sender's BrokerEpoch must be its registered epoch,
// else every partition (and the response) is STALE_BROKER_EPOCH. Topics are
// named by name up to v1 and by id from v2. Per partition, in this order:
//
//   - an unknown topic: UNKNOWN_TOPIC_ID (v2+) or UNKNOWN_TOPIC_OR_PARTITION;
//     an unknown partition UNKNOWN_TOPIC_OR_PARTITION;
//   - LeaderEpoch other than the partition's: FENCED_LEADER_EPOCH;
//   - a sender that does not lead it: NOT_LEADER_OR_FOLLOWER;
//   - PartitionEpoch other than the partition's: INVALID_UPDATE_VERSION;
//   - a new ISR without the leader, with a non-replica or a broker twice:
//     INVALID_REQUEST;
//   - a member to add (not in the current ISR) that is not registered, is
//     fenced, is in controlled shutdown or, from v3 where NewEpochISR
//     carries broker epochs (-1: not checked), has another epoch:
//     INELIGIBLE_REPLICA (OPERATION_NOT_ATTEMPTED before v2, as Kafka).
//
// A valid change is one PartitionChangeRecord: the new ISR, PartitionEpoch
// + 1, leader and LeaderEpoch unchanged; the records of every partition of
// the request are committed as one entry, each partition checked against
// the image the earlier ones left. An ISR with the same members as the
// current one (in any order) writes nothing. Each success answers the
// partition's state once the entry is applied: leader, leader epoch, ISR,
// partition epoch; if by then another broker leads it (a reassignment the
// change completed moved the leadership), NEW_LEADER_ELECTED
// (FENCED_LEADER_EPOCH before v2), as Kafka. A failed commit answers its
// error (NOT_CONTROLLER, REQUEST_TIMED_OUT) for every partition that had a
// change.
func (c *Controller) AlterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	type item struct{ topic, partition int }
	var items []item
	resp.Topics = make([]kmsg.AlterPartitionResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewAlterPartitionResponseTopic()
		st.Topic, st.TopidID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.AlterPartitionResponseTopicPartition, len(rt.Partitions))
		for k, rp := range rt.Partitions {
			sp := &st.Partitions[k]
			*sp = kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			items = append(items, item{i, k})
		}
	}
	staleSender := false
	ids := make([]metadata.UUID, len(items)) // each item's topic, once resolved
	errs := c.operate(ctx, len(items), false, func(img *metadata.Image, i int) ([]metadata.Record, error) {
		it := items[i]
		if b, ok := img.Broker(req.BrokerID); !ok || b.Epoch != req.BrokerEpoch {
			staleSender = true
			return nil, placementErr(kerr.StaleBrokerEpoch, "Broker %d's epoch %d is not its registered epoch.", req.BrokerID, req.BrokerEpoch)
		}
		rt := req.Topics[it.topic]
		var t *metadata.Topic
		var ok bool
		if req.Version >= 2 {
			if t, ok = img.TopicByID(rt.TopicID); !ok {
				return nil, placementErr(kerr.UnknownTopicID, "This server does not host this topic ID.")
			}
		} else if t, ok = img.Topic(rt.Topic); !ok {
			return nil, placementErr(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
		}
		rp := rt.Partitions[it.partition]
		p, ok := t.Partition(rp.Partition)
		if !ok {
			return nil, placementErr(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
		}
		ids[i] = t.ID()
		return c.alterISR(img, t.ID(), p, req, rp)
	})
	// The answer is each partition's state once the entry is applied: a
	// reassignment the change completed (completeReassignments) may have
	// changed more, or moved the leadership away (NEW_LEADER_ELECTED, as
	// Kafka answers; FENCED_LEADER_EPOCH before v2).
	img := c.holder.Load()
	for i, err := range errs {
		it := items[i]
		rp := req.Topics[it.topic].Partitions[it.partition]
		if err == nil {
			var p metadata.Partition
			t, ok := img.TopicByID(ids[i])
			if ok {
				p, ok = t.Partition(rp.Partition)
			}
			switch {
			case !ok:
				err = placementErr(kerr.UnknownTopicOrPartition, "The partition is gone.")
			case p.Leader != req.BrokerID || p.LeaderEpoch != rp.LeaderEpoch:
				err = placementErr(kerr.NewLeaderElected, "Broker %d leads the partition now, at leader epoch %d.", p.Leader, p.LeaderEpoch)
				if req.Version < 2 {
					err = placementErr(kerr.FencedLeaderEpoch, "Broker %d leads the partition now, at leader epoch %d.", p.Leader, p.LeaderEpoch)
				}
			default:
				sp := &resp.Topics[it.topic].Partitions[it.partition]
				sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = p.Leader, p.LeaderEpoch, slices.Clone(p.ISR), p.PartitionEpoch
				continue
			}
		}
		sp := &resp.Topics[it.topic].Partitions[it.partition]
		*sp = kmsg.NewAlterPartitionResponseTopicPartition()
		sp.Partition = rp.Partition
		sp.ErrorCode, _ = errorCode(err)
	}
	if staleSender {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
	}
	return resp
}

// alterISR checks one partition of an AlterPartition request from
// req.BrokerID against p, its state in img, and returns the
// PartitionChangeRecord that sets the new ISR (none when the members are
// unchanged).
func (c *Controller) alterISR(img *metadata.Image, topicID metadata.UUID, p metadata.Partition, req *kmsg.AlterPartitionRequest, rp kmsg.AlterPartitionRequestTopicPartition) ([]metadata.Record, error) {
	switch {
	case rp.LeaderEpoch != p.LeaderEpoch:
		return nil, placementErr(kerr.FencedLeaderEpoch, "The leader epoch is %d, not %d.", p.LeaderEpoch, rp.LeaderEpoch)
	case req.BrokerID != p.Leader:
		return nil, placementErr(kerr.NotLeaderForPartition, "Broker %d does not lead the partition; %d does.", req.BrokerID, p.Leader)
	case rp.PartitionEpoch != p.PartitionEpoch:
		return nil, placementErr(kerr.InvalidUpdateVersion, "The partition epoch is %d, not %d.", p.PartitionEpoch, rp.PartitionEpoch)
	}
	isr := rp.NewISR
	epochs := map[int32]int64{}
	if req.Version >= 3 {
		isr = make([]int32, len(rp.NewEpochISR))
		for i, m := range rp.NewEpochISR {
			isr[i] = m.BrokerID
			epochs[m.BrokerID] = m.BrokerEpoch
		}
	}
	for i, id := range isr {
		if !slices.Contains(p.Replicas, id) || slices.Contains(isr[:i], id) {
			return nil, placementErr(kerr.InvalidRequest, "The new ISR %v names broker %d, which is not a replica %v or is named twice.", isr, id, p.Replicas)
		}
	}
	if !slices.Contains(isr, p.Leader) {
		return nil, placementErr(kerr.InvalidRequest, "The new ISR %v does not hold the leader %d.", isr, p.Leader)
	}
	for _, id := range isr {
		if slices.Contains(p.ISR, id) {
			continue
		}
		if reason := c.ineligible(img, id, epochs); reason != "" {
			code := kerr.IneligibleReplica
			if req.Version < 2 {
				code = kerr.OperationNotAttempted
			}
			return nil, placementErr(code, "Broker %d cannot join the ISR: %s.", id, reason)
		}
	}
	if len(isr) == len(p.ISR) && !slices.ContainsFunc(isr, func(id int32) bool { return !slices.Contains(p.ISR, id) }) {
		return nil, nil
	}
	return []metadata.Record{&metadata.PartitionChangeRecord{TopicID: topicID, Partition: p.Partition, ISR: slices.Clone(isr),
		Leader: metadata.LeaderUnchanged, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1}}, nil
}

// ineligible says why broker id may not join an ISR ("" when it may), as
// Kafka's ineligibleReplicasForIsr: not registered, fenced, in controlled
// shutdown, or (epochs from AlterPartition v3, -1 unchecked) an epoch other
// than its registration's. Called with c.mu held.
func (c *Controller) ineligible(img *metadata.Image, id int32, epochs map[int32]int64) string {
	b, ok := img.Broker(id)
	switch {
	case !ok:
		return "not registered"
	case c.shuttingDown(id):
		return "shutting down"
	case b.Fenced:
		return "fenced"
	}
	if e, ok := epochs[id]; ok && e != -1 && e != b.Epoch {
		return "its broker epoch is not its registered one"
	}
	return ""
}
