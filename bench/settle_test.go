package bench

import (
	"runtime"
	"strings"
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

// TestSettleLine: the report says what each run started from, settled or not, and the discards
// its load overlapped.
func TestSettleLine(t *testing.T) {
	sc := Scenario{Name: "s", Targets: []string{TargetRunnel, TargetKfake}}
	settled := &Settle{Before: DiskState{DirtyKiB: 2048, WritebackKiB: 1024}, SyncSeconds: 0.5, WaitSeconds: 1.25}
	rep := &Report{Runs: []*RunResult{
		{Scenario: "s", Target: TargetRunnel, Settle: settled,
			DiskLoad: &[2]DiskState{{DiscardSectors: 0}, {DiscardSectors: 4096}}},
		{Scenario: "s", Target: TargetKfake, Settle: &Settle{Skipped: true}},
	}}
	var b strings.Builder
	settleLine(&b, rep, sc)
	for _, want := range []string{
		"runnel: 2 MiB dirty and 1 MiB under writeback before, syncfs 0.50 s then 1.25 s for the device; 2 MiB discarded during the load",
		"kfake: 0 MiB dirty and 0 MiB under writeback before, not settled.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("settleLine = %q, want it to contain %q", b.String(), want)
		}
	}
}
