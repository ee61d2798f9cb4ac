// Package wait is the tests' one way to wait for something to happen: poll
// a condition until it holds, and fail the test if a deadline passes first.
// A test waits on a condition (or a channel), never for a fixed time.
package wait

import (
	"testing"
	"time"
)

// maxPoll caps the interval between two checks of a condition.
const maxPoll = 20 * time.Millisecond

// Until checks cond until it returns true and returns how long that took.
// It checks at once, then at intervals that grow from a millisecond to
// maxPoll. If timeout passes first, it fails the test (t.Fatalf, so call it
// from the test's goroutine) naming what it waited for.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for interval := time.Millisecond; !cond(); interval = min(2*interval, maxPoll) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		timer := time.NewTimer(interval)
		<-timer.C
	}
	return time.Since(start)
}
