package broker

// Metadata, versions 0-13.
//
// One broker (this node, at the advertised host and port) leads every
// partition, with replicas and ISR [this node] and leader epoch
// partitionLeaderEpoch. A null topic list (v1+; an empty one in v0) asks
// for every topic. v10+ may name topics by id: an unknown id is
// UNKNOWN_TOPIC_ID. An unknown topic is created on the spot when
// auto.create.topics.enable is set and the client allows it (always before
// v4, AllowAutoTopicCreation from v4), with num.partitions partitions;
// otherwise it is UNKNOWN_TOPIC_OR_PARTITION, and a name that cannot be
// created is INVALID_TOPIC_EXCEPTION (as Kafka, which checks names only
// when it would create).
// Auto-creation past runnel.auto.create.max.partitions or
// .max.reserved.bytes is refused with UNKNOWN_TOPIC_OR_PARTITION
// (autocreate.go).

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.Metadata.Int16(), minVersion: 0, maxVersion: 13, handle: handleMetadata, blocking: true})
}

// partitionLeaderEpoch is the leader epoch of every partition: on one node
// the leader never changes.
const partitionLeaderEpoch int32 = 0

func handleMetadata(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.MetadataRequest)
	resp := msg.ResponseKind().(*kmsg.MetadataResponse)

	host, port := b.advertised()
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, host, port
	resp.Brokers = []kmsg.MetadataResponseBroker{br}
	clusterID := b.clusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = b.cfg.NodeID

	all := msg.Topics == nil || (msg.Version == 0 && len(msg.Topics) == 0)
	if all {
		for _, t := range b.topicsSorted() {
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
		}
		r.finish(resp)
		return r
	}
	autoCreate := b.cfg.AutoCreateTopics && (msg.Version < 4 || msg.AllowAutoTopicCreation)
	for _, rt := range msg.Topics {
		if rt.Topic == nil { // by id (v10+)
			if t := b.topicByID(rt.TopicID); t != nil {
				resp.Topics = append(resp.Topics, b.metadataTopic(t))
				continue
			}
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		name := *rt.Topic
		t := b.topic(name)
		var err error
		if t == nil {
			err = kerr.UnknownTopicOrPartition
			if autoCreate {
				t, err = b.autoCreateTopic(name)
				if errors.Is(err, kerr.TopicAlreadyExists) { // created meanwhile
					t, err = b.topic(name), nil
				}
				if err != nil && !errors.Is(err, kerr.InvalidTopicException) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
					b.logger.Warn("auto-creating topic failed", "topic", name, "err", err)
				}
			}
		}
		if t == nil || err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = errCode(err)
			if mt.ErrorCode == 0 {
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t))
	}
	r.finish(resp)
	return r
}

// metadataTopic describes one topic: every partition led by this node.
func (b *Broker) metadataTopic(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.name)
	mt.TopicID = t.id
	mt.IsInternal = isInternalTopic(t.name)
	node := b.cfg.NodeID
	parts := t.partitions()
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(parts))
	for i, p := range parts {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.index
		mp.Leader = node
		mp.LeaderEpoch = partitionLeaderEpoch
		mp.Replicas = []int32{node}
		mp.ISR = []int32{node}
		if p.dir.dir.Failed() != nil {
			// Its only replica's log dir is offline: as Kafka reports such a
			// partition, no leader and this node's replica offline.
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Leader = -1
			mp.OfflineReplicas = []int32{node}
		}
		mt.Partitions[i] = mp
	}
	return mt
}

// isInternalTopic names Kafka's internal topics.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}
