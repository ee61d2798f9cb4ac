package replica

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchersLag: a follower that the leader's answers leave behind
// shows its lag in bytes (messages behind times the bytes per offset of
// its last append) and a time since caught up that grows until an answer
// brings it to the leader's high watermark.
func TestFetchersLag(t *testing.T) {
	m := &memLog{}
	l := testLoop(m, false)
	f := NewFetchers(*l.cfg)
	var s *followedState
	for k, st := range l.mu.parts {
		s = st
		f.parts[k] = st
	}
	followed := time.Now()
	s.lagClock.caughtUp(followed)
	if got := f.LagBytes(); got != 0 {
		t.Errorf("LagBytes %d before any answer, want 0", got)
	}

	fetch := func(records []byte, hw int64) {
		t.Helper()
		sent, _ := l.fetchable(time.Now())
		if len(sent) != 1 {
			t.Fatalf("fetchable %v", sent)
		}
		l.apply(18, response(18, func(rp *kmsg.FetchResponseTopicPartition) { rp.RecordBatches, rp.HighWatermark = records, hw }), sent, false)
	}
	// 12 messages of 30 fetched: 18 behind.
	b := batches(0, 3, 4, 3)
	fetch(b, 30)
	perOffset := (int64(len(b)) + 11) / 12
	if got, want := f.LagBytes(), 18*perOffset; got != want {
		t.Errorf("LagBytes %d with 18 messages behind, want %d (%d bytes per offset)", got, want, perOffset)
	}
	if got := f.Lag(); got != 18 {
		t.Errorf("Lag %d, want 18", got)
	}
	later := followed.Add(5 * time.Second)
	if got := f.SinceCaughtUp(later); got != 5*time.Second {
		t.Errorf("SinceCaughtUp %v while behind since the follow 5 s before, want 5s", got)
	}

	// The rest: caught up.
	fetch(batches(12, 3, 6, 3), 30)
	if got := f.LagBytes(); got != 0 {
		t.Errorf("LagBytes %d caught up, want 0", got)
	}
	if got := f.SinceCaughtUp(later); got >= 5*time.Second || got <= 0 {
		t.Errorf("SinceCaughtUp %v caught up just now, want under the 5s before", got)
	}
}
