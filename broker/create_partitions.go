package broker

// CreatePartitions, versions 0-3.
//
// Grows a topic to Count partitions through the active controller
// (cluster.go), which places the new ones over the brokers: a count not
// larger than now or above runnel.max.partitions.per.topic is
// INVALID_PARTITIONS, a bad explicit assignment INVALID_REPLICA_ASSIGNMENT,
// a topic named twice INVALID_REQUEST, an unknown one
// UNKNOWN_TOPIC_OR_PARTITION. The broker first refuses the internal
// __consumer_offsets, which keeps its count (groups are placed by hashing
// over it), and partition directory names too long for the file system:
// INVALID_PARTITIONS. The answer comes once this broker has applied the
// change (each new partition assigned here placed in the emptiest log dir).
// ValidateOnly checks without creating.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/io/disk"
)

func init() {
	registerAPI(apiHandler{key: kmsg.CreatePartitions.Int16(), minVersion: 0, maxVersion: 3, handle: handleCreatePartitions, blocking: true})
}

func handleCreatePartitions(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.CreatePartitionsRequest)
	resp := msg.ResponseKind().(*kmsg.CreatePartitionsResponse)
	resp.Topics = make([]kmsg.CreatePartitionsResponseTopic, len(msg.Topics))
	fwd := *msg
	fwd.Topics = nil
	var at []int
	for i, rt := range msg.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if isInternalTopic(rt.Topic) {
			err = kafkaErr(kerr.InvalidPartitions, "the partition count of internal topic %q cannot change", rt.Topic)
		} else if rt.Count > 0 && rt.Count <= b.cfg.MaxPartitions {
			err = checkPartitionDirNames(rt.Topic, rt.Count)
			if err == nil && !msg.ValidateOnly {
				err = b.checkRoomForPartitions(rt.Topic, rt.Count)
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errCode(err), errMessage(err)
			continue
		}
		fwd.Topics = append(fwd.Topics, rt)
		at = append(at, i)
	}
	ctx, cancel := b.adminContext(msg.TimeoutMillis)
	defer cancel()
	ctrl := b.controllerFor(req)
	forwardItems(ctx, b, ctrl, msg.ValidateOnly, at,
		func() []kmsg.CreatePartitionsResponseTopic { return ctrl.CreatePartitions(ctx, &fwd).Topics },
		func(a *kmsg.CreatePartitionsResponseTopic) (int16, *string) { return a.ErrorCode, a.ErrorMessage },
		func(i int, _ *kmsg.CreatePartitionsResponseTopic, code int16, message *string) {
			resp.Topics[i].ErrorCode, resp.Topics[i].ErrorMessage = code, message
		})
	r.finish(resp)
	return r
}

// checkRoomForPartitions refuses, on a single node (where every new
// partition is this broker's), growth whose indexes (made at full size
// with each log) the log dirs cannot hold: partitions, once in the
// metadata log, cannot be taken back, so the broker checks before it asks
// (KAFKA_STORAGE_ERROR). With several brokers each creates what it is
// assigned and reports a failure in its log.
func (b *Broker) checkRoomForPartitions(topic string, count int32) error {
	t := b.topic(topic)
	if len(b.cfg.ProcessRoles) > 0 || t == nil {
		return nil
	}
	adding := int64(count) - int64(len(t.partitions()))
	need := adding * 2 * int64(t.settings.Load().log.SegmentIndexBytes)
	var room int64
	for _, d := range b.dirs {
		if d.dir.Failed() != nil {
			continue
		}
		if _, free, err := disk.Usage(d.path); err == nil {
			room += free
		}
	}
	if adding > 0 && need > room {
		return kafkaErr(kerr.KafkaStorageError, "%d new partitions of %s need %d bytes of index, more than the %d bytes free in the log dirs", adding, topic, need, room)
	}
	return nil
}
