package broker

// Metadata, versions 0-13.
//
// Read from the metadata image (cluster.go): the live brokers (unfenced,
// with their endpoint on the client listener; this node at its advertised
// host and port), the controller id (the active controller's node when it
// is a live broker, else a live broker), and per partition its leader,
// leader epoch, replicas and ISR; a partition without a leader is
// LEADER_NOT_AVAILABLE, and one whose replica here sits in an offline log
// dir is reported as Kafka reports it (no leader, this node's replica
// offline). Internal topics are flagged. A null topic list (v1+; an empty one in v0) asks
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
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

func init() {
	registerAPI(apiHandler{key: kmsg.Metadata.Int16(), minVersion: 0, maxVersion: 13, handle: handleMetadata, blocking: true})
}

func handleMetadata(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.MetadataRequest)
	resp := msg.ResponseKind().(*kmsg.MetadataResponse)

	img := b.image()
	live := b.liveBrokers(img)
	for _, e := range live {
		br := kmsg.NewMetadataResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = e.id, e.host, e.port, e.rack
		resp.Brokers = append(resp.Brokers, br)
	}
	clusterID := b.clusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = b.controllerID(live)

	all := msg.Topics == nil || (msg.Version == 0 && len(msg.Topics) == 0)
	if all {
		names := make([]string, 0, img.NumTopics())
		for t := range img.Topics() {
			names = append(names, t.Name())
		}
		slices.Sort(names)
		for _, name := range names {
			t, _ := img.Topic(name)
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
		}
		r.finish(resp)
		return r
	}
	autoCreate := b.cfg.AutoCreateTopics && (msg.Version < 4 || msg.AllowAutoTopicCreation)
	for _, rt := range msg.Topics {
		if rt.Topic == nil { // by id (v10+)
			if t, ok := img.TopicByID(rt.TopicID); ok {
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
		t, ok := img.Topic(name)
		var err error
		if !ok {
			err = kerr.UnknownTopicOrPartition
			if autoCreate {
				err = b.autoCreateTopic(name)
				if errors.Is(err, kerr.TopicAlreadyExists) { // created meanwhile
					err = nil
				}
				if err != nil && !errors.Is(err, kerr.InvalidTopicException) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
					b.logger.Warn("auto-creating topic failed", "topic", name, "err", err)
				}
				if err == nil {
					img = b.image()
					if t, ok = img.Topic(name); !ok {
						err = kerr.UnknownTopicOrPartition
					}
				}
			}
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = errCode(err)
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t))
	}
	r.finish(resp)
	return r
}

// metadataTopic describes one topic of the image.
func (b *Broker) metadataTopic(t *metadata.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name())
	mt.TopicID = t.ID()
	mt.IsInternal = isInternalTopic(t.Name())
	local := b.topicByID(t.ID())
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, t.NumPartitions())
	for p := range t.Partitions() {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Partition
		mp.Leader, mp.LeaderEpoch = p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = p.Replicas, p.ISR
		if mp.Leader == metadata.NoLeader {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		if local != nil {
			if lp := local.partitionAt(p.Partition); lp != nil && lp.dir.dir.Failed() != nil {
				// This node's replica's log dir is offline: as Kafka reports
				// such a partition when this node leads it, no leader.
				mp.OfflineReplicas = []int32{b.cfg.NodeID}
				if mp.Leader == b.cfg.NodeID {
					mp.ErrorCode, mp.Leader = kerr.LeaderNotAvailable.Code, metadata.NoLeader
				}
			}
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// isInternalTopic names Kafka's internal topics.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}
