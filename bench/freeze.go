package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"runnel/loadgen"
)

// freezeTick is how often the freeze probe wakes, and freezeMin how late a
// wake-up must be to count as a freeze.
const (
	freezeTick = 2 * time.Millisecond
	freezeMin  = 5 * time.Millisecond
)

// Freezes is what the freeze probe saw over one run: the stretches in which
// the machine ran nothing. On the 2-core benchmark VM they come in bursts,
// about 30 ms every 100 ms for 0.3-0.6 s every 2-3 s, only under load, with
// no CPU sampled by perf -a in them: the host not running the VM (the
// pattern of a CPU quota over 100 ms periods). Records due in a freeze are
// sent and acked after it, with the machine's work of the freeze on top:
// in latency-25, seconds with 65-200 ms frozen had produce p99s of
// 200-900 ms, and those clear of freezes 11-61 ms
// (results/2026-12-04-vm-freezes/).
type Freezes struct {
	// RealTime: the probe ran at SCHED_FIFO priority, above every normal
	// thread, so that only a machine that ran nothing (or a kernel that
	// kept preemption off) could wake it late. Without it (no permission)
	// a busy machine's run queue delays it too, and what it counts is not
	// freezes alone.
	RealTime  bool     `json:"real_time"`
	Stretches []Frozen `json:"stretches,omitempty"`
}

// Frozen is one freeze: the probe's wake-up due at At came Millis late.
type Frozen struct {
	At     time.Time `json:"at"`
	Millis float64   `json:"ms"`
}

// Total is the frozen time in all, and Longest the longest freeze, in ms.
func (f *Freezes) Total() (total, longest float64) {
	for _, s := range f.Stretches {
		total += s.Millis
		longest = max(longest, s.Millis)
	}
	return total, longest
}

// Within is the frozen time, in ms, that falls in [from, to).
func (f *Freezes) Within(from, to time.Time) float64 {
	var ms float64
	for _, s := range f.Stretches {
		end := s.At.Add(time.Duration(s.Millis * float64(time.Millisecond)))
		lo, hi := max(s.At.UnixNano(), from.UnixNano()), min(end.UnixNano(), to.UnixNano())
		if hi > lo {
			ms += float64(hi-lo) / 1e6
		}
	}
	return ms
}

// FreezeProbeEnv, set to 1 in a harness binary's environment, makes it the
// freeze probe (FreezeProbeMain) instead of the harness. A binary that runs
// the harness must check it first thing, as cmd/runnel-bench's main and
// this package's TestMain do: the probe is that binary run again.
const FreezeProbeEnv = "RUNNEL_BENCH_FREEZE_PROBE"

// freezeProbe is the harness's own binary run as a child process (so that
// the harness's goroutines, which can keep every P of its runtime busy
// when the machine is saturated, cannot delay the probe's wake-ups): a
// thread at SCHED_FIFO priority that wakes every freezeTick and reports
// each wake-up at least freezeMin late on its stdout.
type freezeProbe struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	parsed chan *Freezes
}

// startFreezeProbe starts the probe and returns once it runs, or returns
// the reason it could not; end stops it and returns what it saw.
func startFreezeProbe(ctx context.Context) (*freezeProbe, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), FreezeProbeEnv+"=1", "GOMAXPROCS=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// The first line says the probe runs, and at what priority.
	out := bufio.NewScanner(stdout)
	if !out.Scan() || !strings.HasPrefix(out.Text(), "realtime ") {
		stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("freeze probe: no first line (%q)", out.Text())
	}
	p := &freezeProbe{cmd: cmd, stdin: stdin, parsed: make(chan *Freezes, 1)}
	realTime := out.Text() == "realtime true"
	go func() { p.parsed <- parseFreezes(out, realTime) }()
	return p, nil
}

// end stops the probe and returns what it saw.
func (p *freezeProbe) end() *Freezes {
	p.stdin.Close() // the probe stops at its stdin's end
	f := <-p.parsed
	_ = p.cmd.Wait()
	return f
}

// parseFreezes reads the probe's lines after the first: one per freeze,
// "<due, Unix ns> <ms late>".
func parseFreezes(sc *bufio.Scanner, realTime bool) *Freezes {
	f := &Freezes{RealTime: realTime}
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		ns, err1 := strconv.ParseInt(fields[0], 10, 64)
		ms, err2 := strconv.ParseFloat(fields[1], 64)
		if err1 == nil && err2 == nil {
			f.Stretches = append(f.Stretches, Frozen{At: time.Unix(0, ns), Millis: ms})
		}
	}
	return f
}

// FreezeProbeMain is the probe process (FreezeProbeEnv): it runs until its
// stdin ends.
func FreezeProbeMain() {
	var stopping atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stopping.Store(true)
	}()
	defer loadgen.PreciseThread()() // this thread, with a 1 µs timer slack
	param := struct{ priority int32 }{1}
	_, _, errno := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, 0, unix.SCHED_FIFO, uintptr(unsafe.Pointer(&param)))
	fmt.Printf("realtime %v\n", errno == 0)
	due := time.Now()
	for !stopping.Load() {
		due = due.Add(freezeTick)
		loadgen.SleepUntil(due)
		now := time.Now()
		if late := now.Sub(due); late >= freezeMin {
			fmt.Printf("%d %.3f\n", due.UnixNano(), float64(late)/1e6)
		}
		if now.After(due) { // a late wake-up starts the next tick from now
			due = now
		}
	}
}

// clearSeconds splits the measured seconds of res's timeline into those
// clear of freezes (no freeze in them or in the second before: the
// records a freeze delays are acked in the second after it) and the
// others, and gives the largest produce p99 of each group (0: none in it)
// and the number of clear seconds. The largest per-second p99 bounds the
// p99 of the seconds' records together.
func clearSeconds(res *loadgen.Result, f *Freezes) (clear int, clearP99, frozenP99 float64, frozen int) {
	for _, tick := range res.Timeline {
		if tick.Warmup {
			continue
		}
		end := res.Start.Add(time.Duration(tick.Seconds * float64(time.Second)))
		if f.Within(end.Add(-2*time.Second), end) > 0 {
			frozen++
			frozenP99 = max(frozenP99, tick.ProduceP99)
			continue
		}
		clear++
		clearP99 = max(clearP99, tick.ProduceP99)
	}
	return clear, clearP99, frozenP99, frozen
}
