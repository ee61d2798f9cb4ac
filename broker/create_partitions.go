package broker

// CreatePartitions, versions 0-3.
//
// Grows a topic to Count partitions (INVALID_PARTITIONS unless Count is
// larger than now), placing each new one in the emptiest log dir. An
// explicit assignment must give each new partition the replicas [this
// node] (INVALID_REPLICA_ASSIGNMENT). A topic named twice is
// INVALID_REQUEST. The internal __consumer_offsets keeps its count (groups
// are placed by hashing over it): INVALID_PARTITIONS. ValidateOnly checks
// without creating.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.CreatePartitions.Int16(), minVersion: 0, maxVersion: 3, handle: handleCreatePartitions, blocking: true})
}

func handleCreatePartitions(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.CreatePartitionsRequest)
	resp := msg.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := map[string]int{}
	for _, rt := range msg.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range msg.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		err := b.checkPartitionAssignment(rt, seen[rt.Topic] > 1)
		if err == nil {
			err = b.addPartitions(rt.Topic, rt.Count, msg.ValidateOnly)
		}
		if errCode(err) == kerr.KafkaStorageError.Code {
			b.logger.Error("creating partitions failed", "topic", rt.Topic, "err", err)
		}
		st.ErrorCode, st.ErrorMessage = errCode(err), errMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	r.finish(resp)
	return r
}

func (b *Broker) checkPartitionAssignment(rt kmsg.CreatePartitionsRequestTopic, duplicate bool) error {
	if duplicate {
		return kafkaErr(kerr.InvalidRequest, "topic %q is named more than once", rt.Topic)
	}
	if rt.Assignment == nil {
		return nil
	}
	t := b.topic(rt.Topic)
	if t == nil {
		return kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", rt.Topic)
	}
	if want := int(rt.Count) - len(t.partitions()); len(rt.Assignment) != want {
		return kafkaErr(kerr.InvalidReplicaAssignment, "%d assignments for %d new partitions", len(rt.Assignment), want)
	}
	for _, a := range rt.Assignment {
		if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
			return kafkaErr(kerr.InvalidReplicaAssignment, "replicas must be [%d], the only broker", b.cfg.NodeID)
		}
	}
	return nil
}
