package replica

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFollowerSession: the requests a follower's session makes, and what
// the leader's answers do to it.
func TestFollowerSession(t *testing.T) {
	full := func(offsets ...int64) *kmsg.FetchRequest {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 13
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "t", testTopicID
		for p, o := range offsets {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(p), o, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return req
	}
	named := func(req *kmsg.FetchRequest) (parts, forgotten []int32) {
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				parts = append(parts, rp.Partition)
			}
		}
		for _, ft := range req.ForgottenTopics {
			forgotten = append(forgotten, ft.Partitions...)
		}
		return parts, forgotten
	}
	answer := func(code int16, id int32) *kmsg.FetchResponse {
		resp := kmsg.NewPtrFetchResponse()
		resp.ErrorCode, resp.SessionID = code, id
		return resp
	}
	var fs followerSession

	req := full(0, 0, 0)
	if fs.prepare(req) || req.SessionID != 0 || req.SessionEpoch != 0 {
		t.Fatalf("first request: session %d/%d", req.SessionID, req.SessionEpoch)
	}
	if !fs.answered(answer(0, 7)) || fs.id != 7 || fs.epoch != 1 {
		t.Fatalf("after the full fetch: session %d/%d", fs.id, fs.epoch)
	}

	req = full(0, 5, 0)
	if !fs.prepare(req) || req.SessionID != 7 || req.SessionEpoch != 1 {
		t.Fatalf("second request: session %d/%d", req.SessionID, req.SessionEpoch)
	}
	if parts, forgotten := named(req); len(parts) != 1 || parts[0] != 1 || len(forgotten) != 0 {
		t.Fatalf("second request names %v, forgets %v: want [1] only", parts, forgotten)
	}
	fs.answered(answer(0, 7))

	req = full(0, 5) // partition 2 no longer fetched
	fs.prepare(req)
	if parts, forgotten := named(req); len(parts) != 0 || len(forgotten) != 1 || forgotten[0] != 2 || req.SessionEpoch != 2 {
		t.Fatalf("third request names %v, forgets %v, epoch %d: want partition 2 forgotten", parts, forgotten, req.SessionEpoch)
	}
	// The leader lost the session: start over, the next request full.
	if fs.answered(answer(kerr.FetchSessionIDNotFound.Code, 0)) {
		t.Fatal("FETCH_SESSION_ID_NOT_FOUND applied as an answer")
	}
	req = full(0, 5)
	if fs.prepare(req) || req.SessionID != 0 || req.SessionEpoch != 0 {
		t.Fatalf("after the loss: session %d/%d", req.SessionID, req.SessionEpoch)
	}
	if parts, _ := named(req); len(parts) != 2 {
		t.Fatalf("after the loss the request names %v: want both", parts)
	}
	fs.answered(answer(0, 9))
	// A failed request: the next one is full and closes session 9.
	fs.reset()
	req = full(0, 5)
	if fs.prepare(req) || req.SessionID != 9 || req.SessionEpoch != 0 {
		t.Fatalf("after a failed request: session %d/%d", req.SessionID, req.SessionEpoch)
	}
}

// TestFetcherLeaderBehind: a leader that does not know the partition at
// our epoch yet is asked again soon, sooner each time it still does not;
// other errors wait the whole backoff.
func TestFetcherLeaderBehind(t *testing.T) {
	cases := []struct {
		name string
		edit func(*kmsg.FetchResponseTopicPartition)
		want []time.Duration // the waits of three answers in a row (the backoff: 1 s)
	}{
		{"unknown topic id", func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.UnknownTopicID.Code },
			[]time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}},
		{"unknown leader epoch", func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.UnknownLeaderEpoch.Code },
			[]time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}},
		{"not the leader at an older epoch", func(rp *kmsg.FetchResponseTopicPartition) {
			rp.ErrorCode, rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = kerr.NotLeaderForPartition.Code, 3, 4
		}, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}},
		{"not the leader at our epoch", func(rp *kmsg.FetchResponseTopicPartition) {
			rp.ErrorCode, rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = kerr.NotLeaderForPartition.Code, 3, 5
		}, []time.Duration{time.Second, time.Second, time.Second}},
		{"a storage error", func(rp *kmsg.FetchResponseTopicPartition) { rp.ErrorCode = kerr.KafkaStorageError.Code },
			[]time.Duration{time.Second, time.Second, time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := testLoop(&memLog{}, false)
			l.cfg.Backoff = time.Second
			for i, want := range c.want {
				now := time.Now()
				sent, _ := l.fetchable(now)
				if len(sent) != 1 {
					t.Fatalf("answer %d: the partition is not fetchable", i)
				}
				l.apply(18, response(18, c.edit), sent, false)
				s := sent[0].s
				if got := s.retryAt.Sub(now); got < want || got > want+50*time.Millisecond {
					t.Fatalf("answer %d: waits %v, want %v", i, got, want)
				}
				s.retryAt = time.Time{}
			}
			// It works again: the next wait starts short again.
			sent, _ := l.fetchable(time.Now())
			l.apply(18, response(18, func(rp *kmsg.FetchResponseTopicPartition) { rp.HighWatermark = 0 }), sent, false)
			if s := sent[0].s; s.quickRetry != 0 {
				t.Fatalf("after an answer the quick retry is still %v", s.quickRetry)
			}
		})
	}
}
