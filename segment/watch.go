package segment

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Watching logs for changes (long-poll fetch).
//
// A log wakes its watchers each time its end offset or flushed offset advances, its high
// watermark or start offset changes, or it closes. A watcher that reads only up to the flushed
// offset or the high watermark (a consumer under the durable flush policy) registers without
// appends (WatchTaggedNoAppends): an append moves only the log end, which it cannot read, so
// waking it would buy nothing; at 1,000 partitions each append did (issue 16). A plain watcher is a channel (Watch). A
// waiter on many logs (a fetch of 10,000 partitions) registers one WakeSet with each log under
// a tag of its own (WatchTagged): a change marks the log's tag in the set, then wakes the set's
// channel, so that the waiter re-reads only the logs whose tags it takes (Take) and not all of
// them. Marking before waking keeps the order safe: a waiter that receives from C and then
// takes the marks sees every change whose wake-up it received; a change that marks after the
// Take leaves a wake-up in C for the next round.

// WakeSet is one waiter's wake-ups from many logs, each registered with a tag in [0, n).
type WakeSet struct {
	// C receives a wake-up (never blocking the log: a full channel is left as is) after a
	// change marked its tag.
	C     chan struct{}
	marks []atomic.Uint64
}

// NewWakeSet returns a set for tags in [0, n).
func NewWakeSet(n int) *WakeSet {
	return &WakeSet{C: make(chan struct{}, 1), marks: make([]atomic.Uint64, (n+63)/64)}
}

// mark records a change of the log registered under tag.
func (w *WakeSet) mark(tag int) { w.marks[tag/64].Or(1 << (tag % 64)) }

// Take calls fn with each tag marked since the last Take, in increasing order, and clears the
// marks. It returns the number of tags taken.
func (w *WakeSet) Take(fn func(tag int)) int {
	n := 0
	for i := range w.marks {
		if w.marks[i].Load() == 0 {
			continue
		}
		word := w.marks[i].Swap(0)
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			fn(i*64 + b)
			n++
		}
	}
	return n
}

// Mark marks tag as changed, as a log's change would, without a wake-up (a waiter that finds a
// change by itself, e.g. with Log.Changes, queues it for its next Take).
func (w *WakeSet) Mark(tag int) { w.mark(tag) }

// notifier wakes the watchers registered with it at each notify, and those that asked for
// appends at each notifyAppend; either costs one atomic add and one atomic load while no
// watcher it would wake is registered.
type notifier struct {
	others  atomic.Uint64 // notify calls, ever
	appends atomic.Uint64 // notifyAppend calls, ever
	// watched: len(watchers) > 0; watchedAppends: appendWatchers > 0.
	watched, watchedAppends atomic.Bool
	mu                      sync.Mutex
	watchers                []watcher
	appendWatchers          int // watchers with appends set
}

// watcher is one registration: a channel, and for a WakeSet's the set and the tag to mark;
// appends: woken by appends too.
type watcher struct {
	ch      chan<- struct{}
	set     *WakeSet
	tag     int
	appends bool
}

// changes counts the changes a watcher registered with appends (or not) is woken by, ever.
func (n *notifier) changes(appends bool) uint64 {
	c := n.others.Load()
	if appends {
		c += n.appends.Load()
	}
	return c
}

func (n *notifier) watch(w watcher) {
	n.mu.Lock()
	n.watchers = append(n.watchers, w)
	if w.appends {
		n.appendWatchers++
	}
	n.watched.Store(true)
	n.watchedAppends.Store(n.appendWatchers > 0)
	n.mu.Unlock()
}

// unwatch removes w, searching from the latest registration: a waiter that registered many
// (one per partition of a fetch that names a partition 70,000 times) and unregisters them in
// the reverse order finds each at the end.
func (n *notifier) unwatch(w watcher) {
	n.mu.Lock()
	i := len(n.watchers) - 1
	for i >= 0 && n.watchers[i] != w {
		i--
	}
	if i >= 0 {
		last := len(n.watchers) - 1
		n.watchers[i] = n.watchers[last]
		n.watchers[last] = watcher{}
		n.watchers = n.watchers[:last]
		if w.appends {
			n.appendWatchers--
		}
	}
	n.watched.Store(len(n.watchers) > 0)
	n.watchedAppends.Store(n.appendWatchers > 0)
	n.mu.Unlock()
}

// notify wakes every watcher: a change other than an append.
func (n *notifier) notify() {
	// Counted before the watchers are looked at: a waiter that registers and then finds the
	// count unchanged since its read is woken by every later change.
	n.others.Add(1)
	if !n.watched.Load() {
		return
	}
	n.wake(false)
}

// notifyAppend wakes the watchers registered with appends: an append, which moved only the
// log end.
func (n *notifier) notifyAppend() {
	n.appends.Add(1) // before the look, as in notify
	if !n.watchedAppends.Load() {
		return
	}
	n.wake(true)
}

// wake marks and wakes the watchers, only those registered with appends if appendOnly.
func (n *notifier) wake(appendOnly bool) {
	n.mu.Lock()
	for _, w := range n.watchers {
		if appendOnly && !w.appends {
			continue
		}
		if w.set != nil {
			w.set.mark(w.tag)
		}
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	n.mu.Unlock()
}
