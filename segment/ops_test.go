package segment_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"runnel/segment"
	"runnel/segment/segmenttest"
)

// fillLog appends n batches with timestamps 1000, 1001, ... and returns them.
func fillLog(t *testing.T, l *segment.Log, n int, seed int64) [][]byte {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	var batches [][]byte
	for i := range n {
		b := randomBatch(rng, 1+rng.Intn(1500), int64(1000+i))
		mustAppend(t, l, b)
		batches = append(batches, b)
	}
	return batches
}

func header(b []byte) segment.BatchHeader {
	h, err := segment.ParseBatchHeader(b)
	if err != nil {
		panic(err)
	}
	return h
}

func TestTruncateTo(t *testing.T) {
	for _, tc := range []struct {
		name string
		// to picks the truncation offset; keep is how many batches remain.
		to func(batches [][]byte) (offset int64, keep int)
	}{
		{"to the end does nothing", func(b [][]byte) (int64, int) { return header(b[len(b)-1]).LastOffset() + 1, len(b) }},
		{"drop the last batch", func(b [][]byte) (int64, int) { return header(b[len(b)-1]).BaseOffset, len(b) - 1 }},
		{"mid-batch drops that batch", func(b [][]byte) (int64, int) { return header(b[len(b)-3]).LastOffset(), len(b) - 3 }},
		{"into the first segment", func(b [][]byte) (int64, int) { return header(b[5]).BaseOffset, 5 }},
		{"to the start empties the log", func(b [][]byte) (int64, int) { return 0, 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			l := openTestLog(t, dir, cfg, 0, true)
			batches := fillLog(t, l, 300, 11)
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			offset, keep := tc.to(batches)
			if err := l.TruncateTo(offset); err != nil {
				t.Fatal(err)
			}
			want := batches[:keep]
			wantEnd := int64(0)
			if keep > 0 {
				wantEnd = header(want[keep-1]).LastOffset() + 1
			}
			if keep == 0 {
				wantEnd = offset
			}
			if l.EndOffset() != wantEnd || l.FlushedOffset() > wantEnd {
				t.Fatalf("after TruncateTo(%d): end %d flushed %d, want end %d", offset, l.EndOffset(), l.FlushedOffset(), wantEnd)
			}
			equalBatches(t, readAllBatches(t, l, l.StartOffset(), false), want)
			// Appends go on from the new end; the stale bytes never come back, cleanly or
			// after a crash (the files are reopened without a clean close).
			more := fillLog(t, l, 50, 12)
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			want = append(append([][]byte{}, want...), more...)
			equalBatches(t, readAllBatches(t, l, l.StartOffset(), false), want)
			l2 := openTestLog(t, dir, cfg, 0, false)
			equalBatches(t, readAllBatches(t, l2, l2.StartOffset(), false), want)
		})
	}
}

// TestTruncateZeroesStaleBytes truncates without appending more and recovers from the files
// as a crash would leave them: the removed batches must not be resurrected.
func TestTruncateZeroesStaleBytes(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openTestLog(t, dir, cfg, 0, true)
	batches := fillLog(t, l, 20, 13) // one segment
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(header(batches[10]).BaseOffset); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, cfg, 0, false)
	equalBatches(t, readAllBatches(t, l2, 0, false), batches[:10])
}

func TestRetention(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(c *segment.Config, total int64)
		now  time.Time
		// wantDeleted reports whether the segment of the given index (of n) should go.
		wantSome bool
	}{
		{"time: all old", func(c *segment.Config, _ int64) { c.RetentionMs = time.Hour }, time.UnixMilli(10_000_000), true},
		{"time: nothing old", func(c *segment.Config, _ int64) { c.RetentionMs = time.Hour }, time.UnixMilli(2000), false},
		{"time: forever", func(c *segment.Config, _ int64) { c.RetentionMs = -1 }, time.UnixMilli(1 << 50), false},
		{"bytes: half", func(c *segment.Config, total int64) { c.RetentionMs = -1; c.RetentionBytes = total / 2 }, time.Now(), true},
		{"bytes: unlimited", func(c *segment.Config, _ int64) { c.RetentionMs = -1; c.RetentionBytes = -1 }, time.Now(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			l := openTestLog(t, dir, cfg, 0, true)
			batches := fillLog(t, l, 300, 14)
			var total int64
			for _, b := range batches {
				total += int64(len(b))
			}
			// A reader holding a range keeps its (deleted) segment readable.
			held, err := l.Read(0, 1<<20, segment.ReadOptions{MinOneBatch: true})
			if err != nil {
				t.Fatal(err)
			}
			heldBytes := rangeBytes(t, &segment.ReadResult{Range: held.Range}) // read, don't release yet
			tc.cfg(&cfg, total)
			l.SetConfig(cfg)
			n, err := l.ApplyRetention(tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) != tc.wantSome {
				t.Fatalf("deleted %d segments", n)
			}
			start := l.StartOffset()
			var want [][]byte
			var kept int64
			for _, b := range batches {
				if header(b).BaseOffset >= start {
					want = append(want, b)
					kept += int64(len(b))
				}
			}
			equalBatches(t, readAllBatches(t, l, start, false), want)
			if n > 0 {
				if _, err := l.Read(0, 100, segment.ReadOptions{MinOneBatch: true}); !errors.Is(err, segment.ErrOffsetOutOfRange) {
					t.Fatalf("Read below the new start: %v", err)
				}
				if cfg.RetentionBytes >= 0 && kept > cfg.RetentionBytes+cfg.SegmentBytes {
					t.Fatalf("kept %d bytes, retention.bytes %d", kept, cfg.RetentionBytes)
				}
			}
			if cfg.RetentionBytes >= 0 && kept < cfg.RetentionBytes {
				t.Fatalf("kept %d bytes, fewer than retention.bytes %d", kept, cfg.RetentionBytes)
			}
			again := make([]byte, held.Range.Size)
			if _, err := held.Range.File.ReadAt(again, held.Range.Position); err != nil || !bytes.Equal(again, heldBytes) {
				t.Fatalf("held range changed after retention: %v", err)
			}
			held.Release()
			deleted, _ := filepath.Glob(filepath.Join(dir, "*.deleted"))
			if len(deleted) != 0 {
				t.Fatalf("files left after the last release: %v", deleted)
			}
			logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			if l.Close() != nil {
				t.Fatal("close")
			}
			l2 := openTestLog(t, dir, cfg, 0, true)
			if l2.StartOffset() != start || len(logs) == 0 {
				t.Fatalf("reopened start %d, want %d", l2.StartOffset(), start)
			}
		})
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, smallConfig(), 0, true)
	batches := fillLog(t, l, 300, 15)
	before, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	mid := header(batches[200]).BaseOffset + 1
	start, err := l.DeleteRecordsBefore(mid)
	if err != nil || start != mid || l.StartOffset() != mid {
		t.Fatalf("DeleteRecordsBefore(%d) = %d, %v", mid, start, err)
	}
	after, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(after) >= len(before) {
		t.Fatalf("%d segments before, %d after", len(before), len(after))
	}
	if _, err := l.Read(mid-1, 100, segment.ReadOptions{MinOneBatch: true}); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("Read below start: %v", err)
	}
	equalBatches(t, readAllBatches(t, l, mid, false), batches[200:])
	if _, err := l.DeleteRecordsBefore(l.EndOffset() + 1); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecordsBefore past the end: %v", err)
	}
	// Going backwards does nothing.
	if start, _ := l.DeleteRecordsBefore(5); start != mid {
		t.Fatalf("start moved back to %d", start)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
	if _, _, ok, err := l.OffsetForTimestamp(0); ok || err != nil {
		t.Fatal("found a timestamp in an empty log")
	}
	batches := fillLog(t, l, 300, 16) // timestamps 1000..1299
	for _, tc := range []struct {
		ts     int64
		batch  int // -1: none
		wantTS int64
	}{
		{0, 0, 1000}, {1000, 0, 1000}, {1001, 1, 1001}, {1150, 150, 1150}, {1299, 299, 1299}, {1300, -1, 0},
	} {
		off, ts, ok, err := l.OffsetForTimestamp(tc.ts)
		if err != nil {
			t.Fatalf("OffsetForTimestamp(%d): %v", tc.ts, err)
		}
		if tc.batch < 0 {
			if ok {
				t.Errorf("OffsetForTimestamp(%d) = %d, found", tc.ts, off)
			}
			continue
		}
		if !ok || off != header(batches[tc.batch]).BaseOffset || ts != tc.wantTS {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want batch %d at %d", tc.ts, off, ts, ok, tc.batch, header(batches[tc.batch]).BaseOffset)
		}
	}
	ts, off := l.MaxTimestamp()
	if ts != 1299 || off != header(batches[299]).LastOffset() {
		t.Fatalf("MaxTimestamp = %d, %d", ts, off)
	}
}

// TestOffsetForTimestampInsideBatch: the answer is the first record (in
// offset order) whose timestamp is at or after the target, not its batch's
// base offset, in plain and compressed batches alike, and never a record
// before the log start offset (which may fall inside a batch).
func TestOffsetForTimestampInsideBatch(t *testing.T) {
	for _, codec := range []int{segment.CodecNone, segment.CodecGzip, segment.CodecSnappy, segment.CodecLZ4, segment.CodecZstd} {
		t.Run(fmt.Sprintf("codec=%d", codec), func(t *testing.T) {
			l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
			records := func(base int64, deltas ...int64) []byte {
				rs := make([]segmenttest.Record, len(deltas))
				for i, d := range deltas {
					rs[i] = segmenttest.Record{Value: []byte("v"), TimestampDelta: d}
				}
				return segmenttest.Batch(rs, segmenttest.Timestamp(base), segmenttest.Compression(codec))
			}
			mustAppend(t, l, records(1000, 0, 10, 30, 20)) // offsets 0-3: 1000, 1010, 1030, 1020
			mustAppend(t, l, records(2000, 5, 0, 10))      // offsets 4-6: 2005, 2000, 2010
			check := func(ts, wantOffset, wantTS int64) {
				t.Helper()
				off, got, ok, err := l.OffsetForTimestamp(ts)
				if err != nil {
					t.Fatalf("OffsetForTimestamp(%d): %v", ts, err)
				}
				if wantOffset < 0 {
					if ok {
						t.Errorf("OffsetForTimestamp(%d) = %d, %d; want none", ts, off, got)
					}
					return
				}
				if !ok || off != wantOffset || got != wantTS {
					t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", ts, off, got, ok, wantOffset, wantTS)
				}
			}
			check(0, 0, 1000)
			check(1000, 0, 1000)
			check(1005, 1, 1010)
			check(1015, 2, 1030)
			check(1030, 2, 1030)
			check(1031, 4, 2005)
			check(2001, 4, 2005)
			check(2006, 6, 2010)
			check(2011, -1, 0)
			// The log start inside the first batch: its records before it do not count,
			// and when none after it is recent enough the next batch answers.
			if _, err := l.DeleteRecordsBefore(3); err != nil {
				t.Fatal(err)
			}
			check(1000, 3, 1020)
			check(1025, 4, 2005)
		})
	}
}

func TestAppendOptions(t *testing.T) {
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
	b := segmenttest.Batch(segmenttest.Values("a", "b"), segmenttest.Timestamp(5))
	info, err := l.Append(b, segment.AppendOptions{LeaderEpoch: 3, LogAppendTime: 777})
	if err != nil {
		t.Fatal(err)
	}
	if info.LogAppendTime != 777 {
		t.Fatalf("LogAppendTime = %d", info.LogAppendTime)
	}
	h, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatalf("stamped batch invalid: %v", err)
	}
	if h.PartitionLeaderEpoch != 3 || h.MaxTimestamp != 777 || h.TimestampType() != segment.TimestampLogAppendTime {
		t.Fatalf("stamped header %+v", h)
	}
	if info := mustAppend(t, l, segmenttest.Batch(segmenttest.Values("c"))); info.LogAppendTime != -1 {
		t.Fatalf("LogAppendTime without stamping = %d", info.LogAppendTime)
	}
	// Rejected appends write nothing.
	end := l.EndOffset()
	bad := segmenttest.Batch(segmenttest.Values("x"))
	bad[len(bad)-1] ^= 1
	for _, records := range [][]byte{nil, bad, make([]byte, 70<<10)} {
		if _, err := l.Append(records, segment.AppendOptions{}); err == nil {
			t.Fatalf("Append of %d bad bytes succeeded", len(records))
		}
	}
	big := segmenttest.Batch([]segmenttest.Record{{Value: make([]byte, 65<<10)}})
	if _, err := l.Append(big, segment.AppendOptions{}); !errors.Is(err, segment.ErrRecordTooLarge) {
		t.Fatalf("Append larger than a segment: %v", err)
	}
	if l.EndOffset() != end {
		t.Fatalf("end moved from %d to %d on rejected appends", end, l.EndOffset())
	}
}

func TestIdempotentProducer(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openTestLog(t, dir, cfg, 0, true)
	first := mustAppend(t, l, segmenttest.Batch(segmenttest.Values("a", "b"), segmenttest.Producer(7, 0, 0)))
	dup, err := l.Append(segmenttest.Batch(segmenttest.Values("a", "b"), segmenttest.Producer(7, 0, 0)), segment.AppendOptions{})
	if err != nil || !dup.Duplicate || dup.FirstOffset != first.FirstOffset || dup.LastOffset != first.LastOffset {
		t.Fatalf("duplicate: %+v, %v", dup, err)
	}
	if _, err := l.Append(segmenttest.Batch(segmenttest.Values("c"), segmenttest.Producer(7, 0, 5)), segment.AppendOptions{}); !errors.Is(err, segment.ErrOutOfOrderSequence) {
		t.Fatalf("out of order: %v", err)
	}
	// Two batches of one producer in one append: the second follows the first.
	two := append(segmenttest.Batch(segmenttest.Values("c"), segmenttest.Producer(7, 0, 2)),
		segmenttest.Batch(segmenttest.Values("d"), segmenttest.Producer(7, 0, 3))...)
	mustAppend(t, l, two)
	end := l.EndOffset()
	// The state survives a reopen (replayed from the active segment).
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, cfg, 0, false)
	dup, err = l2.Append(segmenttest.Batch(segmenttest.Values("d"), segmenttest.Producer(7, 0, 3)), segment.AppendOptions{})
	if err != nil || !dup.Duplicate || l2.EndOffset() != end {
		t.Fatalf("duplicate after reopen: %+v, %v", dup, err)
	}
}

func TestLeaderEpochs(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openTestLog(t, dir, cfg, 0, true)
	appendEpoch := func(epoch int32) {
		if _, err := l.Append(segmenttest.Batch(segmenttest.Values("a", "b")), segment.AppendOptions{LeaderEpoch: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	appendEpoch(1) // 0-1
	appendEpoch(1) // 2-3
	appendEpoch(3) // 4-5
	appendEpoch(5) // 6-7
	want := []segment.EpochEntry{{Epoch: 1, StartOffset: 0}, {Epoch: 3, StartOffset: 4}, {Epoch: 5, StartOffset: 6}}
	if got := l.LeaderEpochs(); !slices.Equal(got, want) {
		t.Fatalf("LeaderEpochs = %v", got)
	}
	for _, tc := range []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{0, 0, 0}, {1, 1, 4}, {2, 1, 4}, {3, 3, 6}, {4, 3, 6}, {5, 5, 8}, {6, -1, -1}, {-1, -1, -1},
	} {
		if e, end := l.EndOffsetForEpoch(tc.epoch); e != tc.wantEpoch || end != tc.wantEnd {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tc.epoch, e, end, tc.wantEpoch, tc.wantEnd)
		}
	}
	if err := l.TruncateTo(5); err != nil { // back into epoch 3's first batch: ends at 4
		t.Fatal(err)
	}
	if got := l.LeaderEpochs(); !slices.Equal(got, want[:1]) {
		t.Fatalf("after truncation LeaderEpochs = %v", got)
	}
	l.Close()
	l2 := openTestLog(t, dir, cfg, 0, true)
	if got := l2.LeaderEpochs(); !slices.Equal(got, want[:1]) {
		t.Fatalf("after reopen LeaderEpochs = %v", got)
	}
}

func TestClosedLog(t *testing.T) {
	l, err := segment.OpenLog(t.TempDir(), testTP, smallConfig(), 0, true, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, segmenttest.Batch(segmenttest.Values("a")))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Append(segmenttest.Batch(segmenttest.Values("a")), segment.AppendOptions{}); !errors.Is(err, segment.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := l.Read(0, 100, segment.ReadOptions{MinOneBatch: true}); !errors.Is(err, segment.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := l.Sync(); !errors.Is(err, segment.ErrClosed) {
		t.Fatalf("Sync after Close: %v", err)
	}
}

func TestLogDelete(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "t-0")
	l, err := segment.OpenLog(dir, testTP, smallConfig(), 0, true, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	batches := fillLog(t, l, 10, 17)
	held, _ := l.Read(0, 100, segment.ReadOptions{MinOneBatch: true})
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	if got := rangeBytes(t, &held); !bytes.Equal(got, batches[0]) {
		t.Fatalf("held range after delete: %d bytes", len(got))
	}
}

func TestSegmentMs(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentMs = time.Hour
	var now atomic.Int64 // nanoseconds since the Unix epoch
	now.Store(time.Now().UnixNano())
	cfg.Clock = func() time.Time { return time.Unix(0, now.Load()) }
	l := openTestLog(t, dir, cfg, 0, true)
	mustAppend(t, l, segmenttest.Batch(segmenttest.Values("a")))
	now.Add(int64(time.Hour - time.Nanosecond))
	mustAppend(t, l, segmenttest.Batch(segmenttest.Values("b"))) // just short of segment.ms: no roll
	now.Add(int64(time.Nanosecond))
	mustAppend(t, l, segmenttest.Batch(segmenttest.Values("c")))
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) != 2 || filepath.Base(logs[1]) != segment.SegmentFileName(2, segment.LogSuffix) {
		t.Fatalf("segments after segment.ms: %v", logs)
	}
}
