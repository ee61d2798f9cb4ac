package segment_test

import (
	"bufio"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"runnel/segment"
)

// mappedRSS returns the resident bytes of the process's mappings of the file at path, from
// /proc/self/smaps: the pages the file's mappings hold in the process's page tables, which
// count in its RssFile.
func mappedRSS(t testing.TB, path string) int64 {
	t.Helper()
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var rss int64
	inFile, found := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping's header line: range perms offset dev inode [path]
			inFile = len(fields) >= 6 && fields[5] == path
			found = found || inFile
			continue
		}
		if inFile && fields[0] == "Rss:" && len(fields) >= 2 {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatalf("smaps: %q: %v", sc.Text(), err)
			}
			rss += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s is not mapped", path)
	}
	return rss
}

// TestSyncReleasesMappedPages appends 64 MiB through the active segment's mapping and checks
// that the pages a Sync made durable stop counting in the process's resident set (only a
// bounded tail near the write position stays mapped), that nothing is let go before it is
// synced, and that every byte still reads back the same, from the active segment and after a
// reopen.
func TestSyncReleasesMappedPages(t *testing.T) {
	const (
		batchBytes = 16 << 10 // through the mapping, not pwrite (from 32 KiB)
		unsynced   = 32 << 20 // appended before the first Sync
		total      = 64 << 20
		bound      = 16 << 20 // release margin + chunk + pre-fault window, with room to spare
	)
	dir := t.TempDir()
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = 128 << 20
	l := openTestLog(t, dir, cfg, 0, true)
	logPath := filepath.Join(dir, "00000000000000000000.log")
	rng := rand.New(rand.NewSource(1))
	var want [][]byte
	appended := 0
	appendBytes := func(n int) {
		for end := appended + n; appended < end; {
			b := randomBatch(rng, batchBytes, 1)
			mustAppend(t, l, b)
			want = append(want, b)
			appended += len(b)
		}
	}

	appendBytes(unsynced)
	if rss := mappedRSS(t, logPath); rss < unsynced {
		t.Fatalf("before any Sync the mapping holds %d resident bytes, want at least the %d unsynced ones", rss, unsynced)
	}
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	for appended < total {
		appendBytes(1 << 20)
		if _, err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if rss := mappedRSS(t, logPath); rss > bound {
		t.Fatalf("after %d bytes appended and synced the mapping holds %d resident bytes, want at most %d", appended, rss, bound)
	}

	equalBatches(t, readAllBatches(t, l, 0, false), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, cfg, 0, true)
	equalBatches(t, readAllBatches(t, l, 0, false), want)
}
