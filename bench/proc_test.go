package bench

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// Fields 3-13, then utime (14) and stime (15), then the rest.
	const after = " S 1 4242 4242 0 -1 4194560 1234 0 0 0 %s 0 0 20 0 8 0 5000 123456789 2500 18446744073709551615\n"
	for _, c := range []struct {
		name, stat string
		want       time.Duration
		err        string
	}{
		{"plain", "4242 (runnel)" + strings.Replace(after, "%s", "150 50", 1), 2 * time.Second, ""},
		{"spaces and parentheses in comm", "4242 (my (odd) ) proc)" + strings.Replace(after, "%s", "7 3", 1), 100 * time.Millisecond, ""},
		{"a comm that looks like fields", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 11 12)" + strings.Replace(after, "%s", "1 2", 1), 30 * time.Millisecond, ""},
		{"no parenthesis", "4242 runnel S 1", 0, "without ')'"},
		{"cut short", "4242 (runnel) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150", 0, "fields after the command name"},
		{"not a number", "4242 (runnel)" + strings.Replace(after, "%s", "15x 50", 1), 0, "bad CPU time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(c.stat))
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one containing %q", err, c.err)
			case c.err == "" && err != nil:
				t.Fatal(err)
			case got != c.want:
				t.Fatalf("%v, want %v", got, c.want)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\trunnel\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 2345678 kB\nVmHWM:\t   45678 kB\nVmRSS:\t   12345 kB\nRssAnon:\t    9000 kB\nThreads:\t8\n"
	got, err := parseVmRSS([]byte(status))
	if err != nil || got != 12345*1024 {
		t.Fatalf("VmRSS %d, %v; want %d", got, err, 12345*1024)
	}
	for _, bad := range []string{"Name:\trunnel\nVmHWM:\t45678 kB\n", "VmRSS:\t12345 MB\n", "VmRSS:\tlots kB\n"} {
		if _, err := parseVmRSS([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if rss, err := procRSS(os.Getpid()); err != nil || rss < 1<<20 {
		t.Errorf("this process's RSS %d, %v", rss, err)
	}
}

func TestCPUBetween(t *testing.T) {
	t0 := time.Now()
	samples := []cpuSample{
		{t0, time.Second},
		{t0.Add(100 * time.Millisecond), time.Second + 10*time.Millisecond},
		{t0.Add(200 * time.Millisecond), time.Second + 30*time.Millisecond},
	}
	for _, c := range []struct {
		from, to time.Duration // after t0
		want     time.Duration
	}{
		{0, 200 * time.Millisecond, 30 * time.Millisecond},
		{50 * time.Millisecond, 150 * time.Millisecond, 15 * time.Millisecond}, // 1.005 s to 1.020 s
		{100 * time.Millisecond, 100 * time.Millisecond, 0},
	} {
		got, err := cpuBetween(samples, t0.Add(c.from), t0.Add(c.to))
		if err != nil || got != c.want {
			t.Errorf("%v to %v: %v, %v; want %v", c.from, c.to, got, err, c.want)
		}
	}
	if _, err := cpuBetween(samples, t0.Add(-time.Millisecond), t0.Add(time.Millisecond)); err == nil {
		t.Error("a window starting before the first sample: no error")
	}
	if _, err := cpuBetween(samples, t0, t0.Add(201*time.Millisecond)); err == nil {
		t.Error("a window ending after the last sample: no error")
	}
}

func TestRecordCPU(t *testing.T) {
	r := recordCPU(os.Getpid())
	start := time.Now()
	burnCPU(start.Add(350 * time.Millisecond))
	end := time.Now()
	samples, err := r.stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) < 3 || !samples[0].at.Before(start) || samples[len(samples)-1].at.Before(end) {
		t.Fatalf("%d samples from %v to %v do not cover the burn", len(samples), samples[0].at, samples[len(samples)-1].at)
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].cpu < samples[i-1].cpu {
			t.Fatalf("CPU time went back: %+v", samples)
		}
	}
	// The burn's CPU time is at most its wall time (plus the runtime's
	// other threads and a tick of rounding at each end) and, on a machine
	// that is not starved, much of it.
	cpu, err := cpuBetween(samples, start, end)
	if wall := end.Sub(start); err != nil || cpu <= 0 || cpu > 2*wall+20*time.Millisecond {
		t.Fatalf("CPU %v over %v of burning: %v", cpu, wall, err)
	}
}

func TestParseMachineBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := []byte("cpu  100 20 30 4000 50 6 7 800 0 0\ncpu0 50 10 15 2000 25 3 3 400 0 0\nintr 1\n")
	got, err := parseMachineBusy(stat)
	if want := 163 * time.Second / userHZ; err != nil || got != want {
		t.Fatalf("parseMachineBusy = %v, %v; want %v (user+nice+system+irq+softirq)", got, err, want)
	}
	for _, bad := range []string{"", "cpu 1 2 3\n", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 x 4 5 6 7 8\n"} {
		if _, err := parseMachineBusy([]byte(bad)); err == nil {
			t.Errorf("parseMachineBusy(%q) gave no error", bad)
		}
	}
}

// TestRecordMachineCPU: a burn of one core shows in the machine's busy
// time.
func TestRecordMachineCPU(t *testing.T) {
	r := recordMachineCPU()
	start := time.Now()
	burnCPU(start.Add(300 * time.Millisecond))
	end := time.Now()
	samples, err := r.stop()
	if err != nil {
		t.Fatal(err)
	}
	busy, err := cpuBetween(samples, start, end)
	wall := end.Sub(start)
	if err != nil || busy < wall/4 || busy > time.Duration(runtime.NumCPU())*wall+50*time.Millisecond {
		t.Fatalf("machine busy %v over %v of burning one core: %v", busy, wall, err)
	}
}
