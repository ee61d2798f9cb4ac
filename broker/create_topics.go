package broker

// CreateTopics, versions 0-7.
//
// Forwarded to the active controller (cluster.go), which validates and
// places the topics (controller.CreateTopics: partition count -1 is
// num.partitions, replication factor -1 default.replication.factor, a
// factor above the unfenced brokers INVALID_REPLICATION_FACTOR, an explicit
// assignment naming unregistered brokers INVALID_REPLICA_ASSIGNMENT, names
// by Kafka's rules INVALID_TOPIC_EXCEPTION, an existing name
// TOPIC_ALREADY_EXISTS, a name given twice in one request INVALID_REQUEST
// for both, configs validated like AlterConfigs INVALID_CONFIG). The broker
// first refuses partition directory names too long for the file system
// (INVALID_PARTITIONS) and drops the configs Kafka 3.x deprecated (logged).
// The answer comes once this broker has applied the new topics, so a client
// may use them on it at once. ValidateOnly (v1+) checks without creating.
// v5+ answers with the partition count, replication factor and the topic's
// configs; v7+ with the topic id.

import (
	"cmp"
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.CreateTopics.Int16(), minVersion: 0, maxVersion: 7, handle: handleCreateTopics, blocking: true})
}

func handleCreateTopics(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.CreateTopicsRequest)
	resp := b.createTopics(b.controllerFor(req), msg)
	for i := range resp.Topics {
		st := &resp.Topics[i]
		if st.ErrorCode != 0 || msg.ValidateOnly || msg.Version < 5 {
			continue
		}
		if t := b.topic(st.Topic); t != nil {
			for _, e := range topicConfigEntries(b, t.settings.Load()) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.Source, c.ReadOnly = e.name, kmsg.StringPtr(e.value), int8(e.source), false
				st.Configs = append(st.Configs, c)
			}
		}
	}
	r.finish(resp)
	return r
}

// createTopics sends the topics the broker's own checks pass to the
// controller and waits until this broker has applied them; the response
// has one entry per requested topic, in order.
func (b *Broker) createTopics(ctrl ClusterController, msg *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := msg.ResponseKind().(*kmsg.CreateTopicsResponse)
	resp.Version = msg.Version
	resp.Topics = make([]kmsg.CreateTopicsResponseTopic, len(msg.Topics))
	fwd := *msg
	fwd.Topics = nil
	var at []int // the response index of each forwarded topic
	for i, rt := range msg.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewCreateTopicsResponseTopic()
		st.Topic, st.NumPartitions, st.ReplicationFactor = rt.Topic, -1, -1
		count := rt.NumPartitions
		if count == -1 {
			count = b.cfg.NumPartitions
			if len(rt.ReplicaAssignment) > 0 {
				count = int32(len(rt.ReplicaAssignment))
			}
		}
		if err := checkPartitionDirNames(rt.Topic, count); err != nil && validateTopicName(rt.Topic) == nil {
			st.ErrorCode, st.ErrorMessage = errCode(err), errMessage(err)
			continue
		}
		rt.Configs = b.withoutDeprecatedConfigs(rt.Topic, rt.Configs)
		fwd.Topics = append(fwd.Topics, rt)
		at = append(at, i)
	}
	ctx, cancel := b.adminContext(msg.TimeoutMillis)
	defer cancel()
	forwardItems(ctx, b, ctrl, msg.ValidateOnly, at,
		func() []kmsg.CreateTopicsResponseTopic { return ctrl.CreateTopics(ctx, &fwd).Topics },
		func(a *kmsg.CreateTopicsResponseTopic) (int16, *string) { return a.ErrorCode, a.ErrorMessage },
		func(i int, a *kmsg.CreateTopicsResponseTopic, code int16, message *string) {
			if a == nil {
				resp.Topics[i].ErrorCode = code
				return
			}
			st := *a
			st.Topic, st.ErrorCode, st.ErrorMessage = msg.Topics[i].Topic, code, message
			if st.ErrorCode == 0 && !msg.ValidateOnly {
				if err := b.rollBackIfNotCreated(ctx, ctrl, st.TopicID); err != nil {
					st.ErrorCode, st.ErrorMessage = errCode(err), errMessage(err)
					st.TopicID, st.NumPartitions, st.ReplicationFactor = [16]byte{}, -1, -1
				}
			}
			if st.ErrorCode != 0 && st.ErrorCode != kerr.TopicAlreadyExists.Code && st.ErrorCode != kerr.InvalidTopicException.Code {
				b.logger.Debug("creating topic refused", "topic", st.Topic, "err", kerr.ErrorForCode(st.ErrorCode), "message", st.ErrorMessage)
			}
			resp.Topics[i] = st
		})
	return resp
}

// withoutDeprecatedConfigs drops the configs Kafka 3.x deprecated whose
// values pass Kafka 3.x's checks (logged: they mean nothing to Runnel); a
// bad value is left for the controller to refuse.
func (b *Broker) withoutDeprecatedConfigs(topic string, configs []kmsg.CreateTopicsRequestTopicConfig) []kmsg.CreateTopicsRequestTopicConfig {
	var out []kmsg.CreateTopicsRequestTopicConfig
	for _, c := range configs {
		if b.deprecatedConfig(topic, c.Name, c.Value) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// createTopic creates one topic as CreateTopics does (partitions -1:
// num.partitions; replication -1: default.replication.factor) and returns
// once this broker has applied it: auto-creation and __consumer_offsets.
func (b *Broker) createTopic(name string, partitions int32, replication int16, configs map[string]string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, replication
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(configs[k])
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
	st := b.createTopics(b.controller(), req).Topics[0]
	if st.ErrorCode == 0 {
		return nil
	}
	msg := ""
	if st.ErrorMessage != nil {
		msg = *st.ErrorMessage
	}
	return kafkaErr(kerr.ErrorForCode(st.ErrorCode).(*kerr.Error), "%s", cmp.Or(msg, kerr.ErrorForCode(st.ErrorCode).Error()))
}

// rollBackIfNotCreated deletes, through the controller, a topic just
// created whose partitions assigned here could not be created (a full disk,
// an obstacle in the log dir), so that a creation is all or nothing as a
// client of one broker sees it; the error says why (KAFKA_STORAGE_ERROR).
func (b *Broker) rollBackIfNotCreated(ctx context.Context, ctrl ClusterController, id [16]byte) error {
	b.adminMu.Lock()
	cause := b.createFailed[id]
	b.adminMu.Unlock()
	if cause == nil {
		return nil
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 6
	del := kmsg.NewDeleteTopicsRequestTopic()
	del.TopicID = id
	req.Topics = []kmsg.DeleteTopicsRequestTopic{del}
	if resp := ctrl.DeleteTopics(ctx, req); len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
		if err := b.awaitController(ctx, ctrl); err != nil {
			b.logger.Warn("rolling back a topic whose partitions could not be created: waiting for the deletion", "err", err)
		}
	} else {
		b.logger.Error("rolling back a topic whose partitions could not be created failed", "id", topicIDString(id))
	}
	return kafkaErr(kerr.KafkaStorageError, "%v", cause)
}
