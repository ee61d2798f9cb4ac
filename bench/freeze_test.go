package bench

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"runnel/loadgen"
)

// TestMain lets the test binary be the freeze probe, as the harness's
// binary is (cmd/runnel-bench).
func TestMain(m *testing.M) {
	if os.Getenv(FreezeProbeEnv) == "1" {
		FreezeProbeMain()
		return
	}
	os.Exit(m.Run())
}

// TestFreezeProbeSeesAStoppedMachine stops the probe's process (SIGSTOP),
// which is what a frozen machine does to it, and expects one freeze about
// as long, at that time.
func TestFreezeProbeSeesAStoppedMachine(t *testing.T) {
	p, err := startFreezeProbe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	stopped := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond) // the freeze itself
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	f := p.end()
	var found bool
	for _, s := range f.Stretches {
		if s.Millis >= 60 && !s.At.Before(stopped.Add(-freezeTick)) && !s.At.After(resumed) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no freeze of about 80 ms between %v and %v in %+v", stopped, resumed, f)
	}
	if total, longest := f.Total(); longest < 60 || total < longest {
		t.Fatalf("total %v ms, longest %v ms", total, longest)
	}
}

func TestFreezesWithin(t *testing.T) {
	at := time.Unix(100, 0)
	f := &Freezes{Stretches: []Frozen{{At: at, Millis: 30}, {At: at.Add(time.Second), Millis: 20}}}
	for _, c := range []struct {
		from, to time.Duration // after at
		want     float64
	}{
		{0, time.Second, 30},
		{10 * time.Millisecond, time.Second, 20},
		{-time.Second, 2 * time.Second, 50},
		{time.Second + 10*time.Millisecond, 3 * time.Second, 10},
		{40 * time.Millisecond, time.Second, 0},
	} {
		if got := f.Within(at.Add(c.from), at.Add(c.to)); got < c.want-0.001 || got > c.want+0.001 {
			t.Errorf("Within(%v, %v) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

// TestClearSeconds: a second is clear when neither it nor the second
// before froze; warm-up seconds count in neither group.
func TestClearSeconds(t *testing.T) {
	start := time.Unix(1000, 0)
	res := &loadgen.Result{Start: start, Timeline: []loadgen.Tick{
		{Seconds: 1, Warmup: true, ProduceP99: 900},
		{Seconds: 2, ProduceP99: 10},
		{Seconds: 3, ProduceP99: 400}, // the freeze is in it
		{Seconds: 4, ProduceP99: 300}, // the second after
		{Seconds: 5, ProduceP99: 12},
	}}
	f := &Freezes{Stretches: []Frozen{{At: start.Add(2500 * time.Millisecond), Millis: 30}}}
	clear, clearP99, frozenP99, frozen := clearSeconds(res, f)
	if clear != 2 || clearP99 != 12 || frozen != 2 || frozenP99 != 400 {
		t.Fatalf("clear %d (p99 %v), frozen %d (p99 %v); want 2 (12), 2 (400)", clear, clearP99, frozen, frozenP99)
	}
}
