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
// leaves nothing behind; and that the kept variant leaves its whole file. The thread's shares
// may sum to a little over 1: schedstat moves in scheduler ticks, a few ms on a run of 20 ms-1 s.
func TestMeasureDisk(t *testing.T) {
	dir := t.TempDir()
	const total = SustainedSyncBytes + 3*baselineChunk
	for _, c := range []struct {
		every int64
		flags int
	}{{0, 0}, {baselineChunk, 0}, {SustainedSyncBytes, 0}, {SustainedSyncBytes, unix.O_DIRECT}} {
		r, err := measureDisk(dir, total, c.every, c.flags, false)
		if c.flags != 0 && errors.Is(err, unix.EINVAL) {
			t.Logf("no O_DIRECT in %s", dir)
			continue
		}
		if err != nil {
			t.Fatalf("sync every %d, flags %#x: %v", c.every, c.flags, err)
		}
		if r.mbps <= 0 || r.cpuPerGiB <= 0 || r.onCPU <= 0 || r.onCPU+r.queued > 1.1 {
			t.Errorf("sync every %d, flags %#x: %.1f MB/s, %.3f CPU s/GiB, %.2f on CPU, %.2f queued", c.every, c.flags, r.mbps, r.cpuPerGiB, r.onCPU, r.queued)
		}
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Fatalf("left %v (%v) in the baseline directory", left, err)
	}
	if _, err := measureDisk(dir, total, SustainedSyncBytes, 0, true); err != nil {
		t.Fatal(err)
	}
	checkKept(t, dir, total)
}

// checkKept checks that dir holds one file of size bytes.
func checkKept(t *testing.T, dir string, size int64) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil || len(left) != 1 {
		t.Fatalf("kept %v (%v), want one file", left, err)
	}
	if info, err := left[0].Info(); err != nil || info.Size() != size {
		t.Fatalf("kept %v (%v), want %d bytes", info, err, size)
	}
}

// TestMeasureIngest streams a total that is not a multiple of the chunk over real loopback TCP
// into a real file and checks the rate, the CPU and that nothing is left behind.
func TestMeasureIngest(t *testing.T) {
	dir := t.TempDir()
	const total = SustainedSyncBytes + 3*baselineChunk + 1
	for _, keep := range []bool{false, true} {
		r, err := measureIngest(dir, total, keep)
		if err != nil {
			t.Fatal(err)
		}
		if r.mbps <= 0 || r.cpuPerGiB <= 0 {
			t.Errorf("keep %v: %.1f MB/s, %.3f CPU s/GiB", keep, r.mbps, r.cpuPerGiB)
		}
		if keep {
			checkKept(t, dir, (total+baselineChunk-1)/baselineChunk*baselineChunk) // whole chunks
		} else if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
			t.Fatalf("left %v (%v) in the baseline directory", left, err)
		}
	}
}

// TestMemFree checks that MemFree is read where /proc/meminfo has it.
func TestMemFree(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip(err)
	}
	if free := memFree(); free <= 0 {
		t.Fatalf("MemFree %d", free)
	}
}

// TestLikeForLike checks that the report names the reusing baseline as acks=all's like-for-like
// one (Runnel drops synced pages behind a keep window by default), the kept one as drop.behind=false's,
// with the ratio of the two CPU costs, and says so when memory was too short for the kept ones to grow.
func TestLikeForLike(t *testing.T) {
	b := Baselines{Bytes: 1 << 30, MemFree: 20 << 30, SustainedWrite: 900, SustainedCPU: 0.4, SustainedKept: 500, SustainedKeptCPU: 1.6}
	got := likeForLike(b)
	for _, want := range []string{"like-for-like one is the reusing one** (900 MB/s", "runnel.segment.drop.behind=false", "4.00×", "20480 MiB were free"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q does not say %q", got, want)
		}
	}
	if strings.Contains(got, "Memory was short") {
		t.Errorf("%q says memory was short", got)
	}
	b.MemFree = 1 << 30
	if got := likeForLike(b); !strings.Contains(got, "Memory was short") {
		t.Errorf("%q does not say memory was short", got)
	}
}
