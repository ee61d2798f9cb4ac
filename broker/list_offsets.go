package broker

// ListOffsets, versions 1 through 10 (v0's list of old-style offsets is
// gone since Kafka 4; v11 adds -6, the earliest offset pending upload to
// tiered storage, which Runnel does not have).
//
// Per partition, by the request's timestamp:
//
//	-2 (earliest), -4 (earliest local)  the log start offset
//	-1 (latest)                         the high watermark
//	-3 (max timestamp)                  the record with the largest timestamp
//	-5 (latest tiered)                  -1: there is no tiered storage
//	t >= 0                              the first record whose timestamp >= t
//	                                    (its offset and timestamp, even inside a
//	                                    batch: see segment.Log.OffsetForTimestamp)
//
// As in Kafka, an answer at or past the high watermark (records a consumer
// cannot fetch yet) is "not found": offset and timestamp -1. A follower
// (ReplicaID >= 0; replica.Fetchers after OFFSET_OUT_OF_RANGE) sees the
// whole log, as Kafka's isolation "none": latest is the log end offset. The
// leader epoch of an answer is the one that wrote the offset found (KIP-320;
// the current one for latest). A partition the metadata image places on
// another broker is NOT_LEADER_OR_FOLLOWER (routing.go); a
// CurrentLeaderEpoch (v4+) older than the image's is FENCED_LEADER_EPOCH, a
// newer one UNKNOWN_LEADER_EPOCH. A new leader of a replicated partition
// whose high watermark has not reached the start of its leadership answers
// a consumer's latest, or a search that finds nothing, OFFSET_NOT_AVAILABLE
// (retriable), as Kafka's.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.ListOffsets.Int16(), minVersion: 1, maxVersion: 10, handle: handleListOffsets})
}

// Special timestamps of ListOffsets.
const (
	listOffsetsLatest        = -1
	listOffsetsEarliest      = -2
	listOffsetsMaxTimestamp  = -3
	listOffsetsEarliestLocal = -4
	listOffsetsLatestTiered  = -5
)

func handleListOffsets(b *Broker, req *request) *reply {
	r := req.msg.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(r.Topics))
	img := b.image()
	for i := range r.Topics {
		rt := &r.Topics[i]
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		it := imageTopic(img, rt.Topic, [16]byte{}, false)
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			if _, elsewhere := b.ledElsewhere(it, rp.Partition); elsewhere {
				sp.ErrorCode = errNotLeader.Code
				continue
			}
			if err := checkLeaderEpoch(it, rp.Partition, rp.CurrentLeaderEpoch); err != nil {
				sp.ErrorCode = errCode(err)
				continue
			}
			p, err := b.onlinePartition(rt.Topic, rp.Partition)
			if err != nil {
				sp.ErrorCode = errCode(err)
				continue
			}
			sp.Offset, sp.Timestamp, err = listOffset(b, p, rp.Timestamp, r.ReplicaID >= 0)
			if err != nil {
				sp.ErrorCode, sp.Offset, sp.Timestamp = errCode(err), -1, -1
				b.logger.Error("list offsets by timestamp failed", "topic", rt.Topic, "partition", rp.Partition, "timestamp", rp.Timestamp, "err", err)
				continue
			}
			if notAvailable(p, rp.Timestamp, sp.Offset, r.ReplicaID >= 0) {
				sp.ErrorCode, sp.Offset, sp.Timestamp = kerr.OffsetNotAvailable.Code, -1, -1
				continue
			}
			switch {
			case rp.Timestamp == listOffsetsLatest:
				sp.LeaderEpoch = leaderEpoch(it, rp.Partition)
			case sp.Offset >= 0:
				sp.LeaderEpoch = epochAt(p.log, sp.Offset)
			}
		}
	}
	rep := newReply()
	rep.finish(resp)
	return rep
}

// notAvailable reports whether a consumer's answer for timestamp ts
// (offset found) is OFFSET_NOT_AVAILABLE, as Kafka's: the partition's new
// leader has not yet committed up to where its leadership began, and the
// request asks for the latest offset or found none.
func notAvailable(p *partition, ts, offset int64, replica bool) bool {
	l := p.leaderState()
	if replica || l == nil || l.Caught() {
		return false
	}
	return ts == listOffsetsLatest || offset < 0 && ts != listOffsetsEarliest && ts != listOffsetsEarliestLocal && ts != listOffsetsLatestTiered
}

// listOffset answers one partition, for a follower when replica: offset
// and timestamp, -1 for none; an error when the log cannot be read.
func listOffset(b *Broker, p *partition, ts int64, replica bool) (offset, timestamp int64, err error) {
	log := p.log
	hw := b.highWatermark(p)
	if replica {
		hw = log.EndOffset()
	}
	switch ts {
	case listOffsetsLatest:
		return hw, -1, nil
	case listOffsetsEarliest, listOffsetsEarliestLocal:
		return log.StartOffset(), -1, nil
	case listOffsetsLatestTiered:
		return -1, -1, nil
	case listOffsetsMaxTimestamp:
		timestamp, offset = log.MaxTimestamp()
	default:
		var ok bool
		offset, timestamp, ok, err = log.OffsetForTimestamp(ts)
		if !ok {
			return -1, -1, err
		}
	}
	if offset < 0 || offset >= hw {
		return -1, -1, nil
	}
	return offset, timestamp, nil
}
