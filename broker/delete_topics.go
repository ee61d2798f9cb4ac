package broker

// DeleteTopics, versions 0-6.
//
// Deletes topics by name (v0-v5, and v6 entries with a name) or by topic id
// (v6 entries without a name): topics.json first, then each partition's
// flusher waiters are failed and its directory removed. Requests using a
// deleted partition at that moment fail with UNKNOWN_TOPIC_OR_PARTITION.
// Unknown names are UNKNOWN_TOPIC_OR_PARTITION, unknown ids
// UNKNOWN_TOPIC_ID. The internal __consumer_offsets holds the group
// coordinator's state and is refused (INVALID_TOPIC_EXCEPTION).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerAPI(apiHandler{key: kmsg.DeleteTopics.Int16(), minVersion: 0, maxVersion: 6, handle: handleDeleteTopics, blocking: true})
}

func handleDeleteTopics(b *Broker, req *request) *reply {
	r := newReply()
	msg := req.msg.(*kmsg.DeleteTopicsRequest)
	resp := msg.ResponseKind().(*kmsg.DeleteTopicsResponse)
	entries := msg.Topics
	if msg.Version < 6 {
		entries = make([]kmsg.DeleteTopicsRequestTopic, len(msg.TopicNames))
		for i := range msg.TopicNames {
			entries[i].Topic = &msg.TopicNames[i]
		}
	}
	for _, e := range entries {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = e.Topic, e.TopicID
		name := ""
		if e.Topic != nil {
			name = *e.Topic
		}
		var err error
		if name == "" && e.TopicID == ([16]byte{}) {
			err = kafkaErr(kerr.InvalidRequest, "neither a topic name nor a topic id")
		} else {
			var t *topic
			if t, err = b.deleteTopic(name, e.TopicID); err == nil {
				st.Topic, st.TopicID = kmsg.StringPtr(t.name), t.id
			}
		}
		st.ErrorCode, st.ErrorMessage = errCode(err), errMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	r.finish(resp)
	return r
}
