package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
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

// TestSyncPathSeconds: a sample counts for the group path when syncGroup is on its stack
// (PrepareSync calls into Log code under it), for the one-a-partition path when only
// Log.Sync is, and for neither otherwise.
func TestSyncPathSeconds(t *testing.T) {
	fn := func(id uint64, name string) *profile.Function { return &profile.Function{ID: id, Name: name} }
	one, group, other := fn(1, funcSyncOne), fn(2, funcSyncGroup), fn(3, "runnel/broker.handleProduce")
	loc := func(id uint64, fs ...*profile.Function) *profile.Location {
		l := &profile.Location{ID: id}
		for _, f := range fs {
			l.Line = append(l.Line, profile.Line{Function: f})
		}
		return l
	}
	lOne, lGroup, lOther := loc(1, one), loc(2, group), loc(3, other)
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Function:   []*profile.Function{one, group, other},
		Location:   []*profile.Location{lOne, lGroup, lOther},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lOne, lOther}, Value: []int64{1, 2e9}},
			{Location: []*profile.Location{lOne, lGroup}, Value: []int64{1, 3e9}},
			{Location: []*profile.Location{lGroup}, Value: []int64{1, 1e9}},
			{Location: []*profile.Location{lOther}, Value: []int64{1, 5e9}},
		},
	}
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	gotOne, gotGroup, err := syncPathSeconds(path)
	if err != nil {
		t.Fatal(err)
	}
	if gotOne != 2 || gotGroup != 4 {
		t.Fatalf("syncPathSeconds = %v one, %v group; want 2, 4", gotOne, gotGroup)
	}
}
