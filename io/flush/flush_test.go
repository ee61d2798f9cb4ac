package flush

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"runnel/internal/wait"
)

// fakeTarget is a log whose appends only move an end offset. Sync reports the end as it was
// when Sync was called, after an optional delay, block or scripted error.
type fakeTarget struct {
	name  string
	delay time.Duration
	syncs atomic.Int64

	mu      sync.Mutex
	end     int64   // appended so far
	durable int64   // what the last successful Sync made durable
	stuckAt int64   // when > 0, Sync reports at most this end
	errs    []error // results of the next syncs, in order (nil: success)
	entered chan struct{}
	release chan struct{}
}

func (t *fakeTarget) String() string { return t.name }

func (t *fakeTarget) append(n int64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.end += n
	return t.end
}

func (t *fakeTarget) durableEnd() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.durable
}

func (t *fakeTarget) Sync() (int64, error) {
	t.syncs.Add(1)
	t.mu.Lock()
	end := t.end
	if t.stuckAt > 0 {
		end = min(end, t.stuckAt)
	}
	var err error
	if len(t.errs) > 0 {
		err, t.errs = t.errs[0], t.errs[1:]
	}
	entered, release := t.entered, t.release
	t.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
		<-release
	}
	if t.delay > 0 {
		time.Sleep(t.delay) // a slow fsync: the time it takes is what the tests using it model
	}
	return t.finish(end, err)
}

// finish ends a sync that noted end: unless it failed, end is now durable.
func (t *fakeTarget) finish(end int64, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	t.durable = max(t.durable, end)
	t.mu.Unlock()
	return end, nil
}

// blockSyncs makes the next Sync calls announce themselves on the returned channel and wait
// for a value on release.
func (t *fakeTarget) blockSyncs() (entered, release chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entered, t.release = make(chan struct{}), make(chan struct{})
	return t.entered, t.release
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// result collects what one waiter was told.
type result struct {
	calls atomic.Int32
	err   error
	done  chan struct{}
}

func newResult() *result { return &result{done: make(chan struct{})} }

func (r *result) fn(err error) {
	if r.calls.Add(1) == 1 {
		r.err = err
		close(r.done)
	}
}

// wait returns what the waiter was told, failing the test if it is not told within a second.
func (r *result) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(2 * time.Second):
		t.Fatal("waiter not told within 2s")
		return nil
	}
}

func (r *result) told() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// barrier returns once the flusher goroutine has started every sync that was due when barrier
// was called, and finished those that were in flight: it waits on a fresh target, whose sync
// is started after them.
func barrier(t *testing.T, f *Flusher) {
	t.Helper()
	r := newResult()
	f.Wait(&fakeTarget{name: "barrier"}, 0, r.fn)
	if err := r.wait(t); err != nil {
		t.Fatalf("barrier: %v", err)
	}
}

func newFlusher(t *testing.T, cfg Config) *Flusher {
	t.Helper()
	f := New(cfg)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestGroupCommit(t *testing.T) {
	const appenders, appends = 32, 50
	target := &fakeTarget{name: "log", delay: 300 * time.Microsecond}
	var waiters atomic.Int64
	f := newFlusher(t, Config{OnSync: func(_ Target, _ time.Duration, n int, _ error) { waiters.Add(int64(n)) }})
	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	for range appenders {
		wg.Go(func() {
			for range appends {
				end := target.append(100)
				r := newResult()
				var durableAtDone int64
				f.Wait(target, end, func(err error) {
					durableAtDone = target.durableEnd()
					r.fn(err)
				})
				<-r.done
				switch {
				case r.err != nil:
					errs <- r.err
					return
				case durableAtDone < end:
					errs <- fmt.Errorf("told durable through %d when only %d was synced", end, durableAtDone)
					return
				case r.calls.Load() != 1:
					errs <- fmt.Errorf("done called %d times", r.calls.Load())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total, syncs := int64(appenders*appends), target.syncs.Load()
	t.Logf("%d waiters, %d syncs (%.1f waiters per sync)", total, syncs, float64(total)/float64(syncs))
	if waiters.Load() != total {
		t.Errorf("OnSync counted %d waiters, want %d", waiters.Load(), total)
	}
	if syncs*4 > total {
		t.Fatalf("%d syncs for %d waiters: no group commit", syncs, total)
	}
}

func TestWaitersToldInOrder(t *testing.T) {
	target := &fakeTarget{name: "log", delay: 100 * time.Microsecond}
	f := newFlusher(t, Config{})
	var mu sync.Mutex
	var order []int64
	var last *result
	for range 500 {
		end := target.append(1)
		r := newResult()
		f.Wait(target, end, func(err error) {
			mu.Lock()
			order = append(order, end)
			mu.Unlock()
			r.fn(err)
		})
		last = r
	}
	if err := last.wait(t); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, end := range order {
		if end != int64(i+1) {
			t.Fatalf("waiter %d told as number %d", end, i+1)
		}
	}
}

func TestWaiterBeyondDurableEndStaysQueued(t *testing.T) {
	target := &fakeTarget{name: "log", stuckAt: 5}
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	f := newFlusher(t, Config{Clock: clock.Now})
	target.append(10)
	early, late := newResult(), newResult()
	f.Wait(target, 5, early.fn)
	f.Wait(target, 10, late.fn)
	if err := early.wait(t); err != nil {
		t.Fatal(err)
	}
	barrier(t, f)
	if late.told() {
		t.Fatalf("waiter for end 10 told (%v) when only 5 is durable", late.err)
	}
	// The flusher retries by itself, but only stallRetry later: no busy loop while the end
	// does not move. (A barrier wakes the flusher: any sync due by now has been started.)
	syncs := target.syncs.Load()
	clock.Advance(stallRetry - time.Nanosecond)
	barrier(t, f)
	if n := target.syncs.Load(); n != syncs {
		t.Fatalf("synced again (%d -> %d) before stallRetry passed", syncs, n)
	}
	clock.Advance(time.Nanosecond)
	barrier(t, f)
	wait.Until(t, 2*time.Second, "a retry once stallRetry passed", func() bool { return target.syncs.Load() > syncs })
	target.mu.Lock()
	target.stuckAt = 0
	target.mu.Unlock()
	clock.Advance(stallRetry)
	barrier(t, f)
	if err := late.wait(t); err != nil {
		t.Fatal(err)
	}
}

// TestSyncErrorIsSticky: a failed sync fails the waiters it covered, those queued behind it
// and every later one, and the target is not synced again: a retried fdatasync can report
// success for data the kernel dropped.
func TestSyncErrorIsSticky(t *testing.T) {
	errDisk := errors.New("EIO")
	target := &fakeTarget{name: "log", errs: []error{errDisk}}
	var hookErrs []error
	f := newFlusher(t, Config{OnSync: func(_ Target, _ time.Duration, _ int, err error) { hookErrs = append(hookErrs, err) }})
	entered, release := target.blockSyncs()

	covered := []*result{newResult(), newResult()}
	for _, r := range covered {
		f.Wait(target, target.append(1), r.fn)
	}
	<-entered // the failing sync has started: later waiters are not covered by it
	queued := newResult()
	f.Wait(target, target.append(1), queued.fn)
	release <- struct{}{}
	for _, r := range append(covered, queued) {
		if err := r.wait(t); !errors.Is(err, errDisk) {
			t.Fatalf("waiter got %v, want %v", err, errDisk)
		}
	}
	later := newResult()
	f.Wait(target, target.append(1), later.fn)
	f.Appended(target, 1)
	if err := later.wait(t); !errors.Is(err, errDisk) {
		t.Fatalf("waiter after the failed sync got %v, want %v", err, errDisk)
	}
	f.Close() // hookErrs is written by the flusher goroutine
	if n := target.syncs.Load(); n != 1 {
		t.Fatalf("target synced %d times, want once", n)
	}
	if len(hookErrs) != 1 || !errors.Is(hookErrs[0], errDisk) {
		t.Fatalf("OnSync saw %v, want [%v]", hookErrs, errDisk)
	}
	// Forget ends the failure: the target may be used again (reopened).
	f2 := newFlusher(t, Config{})
	target2 := &fakeTarget{name: "log2", errs: []error{errDisk}}
	first := newResult()
	f2.Wait(target2, target2.append(1), first.fn)
	if err := first.wait(t); !errors.Is(err, errDisk) {
		t.Fatalf("got %v, want %v", err, errDisk)
	}
	f2.Forget(target2)
	again := newResult()
	f2.Wait(target2, target2.append(1), again.fn)
	if err := again.wait(t); err != nil {
		t.Fatalf("after Forget: %v", err)
	}
}

// TestRetriableSyncError: an error Config.Retriable picks (a full disk) fails only the waiters
// its sync covered; the next waiter gets a new sync, and nothing is logged.
func TestRetriableSyncError(t *testing.T) {
	errFull := errors.New("ENOSPC")
	target := &fakeTarget{name: "log", errs: []error{errFull}}
	f := newFlusher(t, Config{Retriable: func(err error) bool { return errors.Is(err, errFull) }})
	first := newResult()
	f.Wait(target, target.append(1), first.fn)
	if err := first.wait(t); !errors.Is(err, errFull) {
		t.Fatalf("covered waiter got %v, want %v", err, errFull)
	}
	later := newResult()
	f.Wait(target, target.append(1), later.fn)
	if err := later.wait(t); err != nil {
		t.Fatalf("waiter after a retriable failure got %v, want success", err)
	}
	if n := target.syncs.Load(); n != 2 {
		t.Fatalf("target synced %d times, want 2", n)
	}
}

func TestClose(t *testing.T) {
	t.Run("syncs dirty targets and tells waiters", func(t *testing.T) {
		dirty, clean, stuck := &fakeTarget{name: "dirty"}, &fakeTarget{name: "clean"}, &fakeTarget{name: "stuck", stuckAt: 1}
		f := New(Config{MinInterval: time.Hour})
		f.Appended(dirty, 3)
		f.Wait(clean, 0, newResult().fn)
		barrier(t, f)
		// dirty has unsynced appends; stuck gets waiters that MinInterval holds back.
		atEnd, beyond := newResult(), newResult()
		f.Wait(stuck, 0, newResult().fn)
		barrier(t, f)
		stuck.append(5)
		f.Wait(stuck, 1, atEnd.fn)
		f.Wait(stuck, 5, beyond.fn)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if n := dirty.syncs.Load(); n != 1 {
			t.Errorf("dirty target synced %d times, want 1 (by Close)", n)
		}
		if n := clean.syncs.Load(); n != 1 {
			t.Errorf("clean target synced %d times, want 1 (not again by Close)", n)
		}
		if err := atEnd.wait(t); err != nil {
			t.Errorf("waiter within the durable end: %v", err)
		}
		if err := beyond.wait(t); !errors.Is(err, ErrClosed) {
			t.Errorf("waiter beyond the durable end: %v, want ErrClosed", err)
		}
		after := newResult()
		f.Wait(dirty, 0, after.fn)
		if err := after.wait(t); !errors.Is(err, ErrClosed) {
			t.Errorf("Wait after Close: %v, want ErrClosed", err)
		}
		f.Appended(dirty, 1) // ignored, does not block
		if err := f.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("returns the final sync error", func(t *testing.T) {
		errDisk := errors.New("EIO")
		target := &fakeTarget{name: "log", errs: []error{errDisk}}
		f := New(Config{})
		f.Appended(target, 1)
		if err := f.Close(); !errors.Is(err, errDisk) {
			t.Fatalf("Close: %v, want %v", err, errDisk)
		}
		if err := f.Close(); !errors.Is(err, errDisk) {
			t.Fatalf("second Close: %v, want %v", err, errDisk)
		}
	})
	t.Run("waits for a sync in progress", func(t *testing.T) {
		target := &fakeTarget{name: "log"}
		f := New(Config{})
		entered, release := target.blockSyncs()
		r := newResult()
		f.Wait(target, target.append(1), r.fn)
		<-entered
		closed := make(chan error)
		go func() { closed <- f.Close() }()
		select {
		case <-closed:
			t.Fatal("Close returned during a sync")
		case <-time.After(20 * time.Millisecond):
		}
		release <- struct{}{}
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if err := r.wait(t); err != nil {
			t.Fatal(err)
		}
	})
}

// closeLettingSyncsThrough closes f while letting any sync of a target that blockSyncs holds
// through, so that Close returns.
func closeLettingSyncsThrough(f *Flusher, entered, release chan struct{}) {
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-entered:
				release <- struct{}{}
			case <-stop:
				return
			}
		}
	}()
	f.Close()
	close(stop)
}

// TestLateWaiterWithinSync: a waiter that queues after a sync started, for an append that
// sync made durable (it was done when Sync looked), is told by that sync, not the next one.
func TestLateWaiterWithinSync(t *testing.T) {
	target := &fakeTarget{name: "log"}
	f := New(Config{})
	entered, release := target.blockSyncs()
	defer closeLettingSyncsThrough(f, entered, release)
	first, late := newResult(), newResult()
	target.append(1)
	lateEnd := target.append(1)
	f.Wait(target, 1, first.fn)
	<-entered // the sync has looked: it makes both appends durable
	f.Wait(target, lateEnd, late.fn)
	release <- struct{}{}
	if err := first.wait(t); err != nil {
		t.Fatal(err)
	}
	select {
	case <-late.done:
	case <-entered: // a next sync started; the flusher tells before it starts syncs
		told := late.told()
		release <- struct{}{}
		if !told {
			t.Fatal("a waiter within the sync's durable end waited for the next sync")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("waiter not told within 2s")
	}
	if late.err != nil {
		t.Fatal(late.err)
	}
}

// TestNextSyncStartsAtOnce: a waiter that queued while a sync ran gets the next sync as soon as
// that one returns, without waiting for the flusher goroutine to tell the last sync's waiters:
// here the first waiter's done function returns only once the second sync has started.
func TestNextSyncStartsAtOnce(t *testing.T) {
	target := &fakeTarget{name: "log"}
	f := New(Config{})
	entered, release := target.blockSyncs()
	defer closeLettingSyncsThrough(f, entered, release)
	first, second := newResult(), newResult()
	secondStarted := make(chan struct{})
	errNotStarted := errors.New("the second sync had not started when the first one's waiter was told")
	f.Wait(target, target.append(1), func(err error) {
		select {
		case <-secondStarted:
		case <-time.After(2 * time.Second):
			err = errNotStarted
		}
		first.fn(err)
	})
	<-entered
	f.Wait(target, target.append(1), second.fn) // queued while the first sync runs
	release <- struct{}{}
	<-entered // the second sync
	close(secondStarted)
	release <- struct{}{}
	if err := first.wait(t); err != nil {
		t.Fatal(err)
	}
	if err := second.wait(t); err != nil {
		t.Fatal(err)
	}
	if got := target.durableEnd(); got != 2 {
		t.Fatalf("durable end %d, want 2", got)
	}
}

func TestForget(t *testing.T) {
	target := &fakeTarget{name: "log"}
	f := newFlusher(t, Config{})
	f.Forget(&fakeTarget{}) // unknown: nothing happens

	entered, release := target.blockSyncs()
	inSync, queued := newResult(), newResult()
	f.Wait(target, target.append(1), inSync.fn)
	<-entered
	f.Wait(target, target.append(1), queued.fn)
	forgotten := make(chan struct{})
	go func() { f.Forget(target); close(forgotten) }()
	select {
	case <-forgotten:
		t.Fatal("Forget returned while the target was being synced")
	case <-time.After(20 * time.Millisecond):
	}
	release <- struct{}{}
	<-forgotten
	for _, r := range []*result{inSync, queued} {
		if err := r.wait(t); !errors.Is(err, ErrForgotten) {
			t.Fatalf("waiter of a forgotten target: %v, want ErrForgotten", err)
		}
	}
	syncs := target.syncs.Load()
	barrier(t, f)
	if n := target.syncs.Load(); n != syncs {
		t.Fatalf("forgotten target synced again (%d -> %d)", syncs, n)
	}
}

func TestIntervalPolicy(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	f := newFlusher(t, Config{Policy: Interval, FlushMessages: 10, FlushInterval: time.Second, Clock: clock.Now})
	target := &fakeTarget{name: "log"}
	expectSyncs := func(want int64) {
		t.Helper()
		barrier(t, f) // any sync due by now has been started
		wait.Until(t, 2*time.Second, fmt.Sprint(want, " syncs"), func() bool { return target.syncs.Load() >= want })
		if n := target.syncs.Load(); n != want {
			t.Fatalf("%d syncs, want %d", n, want)
		}
	}

	// By count.
	f.Appended(target, 9)
	expectSyncs(0)
	f.Appended(target, 1)
	expectSyncs(1)

	// By time: FlushInterval after the oldest unsynced message.
	f.Appended(target, 1)
	clock.Advance(500 * time.Millisecond)
	f.Appended(target, 1)
	clock.Advance(499 * time.Millisecond)
	expectSyncs(1)
	clock.Advance(time.Millisecond)
	expectSyncs(2)
	clock.Advance(time.Hour)
	expectSyncs(2) // clean targets are not synced

	// A waiter forces a sync.
	r := newResult()
	f.Wait(target, target.append(1), r.fn)
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	expectSyncs(3)
}

func TestIntervalSettingsIgnoredUnderDurable(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	f := newFlusher(t, Config{Policy: Durable, FlushMessages: 10, FlushInterval: time.Second, Clock: clock.Now})
	target := &fakeTarget{name: "log"}
	f.Appended(target, 100)
	clock.Advance(time.Hour)
	barrier(t, f)
	if n := target.syncs.Load(); n != 0 {
		t.Fatalf("%d syncs without a waiter under Durable", n)
	}
}

func TestMinInterval(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	f := newFlusher(t, Config{MinInterval: 10 * time.Millisecond, Clock: clock.Now})
	target := &fakeTarget{name: "log"}
	first := newResult()
	f.Wait(target, target.append(1), first.fn)
	if err := first.wait(t); err != nil {
		t.Fatal(err)
	}
	second, third := newResult(), newResult()
	f.Wait(target, target.append(1), second.fn)
	clock.Advance(9 * time.Millisecond)
	f.Wait(target, target.append(1), third.fn)
	barrier(t, f)
	if second.told() || third.told() {
		t.Fatal("synced again before MinInterval passed")
	}
	clock.Advance(time.Millisecond)
	barrier(t, f)
	if err := second.wait(t); err != nil {
		t.Fatal(err)
	}
	if err := third.wait(t); err != nil {
		t.Fatal(err)
	}
	if n := target.syncs.Load(); n != 2 {
		t.Fatalf("%d syncs, want 2 (the waiters held back share one)", n)
	}
}

func TestWaitDoesNotAllocate(t *testing.T) {
	f := newFlusher(t, Config{})
	target := &fakeTarget{name: "log"}
	told := make(chan error, 1)
	done := func(err error) { told <- err }
	allocs := testing.AllocsPerRun(200, func() {
		f.Wait(target, target.append(1), done)
		if err := <-told; err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Wait and sync round, want 0", allocs)
	}
}

func TestPolicyString(t *testing.T) {
	for p, want := range map[Policy]string{Durable: "durable", Interval: "interval", 7: "Policy(7)"} {
		if got := p.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(p), got, want)
		}
	}
}

// inFlightTarget records in shared counters how many Syncs of such targets ran at once. The
// first Syncs wait in the target's meeting until want of them run at once, so that a flusher
// that runs that many does so whatever the machine's timing; later ones pass through.
type inFlightTarget struct {
	now, most *atomic.Int64
	meeting   *meeting
}

// meeting is where Syncs wait until want of them have arrived.
type meeting struct {
	want int64
	once sync.Once
	met  chan struct{}
}

func (t *inFlightTarget) Sync() (int64, error) {
	n := t.now.Add(1)
	for {
		m := t.most.Load()
		if n <= m || t.most.CompareAndSwap(m, n) {
			break
		}
	}
	if n >= t.meeting.want {
		t.meeting.once.Do(func() { close(t.meeting.met) })
	}
	<-t.meeting.met
	t.now.Add(-1)
	return 0, nil
}

func TestTargetsSyncConcurrently(t *testing.T) {
	for _, concurrency := range []int{1, 4} {
		t.Run(fmt.Sprint("concurrency=", concurrency), func(t *testing.T) {
			var syncs atomic.Int64
			f := newFlusher(t, Config{
				SyncConcurrency: concurrency,
				OnSync:          func(Target, time.Duration, int, error) { syncs.Add(1) },
			})
			// Hold one worker in a sync while waiters queue on ten targets.
			gate := &fakeTarget{name: "gate"}
			entered, release := gate.blockSyncs()
			f.Wait(gate, 0, newResult().fn)
			<-entered
			var now, most atomic.Int64
			m := &meeting{want: int64(concurrency), met: make(chan struct{})}
			var results []*result
			for range 10 {
				r := newResult()
				results = append(results, r)
				f.Wait(&inFlightTarget{now: &now, most: &most, meeting: m}, 0, r.fn)
			}
			release <- struct{}{}
			for _, r := range results {
				if err := r.wait(t); err != nil {
					t.Fatal(err)
				}
			}
			if got := most.Load(); got != int64(concurrency) {
				t.Fatalf("at most %d syncs at once, want %d", got, concurrency)
			}
			if n := syncs.Load(); n != 11 {
				t.Fatalf("OnSync called %d times, want 11", n)
			}
		})
	}
}

// countingHandler counts the records logged at error level.
type countingHandler struct {
	slog.Handler
	errors atomic.Int32
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.errors.Add(1)
	}
	return nil
}

// TestSyncFailureLoggedOnce: a failed log directory fails every log in it with the same error;
// the flusher logs it once, not once per target.
func TestSyncFailureLoggedOnce(t *testing.T) {
	h := &countingHandler{Handler: slog.DiscardHandler}
	f := newFlusher(t, Config{Logger: slog.New(h)})
	for i := range 5 {
		target := &fakeTarget{name: fmt.Sprint("log", i), errs: []error{fmt.Errorf("dir failed: %w", errors.New("EIO"))}}
		r := newResult()
		f.Wait(target, target.append(1), r.fn)
		if err := r.wait(t); err == nil {
			t.Fatal("sync did not fail")
		}
	}
	f.Close()
	if n := h.errors.Load(); n != 1 {
		t.Fatalf("%d error lines for one failure, want 1", n)
	}
}

// groupTarget is a fakeTarget that can also be synced in a group: PrepareSync notes its end,
// finish makes that end durable unless SyncAll failed.
type groupTarget struct {
	fakeTarget
	prepares atomic.Int64
}

func (t *groupTarget) PrepareSync() (func(error) (int64, error), error) {
	t.prepares.Add(1)
	t.mu.Lock()
	end := t.end
	t.mu.Unlock()
	return func(err error) (int64, error) { return t.finish(end, err) }, nil
}

// syncAll is a Config.SyncAll that counts its calls, fails with err if set, and, if entered is
// set, announces itself there and blocks until a value on release.
type syncAll struct {
	calls   atomic.Int64
	err     error
	entered chan struct{}
	release chan struct{}
}

func (s *syncAll) fn() error {
	s.calls.Add(1)
	if s.entered != nil {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.err
}

// newGatedFlusher returns a flusher whose goroutine can be held, and queueBehindGate.
func newGatedFlusher(t *testing.T, cfg Config) (*Flusher, *gate) {
	g := &gate{target: &fakeTarget{name: "gate"}, entered: make(chan struct{}), release: make(chan struct{})}
	cfg.OnSync = g.onSync
	return newFlusher(t, cfg), g
}

// gate holds the flusher goroutine in OnSync after a sync of its target.
type gate struct {
	target           *fakeTarget
	entered, release chan struct{}
}

func (g *gate) onSync(t Target, _ time.Duration, _ int, _ error) {
	if t == Target(g.target) {
		g.entered <- struct{}{}
		<-g.release
	}
}

// queueBehindGate holds the flusher goroutine and queues one waiter on each target, so that
// they all become due at once when the returned release is sent to.
func queueBehindGate(t *testing.T, f *Flusher, g *gate, targets []*groupTarget) (results []*result, release chan struct{}) {
	t.Helper()
	f.Wait(g.target, 0, newResult().fn)
	<-g.entered
	for _, tg := range targets {
		r := newResult()
		results = append(results, r)
		f.Wait(tg, tg.append(1), r.fn)
	}
	return results, g.release
}

func newGroupTargets(n int) []*groupTarget {
	targets := make([]*groupTarget, n)
	for i := range targets {
		targets[i] = &groupTarget{fakeTarget: fakeTarget{name: fmt.Sprint("log", i)}}
	}
	return targets
}

// TestGroupSync: GroupMin or more targets due at once are synced by one SyncAll, each prepared
// once and never Synced on its own; fewer are synced one by one.
func TestGroupSync(t *testing.T) {
	for _, tc := range []struct {
		targets       int
		wantSyncAll   int64
		wantPrepares  int64
		wantOwnSyncs  int64
		groupMin      int
		syncAllConfig bool
	}{
		{targets: 10, groupMin: 4, syncAllConfig: true, wantSyncAll: 1, wantPrepares: 1},
		{targets: 3, groupMin: 4, syncAllConfig: true, wantOwnSyncs: 1},
		{targets: 10, groupMin: 4, wantOwnSyncs: 1}, // no SyncAll: never grouped
	} {
		t.Run(fmt.Sprintf("targets=%d,min=%d,syncAll=%v", tc.targets, tc.groupMin, tc.syncAllConfig), func(t *testing.T) {
			all := &syncAll{}
			cfg := Config{SyncConcurrency: 1, GroupMin: tc.groupMin}
			if tc.syncAllConfig {
				cfg.SyncAll = all.fn
			}
			f, g := newGatedFlusher(t, cfg)
			targets := newGroupTargets(tc.targets)
			results, release := queueBehindGate(t, f, g, targets)
			release <- struct{}{}
			for i, r := range results {
				if err := r.wait(t); err != nil {
					t.Fatalf("target %d: %v", i, err)
				}
				if got := targets[i].durableEnd(); got != 1 {
					t.Fatalf("target %d durable through %d, want 1", i, got)
				}
			}
			if got := all.calls.Load(); got != tc.wantSyncAll {
				t.Fatalf("SyncAll called %d times, want %d", got, tc.wantSyncAll)
			}
			for i, tg := range targets {
				if p, s := tg.prepares.Load(), tg.syncs.Load(); p != tc.wantPrepares || s != tc.wantOwnSyncs {
					t.Fatalf("target %d: %d prepares and %d syncs, want %d and %d", i, p, s, tc.wantPrepares, tc.wantOwnSyncs)
				}
			}
		})
	}
}

// TestGroupSyncFailureIsSticky: a failed SyncAll fails the waiters of every target in the group,
// and every later waiter of those targets, which are not synced again.
func TestGroupSyncFailureIsSticky(t *testing.T) {
	errDisk := errors.New("EIO")
	all := &syncAll{err: errDisk}
	f, g := newGatedFlusher(t, Config{SyncConcurrency: 1, GroupMin: 4, SyncAll: all.fn})
	targets := newGroupTargets(6)
	results, release := queueBehindGate(t, f, g, targets)
	release <- struct{}{}
	for i, r := range results {
		if err := r.wait(t); !errors.Is(err, errDisk) {
			t.Fatalf("target %d: got %v, want %v", i, err, errDisk)
		}
	}
	for i, tg := range targets {
		later := newResult()
		f.Wait(tg, tg.append(1), later.fn)
		if err := later.wait(t); !errors.Is(err, errDisk) {
			t.Fatalf("target %d, later waiter: got %v, want %v", i, err, errDisk)
		}
		if got := tg.durableEnd(); got != 0 {
			t.Fatalf("target %d durable through %d after a failed SyncAll", i, got)
		}
	}
	if got := all.calls.Load(); got != 1 {
		t.Fatalf("SyncAll called %d times, want 1", got)
	}
	for i, tg := range targets {
		if p, s := tg.prepares.Load(), tg.syncs.Load(); p != 1 || s != 0 {
			t.Fatalf("target %d: %d prepares and %d syncs after the failure, want 1 and 0", i, p, s)
		}
	}
}

// TestGroupInFlightHoldsGroupTargets: while a group sync runs, another GroupTarget that becomes
// due waits for it to finish (it goes into a later sync) while a plain target is synced at once.
func TestGroupInFlightHoldsGroupTargets(t *testing.T) {
	all := &syncAll{entered: make(chan struct{}), release: make(chan struct{})}
	f, g := newGatedFlusher(t, Config{SyncConcurrency: 2, GroupMin: 4, SyncAll: all.fn})
	targets := newGroupTargets(5)
	results, release := queueBehindGate(t, f, g, targets[:4])
	release <- struct{}{}
	<-all.entered // the group of four is syncing

	late := newResult()
	f.Wait(targets[4], targets[4].append(1), late.fn)
	plain := newResult()
	f.Wait(&fakeTarget{name: "plain"}, 0, plain.fn)
	if err := plain.wait(t); err != nil {
		t.Fatal(err)
	}
	barrier(t, f)
	if late.told() || targets[4].prepares.Load() != 0 || targets[4].syncs.Load() != 0 {
		t.Fatal("a GroupTarget was synced while a group sync was in flight")
	}
	all.release <- struct{}{}
	for _, r := range append(results, late) {
		if err := r.wait(t); err != nil {
			t.Fatal(err)
		}
	}
	if got := targets[4].syncs.Load(); got != 1 {
		t.Fatalf("the late target was synced %d times on its own, want 1 (alone, it is below GroupMin)", got)
	}
}

// TestDoneFunctionsOneAtATime: whether the flusher goroutine or a sync worker tells them,
// done functions and OnSync are never called at once, and a sync is reported (OnSync) before
// its waiters are told: each appender here waits for its append before the next, so when its
// waiter is told every sync of its target has returned and must have been reported.
func TestDoneFunctionsOneAtATime(t *testing.T) {
	const targets, appends = 8, 200
	var active atomic.Int64
	enter := func() {
		if n := active.Add(1); n != 1 {
			t.Errorf("%d done or OnSync calls at once", n)
		}
		runtime.Gosched() // widen the window for another one to come in
	}
	f := newFlusher(t, Config{OnSync: func(tg Target, _ time.Duration, _ int, _ error) {
		enter()
		tg.(*countingTarget).reported.Add(1)
		active.Add(-1)
	}})
	var wg sync.WaitGroup
	for i := range targets {
		target := &countingTarget{fakeTarget: fakeTarget{name: fmt.Sprint("log", i)}}
		wg.Go(func() {
			for range appends {
				r := newResult()
				f.Wait(target, target.append(1), func(err error) {
					enter()
					if rep, ret := target.reported.Load(), target.returned.Load(); rep != ret || ret < 1 {
						t.Errorf("%s: told with %d of its syncs reported, %d returned", target.name, rep, ret)
					}
					active.Add(-1)
					r.fn(err)
				})
				if err := r.wait(t); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// countingTarget counts its Syncs that returned, and those OnSync reported.
type countingTarget struct {
	fakeTarget
	returned, reported atomic.Int64
}

func (t *countingTarget) Sync() (int64, error) {
	end, err := t.fakeTarget.Sync()
	t.returned.Add(1)
	return end, err
}

// TestLoneWaitGroupOfOne: with GroupMin 1 every sync of a GroupTarget is a SyncAll, also that
// of a lone Wait on an idle flusher, which otherwise a worker starts at once with Sync.
func TestLoneWaitGroupOfOne(t *testing.T) {
	all := &syncAll{}
	f := newFlusher(t, Config{SyncAll: all.fn, GroupMin: 1})
	target := &groupTarget{fakeTarget: fakeTarget{name: "log"}}
	for i := range 20 {
		waitLoopIdle(f)
		r := newResult()
		f.Wait(target, target.append(1), r.fn)
		if err := r.wait(t); err != nil {
			t.Fatal(err)
		}
		if s, p := target.syncs.Load(), target.prepares.Load(); s != 0 || p != int64(i+1) {
			t.Fatalf("after %d waits: %d syncs and %d prepares, want 0 and %d", i+1, s, p, i+1)
		}
	}
	if got := all.calls.Load(); got != 20 {
		t.Fatalf("SyncAll called %d times, want 20", got)
	}
}

// waitLoopIdle returns once the flusher goroutine has parked with nothing to do and no sync
// is in flight or being told: the state in which Wait may start a sync itself.
func waitLoopIdle(f *Flusher) {
	for {
		f.mu.Lock()
		idle := f.mu.loopIdle && !f.mu.telling && f.mu.inFlight == 0 && len(f.mu.due) == 0
		f.mu.Unlock()
		if idle {
			return
		}
		runtime.Gosched()
	}
}

// TestWaitDuringHeldSyncDoesNotKick: a Wait on a target whose own sync is in flight, or on a
// GroupTarget while a group sync is, does not wake the flusher goroutine (it could not start
// the target), yet the sync in flight ending starts the next one: every waiter is told, with
// its data durable.
func TestWaitDuringHeldSyncDoesNotKick(t *testing.T) {
	t.Run("own sync", func(t *testing.T) {
		f := newFlusher(t, Config{})
		target := &fakeTarget{name: "log"}
		entered, release := target.blockSyncs()
		first := newResult()
		f.Wait(target, target.append(1), first.fn)
		<-entered // the first sync is in flight
		kicks := f.kicks.Load()
		var later []*result
		for range 50 {
			r := newResult()
			f.Wait(target, target.append(1), r.fn)
			later = append(later, r)
		}
		if got := f.kicks.Load() - kicks; got != 0 {
			t.Errorf("%d kicks of the flusher goroutine while the target's sync was in flight, want 0", got)
		}
		target.mu.Lock()
		target.entered, target.release = nil, nil // the next syncs run freely
		target.mu.Unlock()
		release <- struct{}{}
		for i, r := range append([]*result{first}, later...) {
			if err := r.wait(t); err != nil {
				t.Fatalf("waiter %d: %v", i, err)
			}
		}
		if got := target.durableEnd(); got != 51 {
			t.Fatalf("durable through %d, want 51", got)
		}
	})
	t.Run("group sync", func(t *testing.T) {
		all := &syncAll{entered: make(chan struct{}), release: make(chan struct{})}
		f, g := newGatedFlusher(t, Config{SyncConcurrency: 2, GroupMin: 4, SyncAll: all.fn})
		targets := newGroupTargets(8)
		results, release := queueBehindGate(t, f, g, targets[:4])
		release <- struct{}{}
		<-all.entered // the group of four is syncing
		kicks := f.kicks.Load()
		for _, tg := range targets { // in the group and not
			for range 10 {
				r := newResult()
				f.Wait(tg, tg.append(1), r.fn)
				results = append(results, r)
			}
		}
		if got := f.kicks.Load() - kicks; got != 0 {
			t.Errorf("%d kicks of the flusher goroutine while a group sync was in flight, want 0", got)
		}
		all.entered = nil
		all.release <- struct{}{}
		for i, r := range results {
			if err := r.wait(t); err != nil {
				t.Fatalf("waiter %d: %v", i, err)
			}
		}
		for i, tg := range targets {
			tg.mu.Lock()
			end := tg.end
			tg.mu.Unlock()
			if got := tg.durableEnd(); got != end {
				t.Fatalf("target %d durable through %d, want %d", i, got, end)
			}
		}
	})
}

// TestWorkerKicksOnlyForWhatItLeaves: a worker wakes the flusher goroutine after a sync only
// when it leaves it something. A sync that finds nothing queued after it, the flusher goroutine
// idle, tells its waiter itself and leaves nothing: waking the flusher goroutine after each such
// sync, as at the latency floor, was a goroutine wake-up for nothing.
func TestWorkerKicksOnlyForWhatItLeaves(t *testing.T) {
	f := newFlusher(t, Config{})
	target := &fakeTarget{name: "log"}
	entered, release := target.blockSyncs()
	first, second := newResult(), newResult()
	f.Wait(target, target.append(1), first.fn)
	<-entered                                   // the first sync is in flight
	f.Wait(target, target.append(1), second.fn) // queued while it runs
	release <- struct{}{}
	<-entered // the second sync, chained; the first waiter is the flusher goroutine's to tell
	if err := first.wait(t); err != nil {
		t.Fatal(err)
	}
	idle := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.mu.loopIdle && !f.mu.telling
	}
	for !idle() {
		runtime.Gosched()
	}
	kicks := f.kicks.Load()
	release <- struct{}{}
	if err := second.wait(t); err != nil {
		t.Fatal(err)
	}
	for { // until the worker that told the second waiter is done with its sync
		f.mu.Lock()
		done := !f.mu.telling && f.mu.inFlight == 0
		f.mu.Unlock()
		if done {
			break
		}
		runtime.Gosched()
	}
	if got := f.kicks.Load() - kicks; got != 0 {
		t.Errorf("%d kicks of the flusher goroutine for a sync that left it nothing, want 0", got)
	}
}

// expectOwnSyncs fails the test unless each target has been synced on its own exactly want
// times once the flusher goroutine has started what was due.
func expectOwnSyncs(t *testing.T, f *Flusher, want int64, targets ...*fakeTarget) {
	t.Helper()
	barrier(t, f)
	for _, tg := range targets {
		wait.Until(t, 2*time.Second, fmt.Sprint(tg.name, " synced ", want, " times"), func() bool { return tg.syncs.Load() >= want })
		if n := tg.syncs.Load(); n != want {
			t.Fatalf("%s synced %d times, want %d", tg.name, n, want)
		}
	}
}

// soonFlusher returns a flusher with SyncAll and GroupMin 3 whose SyncSoon gathers: it was
// asked for 3 group targets within this soonWindow (tests must not move the clock by a second
// before they have seen it gather).
func soonFlusher(t *testing.T, delay time.Duration) (*Flusher, *fakeClock, *syncAll) {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	all := &syncAll{}
	f := newFlusher(t, Config{SoonDelay: delay, Clock: clock.Now, SyncAll: all.fn, GroupMin: 3})
	warm := newGroupTargets(3)
	for _, tg := range warm[:2] {
		f.SyncSoon(tg, tg.append(1))
	}
	expectOwnSyncs(t, f, 1, &warm[0].fakeTarget, &warm[1].fakeTarget) // below GroupMin: at once
	f.SyncSoon(warm[2], warm[2].append(1))
	expectOwnSyncs(t, f, 0, &warm[2].fakeTarget) // the third gathers
	r := newResult()
	f.Wait(warm[2], 1, r.fn) // syncs it on its own, without moving the clock (and the count)
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	if n := all.calls.Load(); n != 0 {
		t.Fatalf("warm-up: SyncAll called %d times, want 0", n)
	}
	all.calls.Store(0)
	return f, clock, all
}

// TestSyncSoonFewTargets: while fewer than GroupMin group targets were asked (or without
// SyncAll), SyncSoon syncs its target at once, as a Wait does.
func TestSyncSoonFewTargets(t *testing.T) {
	for _, syncAllConfig := range []bool{true, false} {
		t.Run(fmt.Sprint("syncAll=", syncAllConfig), func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1_000_000, 0)}
			// One worker: a barrier's sync runs after the syncs started before it.
			cfg := Config{SoonDelay: soonWindow, Clock: clock.Now, GroupMin: 3, SyncConcurrency: 1}
			all := &syncAll{}
			if syncAllConfig {
				cfg.SyncAll = all.fn
			}
			f := newFlusher(t, cfg)
			targets := newGroupTargets(3)
			if !syncAllConfig {
				for _, tg := range targets {
					f.SyncSoon(tg, tg.append(1))
				}
				expectOwnSyncs(t, f, 1, &targets[0].fakeTarget, &targets[1].fakeTarget, &targets[2].fakeTarget)
				return
			}
			for range 3 {
				for _, tg := range targets[:2] {
					f.SyncSoon(tg, tg.append(1))
				}
				barrier(t, f)
			}
			expectOwnSyncs(t, f, 3, &targets[0].fakeTarget, &targets[1].fakeTarget)
			// Two seconds later the count starts again: two targets do not gather.
			f.SyncSoon(targets[2], targets[2].append(1)) // the third: gathers
			expectOwnSyncs(t, f, 0, &targets[2].fakeTarget)
			clock.Advance(2 * soonWindow)
			barrier(t, f)
			// The third's, swept once its delay passed.
			wait.Until(t, 2*time.Second, "the third's group sync", func() bool { return targets[2].durableEnd() == 1 })
			if n := all.calls.Load(); n != 1 {
				t.Fatalf("SyncAll called %d times, want 1", n)
			}
			f.SyncSoon(targets[0], targets[0].append(1))
			expectOwnSyncs(t, f, 4, &targets[0].fakeTarget)
		})
	}
}

// TestSyncSoonGathers: once many targets are asked, SyncSoon's targets wait SoonDelay from the
// first, then are synced by one group sync however few they are, each once however often it
// was asked, through what was appended before.
func TestSyncSoonGathers(t *testing.T) {
	f, clock, all := soonFlusher(t, 10*time.Millisecond)
	targets := newGroupTargets(2)
	a, b := targets[0], targets[1]
	f.SyncSoon(a, a.append(1))
	clock.Advance(5 * time.Millisecond)
	f.SyncSoon(b, b.append(2))
	f.SyncSoon(a, a.append(1))
	barrier(t, f)
	if n := all.calls.Load(); n != 0 || a.prepares.Load() != 0 {
		t.Fatalf("synced before the delay: %d SyncAll calls, %d prepares", n, a.prepares.Load())
	}
	clock.Advance(5 * time.Millisecond)
	barrier(t, f)
	wait.Until(t, 2*time.Second, "a group sync", func() bool { return a.durableEnd() == 2 && b.durableEnd() == 2 })
	clock.Advance(time.Hour)
	barrier(t, f)
	if n := all.calls.Load(); n != 1 {
		t.Fatalf("SyncAll called %d times, want 1", n)
	}
	for _, tg := range targets {
		if p, s := tg.prepares.Load(), tg.syncs.Load(); p != 1 || s != 0 {
			t.Fatalf("%s: %d prepares and %d syncs, want 1 and 0", tg.name, p, s)
		}
	}
}

// TestSyncSoonGroupMinStartsAtOnce: GroupMin gathered targets start their group sync without
// waiting out SoonDelay.
func TestSyncSoonGroupMinStartsAtOnce(t *testing.T) {
	f, _, all := soonFlusher(t, time.Hour)
	targets := newGroupTargets(3)
	for _, tg := range targets {
		f.SyncSoon(tg, tg.append(1))
	}
	wait.Until(t, 2*time.Second, "a group sync", func() bool { return all.calls.Load() == 1 })
	for _, tg := range targets {
		wait.Until(t, 2*time.Second, "durable", func() bool { return tg.durableEnd() == 1 })
		if p, s := tg.prepares.Load(), tg.syncs.Load(); p != 1 || s != 0 {
			t.Fatalf("%s: %d prepares and %d syncs, want 1 and 0", tg.name, p, s)
		}
	}
}

// TestSyncSoonCoveredByWait: a Wait starts its target's sync at once, which covers a gathering
// SyncSoon: the target is not synced again for it.
func TestSyncSoonCoveredByWait(t *testing.T) {
	f, clock, all := soonFlusher(t, 10*time.Millisecond)
	a := newGroupTargets(1)[0]
	f.SyncSoon(a, a.append(1))
	r := newResult()
	f.Wait(a, a.append(1), r.fn)
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	barrier(t, f)
	if p, s, n := a.prepares.Load(), a.syncs.Load(), all.calls.Load(); p+s != 1 || n != 0 {
		t.Fatalf("%d prepares and %d syncs, %d SyncAll calls; want one sync", p, s, n)
	}
}

// TestSyncSoonDuringSync: a SyncSoon while its target's sync is in flight (which may not cover
// the append before it) gets a sync of its own after that one.
func TestSyncSoonDuringSync(t *testing.T) {
	f, clock, _ := soonFlusher(t, 10*time.Millisecond)
	a := newGroupTargets(1)[0]
	entered, release := a.blockSyncs()
	r := newResult()
	f.Wait(a, a.append(1), r.fn)
	<-entered
	f.SyncSoon(a, a.append(1))
	release <- struct{}{}
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Millisecond)
	barrier(t, f)
	wait.Until(t, 2*time.Second, "the second sync", func() bool { return a.durableEnd() == 2 })
	if p := a.prepares.Load(); p != 1 {
		t.Fatalf("%d prepares, want 1 (the gathered sync)", p)
	}
}

// TestCloseSyncsSoonTargets: Close does not wait out SoonDelay, and syncs what SyncSoon gathered.
func TestCloseSyncsSoonTargets(t *testing.T) {
	f, _, _ := soonFlusher(t, time.Hour)
	a := newGroupTargets(1)[0]
	f.SyncSoon(a, a.append(1))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if end := a.durableEnd(); end != 1 {
		t.Fatalf("durable through %d, want 1", end)
	}
}

// TestSyncSoonGroupFailureIsSticky: a failed group sync of SyncSoon's targets, which nobody
// waited on, still fails them for good: a later Wait on one gets the error, with no new sync.
func TestSyncSoonGroupFailureIsSticky(t *testing.T) {
	f, _, all := soonFlusher(t, time.Hour)
	errDisk := errors.New("EIO")
	all.err = errDisk // read by a worker after the SyncSoon calls below (f.mu orders them)
	targets := newGroupTargets(3)
	for _, tg := range targets {
		f.SyncSoon(tg, tg.append(1))
	}
	wait.Until(t, 2*time.Second, "the group sync", func() bool { return all.calls.Load() == 1 })
	for _, tg := range targets {
		r := newResult()
		f.Wait(tg, tg.append(1), r.fn)
		if err := r.wait(t); !errors.Is(err, errDisk) {
			t.Fatalf("%s: Wait after the failed group: %v, want %v", tg.name, err, errDisk)
		}
		if got := tg.durableEnd(); got != 0 {
			t.Fatalf("%s durable through %d after a failed sync", tg.name, got)
		}
	}
	if n := all.calls.Load(); n != 1 {
		t.Fatalf("SyncAll called %d times, want 1 (a failed target is not synced again)", n)
	}
}
