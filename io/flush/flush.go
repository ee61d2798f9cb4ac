package flush

import (
	"cmp"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrClosed is given to waiters that Close could not make durable, and to every Wait
	// after Close.
	ErrClosed = errors.New("flush: flusher closed")
	// ErrForgotten is given to the waiters of a target dropped with Forget.
	ErrForgotten = errors.New("flush: target forgotten")
)

// stallRetry is how long a target waits before it is synced again after a sync that covered
// waiters but left some of them beyond its durable end (so syncing at once would likely spin).
const stallRetry = 10 * time.Millisecond

// Target is what a Flusher makes durable (a segment.Log). Sync makes every append completed
// before the call durable and returns the end offset (exclusive) now durable: every byte below
// it is on disk, for the Flusher tells each waiter within it, also one that queued after the
// sync started.
//
// A Flusher keys its state by Target, so a Target must be comparable (typically a pointer).
// Sync is called from the Flusher's worker goroutines, never concurrently for one Target.
type Target interface {
	Sync() (durableEnd int64, err error)
}

// GroupTarget is a Target that a Flusher can sync together with others by one Config.SyncAll
// (syncfs(2) of their file system) instead of one Sync each.
type GroupTarget interface {
	Target
	// PrepareSync starts a sync the way Sync does, but leaves the making durable to a SyncAll
	// that the Flusher calls after it: it notes what the sync covers (every append completed
	// before the call) and does any part of the sync that SyncAll does not. Unless it fails,
	// the Flusher calls finish exactly once, with SyncAll's result, and finish completes the
	// sync as Sync would and returns what Sync would have. A target is never prepared while
	// a sync of it is in flight.
	PrepareSync() (finish func(syncErr error) (durableEnd int64, err error), err error)
}

// Policy chooses when targets are synced without a waiter asking.
type Policy int

const (
	// Durable syncs a target only when a waiter asks (and at Close): acks=all produces wait
	// for their data to be durable, other data becomes durable with them.
	Durable Policy = iota
	// Interval adds Kafka's flush.messages / flush.ms: a target is synced in the background
	// once FlushMessages messages were appended to it, or FlushInterval after its oldest
	// unsynced message. Waiters still work.
	Interval
)

func (p Policy) String() string {
	switch p {
	case Durable:
		return "durable"
	case Interval:
		return "interval"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// Config configures a Flusher. The zero value is a Durable flusher without a minimum interval.
type Config struct {
	Policy        Policy
	MinInterval   time.Duration    // durable: minimum gap between syncs of one target (0 = none); group commit happens anyway because requests queue during a sync
	FlushMessages int64            // interval: flush a target after this many messages appended (0 = never by count)
	FlushInterval time.Duration    // interval: flush dirty targets this often (0 = never by time)
	Clock         func() time.Time // tests replace it; nil = time.Now
	Logger        *slog.Logger
	OnSync        func(target Target, d time.Duration, waiters int, err error) // metrics hook, may be nil
	// SyncConcurrency is how many targets may be syncing at once (0 = 16). One target's Sync
	// is never called concurrently with itself.
	SyncConcurrency int
	// Retriable, if set, picks the sync errors that are not sticky (a full disk, where the
	// target synced nothing and the next sync may succeed): such an error fails only the
	// waiters that sync covered, and later waiters get a new sync. Every other error is sticky.
	Retriable func(error) bool
	// SyncAll, if set, makes durable every write completed before the call to the file system
	// that holds the targets (syncfs(2) of the log dir), and fails if any writeback on it
	// failed since its last call. When at least GroupMin GroupTargets are to be synced at once,
	// the flusher prepares them all, calls SyncAll once and finishes them with its result:
	// one journal commit instead of one per target. A failed SyncAll fails every target it
	// covered (sticky, unless Retriable says otherwise). While such a group sync runs, no
	// other GroupTarget starts a sync: they gather for the next group.
	SyncAll  func() error
	GroupMin int // 0 = defaultGroupMin
	// SoonDelay is how long a SyncSoon may wait for its sync while many partitions are
	// written (see SyncSoon): the targets asked meanwhile gather and are synced by one group
	// sync, started at once when they are GroupMin. 0 = at the flusher goroutine's next pass.
	SoonDelay time.Duration
}

// defaultSyncConcurrency lets fdatasyncs of different partitions overlap, so the file system
// can commit them together, without flooding the disk queue.
const defaultSyncConcurrency = 16

// defaultGroupMin is how many targets due at once make a group sync worth its cost: syncfs
// writes back every dirty file of the file system and commits the journal once, against one
// fdatasync (and usually one journal commit) per target.
const defaultGroupMin = 64

// waiter is one Wait call.
type waiter struct {
	end  int64
	done func(error)
}

// job is a sync for a worker: of one target, or of a group with one SyncAll.
type job struct {
	one   *target
	group []*target
}

// notice is a done function to call, and what to tell it.
type notice struct {
	done func(error)
	err  error
}

// target is the flusher's state for one Target, guarded by Flusher.mu; a sync worker writes
// the result fields without it while the target is in flight, and hands it back under it.
type target struct {
	t        Target
	waiters  []waiter // in arrival order
	appended int64    // messages appended since the last sync started
	dirty    bool     // Appended was called since the last sync started
	dirtyGen uint64   // counts dirty transitions, to recognise stale dirtyMarks
	// notBefore is the earliest time the next sync may start (MinInterval, stall back-off).
	notBefore time.Time
	queued    bool   // in Flusher.mu.due
	soon      bool   // gathering for SyncSoon since the last sync started; in Flusher.mu.soon
	grouped   bool   // swept from Flusher.mu.soon: its next sync is a group sync, of any size
	askedSeq  uint64 // the soonWindow in which SyncSoon last counted it
	syncing   bool   // from the start of a sync until the flusher goroutine has finished it
	finalSync bool   // a sync started after Close: the last one
	forgotten bool
	// failed is the error of the target's first failed sync: sticky, every later waiter gets
	// it and the target is not synced again (a retried fdatasync may report success for data
	// the kernel dropped), until Forget.
	failed error

	// The sync in flight.
	covered    int // waiters[:covered] were queued before the sync started
	durableEnd int64
	err        error
	syncTime   time.Duration
}

// dirtyMark records when a target became dirty, for the FlushInterval deadline. It is stale
// when the target was synced (or forgotten) since; gen tells.
type dirtyMark struct {
	target *target
	gen    uint64
	since  time.Time
}

// syncResult is a finished sync, for OnSync and the log.
type syncResult struct {
	t       Target
	d       time.Duration
	waiters int
	err     error
}

// Flusher syncs Targets for the goroutines waiting on them. All methods are safe for
// concurrent use.
type Flusher struct {
	cfg   Config
	clock func() time.Time
	log   *slog.Logger

	wake    chan struct{} // capacity 1: coalesced wake-ups of the flusher goroutine
	stopped chan struct{} // closed when the flusher goroutine has exited
	kicks   atomic.Uint64 // kick calls, for tests and benchmarks

	mu struct {
		sync.Mutex
		targets      map[Target]*target
		due          []*target    // to sync as soon as notBefore allows and the last sync finished
		soon         []*target    // SyncSoon's targets, gathering
		soonSince    time.Time    // when soon's first entry was asked
		asked        askedWindow  // SyncSoon's GroupTargets asked, by soonWindow
		dirty        []dirtyMark  // Interval with FlushInterval: in order of becoming dirty
		dirtyHead    int          // dirty[:dirtyHead] were consumed
		work         []job        // started syncs for the workers, in order
		grouping     bool         // a group sync (SyncAll) is in flight
		loopIdle     bool         // the flusher goroutine has nothing to do until it is woken
		telling      bool         // a goroutine is calling done functions it took from told
		inFlight     int          // started and not yet finished by their worker
		told         []notice     // for the flusher goroutine to deliver, in order
		finished     []syncResult // syncs finished since the flusher goroutine last looked
		closeErr     error        // the first error of a final sync (after Close)
		closing      bool         // Close was called
		stopping     bool         // the workers are to exit
		workReady    sync.Cond    // signalled when work is added, broadcast when stopping
		syncFinished sync.Cond    // broadcast when syncs are finished, for Forget
	}

	// Owned by the flusher goroutine.
	spareDue   []*target
	starting   []*target    // startLocked's syncs to start, reused
	finished   []syncResult // taken from mu.finished, to report
	notices    []notice     // taken from mu.told, to deliver
	finalSwept bool         // Close's sweep of dirty targets is done
	lastLogged string       // the last sync failure logged, so that a sticky one is logged once
}

// New returns a Flusher and starts its goroutine and its sync workers; Close stops them.
func New(cfg Config) *Flusher {
	f := &Flusher{
		cfg:     cfg,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	if f.clock == nil {
		f.clock = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.mu.targets = make(map[Target]*target)
	f.mu.workReady.L = &f.mu.Mutex
	f.mu.syncFinished.L = &f.mu.Mutex
	workers := cmp.Or(max(cfg.SyncConcurrency, 0), defaultSyncConcurrency)
	for range workers {
		go f.worker()
	}
	go f.loop()
	return f
}

// Wait calls done(err) exactly once, from the flusher goroutine or a sync worker (never two
// done functions at once, and in order per target), once t is durable through end
// (exclusive) or a sync of t failed (then, with that error, at once for every later Wait on t). Durable policy: acks=all produces use it. Under Interval it
// still works (forces a flush of t).
//
// Wait must be called after the append that ends at end has completed, so that the next sync
// covers it. done must not block: every other waiter is told after it returns. After Close,
// done(ErrClosed) is called from a new goroutine.
func (f *Flusher) Wait(t Target, end int64, done func(error)) {
	f.mu.Lock()
	if f.mu.closing {
		f.mu.Unlock()
		go done(ErrClosed)
		return
	}
	tg := f.targetLocked(t)
	if tg.failed != nil {
		f.mu.told = append(f.mu.told, notice{done: done, err: tg.failed})
		f.mu.Unlock()
		f.kick()
		return
	}
	kick := f.queueLocked(tg, waiter{end: end, done: done})
	f.mu.Unlock()
	if kick {
		f.kick()
	}
}

// queueLocked queues w on tg, and starts tg's sync or makes it due; it reports whether the
// flusher goroutine needs waking.
func (f *Flusher) queueLocked(tg *target, w waiter) bool {
	tg.waiters = append(tg.waiters, w)
	if f.startNowLocked(tg) {
		return false
	}
	return f.dueLocked(tg) && !f.kickedLaterLocked(tg)
}

// SyncSoon asks for t to be synced through end, with no one waiting: under the Durable policy,
// the appends of acks 0 and 1, which consumers see once they are durable. While fewer than
// GroupMin GroupTargets were asked within soonWindow (or there is no SyncAll), it is a Wait whose
// result no one reads: t's sync starts at once, or after the one in flight. With more, many
// partitions are being written, and SyncSoon's targets gather, for Config.SoonDelay or until
// GroupMin of them are asked, and are synced together by one SyncAll, whatever their number:
// then the choice between one fdatasync per target and one group sync follows how many
// partitions are written, not how many happen to be due at one instant (which depended on how
// fast the disk's syncs returned: a fast disk kept 1,000 partitions on an fdatasync each, at 1.6×
// the CPU per byte and two thirds of the throughput). A Wait meanwhile starts its target's sync
// as always, which covers the SyncSoon too. SyncSoon must be called after the append that ends
// at end has completed. A failed sync is logged (once), not reported to the caller.
func (f *Flusher) SyncSoon(t Target, end int64) {
	f.mu.Lock()
	if f.mu.closing {
		f.mu.Unlock()
		return
	}
	tg := f.targetLocked(t)
	kick := false
	switch {
	case tg.failed != nil:
	case !f.gatheringLocked(tg):
		kick = f.queueLocked(tg, waiter{end: end, done: ignoreResult})
	case !tg.soon && !tg.queued: // queued: a sync that covers it starts
		tg.soon = true
		f.mu.soon = append(f.mu.soon, tg)
		if len(f.mu.soon) == 1 {
			f.mu.soonSince = f.clock()
		}
		// To arm its timer for a first one; to start a group.
		kick = len(f.mu.soon) == 1 || len(f.mu.soon) == f.groupMin()
	}
	f.mu.Unlock()
	if kick {
		f.kick()
	}
}

// ignoreResult is the done function of SyncSoon's waiters.
func ignoreResult(error) {}

// soonWindow is the time over which SyncSoon counts the targets asked, to tell many partitions
// written from a few: long beside the gaps between two writes to one of 1,000 partitions at a
// broker's rate (about 80 ms), so that the count does not follow the rate.
const soonWindow = time.Second

// askedWindow counts the GroupTargets that SyncSoon was asked for, by soonWindow.
type askedWindow struct {
	start       time.Time
	seq         uint64
	count, last int // in this window and the last
}

// gatheringLocked counts tg as asked by SyncSoon in this soonWindow and reports whether
// SyncSoon's targets gather for group syncs: tg is a GroupTarget of a flusher with SyncAll, and
// at least GroupMin of them were asked within this window or the last.
func (f *Flusher) gatheringLocked(tg *target) bool {
	if f.cfg.SyncAll == nil || !groupableTarget(tg) {
		return false
	}
	w := &f.mu.asked
	if now := f.clock(); now.Sub(w.start) >= soonWindow {
		w.last = w.count
		if now.Sub(w.start) >= 2*soonWindow {
			w.last = 0
		}
		w.count, w.start = 0, now
		w.seq++
	}
	if tg.askedSeq != w.seq {
		tg.askedSeq = w.seq
		w.count++
	}
	return max(w.count, w.last) >= f.groupMin()
}

// groupMin is how many GroupTargets started at once make a group sync.
func (f *Flusher) groupMin() int { return cmp.Or(f.cfg.GroupMin, defaultGroupMin) }

// kickedLaterLocked reports whether the flusher goroutine, woken now, could not start tg's
// sync anyway, and a sync in flight wakes it once it could: tg's own sync is in flight, or tg
// is a GroupTarget and a group sync is (GroupTargets wait for it to finish). Each worker
// kicks the flusher goroutine after every sync it finishes that leaves a target due
// (loopNeededLocked), so tg, queued, is started then.
// Without this, every produce to one of 1,000 partitions woke the flusher goroutine, which
// found the target held and queued it again: one goroutine wake-up on the event loop per
// partition per sync, and a pass over the due targets on the flusher goroutine.
func (f *Flusher) kickedLaterLocked(tg *target) bool {
	return tg.syncing || (f.mu.grouping && f.cfg.SyncAll != nil && groupableTarget(tg))
}

// startNowLocked starts tg's sync on a worker from Wait, when the flusher goroutine would only
// pass it on: it is idle, and no target is due, syncing, asked by SyncSoon or waiting for a
// group, so there is nothing to gather tg with. The fdatasync then starts after one wake-up
// (of a worker) instead of two (the flusher goroutine's, then a worker's), which on the
// benchmark VM cost 50-200 µs each when the other CPU was idle. Under load a target is syncing
// or due, and Wait queues tg for the flusher goroutine as before.
func (f *Flusher) startNowLocked(tg *target) bool {
	if !f.mu.loopIdle || f.mu.telling || f.mu.grouping || f.mu.inFlight > 0 || len(f.mu.due) > 0 ||
		len(f.mu.soon) > 0 || len(f.mu.told) > 0 || tg.syncing || tg.queued {
		return false
	}
	if f.cfg.SyncAll != nil && groupableTarget(tg) && f.groupMin() <= 1 {
		return false // a group of one: the flusher goroutine starts it
	}
	now := f.clock()
	if tg.notBefore.After(now) {
		return false
	}
	f.beginSyncLocked(tg, now, false)
	f.mu.work = append(f.mu.work, job{one: tg})
	f.mu.workReady.Signal()
	return true
}

// Appended records that t got `messages` more messages (interval policy bookkeeping; cheap).
// Under Durable it only marks t dirty, so that Close syncs it.
func (f *Flusher) Appended(t Target, messages int64) {
	interval := f.cfg.Policy == Interval
	f.mu.Lock()
	if f.mu.closing {
		f.mu.Unlock()
		return
	}
	tg := f.targetLocked(t)
	if tg.failed != nil {
		f.mu.Unlock()
		return
	}
	tg.appended += messages
	kick := false
	if !tg.dirty {
		tg.dirty = true
		tg.dirtyGen++
		if interval && f.cfg.FlushInterval > 0 {
			f.mu.dirty = append(f.mu.dirty, dirtyMark{target: tg, gen: tg.dirtyGen, since: f.clock()})
			// The flusher goroutine arms its timer for the oldest mark; wake it for a first one.
			kick = len(f.mu.dirty)-f.mu.dirtyHead == 1
		}
	}
	if interval && f.cfg.FlushMessages > 0 && tg.appended >= f.cfg.FlushMessages {
		kick = f.dueLocked(tg) || kick
	}
	f.mu.Unlock()
	if kick {
		f.kick()
	}
}

// Forget drops a target (topic deleted): pending waiters get an error (ErrForgotten). If the
// flusher goroutine is syncing t, Forget waits until that sync has returned; afterwards the
// Flusher does not call t.Sync again unless t is used again.
func (f *Flusher) Forget(t Target) {
	f.mu.Lock()
	tg, ok := f.mu.targets[t]
	if !ok {
		f.mu.Unlock()
		return
	}
	delete(f.mu.targets, t)
	tg.forgotten = true
	f.unsoonLocked(tg)
	for _, w := range tg.waiters {
		f.mu.told = append(f.mu.told, notice{done: w.done, err: ErrForgotten})
	}
	kick := len(tg.waiters) > 0
	tg.waiters = nil
	for tg.syncing {
		f.mu.syncFinished.Wait()
	}
	f.mu.Unlock()
	if kick {
		f.kick()
	}
}

// Close syncs every dirty target once more, fails remaining waiters, stops. It returns the
// first error of those final syncs. Calling it again returns the same error.
func (f *Flusher) Close() error {
	f.mu.Lock()
	f.mu.closing = true
	f.mu.Unlock()
	f.kick()
	<-f.stopped
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.closeErr
}

// kick wakes the flusher goroutine; wake-ups coalesce.
func (f *Flusher) kick() {
	f.kicks.Add(1)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Flusher) targetLocked(t Target) *target {
	tg, ok := f.mu.targets[t]
	if !ok {
		tg = &target{t: t}
		f.mu.targets[t] = tg
	}
	return tg
}

// dueLocked queues tg for syncing; it reports whether the flusher goroutine needs waking.
func (f *Flusher) dueLocked(tg *target) bool {
	if tg.queued {
		return false
	}
	tg.queued = true
	f.mu.due = append(f.mu.due, tg)
	return true
}

// loop is the flusher goroutine: it starts syncs, finishes them and tells the waiters.
func (f *Flusher) loop() {
	defer close(f.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		// Tell the waiters of finished syncs first, so that those that wait again at once
		// are covered by the syncs started below.
		f.mu.Lock()
		f.mu.loopIdle = false
		telling := f.takeToldLocked()
		f.mu.Unlock()
		f.reportFinished(f.finished)
		if notify(f.notices) {
			// The goroutines just told sit in this P's run queue; a producer that was told
			// typically appends and waits again at once. Let them run before starting syncs,
			// or each sync covers only some of them and syncs alternate between halves of
			// the appenders, with fewer waiters per sync (BenchmarkDurableAppend shows it).
			runtime.Gosched()
		}

		f.mu.Lock()
		if telling {
			f.mu.telling = false // notify is done
		} else if f.mu.telling {
			// A worker is telling (and may be held in OnSync or a done function): the
			// targets due meanwhile gather until it is done, as they did while this goroutine
			// told. It wakes this goroutine then.
			f.mu.Unlock()
			<-f.wake
			continue
		}
		final := f.mu.closing
		now := f.clock()
		next := f.startLocked(now, final)
		exit := final && f.mu.inFlight == 0 && len(f.mu.due) == 0
		if exit {
			f.mu.stopping = true
			f.mu.workReady.Broadcast()
			for f.mu.telling { // a worker's (not this goroutine's, which is done)
				f.mu.syncFinished.Wait()
			}
			f.takeToldLocked() // from a Forget since the last look
		}
		f.mu.loopIdle = !exit
		f.mu.Unlock()
		if exit {
			f.reportFinished(f.finished)
			notify(f.notices)
			return
		}
		if !next.IsZero() {
			timer.Reset(next.Sub(now))
		}
		select {
		case <-f.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// reportFinished logs failed syncs and calls OnSync for the syncs finished last. A sticky
// failure is logged once, however many targets report it (a failed log directory fails all its
// logs with its first error); a retriable one is left to its owner to log.
func (f *Flusher) reportFinished(finished []syncResult) {
	for _, s := range finished {
		if s.err != nil && (f.cfg.Retriable == nil || !f.cfg.Retriable(s.err)) {
			if msg := s.err.Error(); msg != f.lastLogged {
				f.lastLogged = msg
				f.log.Error("flush: sync failed; its waiters and all later ones get the error", "err", msg, "waiters", s.waiters)
			}
		}
		if f.cfg.OnSync != nil {
			f.cfg.OnSync(s.t, s.d, s.waiters, s.err)
		}
	}
}

// tellLocked reports the finished syncs and tells the waiters noted for telling, as a worker,
// with f.mu released meanwhile (held on entry and on return) and mu.telling set; notices and
// finished are the worker's buffers, swapped with the noted ones and returned empty. Having
// told some waiter, it yields the processor before it takes f.mu again.
func (f *Flusher) tellLocked(notices *[]notice, finished *[]syncResult) {
	f.mu.telling = true
	*notices, f.mu.told = f.mu.told, *notices
	*finished, f.mu.finished = f.mu.finished, *finished
	f.mu.Unlock()
	f.reportFinished(*finished)
	if notify(*notices) {
		runtime.Gosched()
	}
	clear(*notices)
	clear(*finished)
	*notices, *finished = (*notices)[:0], (*finished)[:0]
	f.mu.Lock()
	f.mu.telling = false
}

// worker runs the syncs that the flusher goroutine started and finishes each: it decides which
// waiters to tell (finishLocked) and leaves the telling to the flusher goroutine, so that it can
// start the target's next sync at once when waiters queued meanwhile (chainLocked).
func (f *Flusher) worker() {
	f.mu.Lock()
	defer f.mu.Unlock()
	var j job
	var notices []notice      // taken from mu.told, to deliver
	var finished []syncResult // taken from mu.finished, to report
	chained := false
	for {
		if !chained {
			for len(f.mu.work) == 0 && !f.mu.stopping {
				f.mu.workReady.Wait()
			}
			if len(f.mu.work) == 0 {
				return
			}
			j = f.mu.work[0]
			n := copy(f.mu.work, f.mu.work[1:])
			f.mu.work[n] = job{}
			f.mu.work = f.mu.work[:n]
		}
		f.mu.Unlock()

		start := f.clock()
		if j.group != nil {
			f.syncGroup(j.group)
		} else {
			j.one.durableEnd, j.one.err = j.one.t.Sync()
		}
		d := f.clock().Sub(start)

		f.mu.Lock()
		if j.group != nil {
			f.mu.grouping = false
			for _, tg := range j.group {
				tg.syncTime = d
				f.finishLocked(tg)
			}
			chained = false
		} else {
			j.one.syncTime = d
			f.finishLocked(j.one)
			chained = f.chainLocked(j.one)
		}
		if !chained && !f.mu.telling && len(f.mu.told) > 0 {
			// Nothing to start at once: report the sync and tell the waiters here rather
			// than wake the flusher goroutine to, one wake-up fewer between the fdatasync's
			// return and the waiters (for a produce, its response). A chained sync leaves the
			// telling to the flusher goroutine, to start sooner.
			// As the flusher goroutine does after telling, it yields: the waiters just told,
			// which typically wait again at once, queue before the next sync starts, so that
			// one sync covers them all.
			f.tellLocked(&notices, &finished)
			if j.group == nil {
				chained = f.chainLocked(j.one)
			}
		}
		f.mu.syncFinished.Broadcast()
		if f.loopNeededLocked() {
			f.kick()
		}
	}
}

// loopNeededLocked reports whether a worker that finished a sync must wake the flusher goroutine:
// it is not idle (it may be waiting for this worker's telling to end), or something is left for
// it (targets due, notices to deliver, syncs to report, Close). Otherwise waking it costs a
// goroutine wake-up and a pass under the lock for nothing: at the latency floor, after every
// sync a worker told its waiters itself, then chained the next sync.
func (f *Flusher) loopNeededLocked() bool {
	return !f.mu.loopIdle || f.mu.closing || len(f.mu.due) > 0 || len(f.mu.told) > 0 || len(f.mu.finished) > 0
}

// chainLocked starts tg's next sync on the worker that has just finished its last one, when
// waiters queued meanwhile and nothing holds it back: the fdatasync starts without waking the
// flusher goroutine and then a worker, while the flusher goroutine tells the last sync's
// waiters. It leaves tg to the flusher goroutine after Close (the final sweep decides what
// to sync) and when the flusher goroutine may gather it into a group sync.
func (f *Flusher) chainLocked(tg *target) bool {
	if !tg.queued || len(tg.waiters) == 0 || f.mu.closing || tg.forgotten || tg.failed != nil {
		return false
	}
	if f.cfg.SyncAll != nil && groupableTarget(tg) &&
		(f.mu.grouping || len(f.mu.due)+f.mu.inFlight >= f.groupMin()) {
		return false
	}
	now := f.clock()
	if tg.notBefore.After(now) {
		return false
	}
	i := slices.Index(f.mu.due, tg)
	f.mu.due = slices.Delete(f.mu.due, i, i+1)
	tg.queued = false
	f.beginSyncLocked(tg, now, false)
	return true
}

// groupableTarget reports whether tg may be synced in a group.
func groupableTarget(tg *target) bool {
	_, ok := tg.t.(GroupTarget)
	return ok
}

// syncGroup syncs the targets of a group with one SyncAll, setting each one's result.
func (f *Flusher) syncGroup(group []*target) {
	finish := make([]func(error) (int64, error), len(group))
	for i, tg := range group {
		finish[i], tg.err = tg.t.(GroupTarget).PrepareSync()
	}
	err := f.cfg.SyncAll()
	for i, tg := range group {
		if finish[i] != nil {
			tg.durableEnd, tg.err = finish[i](err)
		}
	}
}

// startLocked starts a sync of every due target whose time has come and that is not syncing
// already, and returns the earliest time at which a waiting target becomes due (zero if none).
// When final, every target with waiters or unsynced appends is synced once more, regardless
// of intervals.
func (f *Flusher) startLocked(now time.Time, final bool) (next time.Time) {
	for f.mu.dirtyHead < len(f.mu.dirty) {
		m := f.mu.dirty[f.mu.dirtyHead]
		if m.target.dirty && m.target.dirtyGen == m.gen && !m.target.forgotten {
			deadline := m.since.Add(f.cfg.FlushInterval)
			if deadline.After(now) {
				next = deadline
				break
			}
			f.dueLocked(m.target)
		}
		f.mu.dirty[f.mu.dirtyHead] = dirtyMark{}
		f.mu.dirtyHead++
	}
	if f.mu.dirtyHead == len(f.mu.dirty) {
		f.mu.dirty, f.mu.dirtyHead = f.mu.dirty[:0], 0
	} else if f.mu.dirtyHead > 1024 && f.mu.dirtyHead > len(f.mu.dirty)/2 {
		n := copy(f.mu.dirty, f.mu.dirty[f.mu.dirtyHead:])
		clear(f.mu.dirty[n:])
		f.mu.dirty, f.mu.dirtyHead = f.mu.dirty[:n], 0
	}

	if soonAt := f.sweepSoonLocked(now, final); !soonAt.IsZero() && (next.IsZero() || soonAt.Before(next)) {
		next = soonAt
	}
	if final && !f.finalSwept {
		// After Close no waiter or append arrives any more: one sweep finds all there is.
		f.finalSwept = true
		for _, tg := range f.mu.targets {
			// A sync in flight covers its waiters; any that came later queued the target.
			if tg.failed == nil && (tg.dirty || (!tg.syncing && len(tg.waiters) > 0)) {
				f.dueLocked(tg)
			}
		}
	}
	due := f.mu.due
	f.mu.due = f.spareDue[:0]
	for _, tg := range due {
		tg.queued = false
		switch {
		case tg.forgotten || tg.failed != nil || (final && tg.finalSync):
			continue
		case tg.syncing:
			f.dueLocked(tg) // again once this sync is finished
			continue
		case !final && tg.notBefore.After(now):
			f.dueLocked(tg)
			if next.IsZero() || tg.notBefore.Before(next) {
				next = tg.notBefore
			}
			continue
		}
		f.starting = append(f.starting, tg)
	}
	clear(due)
	f.spareDue = due[:0]
	f.startSyncsLocked(now, final)
	return next
}

// sweepSoonLocked makes SyncSoon's gathered targets due, for a group sync, once the first of
// them has waited Config.SoonDelay, or they are GroupMin, or at Close; otherwise it returns when
// they will be.
func (f *Flusher) sweepSoonLocked(now time.Time, final bool) (at time.Time) {
	if len(f.mu.soon) == 0 {
		return time.Time{}
	}
	at = f.mu.soonSince.Add(f.cfg.SoonDelay)
	if !final && at.After(now) && len(f.mu.soon) < f.groupMin() {
		return at
	}
	for _, tg := range f.mu.soon {
		tg.soon, tg.grouped = false, true
		f.dueLocked(tg)
	}
	clear(f.mu.soon)
	f.mu.soon = f.mu.soon[:0]
	return time.Time{}
}

// unsoonLocked takes tg out of SyncSoon's gathering targets, if it is there.
func (f *Flusher) unsoonLocked(tg *target) {
	if tg.soon {
		tg.soon = false
		i := slices.Index(f.mu.soon, tg)
		f.mu.soon = slices.Delete(f.mu.soon, i, i+1)
	}
}

// startSyncsLocked starts the syncs of f.starting: as one group sync when grouping pays,
// else one sync each. While a group sync is in flight, GroupTargets wait for the next group.
func (f *Flusher) startSyncsLocked(now time.Time, final bool) {
	var group []*target
	if f.cfg.SyncAll != nil {
		groupable, swept := 0, false
		for _, tg := range f.starting {
			if groupableTarget(tg) {
				groupable++
				swept = swept || tg.grouped
			}
		}
		if f.mu.grouping || groupable >= f.groupMin() || swept {
			group = make([]*target, 0, groupable)
		}
	}
	jobs := len(f.mu.work)
	for _, tg := range f.starting {
		if group != nil && groupableTarget(tg) {
			if f.mu.grouping {
				f.dueLocked(tg) // the group in flight finishing wakes the flusher goroutine
				continue
			}
			group = append(group, tg)
		} else {
			f.mu.work = append(f.mu.work, job{one: tg})
		}
		f.beginSyncLocked(tg, now, final)
	}
	clear(f.starting)
	f.starting = f.starting[:0]
	if len(group) > 0 {
		f.mu.grouping = true
		f.mu.work = append(f.mu.work, job{group: group})
	}
	for range len(f.mu.work) - jobs {
		f.mu.workReady.Signal()
	}
}

// beginSyncLocked marks tg as syncing from now: the sync covers its waiters so far.
func (f *Flusher) beginSyncLocked(tg *target, now time.Time, final bool) {
	tg.covered = len(tg.waiters)
	tg.appended = 0
	tg.dirty = false
	f.unsoonLocked(tg) // this sync covers it
	tg.grouped = false
	tg.syncing = true
	tg.finalSync = final
	tg.notBefore = now.Add(f.cfg.MinInterval)
	f.mu.inFlight++
}

// finishLocked finishes tg's sync, on the worker that ran it, and decides which waiters to tell
// and how: after a failed sync every waiter gets its error (and so will later ones); otherwise
// waiters within the durable end get success (those queued after the sync started too),
// others stay queued, except after a target's final sync, when they get ErrClosed. The
// notices go to the flusher goroutine, which delivers them in order.
func (f *Flusher) finishLocked(tg *target) {
	tg.syncing = false
	f.mu.inFlight--
	if tg.err != nil && tg.finalSync && f.mu.closeErr == nil {
		f.mu.closeErr = tg.err
	}
	if tg.forgotten {
		f.mu.finished = append(f.mu.finished, syncResult{t: tg.t, d: tg.syncTime, waiters: tg.covered, err: tg.err})
		return // Forget told its waiters
	}
	var retriable error
	if tg.err != nil {
		if f.cfg.Retriable != nil && f.cfg.Retriable(tg.err) {
			retriable = tg.err
		} else {
			tg.failed = tg.err
		}
	}
	kept, stalled := 0, false
	for i, w := range tg.waiters {
		covered := i < tg.covered
		switch {
		case tg.failed != nil:
			f.mu.told = append(f.mu.told, notice{done: w.done, err: tg.failed})
		case retriable != nil && covered:
			f.mu.told = append(f.mu.told, notice{done: w.done, err: retriable})
		case w.end <= tg.durableEnd:
			// Durable, whether or not it was queued when the sync started: one that
			// came while a worker took the sync up, its append already done when
			// Sync looked, need not wait for the whole next sync.
			f.mu.told = append(f.mu.told, notice{done: w.done})
		case tg.finalSync:
			f.mu.told = append(f.mu.told, notice{done: w.done, err: ErrClosed})
		default:
			stalled = stalled || covered
			tg.waiters[kept] = w
			kept++
		}
	}
	// OnSync's waiters are those this sync told (those within its end: maybe more than
	// it covered).
	told := len(tg.waiters) - kept
	clear(tg.waiters[kept:])
	tg.waiters = tg.waiters[:kept]
	f.mu.finished = append(f.mu.finished, syncResult{t: tg.t, d: tg.syncTime, waiters: told, err: tg.err})
	tg.err = nil
	if kept > 0 {
		if stalled && !f.mu.closing {
			tg.notBefore = f.clock().Add(max(f.cfg.MinInterval, stallRetry))
		}
		f.dueLocked(tg)
	}
}

// takeToldLocked takes the notices to deliver and the syncs to report, for the flusher
// goroutine: the lists swap with its emptied ones (cleared). It reports whether it took any:
// then the flusher goroutine is telling (mu.telling) until its notify returns, for OnSync and
// the done functions are called by one goroutine at a time, a sync's OnSync before its
// waiters are told. While a worker is telling it takes none; that worker wakes it when done.
func (f *Flusher) takeToldLocked() bool {
	clear(f.finished)
	clear(f.notices)
	f.finished, f.notices = f.finished[:0], f.notices[:0]
	if f.mu.telling || len(f.mu.told)+len(f.mu.finished) == 0 {
		return false
	}
	f.mu.telling = true
	f.notices, f.mu.told = f.mu.told, f.notices
	f.finished, f.mu.finished = f.mu.finished, f.finished
	return true
}

// notify calls the queued done functions, without the lock, and reports whether there were any.
func notify(notices []notice) bool {
	for _, n := range notices {
		n.done(n.err)
	}
	return len(notices) > 0
}
