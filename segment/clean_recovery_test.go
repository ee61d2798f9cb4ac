package segment_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"runnel/segment"
	"runnel/segment/segmenttest"
)

// copyDir copies the regular files of src into dst (created).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCleanSwapRecovery builds, from a log before and after a clean, the states a crash can
// leave between the steps of a swap (doc.go, "Compaction"), as a file system that makes
// renames durable in any order would, and checks that a reopen finishes or discards the swap
// and loses nothing: a .cleaned segment beside the old ones; a .swap beside all, some or none
// of the segments it replaces, with the new indexes or the old ones.
func TestCleanSwapRecovery(t *testing.T) {
	w := newCompactWorkload(7)
	cfg := compactConfig(&w.now)
	root := t.TempDir()
	dir := filepath.Join(root, "log")
	l := openTestLog(t, dir, cfg, 0, true)
	// Keys written once, so that every segment holds latest values that a lost segment
	// would take away.
	for i := range 300 {
		if i%3 == 0 {
			w.appendUnique(t, l, fmt.Sprintf("u%03d", i))
		}
		w.append(t, l)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	before := filepath.Join(root, "before")
	copyDir(t, dir, before)
	l = openTestLog(t, dir, cfg, 0, true)
	bigger := cfg
	bigger.SegmentBytes = 16 << 10 // so that a clean groups segments
	l.SetConfig(bigger)
	l.SetHighWatermark(l.EndOffset()) // a log opened alone has no checkpointed high watermark
	w.clean(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	oldLogs, _ := filepath.Glob(filepath.Join(before, "*.log"))
	newLogs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(newLogs) >= len(oldLogs) {
		t.Fatalf("%d segments before the clean, %d after: nothing to swap", len(oldLogs), len(newLogs))
	}
	sort.Strings(newLogs)
	swapped := newLogs[0] // the first cleaned segment: base 0
	swapBytes, err := os.ReadFile(swapped)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(filepath.Base(swapped), ".log")
	cases := []struct {
		name   string
		suffix string // of the cleaned segment's .log
		drop   int    // how many of the old segments (from the second) are gone
		index  bool   // the new indexes have their names
	}{
		{"cleaned", ".log.cleaned", 0, false},
		{"swap beside every old segment", ".log.swap", 0, false},
		{"swap with new indexes", ".log.swap", 0, true},
		{"swap, some old segments gone", ".log.swap", 2, true},
		{"swap, old segments gone", ".log.swap", len(oldLogs), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			crashed := filepath.Join(t.TempDir(), "log")
			copyDir(t, before, crashed)
			if err := os.WriteFile(filepath.Join(crashed, base+tc.suffix), swapBytes, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.index {
				for _, ext := range []string{".index", ".timeindex"} {
					b, err := os.ReadFile(filepath.Join(dir, base+ext))
					if err != nil {
						t.Fatal(err)
					}
					os.WriteFile(filepath.Join(crashed, base+ext), b, 0o644)
				}
			}
			if tc.suffix == ".log.swap" {
				// The segments the swap replaces are those below the first segment that
				// survived the clean; drop some, from the second on.
				dropped := 0
				for _, old := range oldLogs[1:] {
					if dropped == tc.drop {
						break
					}
					if _, err := os.Stat(filepath.Join(dir, filepath.Base(old))); err == nil {
						break // kept by the clean: not part of the swap's group
					}
					os.Remove(filepath.Join(crashed, filepath.Base(old)))
					dropped++
				}
			}
			reopened := openTestLog(t, crashed, cfg, 0, false)
			w.model.check(t, reopened, w.now, cfg.DeleteRetention)
			if left, _ := filepath.Glob(filepath.Join(crashed, "*.swap")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			if left, _ := filepath.Glob(filepath.Join(crashed, "*.cleaned")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestRetentionRollsExpiredActiveSegment: time retention deletes an active segment whose
// records have all expired, by rolling it first (Kafka's deleteOldSegments); the log stays
// appendable at its end offset.
func TestRetentionRollsExpiredActiveSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.RetentionMs = time.Hour
	l := openTestLog(t, dir, cfg, 0, true)
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	for range 3 {
		mustAppend(t, l, segmenttest.Batch(segmenttest.Values("x"), segmenttest.Timestamp(old)))
	}
	n, err := l.ApplyRetention(time.Now())
	if err != nil || n != 1 {
		t.Fatalf("ApplyRetention: %d segments, %v; want the rolled active one", n, err)
	}
	if l.StartOffset() != 3 || l.EndOffset() != 3 {
		t.Fatalf("start %d end %d after retention, want 3 and 3", l.StartOffset(), l.EndOffset())
	}
	if info := mustAppend(t, l, segmenttest.Batch(segmenttest.Values("y"))); info.FirstOffset != 3 {
		t.Fatalf("append after retention at %d", info.FirstOffset)
	}
	// A fresh active segment is not rolled.
	if n, err := l.ApplyRetention(time.Now()); err != nil || n != 0 {
		t.Fatalf("ApplyRetention of a fresh segment: %d, %v", n, err)
	}
}

// TestSegmentMsAfterReopen: segment.ms counts from the active segment's first batch's
// timestamp after a reopen, not from the open (Kafka's rollingBasedTimestamp), so that a
// broker restarted more often than segment.ms still rolls.
func TestSegmentMsAfterReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentMs = time.Hour
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	cfg.Clock = func() time.Time { return time.Unix(0, now.Load()) }
	l := openTestLog(t, dir, cfg, 0, true)
	mustAppend(t, l, segmenttest.Batch(segmenttest.Values("a"), segmenttest.Timestamp(time.Unix(0, now.Load()).UnixMilli())))
	now.Add(int64(40 * time.Minute))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, cfg, 0, true)
	now.Add(int64(30 * time.Minute)) // 70 minutes after the first batch, 30 after the open
	mustAppend(t, l, segmenttest.Batch(segmenttest.Values("b")))
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) != 2 {
		t.Fatalf("segments: %v; want a roll 70 minutes after the first batch", logs)
	}
}

// TestCleanedSegmentsReadable: cleaned segments are read through the same file ranges as
// any (the sendfile path), with offset gaps, by Read from every offset of the log.
func TestCleanedSegmentsReadable(t *testing.T) {
	w := newCompactWorkload(3)
	cfg := compactConfig(&w.now)
	l := openTestLog(t, t.TempDir(), cfg, 0, true)
	for range 400 {
		w.append(t, l)
	}
	w.clean(t, l)
	for off := l.StartOffset(); off < l.EndOffset(); off++ {
		rr, err := l.Read(off, 1<<20, segment.ReadOptions{MinOneBatch: true})
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		batches := splitBatches(rangeBytes(t, &rr))
		if len(batches) == 0 {
			t.Fatalf("Read(%d): nothing, end %d", off, l.EndOffset())
		}
		h, _ := segment.ParseBatchHeader(batches[0])
		if h.LastOffset() < off {
			t.Fatalf("Read(%d) starts with a batch ending at %d", off, h.LastOffset())
		}
	}
}
