package group

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

type topicPartition struct {
	topic     string
	partition int32
}

// offset is a committed offset.
type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	committed   time.Time
}

// CommitOffsets handles an OffsetCommit request (topics named, v0-v9);
// respond is called once the offsets are durable (or failed), from another
// goroutine.
//
// A commit with generation -1 and no member id (a standalone consumer or an
// admin tool) is accepted only while the group has no members, and creates
// the group if needed. A member's commit must carry the current
// generation; it is refused with REBALANCE_IN_PROGRESS while the group
// waits for SyncGroup, and accepted while it prepares a rebalance (a
// consumer commits before giving up its partitions).
func (c *Coordinator) CommitOffsets(req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse)) {
	resp := newCommitResponse(req)
	var err *kerr.Error
	if req.Group == "" {
		err = kerr.InvalidGroupID
	} else {
		simple := req.Generation < 0 && req.MemberID == ""
		found, notServed := c.withGroupCreatedIf(req.Group, simple, func(g *group) {
			if err = c.checkCommitterLocked(g, req, simple); err == nil {
				c.commitLocked(g, req, resp, respond)
			}
		})
		switch {
		case notServed != nil:
			err = notServed
		case !found:
			err = kerr.IllegalGeneration
		}
	}
	if err != nil {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = err.Code
			}
		}
		respond(resp)
	}
}

// newCommitResponse is the answer to req with every partition it names and
// no error yet.
func newCommitResponse(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			st.Partitions[j] = kmsg.NewOffsetCommitResponseTopicPartition()
			st.Partitions[j].Partition = rp.Partition
		}
	}
	return resp
}

// checkCommitterLocked says whether req's sender may commit for g now: a
// standalone committer (simple) only while g has no members, a KIP-848
// member with its current or previous epoch, a classic member with the
// current generation and not while the group waits for SyncGroup. It
// returns the error for every partition, or nil.
func (c *Coordinator) checkCommitterLocked(g *group, req *kmsg.OffsetCommitRequest, simple bool) *kerr.Error {
	switch {
	case simple:
		if g.hasMembersLocked() {
			return kerr.UnknownMemberID
		}
	case g.consumer != nil:
		// KIP-848: the generation is the member epoch; the previous one
		// is accepted too, for a commit that crossed an epoch change.
		m := g.consumer.members[req.MemberID]
		if m == nil {
			return kerr.UnknownMemberID
		}
		if req.Generation != m.epoch && req.Generation != m.previousEpoch {
			return kerr.StaleMemberEpoch
		}
	default:
		if req.Version < 7 {
			req.InstanceID = nil
		}
		m, err := g.memberLocked(req.MemberID, req.InstanceID, req.Generation)
		if err != nil {
			return err
		}
		if g.state == stateCompletingRebalance {
			return kerr.RebalanceInProgress
		}
		m.lastHeartbeat = c.clock.Now()
	}
	return nil
}

// pendingCommit is one offset of a commit, waiting for its record to be
// durable.
type pendingCommit struct {
	tp topicPartition
	o  offset
}

// commitLocked stores the offsets of req's valid partitions for g (an
// unknown partition or too long metadata is refused in resp) and calls
// respond once they are durable, or failed, or at once when none is valid.
func (c *Coordinator) commitLocked(g *group, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, respond func(*kmsg.OffsetCommitResponse)) {
	now := c.clock.Now()
	var commits []pendingCommit
	var records []segment.KeyValue
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			sp := &resp.Topics[i].Partitions[j]
			metadata := ""
			if rp.Metadata != nil {
				metadata = *rp.Metadata
			}
			switch {
			case c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(rt.Topic, rp.Partition):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			case len(metadata) > c.cfg.OffsetMetadataMaxBytes:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			p := pendingCommit{topicPartition{rt.Topic, rp.Partition}, offset{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, metadata: metadata, committed: now}}
			commits = append(commits, p)
			records = append(records, segment.KeyValue{Key: offsetKey(g.name, p.tp.topic, p.tp.partition), Value: offsetValue(p.o)})
		}
	}
	if len(records) == 0 {
		respond(resp)
		return
	}
	g.appendLocked(records, func(err error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.committedLocked(commits, resp, err)
		respond(resp)
	})
}

// committedLocked applies commits to g once their records are durable, or
// with err (the records failed) answers CoordinatorNotAvailable for each
// partition of resp not refused already.
func (g *group) committedLocked(commits []pendingCommit, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil {
		g.c.logger.Error("storing committed offsets failed", "group", g.name, "err", err)
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if sp := &resp.Topics[i].Partitions[j]; sp.ErrorCode == 0 {
					sp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
		return
	}
	if g.state != stateDead {
		for _, p := range commits {
			g.offsets[p.tp] = p.o
		}
	}
}

// FetchOffsets answers one group of an OffsetFetch request: the offsets of
// the partitions asked for (-1 for those without one), or every committed
// offset when req.Topics is nil. An unknown group has no offsets.
func (c *Coordinator) FetchOffsets(req kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
	resp := kmsg.NewOffsetFetchResponseGroup()
	resp.Group = req.Group
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	found, err := c.withGroup(req.Group, func(g *group) { fillOffsetFetch(&resp, req, g.offsets) })
	switch {
	case err != nil:
		resp.ErrorCode = err.Code
	case !found:
		fillOffsetFetch(&resp, req, nil) // an unknown group has no offsets
	}
	return resp
}

// fillOffsetFetch answers req in resp from a group's offsets, which must
// not change meanwhile (the caller holds the group's lock).
func fillOffsetFetch(resp *kmsg.OffsetFetchResponseGroup, req kmsg.OffsetFetchRequestGroup, offsets map[topicPartition]offset) {
	part := func(tp topicPartition) kmsg.OffsetFetchResponseGroupTopicPartition {
		p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		p.Partition = tp.partition
		p.Offset = -1
		if o, ok := offsets[tp]; ok {
			p.Offset, p.LeaderEpoch, p.Metadata = o.offset, o.leaderEpoch, kmsg.StringPtr(o.metadata)
		}
		return p
	}
	if req.Topics != nil {
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				st.Partitions = append(st.Partitions, part(topicPartition{rt.Topic, p}))
			}
			resp.Topics = append(resp.Topics, st)
		}
		return
	}
	tps := make([]topicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].topic != tps[j].topic {
			return tps[i].topic < tps[j].topic
		}
		return tps[i].partition < tps[j].partition
	})
	for _, tp := range tps {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != tp.topic {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic = tp.topic
			resp.Topics = append(resp.Topics, st)
		}
		st := &resp.Topics[len(resp.Topics)-1]
		st.Partitions = append(st.Partitions, part(tp))
	}
}

// DeleteOffsets handles an OffsetDelete request; respond is called once
// the tombstones are durable. Offsets of topics the group's consumers
// subscribe to are refused (GROUP_SUBSCRIBED_TO_TOPIC); a group with
// members that is not a consumer group is refused as a whole
// (NON_EMPTY_GROUP).
func (c *Coordinator) DeleteOffsets(req *kmsg.OffsetDeleteRequest, respond func(*kmsg.OffsetDeleteResponse)) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		respond(resp)
		return
	}
	found, err := c.withGroup(req.Group, func(g *group) { g.deleteOffsetsLocked(req, resp, respond) })
	switch {
	case err != nil:
		resp.ErrorCode = err.Code
		respond(resp)
	case !found:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		respond(resp)
	}
}

// deleteOffsetsLocked deletes the offsets req names from g, as
// DeleteOffsets says, answering in resp.
func (g *group) deleteOffsetsLocked(req *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse, respond func(*kmsg.OffsetDeleteResponse)) {
	if g.hasMembersLocked() && g.protocolType != "consumer" {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		respond(resp)
		return
	}
	subscribed := g.subscribedTopicsLocked()
	var deletes []topicPartition
	var records []segment.KeyValue
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			tp := topicPartition{rt.Topic, rp.Partition}
			switch _, ok := g.offsets[tp]; {
			case subscribed[rt.Topic]:
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			case ok:
				deletes = append(deletes, tp)
				records = append(records, segment.KeyValue{Key: offsetKey(g.name, tp.topic, tp.partition)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(records) == 0 {
		respond(resp)
		return
	}
	g.appendLocked(records, func(err error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if err != nil {
			g.c.logger.Error("deleting offsets failed", "group", g.name, "err", err)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			respond(resp)
			return
		}
		for _, tp := range deletes {
			delete(g.offsets, tp)
		}
		respond(resp)
	})
}

// subscribedTopicsLocked is the set of topics the members of a consumer
// group subscribe to, read from their protocol metadata (nil when the
// group has no members or is not a consumer group).
func (g *group) subscribedTopicsLocked() map[string]bool {
	if g.protocolType != "consumer" || !g.hasMembersLocked() {
		return nil
	}
	topics := map[string]bool{}
	if g.consumer != nil {
		for _, m := range g.consumer.members {
			for _, t := range m.subscribed {
				topics[t] = true
			}
		}
		return topics
	}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.protocol != "" && p.Name != g.protocol {
				continue
			}
			var meta kmsg.ConsumerMemberMetadata
			if err := meta.ReadFrom(p.Metadata); err != nil {
				continue // not ours to judge: the assignor reads it
			}
			for _, t := range meta.Topics {
				topics[t] = true
			}
		}
	}
	return topics
}

// expireOffsetsLocked deletes offsets older than offsets.retention.minutes:
// all of an Empty consumer group's once it has been empty that long, those
// of topics a consumer group with members no longer subscribes to, and
// each offset of a group without protocol by its commit time. A group left
// Empty without offsets is deleted in the same batch.
func (g *group) expireOffsetsLocked() {
	now := g.c.clock.Now()
	retention := g.c.cfg.OffsetsRetention
	var subscribed map[string]bool
	switch {
	case g.protocolType != "" && g.hasMembersLocked():
		if g.protocolType != "consumer" {
			return
		}
		subscribed = g.subscribedTopicsLocked()
	case g.state != stateEmpty:
		return
	}
	var expired []topicPartition
	var records []segment.KeyValue
	for tp, o := range g.offsets {
		base := o.committed
		if g.protocolType != "" && !g.hasMembersLocked() && g.stateTime.After(base) {
			base = g.stateTime // empty since then
		}
		if subscribed[tp.topic] || now.Sub(base) < retention {
			continue
		}
		expired = append(expired, tp)
		records = append(records, segment.KeyValue{Key: offsetKey(g.name, tp.topic, tp.partition)})
	}
	dead := g.state == stateEmpty && len(expired) == len(g.offsets) && len(g.pending) == 0
	if dead {
		records = append(records, segment.KeyValue{Key: groupKey(g.name)})
	}
	if len(records) == 0 {
		return
	}
	for _, tp := range expired {
		delete(g.offsets, tp)
	}
	if dead {
		g.stopJoinTimerLocked()
		g.setStateLocked(stateDead)
		g.c.removeLocked(g)
	}
	g.c.logger.Info("expired offsets", "group", g.name, "offsets", len(expired), "group.deleted", dead)
	g.appendLocked(records, func(err error) {
		if err != nil {
			g.c.logger.Error("writing tombstones of expired offsets failed", "group", g.name, "err", err)
		}
	})
}
