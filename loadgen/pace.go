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
