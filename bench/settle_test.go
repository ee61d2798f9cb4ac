package bench

import (
	"runtime"
	"testing"
)

// TestSettleDisk: settling a directory syncs its file system and reads the disk's state before
// and after; RUNNEL_BENCH_SETTLE=0 only reads it.
func TestSettleDisk(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/meminfo")
	}
	dir := t.TempDir()
	s := settleDisk(dir)
	if s.Skipped || s.After.FreeBytes <= 0 || s.Before.DirtyKiB < 0 || s.After.WritebackKiB < 0 {
		t.Fatalf("settleDisk = %+v", s)
	}
	if s.SyncSeconds < 0 || s.WaitSeconds > settleTimeout.Seconds()+1 {
		t.Fatalf("settleDisk took %v s sync, %v s wait", s.SyncSeconds, s.WaitSeconds)
	}
	t.Setenv("RUNNEL_BENCH_SETTLE", "0")
	if s := settleDisk(dir); !s.Skipped || s.SyncSeconds != 0 || s.Before != s.After {
		t.Fatalf("settleDisk with RUNNEL_BENCH_SETTLE=0 = %+v", s)
	}
}

// TestSelectedExact: a prefix ending in $ selects the one scenario of that name.
func TestSelectedExact(t *testing.T) {
	var names []string
	for _, sc := range selected(matrix(quickSizes), []string{ManyPartitions + "$", ManyPartitions8 + "$"}) {
		names = append(names, sc.Name)
	}
	if len(names) != 2 || names[0] != ManyPartitions8 || names[1] != ManyPartitions {
		t.Fatalf("selected = %v, want [%s %s] in the matrix's order", names, ManyPartitions8, ManyPartitions)
	}
}
