package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestManyPartitions10kReservesLittleDisk: every partition reserves two index files and its
// first preallocation when created, so the 10,000-partition scenario must set both small; at
// the defaults (84 MiB a partition) it would reserve 840 GB of the shared disk.
func TestManyPartitions10kReservesLittleDisk(t *testing.T) {
	for _, s := range []sizes{fullSizes, quickSizes} {
		var sc *Scenario
		for _, m := range matrix(s) {
			if m.Name == ManyPartitions10k {
				sc = &m
			}
		}
		if sc == nil || sc.Load.Partitions != s.partitions10k || !sc.manyPartitions() {
			t.Fatalf("matrix lacks %s with %d partitions: %+v", ManyPartitions10k, s.partitions10k, sc)
		}
		props := map[string]int64{}
		for _, o := range sc.Overrides {
			k, v, _ := strings.Cut(o, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			props[k] = n
		}
		index, prealloc := props["log.index.size.max.bytes"], props["runnel.segment.preallocate.bytes"]
		if index == 0 || prealloc == 0 {
			t.Fatalf("%s leaves index size or preallocation at the default: %v", sc.Name, sc.Overrides)
		}
		if reserved := int64(sc.Load.Partitions) * (2*index + prealloc); reserved > 4<<30 {
			t.Fatalf("%s reserves %d bytes at creation, want at most 4 GiB", sc.Name, reserved)
		}
	}
}

// TestDiskUsageCountsAllocatedBlocks: a sparse file counts nothing, a written one its blocks.
func TestDiskUsageCountsAllocatedBlocks(t *testing.T) {
	dir := t.TempDir()
	sparse, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sparse.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	sparse.Close()
	if err := os.WriteFile(filepath.Join(dir, "written"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got < 1<<20 || got > 2<<20 {
		t.Fatalf("diskUsage = %d, want about 1 MiB (the written file; the sparse one holds no blocks)", got)
	}
}
