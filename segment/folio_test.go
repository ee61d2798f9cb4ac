package segment_test

import (
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"runnel/segment"
)

// mappingVMFlags returns the VmFlags of the process's mapping of the file at path, from
// /proc/self/smaps.
func mappingVMFlags(t testing.TB, path string) []string {
	t.Helper()
	for _, fields := range smapsOf(t, path) {
		if fields[0] == "VmFlags:" {
			return fields[1:]
		}
	}
	t.Fatalf("%s: smaps has no VmFlags", path)
	return nil
}

// ioWriteBytes is the process's write_bytes from /proc/self/io: page cache bytes it dirtied,
// counted by folio when the folio turns dirty.
func ioWriteBytes(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no write_bytes in /proc/self/io")
	return 0
}

// TestSyncWritesOnlyAppendedPages appends 1 KiB batches through the active segment's mapping
// and Syncs after each, as a producer at acks=all does at a low rate, and checks that with
// Config.PageFolios each append dirties about its own page, not a large folio around it: the
// mapping takes no read-ahead (MADV_RANDOM, "rr" in smaps), so the pre-fault makes page-sized
// folios of the fallocated range. With read-ahead, on Linux 6.16 and later (ext4 large folios), each 1 KiB
// append's write fault dirtied a whole folio, and each Sync wrote back tens of KiB of zeros
// beside the append (results/2026-12-03-floor10k/).
func TestSyncWritesOnlyAppendedPages(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Skip("tmpfs has no writeback")
	}
	cfg := segment.DefaultConfig()
	cfg.PageFolios = true
	l := openTestLog(t, dir, cfg, 0, true)
	defer l.Close()
	logPath := filepath.Join(dir, "00000000000000000000.log")
	if flags := mappingVMFlags(t, logPath); !strings.Contains(" "+strings.Join(flags, " ")+" ", " rr ") {
		t.Fatalf("the active segment's mapping has VmFlags %v, want rr (MADV_RANDOM)", flags)
	}
	rng := rand.New(rand.NewSource(1))
	// First 8 MiB in 16 KiB batches, unsynced: by then the
	// pre-fault's read-ahead, if it has any, makes the largest folios it will.
	for range 512 {
		mustAppend(t, l, randomBatch(rng, 16<<10, 1))
	}
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	const n = 256
	var appended int64
	before := ioWriteBytes(t)
	for range n {
		b := randomBatch(rng, 1<<10, 1)
		mustAppend(t, l, b)
		appended += int64(len(b))
		if _, err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	dirtied := ioWriteBytes(t) - before
	if dirtied == 0 {
		t.Skip("write_bytes does not count here")
	}
	t.Logf("%d synced appends of 1 KiB dirtied %.1f KiB each", n, float64(dirtied)/n/1024)
	// A 1 KiB append dirties its page, and one more where it crosses a page boundary.
	if limit := int64(n) * 2 * int64(os.Getpagesize()); dirtied > limit {
		t.Fatalf("%d synced appends of %d bytes in all dirtied %d bytes of page cache (%.1f KiB each), want at most %d: folios larger than a page",
			n, appended, dirtied, float64(dirtied)/n/1024, limit)
	}
}

// TestDefaultMappingReadsAhead: without Config.PageFolios the active mapping keeps the
// kernel's read-ahead (no MADV_RANDOM), the default's behaviour before the option.
func TestDefaultMappingReadsAhead(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, segment.DefaultConfig(), 0, true)
	defer l.Close()
	flags := mappingVMFlags(t, filepath.Join(dir, "00000000000000000000.log"))
	if strings.Contains(" "+strings.Join(flags, " ")+" ", " rr ") {
		t.Fatalf("the default active mapping has VmFlags %v, want no rr", flags)
	}
}
