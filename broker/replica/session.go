package replica

// A fetch loop's fetch session with its leader (KIP-227), as Kafka's
// FetchSessionHandler keeps one for a ReplicaFetcherThread.
//
// The first fetch is full and asks for a session (SessionEpoch 0). Once the
// leader gave one, each fetch names only the partitions whose fetch state
// (fetch offset, log start, max bytes, current or last fetched leader
// epoch) changed since the session last heard of them, and in
// ForgottenTopics those no longer fetched (unfollowed, moved, or waiting a
// backoff); the leader answers only the partitions with records, a new high
// watermark or log start, a divergence or an error. A partition an
// incremental response leaves out has nothing new: the loop keeps its last
// high watermark. FETCH_SESSION_ID_NOT_FOUND or INVALID_FETCH_SESSION_EPOCH
// (the leader restarted, or evicted the session) or a failed request starts
// over with a full fetch, at once.

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// followerSession is the loop's side of its session; only the loop's
// goroutine uses it.
type followerSession struct {
	id    int32 // 0: none
	epoch int32 // of the next request; 0: a full fetch asking for a session
	// parts is what the leader's session holds, as last sent; pending what
	// it will hold once the request in flight is answered.
	parts, pending map[partitionKey]sessionPartition
}

// sessionPartition is a partition's fetch state as a request sent it.
type sessionPartition struct {
	topic                                    string
	fetchOffset, logStart                    int64
	maxBytes, currentEpoch, lastFetchedEpoch int32
}

func stateOf(topic string, p *kmsg.FetchRequestTopicPartition) sessionPartition {
	return sessionPartition{topic, p.FetchOffset, p.LogStartOffset, p.PartitionMaxBytes, p.CurrentLeaderEpoch, p.LastFetchedEpoch}
}

// prepare makes req, a full fetch of every partition to fetch, the
// session's next request: unchanged partitions are left out and those the
// session holds but req does not are forgotten. It reports whether req is
// incremental.
func (fs *followerSession) prepare(req *kmsg.FetchRequest) bool {
	next := make(map[partitionKey]sessionPartition, len(fs.parts))
	for i := range req.Topics {
		t := &req.Topics[i]
		for j := range t.Partitions {
			next[partitionKey{t.TopicID, t.Partitions[j].Partition}] = stateOf(t.Topic, &t.Partitions[j])
		}
	}
	fs.pending = next
	req.SessionID, req.SessionEpoch = fs.id, fs.epoch // epoch 0 with an id closes that session
	if fs.epoch == 0 {
		return false
	}
	topics := req.Topics[:0]
	for _, t := range req.Topics {
		parts := t.Partitions[:0]
		for _, p := range t.Partitions {
			if old, ok := fs.parts[partitionKey{t.TopicID, p.Partition}]; !ok || old != stateOf(t.Topic, &p) {
				parts = append(parts, p)
			}
		}
		if len(parts) > 0 {
			t.Partitions = parts
			topics = append(topics, t)
		}
	}
	req.Topics = topics
	forgotten := map[partitionKey]int{} // topic (partition 0) to its index in ForgottenTopics
	for key, old := range fs.parts {
		if _, ok := next[key]; ok {
			continue
		}
		tk := partitionKey{topicID: key.topicID}
		i, ok := forgotten[tk]
		if !ok {
			i = len(req.ForgottenTopics)
			forgotten[tk] = i
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.TopicID = old.topic, key.topicID
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		}
		req.ForgottenTopics[i].Partitions = append(req.ForgottenTopics[i].Partitions, key.partition)
	}
	return true
}

// answered takes the leader's response to the prepared request. It returns
// false when the response is a session error to start over from, with a
// full fetch at once, rather than an answer to apply.
func (fs *followerSession) answered(resp *kmsg.FetchResponse) bool {
	switch err := kerr.ErrorForCode(resp.ErrorCode); {
	case err == kerr.FetchSessionIDNotFound || err == kerr.InvalidFetchSessionEpoch:
		fs.id = 0
		fs.reset()
		return false
	case err != nil:
		fs.reset()
		return true
	}
	fs.id = resp.SessionID
	if fs.id == 0 { // no room in the leader's cache, or the session closed: full fetches
		fs.reset()
		return true
	}
	fs.parts, fs.pending = fs.pending, nil
	if fs.epoch == math.MaxInt32 {
		fs.epoch = 1
	} else {
		fs.epoch++
	}
	return true
}

// reset makes the next request a full one, which closes the session the
// leader may still hold.
func (fs *followerSession) reset() {
	fs.epoch, fs.parts, fs.pending = 0, nil, nil
}
