package loadgen

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// paceCoarse is how much of a wait SleepUntil leaves to nanosleep(2): more than time.Sleep
// overshoots by (about 1.1 ms, below).
const paceCoarse = 2 * time.Millisecond

// SleepUntil returns at t (within tens of µs), at once if t has passed. time.Sleep alone cannot
// pace an open loop below a millisecond: Go's timers wait in epoll_pwait, whose timeout is in
// whole milliseconds, so a sleep of 50, 300 or 900 µs lasted 1.05-1.1 ms on the benchmark VM
// (medians of 300, Go 1.26), and a loop due every 1 ms that sleeps between records sends each
// 0.1-1 ms late, a delay that open-loop latency, counted from the intended time, then charges
// to whatever is measured. SleepUntil sleeps the bulk with time.Sleep and the last
// stretch with nanosleep on the calling thread, which blocks that thread (not a CPU) for it.
// PreciseThread makes that stretch end closer to t.
func SleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		if d > paceCoarse {
			time.Sleep(d - paceCoarse)
			continue
		}
		ts := unix.NsecToTimespec(int64(d))
		_ = unix.Nanosleep(&ts, nil) // EINTR: the loop sleeps the rest
	}
}

// PreciseThread locks the calling goroutine to its thread and sets the thread's timer slack to
// 1 µs (the default, 50 µs, lets nanosleep return up to that late), for a pacing loop that
// calls SleepUntil; the returned function unlocks it.
func PreciseThread() (unlock func()) {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	return runtime.UnlockOSThread
}

// paceBatchBelow is the interval between records under which an open-loop send loop stops
// waking for each record, and paceQuantum how often it wakes instead. A wake-up (nanosleep,
// two context switches, the scheduler) cost the generator about 10 µs of CPU on the benchmark
// VM: at latency-50's 86,000 records/s per producer, a wake per due record took a fifth of the
// generator's CPU, on the 2 cores it shares with the broker and the consumer, and the starved
// client's delays were then counted as the broker's latency. Waking every 0.5 ms holds a record
// at most that long in the generator, counted in its latency (each record keeps its intended
// time, none is sent early); the floor scenarios' 1,000 and 10,000 records/s are below it and
// paced per record as before.
const (
	paceBatchBelow = 50 * time.Microsecond
	paceQuantum    = 500 * time.Microsecond
)

// paceBatch is how many consecutive records a send loop paced at interval sends per wake-up:
// 1 (a wake per record) at or above paceBatchBelow, else as many as fall in paceQuantum.
func paceBatch(interval time.Duration) int64 {
	if interval <= 0 || interval >= paceBatchBelow {
		return 1
	}
	return max(1, int64(paceQuantum/interval))
}
