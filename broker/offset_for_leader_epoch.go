package broker

// OffsetForLeaderEpoch, versions 0 through 4: for each partition, the end
// offset of the requested leader epoch (the start offset of the next epoch,
// or the log end offset for the latest epoch), as the log's leader-epoch
// cache knows it. Consumers use it after a leader change to detect log
// truncation (KIP-320). An epoch older than any the log knows answers
// UNDEFINED_EPOCH (-1) and offset -1, without an error, as Kafka does. A
// partition the metadata image places on another broker is
// NOT_LEADER_OR_FOLLOWER (routing.go); a CurrentLeaderEpoch (v2+) older
// than the image's is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.OffsetForLeaderEpoch.Int16(), minVersion: 0, maxVersion: 4, handle: handleOffsetForLeaderEpoch})
}

func handleOffsetForLeaderEpoch(b *Broker, req *request) *reply {
	r := req.msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	resp.Topics = make([]kmsg.OffsetForLeaderEpochResponseTopic, len(r.Topics))
	img := b.image()
	for i := range r.Topics {
		rt := &r.Topics[i]
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		it := imageTopic(img, rt.Topic, [16]byte{}, false)
		st.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
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
			sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
		}
	}
	rep := newReply()
	rep.finish(resp)
	return rep
}
