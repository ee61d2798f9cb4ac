package broker

// DeleteTopics, versions 0-6.
//
// Deletes topics by name (v0-v5, and v6 entries with a name) or by topic id
// (v6 entries without a name), through the active controller (cluster.go):
// unknown names are UNKNOWN_TOPIC_OR_PARTITION, unknown ids
// UNKNOWN_TOPIC_ID, an entry with neither INVALID_REQUEST. The internal
// __consumer_offsets holds the group coordinator's state and is refused
// here (INVALID_TOPIC_EXCEPTION). The answer comes once this broker has
// applied the deletion: its partitions' flusher waiters failed and their
// directories removed; requests using a deleted partition then fail with
// UNKNOWN_TOPIC_OR_PARTITION.

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
	resp.Topics = make([]kmsg.DeleteTopicsResponseTopic, len(entries))
	fwd := kmsg.NewPtrDeleteTopicsRequest()
	fwd.Version, fwd.TimeoutMillis = 6, msg.TimeoutMillis
	var at []int
	img := b.image()
	for i, e := range entries {
		st := &resp.Topics[i]
		*st = kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = e.Topic, e.TopicID
		name := ""
		if e.Topic != nil {
			name = *e.Topic
		}
		var err error
		switch {
		case name == "" && e.TopicID == ([16]byte{}):
			err = kafkaErr(kerr.InvalidRequest, "neither a topic name nor a topic id")
		case isInternalTopic(name):
			err = internalTopicErr(name)
		case name == "":
			if t, ok := img.TopicByID(e.TopicID); ok && isInternalTopic(t.Name()) {
				err = internalTopicErr(t.Name())
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errCode(err), errMessage(err)
			continue
		}
		fwd.Topics = append(fwd.Topics, e)
		at = append(at, i)
	}
	ctx, cancel := b.adminContext(msg.TimeoutMillis)
	defer cancel()
	ctrl := b.controllerFor(req)
	forwardItems(ctx, b, ctrl, false, at,
		func() []kmsg.DeleteTopicsResponseTopic { return ctrl.DeleteTopics(ctx, fwd).Topics },
		func(a *kmsg.DeleteTopicsResponseTopic) (int16, *string) { return a.ErrorCode, a.ErrorMessage },
		func(i int, a *kmsg.DeleteTopicsResponseTopic, code int16, message *string) {
			st := &resp.Topics[i]
			st.ErrorCode, st.ErrorMessage = code, message
			if a != nil && a.ErrorCode == 0 {
				st.Topic, st.TopicID = a.Topic, a.TopicID
			}
		})
	r.finish(resp)
	return r
}

// internalTopicErr refuses to delete an internal topic: the group
// coordinator keeps its state there (kafka-topics.sh refuses this too).
func internalTopicErr(name string) error {
	return kafkaErr(kerr.InvalidTopicException, "internal topic %q cannot be deleted", name)
}
