package broker

// DeleteRecords, versions 0 through 2: advance each partition's log start
// offset to the requested offset (-1: the high watermark), making the
// records before it unreadable at once; whole segments below the new start
// are deleted. An offset past the high watermark, or negative other than
// -1, is OFFSET_OUT_OF_RANGE. Moving the start backwards changes nothing;
// the answer is the (new) log start offset, the low watermark. Internal
// topics (__consumer_offsets) are refused with INVALID_TOPIC_EXCEPTION, as
// in Kafka. The log dir's log-start checkpoint is written before
// answering, so deleted records do not come back after a crash. A partition
// the metadata image places on another broker is NOT_LEADER_OR_FOLLOWER
// (routing.go).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.DeleteRecords.Int16(), minVersion: 0, maxVersion: 2, handle: handleDeleteRecords, blocking: true})
}

func handleDeleteRecords(b *Broker, req *request) *reply {
	r := req.msg.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(r.Topics))
	dirty := map[*logDir]bool{}
	img := b.image()
	for i := range r.Topics {
		rt := &r.Topics[i]
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		it := imageTopic(img, rt.Topic, [16]byte{}, false)
		st.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			if _, elsewhere := b.ledElsewhere(it, rp.Partition); elsewhere {
				sp.ErrorCode = errNotLeader.Code
				continue
			}
			p, err := b.partition(rt.Topic, rp.Partition)
			if err != nil {
				sp.ErrorCode = errCode(err)
				continue
			}
			if isInternalTopic(p.topic) {
				sp.ErrorCode = kerr.InvalidTopicException.Code
				continue
			}
			offset, hw := rp.Offset, b.highWatermark(p)
			if offset == -1 {
				offset = hw
			}
			if offset < 0 || offset > hw {
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
				continue
			}
			start, err := p.log.DeleteRecordsBefore(offset)
			if err != nil {
				sp.ErrorCode = errCode(err)
				b.logger.Error("delete records failed", "topic", rt.Topic, "partition", rp.Partition, "offset", offset, "err", err)
				continue
			}
			sp.LowWatermark = start
			dirty[p.dir] = true
		}
	}
	for d := range dirty {
		if err := d.dir.WriteCheckpoints(); err != nil {
			b.logger.Error("writing checkpoints after delete records failed", "dir", d.path, "err", err)
		}
	}
	rep := newReply()
	rep.finish(resp)
	return rep
}
