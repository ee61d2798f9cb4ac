package broker

// CreateTopics, versions 0-7.
//
// Creates each topic with its partition count (-1: num.partitions; or the
// length of an explicit replica assignment, whose replicas must be this
// node), replication factor 1 (-1: default.replication.factor; anything
// else is INVALID_REPLICATION_FACTOR on one node) and config overrides,
// validated like AlterConfigs (unknown key or bad value: INVALID_CONFIG).
// Names follow Kafka's rules (INVALID_TOPIC_EXCEPTION); an existing name is
// TOPIC_ALREADY_EXISTS; a name given twice in one request is
// INVALID_REQUEST for both. ValidateOnly (v1+) checks without creating.
// v5+ answers with the partition count, replication factor and the topic's
// configs; v7+ with the topic id.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.CreateTopics.Int16(), minVersion: 0, maxVersion: 7, handle: handleCreateTopics, blocking: true})
}

func handleCreateTopics(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.CreateTopicsRequest)
	resp := msg.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(msg.Topics))
	for _, rt := range msg.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range msg.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		t, err := b.createTopicFromRequest(rt, seen[rt.Topic] > 1, msg.ValidateOnly)
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errCode(err), errMessage(err)
			if st.ErrorCode == kerr.KafkaStorageError.Code || st.ErrorCode == kerr.UnknownServerError.Code {
				b.logger.Error("creating topic failed", "topic", rt.Topic, "err", err)
			}
		} else if t != nil {
			st.TopicID = t.id
			st.NumPartitions = int32(len(t.partitions()))
			st.ReplicationFactor = 1
			for _, e := range topicConfigEntries(b, t.settings.Load()) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.Source, c.ReadOnly = e.name, kmsg.StringPtr(e.value), int8(e.source), false
				st.Configs = append(st.Configs, c)
			}
		} else { // validate only: report what would be created
			st.NumPartitions = rt.NumPartitions
			if st.NumPartitions == -1 {
				st.NumPartitions = b.cfg.NumPartitions
				if len(rt.ReplicaAssignment) > 0 {
					st.NumPartitions = int32(len(rt.ReplicaAssignment))
				}
			}
			st.ReplicationFactor = 1
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.finish(resp)
	return r
}

// createTopicFromRequest checks the parts of a CreateTopics entry that
// createTopic does not (duplicates, assignments, null config values) and
// creates the topic; t is nil when validateOnly.
func (b *Broker) createTopicFromRequest(rt kmsg.CreateTopicsRequestTopic, duplicate, validateOnly bool) (*topic, error) {
	if duplicate {
		return nil, kafkaErr(kerr.InvalidRequest, "topic %q is named more than once in the request", rt.Topic)
	}
	spec := topicSpec{name: rt.Topic, partitions: rt.NumPartitions, replicas: rt.ReplicationFactor}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return nil, kafkaErr(kerr.InvalidRequest, "both a replica assignment and a partition count or replication factor were given")
		}
		seenPartition := make(map[int32]bool, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(rt.ReplicaAssignment) || seenPartition[a.Partition] {
				return nil, kafkaErr(kerr.InvalidReplicaAssignment, "partitions of a replica assignment must be 0..%d, each once", len(rt.ReplicaAssignment)-1)
			}
			seenPartition[a.Partition] = true
			if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
				return nil, kafkaErr(kerr.InvalidReplicaAssignment, "partition %d: replicas must be [%d], the only broker", a.Partition, b.cfg.NodeID)
			}
		}
		spec.partitions, spec.replicas = int32(len(rt.ReplicaAssignment)), 1
	}
	if len(rt.Configs) > 0 {
		spec.configs = make(map[string]string, len(rt.Configs))
		for _, c := range rt.Configs {
			if c.Value == nil {
				return nil, kafkaErr(kerr.InvalidConfig, "null value for topic config %q", c.Name)
			}
			spec.configs[c.Name] = *c.Value
		}
	}
	return b.createTopic(spec, validateOnly)
}
