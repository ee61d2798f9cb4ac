package replica

import (
	"slices"
	"sync"
	"time"
)

// LeaderLog is what a Leader reads of its partition's local log
// (*segment.Log).
type LeaderLog interface {
	EndOffset() int64
	FlushedOffset() int64
}

// LeaderConfig is a partition's leadership as the metadata image gives it.
type LeaderConfig struct {
	Self           int32 // this node
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
	Log            LeaderLog
	// Durable counts the leader's own log at its flushed offset (the
	// durable flush policy), else at its end.
	Durable bool
	// HighWatermark is where the high watermark starts: the one this node
	// knew as a follower, or checkpointed. It never goes down while this
	// node leads.
	HighWatermark int64
}

// Leader is one partition's replication state on its leader. Its methods
// are safe for concurrent use.
type Leader struct {
	cfg LeaderConfig

	mu        sync.Mutex
	followers map[int32]*follower // every replica but the leader
	hw        int64
}

// follower is what the leader knows of one follower.
type follower struct {
	endOffset int64     // the fetch offset of its last fetch (-1: none this epoch)
	lastFetch time.Time // when that fetch came
}

// NewLeader starts leading with cfg.
func NewLeader(cfg LeaderConfig) *Leader {
	l := &Leader{cfg: cfg, followers: map[int32]*follower{}, hw: cfg.HighWatermark}
	for _, r := range cfg.Replicas {
		if r != cfg.Self {
			l.followers[r] = &follower{endOffset: -1}
		}
	}
	return l
}

// LeaderEpoch is the epoch this leadership belongs to.
func (l *Leader) LeaderEpoch() int32 { return l.cfg.LeaderEpoch }

// localEnd is the leader's own log end as the high watermark counts it.
func (l *Leader) localEnd() int64 {
	if l.cfg.Durable {
		return l.cfg.Log.FlushedOffset()
	}
	return l.cfg.Log.EndOffset()
}

// HighWatermark is the offset consumers may read up to: the smallest log
// end offset over the ISR, never lower than before.
func (l *Leader) HighWatermark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.advanceLocked()
}

// advanceLocked recomputes the high watermark and returns it.
func (l *Leader) advanceLocked() int64 {
	hw := l.localEnd()
	for _, id := range l.cfg.ISR {
		if f := l.followers[id]; f != nil {
			hw = min(hw, f.endOffset)
		}
	}
	l.hw = max(l.hw, hw)
	return l.hw
}

// FollowerFetched records a fetch of follower id from fetchOffset (its log
// end offset) and returns the high watermark to send it; false when id is
// not a replica of the partition.
func (l *Leader) FollowerFetched(id int32, fetchOffset int64, now time.Time) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.followers[id]
	if f == nil {
		return -1, false
	}
	f.endOffset, f.lastFetch = fetchOffset, now
	return l.advanceLocked(), true
}

// ISR is the in-sync replica set the leader works with.
func (l *Leader) ISR() []int32 { return slices.Clone(l.cfg.ISR) }
