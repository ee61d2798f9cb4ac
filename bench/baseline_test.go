package bench

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMeasureDisk runs each disk baseline's sync rule (none, every chunk, every
// SustainedSyncBytes over a total that is not a multiple of it, and that with O_DIRECT where the
// file system has it) on a real file and checks that each gives a rate and the CPU it took and
// leaves nothing behind.
func TestMeasureDisk(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		every int64
		flags int
	}{{0, 0}, {baselineChunk, 0}, {SustainedSyncBytes, 0}, {SustainedSyncBytes, unix.O_DIRECT}} {
		r, err := measureDisk(dir, SustainedSyncBytes+3*baselineChunk, c.every, c.flags)
		if c.flags != 0 && errors.Is(err, unix.EINVAL) {
			t.Logf("no O_DIRECT in %s", dir)
			continue
		}
		if err != nil {
			t.Fatalf("sync every %d, flags %#x: %v", c.every, c.flags, err)
		}
		if r.mbps <= 0 || r.cpuPerGiB <= 0 || r.onCPU <= 0 || r.onCPU+r.queued > 1.01 {
			t.Errorf("sync every %d, flags %#x: %.1f MB/s, %.3f CPU s/GiB, %.2f on CPU, %.2f queued", c.every, c.flags, r.mbps, r.cpuPerGiB, r.onCPU, r.queued)
		}
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Fatalf("left %v (%v) in the baseline directory", left, err)
	}
}

// TestMeasureIngest streams a total that is not a multiple of the chunk over real loopback TCP
// into a real file and checks the rate, the CPU and that nothing is left behind.
func TestMeasureIngest(t *testing.T) {
	dir := t.TempDir()
	r, err := measureIngest(dir, SustainedSyncBytes+3*baselineChunk+1)
	if err != nil {
		t.Fatal(err)
	}
	if r.mbps <= 0 || r.cpuPerGiB <= 0 {
		t.Errorf("%.1f MB/s, %.3f CPU s/GiB", r.mbps, r.cpuPerGiB)
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Fatalf("left %v (%v) in the baseline directory", left, err)
	}
}

// TestSustainedLimit checks which limit the report names: the CPU when the sustained baseline's
// thread was busy most of the time, the disk when it mostly waited.
func TestSustainedLimit(t *testing.T) {
	for _, c := range []struct {
		b    Baselines
		want string
	}{
		{Baselines{SustainedWrite: 500, SustainedCPU: 1.8, SustainedOnCPU: 0.9, DirectWrite: 1000, DirectCPU: 0.3}, "CPU binds"},
		{Baselines{SustainedWrite: 500, SustainedCPU: 0.5, SustainedOnCPU: 0.25, SustainedQueued: 0.05}, "disk binds"},
		{Baselines{SustainedWrite: 100, SustainedCPU: 0.5, SustainedOnCPU: 0.1, SustainedQueued: 0.6}, "Other work on these cores binds"},
	} {
		got := sustainedLimit(c.b)
		if !strings.Contains(got, c.want) {
			t.Errorf("%+v: %q does not say %q", c.b, got, c.want)
		}
		if c.b.DirectWrite > 0 && !strings.Contains(got, "O_DIRECT") {
			t.Errorf("%+v: %q leaves out O_DIRECT", c.b, got)
		}
	}
}
