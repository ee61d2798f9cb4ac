package replica

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeLog is a LeaderLog whose offsets the test sets.
type fakeLog struct {
	mu           sync.Mutex
	end, flushed int64
	hw           int64
	hwSets       []int64
}

func (f *fakeLog) EndOffset() int64     { f.mu.Lock(); defer f.mu.Unlock(); return f.end }
func (f *fakeLog) FlushedOffset() int64 { f.mu.Lock(); defer f.mu.Unlock(); return f.flushed }
func (f *fakeLog) SetHighWatermark(o int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hw = o
	f.hwSets = append(f.hwSets, o)
	return o
}
func (f *fakeLog) set(end, flushed int64) {
	f.mu.Lock()
	f.end, f.flushed = end, flushed
	f.mu.Unlock()
}

var t0 = time.Unix(1_000_000, 0)

func newTestLeader(log *fakeLog, isr []int32, durable bool) *Leader {
	return NewLeader(LeaderConfig{Self: 1, LeaderEpoch: 5, PartitionEpoch: 7, Replicas: []int32{1, 2, 3}, ISR: isr,
		Log: log, Durable: durable, Now: t0})
}

// result records what a waiter was told.
type result struct {
	mu   sync.Mutex
	done bool
	err  error
}

func (r *result) cb(err error) { r.mu.Lock(); r.done, r.err = true, err; r.mu.Unlock() }
func (r *result) get() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done, r.err
}

func TestLeaderHighWatermarkOverISR(t *testing.T) {
	for _, durable := range []bool{false, true} {
		log := &fakeLog{}
		l := newTestLeader(log, []int32{1, 2, 3}, durable)
		log.set(100, 60)
		l.Advance()
		if hw := l.HighWatermark(); hw != 0 {
			t.Fatalf("durable=%v: hw %d before any follower fetched, want 0", durable, hw)
		}
		l.FollowerFetched(2, 80, t0)
		if hw, ok := l.FollowerFetched(3, 90, t0); !ok || hw != map[bool]int64{false: 80, true: 60}[durable] {
			t.Fatalf("durable=%v: hw %d ok %v", durable, hw, ok)
		}
		// Monotone: a follower fetching from lower (truncated, or a
		// stale request) does not take it back.
		if hw, _ := l.FollowerFetched(2, 10, t0); hw != map[bool]int64{false: 80, true: 60}[durable] {
			t.Fatalf("durable=%v: hw went down to %d", durable, hw)
		}
		if got := log.hwSets[len(log.hwSets)-1]; got != l.HighWatermark() {
			t.Fatalf("log hw %d, leader %d", got, l.HighWatermark())
		}
	}
	// A replica outside the ISR does not hold the high watermark back.
	log := &fakeLog{}
	l := newTestLeader(log, []int32{1, 2}, false)
	log.set(50, 50)
	if hw, _ := l.FollowerFetched(2, 50, t0); hw != 50 {
		t.Fatalf("hw %d, want 50 (replica 3 outside the ISR)", hw)
	}
	if _, ok := l.FollowerFetched(4, 50, t0); ok {
		t.Fatal("a fetch of a non-replica was taken")
	}
}

func TestLeaderWaiters(t *testing.T) {
	log := &fakeLog{}
	l := newTestLeader(log, []int32{1, 2, 3}, false)
	log.set(10, 10)
	var a, b, c result
	l.Wait(5, 2, a.cb)
	l.Wait(10, 3, b.cb)
	l.FollowerFetched(2, 10, t0)
	l.FollowerFetched(3, 7, t0)
	if done, err := a.get(); !done || err != nil {
		t.Fatalf("waiter at 5: done %v err %v", done, err)
	}
	if done, _ := b.get(); done {
		t.Fatal("waiter at 10 done at hw 7")
	}
	// The ISR shrinks to two: the high watermark reaches 10, but the
	// ISR is below the waiter's min.insync.replicas of 3.
	if shrunk, expanded := l.Update(8, []int32{1, 2, 3}, []int32{1, 2}, t0); !shrunk || expanded {
		t.Fatalf("update: shrunk %v expanded %v", shrunk, expanded)
	}
	if done, err := b.get(); !done || !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("waiter at 10: done %v err %v", done, err)
	}
	// Already reached: answered at once.
	l.Wait(10, 1, c.cb)
	if done, err := c.get(); !done || err != nil {
		t.Fatalf("waiter below hw: done %v err %v", done, err)
	}
	// Resigning fails what waits and what comes later.
	var d, e result
	l.Wait(20, 1, d.cb)
	l.Resign()
	l.Wait(20, 1, e.cb)
	for _, r := range []*result{&d, &e} {
		if done, err := r.get(); !done || !errors.Is(err, kerr.NotLeaderForPartition) {
			t.Fatalf("after resign: done %v err %v", done, err)
		}
	}
	if l.BeginAppend() {
		t.Fatal("BeginAppend after Resign")
	}
	if _, ok := l.FollowerFetched(2, 20, t0); ok {
		t.Fatal("a fetch was taken after Resign")
	}
}

func TestLeaderEnoughReplicas(t *testing.T) {
	l := newTestLeader(&fakeLog{}, []int32{1, 2}, false)
	if err := l.EnoughReplicas(2); err != nil {
		t.Fatal(err)
	}
	if err := l.EnoughReplicas(3); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("got %v", err)
	}
}

// TestLeaderLastCaughtUp checks Kafka's Replica.updateFetchState rules
// through the shrink they decide.
func TestLeaderLastCaughtUp(t *testing.T) {
	const lag = 10 * time.Second
	log := &fakeLog{}
	l := newTestLeader(log, []int32{1, 2, 3}, false)
	log.set(100, 100)
	// Follower 2 fetches from the leader's end: caught up now. Follower
	// 3 trails.
	l.FollowerFetched(2, 100, t0.Add(5*time.Second))
	l.FollowerFetched(3, 50, t0.Add(5*time.Second))
	log.set(150, 150)
	// Follower 3 now fetches from 100, the leader's end at its previous
	// fetch: it was caught up at that fetch (t0+5s), not now.
	l.FollowerFetched(3, 100, t0.Add(8*time.Second))
	// At t0+14s: 2 caught up at 5s (9s ago), 3 at 5s: both within lag.
	if ch, ok := l.ProposeISR(t0.Add(14*time.Second), lag, all); ok {
		t.Fatalf("change proposed within the lag: %+v", ch)
	}
	// At t0+16s both are 11s behind, neither at the leader's end.
	ch, ok := l.ProposeISR(t0.Add(16*time.Second), lag, all)
	if !ok || !slices.Equal(ch.ISR, []int32{1}) || ch.LeaderEpoch != 5 || ch.PartitionEpoch != 7 {
		t.Fatalf("change %+v %v, want ISR [1] at epochs 5/7", ch, ok)
	}
	// In flight: nothing more is proposed.
	if _, ok := l.ProposeISR(t0.Add(17*time.Second), lag, all); ok {
		t.Fatal("a second change while one is in flight")
	}
	// A failed answer ends it; the next check proposes again.
	l.ISRChangeAnswered(ch, kerr.InvalidUpdateVersion)
	if _, ok := l.ProposeISR(t0.Add(17*time.Second), lag, all); !ok {
		t.Fatal("no change after the failed one")
	}
}

// TestLeaderRejoin: a follower outside the ISR that reaches the high
// watermark (and the start of the epoch) is proposed back, counts for the
// high watermark while the change is in flight, and the image that
// applies the change ends it.
func TestLeaderRejoin(t *testing.T) {
	log := &fakeLog{}
	log.set(40, 40) // the epoch starts at 40
	var wanted []*Leader
	l := NewLeader(LeaderConfig{Self: 1, LeaderEpoch: 5, PartitionEpoch: 7, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2},
		Log: log, Now: t0, HighWatermark: 30, ISRChangeWanted: func(l *Leader) { wanted = append(wanted, l) }})
	log.set(60, 60)
	l.FollowerFetched(2, 60, t0)
	if hw := l.HighWatermark(); hw != 60 {
		t.Fatalf("hw %d", hw)
	}
	l.FollowerFetched(3, 30, t0)
	if len(wanted) != 0 {
		t.Fatal("follower 3 behind the epoch start was wanted")
	}
	log.set(70, 70)
	l.FollowerFetched(3, 60, t0)
	if len(wanted) != 1 {
		t.Fatalf("wanted %d times, want 1", len(wanted))
	}
	ch, ok := l.ProposeISR(t0, time.Minute, all)
	if !ok || !slices.Equal(ch.ISR, []int32{1, 2, 3}) {
		t.Fatalf("change %+v %v", ch, ok)
	}
	// While in flight, follower 3 counts: the hw waits for it.
	l.FollowerFetched(2, 70, t0)
	if hw := l.HighWatermark(); hw != 60 {
		t.Fatalf("hw %d with 3 (at 60) joining, want 60", hw)
	}
	// A stale answer changes nothing; the image ends the change.
	l.ISRChangeAnswered(ISRChange{PartitionEpoch: 6}, kerr.InvalidUpdateVersion)
	if _, ok := l.ProposeISR(t0, time.Minute, all); ok {
		t.Fatal("proposed while in flight")
	}
	if shrunk, expanded := l.Update(8, []int32{1, 2, 3}, []int32{1, 2, 3}, t0); shrunk || !expanded {
		t.Fatalf("update: shrunk %v expanded %v", shrunk, expanded)
	}
	l.FollowerFetched(3, 70, t0)
	if hw := l.HighWatermark(); hw != 70 {
		t.Fatalf("hw %d", hw)
	}
	if !slices.Equal(l.ISR(), []int32{1, 2, 3}) || l.UnderReplicated() {
		t.Fatalf("isr %v", l.ISR())
	}
}

// all has every broker eligible for the ISR.
func all(int32) bool { return true }

// TestLeaderAlone: a leader alone in its ISR commits up to its own end
// (flushed end under the durable policy) on Advance.
func TestLeaderAlone(t *testing.T) {
	for _, durable := range []bool{false, true} {
		log := &fakeLog{}
		log.set(30, 20)
		l := newTestLeader(log, []int32{1}, durable)
		l.Advance()
		want := map[bool]int64{false: 30, true: 20}[durable]
		if hw := l.HighWatermark(); hw != want || log.hw != want {
			t.Fatalf("durable=%v: hw %d, log's %d, want %d", durable, hw, log.hw, want)
		}
	}
}

// TestLeaderCaught: a new leader is caught up once its high watermark
// reaches the log end its leadership began at.
func TestLeaderCaught(t *testing.T) {
	log := &fakeLog{}
	log.set(50, 50)
	l := NewLeader(LeaderConfig{Self: 1, LeaderEpoch: 5, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Log: log, Now: t0, HighWatermark: 40})
	if l.Caught() {
		t.Fatal("caught up at hw 40 below the epoch start 50")
	}
	l.FollowerFetched(2, 50, t0)
	if !l.Caught() {
		t.Fatalf("not caught up at hw %d", l.HighWatermark())
	}
}
