package bench

import (
	"os"
	"testing"
)

// TestMeasureDisk runs each disk baseline's sync rule (none, every chunk, every
// SustainedSyncBytes over a total that is not a multiple of it) on a real file and checks that
// each gives a rate and leaves nothing behind.
func TestMeasureDisk(t *testing.T) {
	dir := t.TempDir()
	for _, every := range []int64{0, baselineChunk, SustainedSyncBytes} {
		mbps, err := measureDisk(dir, SustainedSyncBytes+3*baselineChunk, every)
		if err != nil {
			t.Fatalf("sync every %d: %v", every, err)
		}
		if mbps <= 0 {
			t.Errorf("sync every %d: %.1f MB/s", every, mbps)
		}
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Fatalf("left %v (%v) in the baseline directory", left, err)
	}
}
