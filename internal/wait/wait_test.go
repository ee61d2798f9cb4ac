package wait

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	Until(t, time.Minute, "the third check", func() bool { return calls.Add(1) == 3 })
	if n := calls.Load(); n != 3 {
		t.Fatalf("checked %d times, want 3", n)
	}
}

func TestUntilFailsAtTheDeadline(t *testing.T) {
	ft := &fatalT{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends the goroutine it is called on
		defer close(done)
		Until(ft, time.Millisecond, "nothing", func() bool { return false })
	}()
	<-done
	if ft.msg != "timed out after 1ms waiting for nothing" {
		t.Fatalf("failed with %q", ft.msg)
	}
}

// fatalT records a Fatalf and ends its goroutine as testing.T does.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
