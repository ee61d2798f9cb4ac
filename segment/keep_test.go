package segment_test

import (
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"runnel/segment"
)

// keepSlack is the page cache a dropped range may still show: a folio that straddles the end
// of the last range dropped (dropSynced reaches back over it at the next drop).
const keepSlack = 1 << 20

// appendSynced appends n bytes to l in batches of 16 KiB, syncing after every MiB, and returns
// the batches.
func appendSynced(t *testing.T, l *segment.Log, rng *rand.Rand, n int) [][]byte {
	t.Helper()
	var batches [][]byte
	for appended, sinceSync := 0, 0; appended < n; {
		b := randomBatch(rng, 16<<10, 1)
		mustAppend(t, l, b)
		batches = append(batches, b)
		appended += len(b)
		if sinceSync += len(b); sinceSync >= 1<<20 || appended >= n {
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			sinceSync = 0
		}
	}
	return batches
}

// logFilesOf returns the .log files of dir, oldest first.
func logFilesOf(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// fileSize returns the size of the file at path (a sealed segment's is its bytes).
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// bytesOf returns the bytes of batches.
func bytesOf(batches [][]byte) int64 {
	var n int64
	for _, b := range batches {
		n += int64(len(b))
	}
	return n
}

// TestDropBehindKeepsWindow: with drop-behind and a keep window of 8 MiB, a log that appended
// and synced 48 MiB holds in the page cache the last 8 MiB synced (a consumer lagging by less
// reads them from memory) and next to nothing of what lies more than the window and a chunk
// behind; every byte still reads back.
func TestDropBehindKeepsWindow(t *testing.T) {
	const keep = 8 << 20
	dir := t.TempDir()
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = 128 << 20
	cfg.DropBehind = true
	cfg.CacheKeepBytes = keep // one log: the window is the whole of it
	l := openTestLog(t, dir, cfg, 0, true)
	logPath := filepath.Join(dir, "00000000000000000000.log")
	want := appendSynced(t, l, rand.New(rand.NewSource(1)), 48<<20)
	synced := bytesOf(want) // the segment is synced to its end (the file is longer: preallocated)
	if cached := pageCacheBytes(t, logPath, synced-keep, keep); cached < keep {
		t.Fatalf("%d of the last %d synced bytes (the keep window) are in the page cache", cached, keep)
	}
	old := synced - keep - 1<<20 // the window, and a chunk of alignment
	if cached := pageCacheBytes(t, logPath, 0, old); cached > keepSlack {
		t.Fatalf("%d of the %d bytes more than the window behind are in the page cache, want at most %d", cached, old, keepSlack)
	}
	// A read within the window comes from the page cache and leaves it as it was.
	readAllBatches(t, l, 0, false)
	equalBatches(t, readAllBatches(t, l, 0, false), want)
}

// TestDropBehindWindowSpansRoll: the keep window reaches back over a roll into the sealed
// segment, whose pages older than the window leave the page cache as the active segment's
// durable bytes grow, and which leaves it whole once the active segment holds a window of its
// own; a segment two rolls back holds nothing.
func TestDropBehindWindowSpansRoll(t *testing.T) {
	const keep = 8 << 20
	dir := t.TempDir()
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = 16 << 20
	cfg.DropBehind = true
	cfg.CacheKeepBytes = keep
	l := openTestLog(t, dir, cfg, 0, true)
	rng := rand.New(rand.NewSource(2))
	want := appendSynced(t, l, rng, 36<<20) // two sealed segments of ~16 MiB, ~4 MiB active
	files := logFilesOf(t, dir)
	if len(files) != 3 {
		t.Fatalf("%d segments, want 3", len(files))
	}
	if cached := pageCacheBytes(t, files[0], 0, -1); cached > keepSlack {
		t.Fatalf("the segment two rolls back holds %d bytes in the page cache, want at most %d", cached, keepSlack)
	}
	sealed := fileSize(t, files[1])
	active := bytesOf(want) - fileSize(t, files[0]) - sealed
	if active >= keep-2<<20 {
		t.Fatalf("active segment of %d bytes: the test wants it well within the window", active)
	}
	inWindow := keep - active // the sealed segment's bytes within the window
	if cached := pageCacheBytes(t, files[1], sealed-inWindow, inWindow); cached < inWindow {
		t.Fatalf("%d of the sealed segment's last %d bytes (within the window) are in the page cache", cached, inWindow)
	}
	if cached := pageCacheBytes(t, files[1], 0, sealed-inWindow-1<<20); cached > keepSlack {
		t.Fatalf("the sealed segment holds %d bytes older than the window in the page cache, want at most %d", cached, keepSlack)
	}
	want = append(want, appendSynced(t, l, rng, keep)...) // the active segment now holds a window
	if cached := pageCacheBytes(t, files[1], 0, -1); cached > keepSlack {
		t.Fatalf("once the window is within the active segment, the sealed one holds %d bytes in the page cache, want at most %d", cached, keepSlack)
	}
	equalBatches(t, readAllBatches(t, l, 0, false), want)
}
