package replica

import (
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// LeaderLog is what a Leader reads and sets of its partition's local log
// (*segment.Log).
type LeaderLog interface {
	EndOffset() int64
	FlushedOffset() int64
	// SetHighWatermark publishes the high watermark to the log's readers
	// (consumers, their long polls, the checkpoint).
	SetHighWatermark(offset int64) int64
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
	// Now is when the leadership starts: the ISR's followers count as
	// caught up then (Kafka's lastCaughtUpTime at election).
	Now time.Time
	// ISRChangeWanted, when set, is called (without the Leader's lock
	// held) when a follower outside the ISR has caught up, so that the
	// broker sends the change without waiting for its periodic check. It
	// must not block.
	ISRChangeWanted func(*Leader)
}

// Leader is one partition's replication state on its leader: the ISR and
// partition epoch the last metadata image gave it, each follower's fetch
// state, the high watermark and the acks=all produces waiting on it. Its
// methods are safe for concurrent use.
//
// The high watermark is the smallest log end offset over the ISR, the
// leader's own counted at its flushed offset under the durable policy.
// While an ISR change is in flight (sent to the controller, not yet in an
// image) it is the smallest over the larger of the two sets, current ∪
// proposed, as Kafka's maximal ISR: a follower being added counts already,
// one being removed still does. It never goes down; every advance is
// published to the log (SetHighWatermark) and wakes the waiters it covers.
//
// Lock order: appendMu (held across a produce's append, BeginAppend),
// then mu, then the log's own locks.
type Leader struct {
	cfg LeaderConfig
	// epochStart is the log end when this leadership began: a follower
	// rejoins the ISR only once it has reached it (Kafka's
	// leaderEpochStartOffset).
	epochStart int64

	// appendMu is read-held across each append of a produce, write-held
	// by Resign: once Resign returns, no append of this leadership is
	// under way and none starts.
	appendMu sync.RWMutex

	mu struct {
		sync.Mutex
		isr            []int32
		replicas       []int32
		partitionEpoch int32
		followers      map[int32]*follower // every replica but the leader
		hw             int64
		waiters        []waiter
		inFlight       *ISRChange // sent to the controller, not yet applied
		resigned       bool
	}
}

// follower is what the leader knows of one follower, as Kafka's Replica.
type follower struct {
	endOffset    int64     // the fetch offset of its last fetch (-1: none this epoch)
	lastFetch    time.Time // when that fetch came
	leaderEndAt  int64     // the leader's log end at that fetch
	lastCaughtUp time.Time // the last time it was known to hold the leader's whole log
}

// waiter is an acks=all produce (or group commit) waiting for the high
// watermark to reach end.
type waiter struct {
	end    int64
	minISR int
	done   func(error)
}

// ISRChange is an ISR change a leader asks the controller for
// (AlterPartition): the ISR it wants, from the leadership and partition
// epochs it knows.
type ISRChange struct {
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// NewLeader starts leading with cfg.
func NewLeader(cfg LeaderConfig) *Leader {
	l := &Leader{cfg: cfg, epochStart: cfg.Log.EndOffset()}
	l.mu.isr, l.mu.replicas, l.mu.partitionEpoch = slices.Clone(cfg.ISR), slices.Clone(cfg.Replicas), cfg.PartitionEpoch
	l.mu.followers = map[int32]*follower{}
	l.mu.hw = cfg.HighWatermark
	l.addFollowersLocked(cfg.Now)
	return l
}

// addFollowersLocked adds the replicas without a follower state; those in
// the ISR count as caught up at now.
func (l *Leader) addFollowersLocked(now time.Time) {
	for _, r := range l.mu.replicas {
		if r == l.cfg.Self || l.mu.followers[r] != nil {
			continue
		}
		f := &follower{endOffset: -1, leaderEndAt: -1}
		if slices.Contains(l.mu.isr, r) {
			f.lastCaughtUp = now
		}
		l.mu.followers[r] = f
	}
	for r := range l.mu.followers {
		if !slices.Contains(l.mu.replicas, r) {
			delete(l.mu.followers, r)
		}
	}
}

// LeaderEpoch is the epoch this leadership belongs to.
func (l *Leader) LeaderEpoch() int32 { return l.cfg.LeaderEpoch }

// Caught reports whether the high watermark has reached the log end this
// leadership began at: until then a new leader does not know which of its
// records are committed (Kafka answers consumers' ListOffsets
// OFFSET_NOT_AVAILABLE meanwhile).
func (l *Leader) Caught() bool { return l.HighWatermark() >= l.epochStart }

// localEnd is the leader's own log end as the high watermark counts it.
func (l *Leader) localEnd() int64 {
	if l.cfg.Durable {
		return l.cfg.Log.FlushedOffset()
	}
	return l.cfg.Log.EndOffset()
}

// HighWatermark is the offset consumers may read up to.
func (l *Leader) HighWatermark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.hw
}

// ISR is the in-sync replica set of the last image.
func (l *Leader) ISR() []int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.mu.isr)
}

// UnderReplicated reports whether the ISR lacks some replica.
func (l *Leader) UnderReplicated() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.isr) < len(l.mu.replicas)
}

// counted reports whether follower id counts for the high watermark: a
// member of the ISR, or of the one in flight.
func (l *Leader) countedLocked(id int32) bool {
	return slices.Contains(l.mu.isr, id) || l.mu.inFlight != nil && slices.Contains(l.mu.inFlight.ISR, id)
}

// advanceLocked recomputes the high watermark, publishes a higher one to
// the log and returns the waiters it completes (to call without the lock).
func (l *Leader) advanceLocked() []waiter {
	if l.mu.resigned {
		return nil
	}
	hw := l.localEnd()
	for id, f := range l.mu.followers {
		if l.countedLocked(id) {
			hw = min(hw, f.endOffset)
		}
	}
	if hw <= l.mu.hw {
		return nil
	}
	l.mu.hw = hw
	l.cfg.Log.SetHighWatermark(hw)
	var done []waiter
	keep := l.mu.waiters[:0]
	for _, w := range l.mu.waiters {
		if w.end <= hw {
			done = append(done, w)
		} else {
			keep = append(keep, w)
		}
	}
	clear(l.mu.waiters[len(keep):])
	l.mu.waiters = keep
	return done
}

// finish tells completed waiters, with NOT_ENOUGH_REPLICAS_AFTER_APPEND
// for those whose min.insync.replicas the ISR (size isr) falls short of.
func finish(done []waiter, isr int) {
	for _, w := range done {
		if isr < w.minISR {
			w.done(kerr.NotEnoughReplicasAfterAppend)
		} else {
			w.done(nil)
		}
	}
}

// Advance recomputes the high watermark after the leader's own log moved
// (an append under the interval policy, a flush under the durable one).
func (l *Leader) Advance() {
	l.mu.Lock()
	done := l.advanceLocked()
	isr := len(l.mu.isr)
	l.mu.Unlock()
	finish(done, isr)
}

// Flushed is Advance as a flusher callback (flush.Flusher.Wait): a failed
// sync is the flusher's to report.
func (l *Leader) Flushed(error) { l.Advance() }

// FollowerFetched records a fetch of follower id from fetchOffset (its log
// end offset) at now and returns the high watermark to send it; false when
// id is not a replica of the partition or the leadership has ended.
func (l *Leader) FollowerFetched(id int32, fetchOffset int64, now time.Time) (int64, bool) {
	leaderEnd := l.cfg.Log.EndOffset()
	l.mu.Lock()
	f := l.mu.followers[id]
	if f == nil || l.mu.resigned {
		l.mu.Unlock()
		return -1, false
	}
	// Kafka's Replica.updateFetchState: caught up now if it asked from
	// the leader's end, caught up at its previous fetch if it asked from
	// where the leader's end was then.
	switch {
	case fetchOffset >= leaderEnd:
		f.lastCaughtUp = maxTime(f.lastCaughtUp, now)
	case f.leaderEndAt >= 0 && fetchOffset >= f.leaderEndAt:
		f.lastCaughtUp = maxTime(f.lastCaughtUp, f.lastFetch)
	}
	f.endOffset, f.lastFetch, f.leaderEndAt = fetchOffset, now, leaderEnd
	done := l.advanceLocked()
	hw, isr := l.mu.hw, len(l.mu.isr)
	rejoin := l.mu.inFlight == nil && !slices.Contains(l.mu.isr, id) && l.caughtUpLocked(f)
	l.mu.Unlock()
	finish(done, isr)
	if rejoin && l.cfg.ISRChangeWanted != nil {
		l.cfg.ISRChangeWanted(l)
	}
	return hw, true
}

// caughtUpLocked reports whether a follower outside the ISR may join it:
// its log reaches the high watermark and the start of this leader epoch.
func (l *Leader) caughtUpLocked(f *follower) bool {
	return f.endOffset >= 0 && f.endOffset >= l.mu.hw && f.endOffset >= l.epochStart
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Wait calls done once the high watermark reaches end: with nil, or
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR is then smaller than
// minISR; with NOT_LEADER_OR_FOLLOWER when the leadership ends first. done
// may be called before Wait returns, and must not block.
func (l *Leader) Wait(end int64, minISR int, done func(error)) {
	l.mu.Lock()
	switch {
	case l.mu.resigned:
		l.mu.Unlock()
		done(kerr.NotLeaderForPartition)
		return
	case end <= l.mu.hw:
		isr := len(l.mu.isr)
		l.mu.Unlock()
		finish([]waiter{{end: end, minISR: minISR, done: done}}, isr)
		return
	}
	l.mu.waiters = append(l.mu.waiters, waiter{end: end, minISR: minISR, done: done})
	l.mu.Unlock()
}

// EnoughReplicas reports whether an acks=all append may go ahead with
// min.insync.replicas minISR: NOT_ENOUGH_REPLICAS when the ISR is smaller.
func (l *Leader) EnoughReplicas(minISR int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.mu.isr) < minISR {
		return kerr.NotEnoughReplicas
	}
	return nil
}

// BeginAppend is called before appending to the log as this leadership,
// EndAppend after: false (and no EndAppend due) once the leadership has
// ended, so that no append of an old leadership lands after the log
// started following another leader.
func (l *Leader) BeginAppend() bool {
	l.appendMu.RLock()
	l.mu.Lock()
	resigned := l.mu.resigned
	l.mu.Unlock()
	if resigned {
		l.appendMu.RUnlock()
		return false
	}
	return true
}

// EndAppend ends what BeginAppend began.
func (l *Leader) EndAppend() { l.appendMu.RUnlock() }

// Resign ends the leadership: it waits for the appends under way, then
// fails every waiter with NOT_LEADER_OR_FOLLOWER; later calls answer as
// for a partition this node does not lead.
func (l *Leader) Resign() {
	l.appendMu.Lock()
	l.mu.Lock()
	l.mu.resigned = true
	waiters := l.mu.waiters
	l.mu.waiters = nil
	l.mu.Unlock()
	l.appendMu.Unlock()
	for _, w := range waiters {
		w.done(kerr.NotLeaderForPartition)
	}
}

// Update applies a newer image's state of the partition with the same
// leader epoch (an ISR or replica change): a partition epoch above the
// one of the change in flight ends that change. It reports whether the
// ISR lost and gained members.
func (l *Leader) Update(partitionEpoch int32, replicas, isr []int32, now time.Time) (shrunk, expanded bool) {
	l.mu.Lock()
	if partitionEpoch <= l.mu.partitionEpoch {
		l.mu.Unlock()
		return false, false
	}
	for _, r := range l.mu.isr {
		shrunk = shrunk || !slices.Contains(isr, r)
	}
	for _, r := range isr {
		expanded = expanded || !slices.Contains(l.mu.isr, r)
	}
	l.mu.isr, l.mu.replicas, l.mu.partitionEpoch = slices.Clone(isr), slices.Clone(replicas), partitionEpoch
	if l.mu.inFlight != nil && partitionEpoch > l.mu.inFlight.PartitionEpoch {
		l.mu.inFlight = nil
	}
	l.addFollowersLocked(now)
	done := l.advanceLocked()
	n := len(l.mu.isr)
	l.mu.Unlock()
	finish(done, n)
	return shrunk, expanded
}

// ProposeISR returns the ISR change due at now, if any, and marks it in
// flight: the ISR without the followers not caught up for longer than
// maxLag (Kafka's isFollowerOutOfSync), with the followers caught up to
// the high watermark and the start of this leader epoch that are eligible
// (registered and not fenced, as the caller knows). Nothing is proposed
// while a change is in flight or after Resign.
func (l *Leader) ProposeISR(now time.Time, maxLag time.Duration, eligible func(id int32) bool) (ISRChange, bool) {
	leaderEnd := l.cfg.Log.EndOffset()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.inFlight != nil || l.mu.resigned {
		return ISRChange{}, false
	}
	isr := []int32{l.cfg.Self}
	changed := false
	for _, r := range l.mu.replicas {
		f := l.mu.followers[r]
		if f == nil {
			continue // the leader
		}
		in := slices.Contains(l.mu.isr, r)
		switch {
		case in && f.endOffset != leaderEnd && now.Sub(f.lastCaughtUp) > maxLag:
			changed = true // out of sync: leaves
		case in:
			isr = append(isr, r)
		case l.caughtUpLocked(f) && eligible(r):
			changed = true // caught up: rejoins
			isr = append(isr, r)
		}
	}
	if !changed {
		return ISRChange{}, false
	}
	ch := &ISRChange{LeaderEpoch: l.cfg.LeaderEpoch, PartitionEpoch: l.mu.partitionEpoch, ISR: isr}
	l.mu.inFlight = ch
	return *ch, true
}

// ISRChangeAnswered takes the controller's answer to a change ProposeISR
// gave: an error ends the change (the next check proposes again); a
// success leaves it in flight until the image that applies it (Update),
// and an answer about an older partition epoch than the leader's is
// ignored.
func (l *Leader) ISRChangeAnswered(ch ISRChange, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil || l.mu.inFlight == nil || l.mu.inFlight.PartitionEpoch != ch.PartitionEpoch || ch.PartitionEpoch < l.mu.partitionEpoch {
		return
	}
	l.mu.inFlight = nil
}
