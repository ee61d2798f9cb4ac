package replica

// Replication lag in bytes and in time (issue 13's metrics), besides
// Fetchers.Lag in messages.
//
// On the follower, a partition is caught up when a fetch response leaves
// its log end at the leader's high watermark; the time since then grows
// while it falls behind or hears nothing (Kafka's follower-side "time
// since last caught up"). Its lag in bytes is its lag in messages at the
// bytes per offset of the batches it appended last: the leader's log is
// not visible from here, and a fetch response tells how many messages
// are behind, not how many bytes, so that is an estimate, exact for
// records of one size.
//
// On the leader, Leader.MaxSinceCaughtUp is the longest an ISR follower
// has not held the leader's whole log (what replica.lag.time.max.ms
// bounds before it leaves the ISR).

import (
	"sync/atomic"
	"time"
)

// lagClock is a followed partition's lag state, written by its fetch loop
// and read by the metrics.
type lagClock struct {
	lastCaughtUp   atomic.Int64 // unix nanoseconds
	bytesPerOffset atomic.Int64 // of the last append, rounded up; 0: none yet
}

// caughtUp notes that the log reached the leader's high watermark at now.
func (c *lagClock) caughtUp(now time.Time) { c.lastCaughtUp.Store(now.UnixNano()) }

// appended notes an append of n bytes that moved the log end by offsets.
func (c *lagClock) appended(n int, offsets int64) {
	if offsets > 0 {
		c.bytesPerOffset.Store((int64(n) + offsets - 1) / offsets)
	}
}

// LagBytes is the largest estimated number of bytes a followed partition
// is behind its leader's high watermark, as last heard: its lag in
// messages times the bytes per offset of its last append.
func (f *Fetchers) LagBytes() (maxBytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.parts {
		if hw := s.leaderHW.Load(); hw >= 0 {
			maxBytes = max(maxBytes, (hw-s.Log.EndOffset())*s.lagClock.bytesPerOffset.Load())
		}
	}
	return maxBytes
}

// SinceCaughtUp is the longest time, at now, since a followed partition's
// log was last at its leader's high watermark (since its Follow when it
// never was).
func (f *Fetchers) SinceCaughtUp(now time.Time) (longest time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.parts {
		longest = max(longest, now.Sub(time.Unix(0, s.lagClock.lastCaughtUp.Load())))
	}
	return longest
}

// MaxSinceCaughtUp is the longest time, at now, since a follower in the
// ISR last held the leader's whole log; 0 for one at the leader's end.
func (l *Leader) MaxSinceCaughtUp(now time.Time) (longest time.Duration) {
	leaderEnd := l.cfg.Log.EndOffset()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.mu.isr {
		if f := l.mu.followers[r]; f != nil && f.endOffset != leaderEnd {
			longest = max(longest, now.Sub(f.lastCaughtUp))
		}
	}
	return longest
}
