package segment_test

import (
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"runnel/segment"
	"testing"
)

func TestSegmentFileName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		suffix string
		base   int64
		ok     bool
	}{
		{"00000000000000000000.log", segment.LogSuffix, 0, true},
		{"00000000000000001234.index", segment.OffsetIndexSuffix, 1234, true},
		{"09223372036854775807.timeindex", segment.TimeIndexSuffix, 1<<63 - 1, true},
		{"0000000000000000123.log", segment.LogSuffix, 0, false},   // 19 digits
		{"000000000000000001234.log", segment.LogSuffix, 0, false}, // 21 digits
		{"00000000000000001234.log", segment.OffsetIndexSuffix, 0, false},
		{"0000000000000000abcd.log", segment.LogSuffix, 0, false},
		{"-0000000000000000001.log", segment.LogSuffix, 0, false},
		{"00000000000000001234.log.deleted", segment.LogSuffix, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, ok := segment.ParseSegmentFileName(tc.name, tc.suffix)
			if ok != tc.ok || base != tc.base {
				t.Fatalf("parse = %d, %v; want %d, %v", base, ok, tc.base, tc.ok)
			}
			if ok && segment.SegmentFileName(base, tc.suffix) != tc.name {
				t.Fatalf("segmentFileName(%d) = %q", base, segment.SegmentFileName(base, tc.suffix))
			}
		})
	}
}

func TestAppendRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func() segment.Config
		size int
	}{
		{"small segments", smallConfig, 700},
		{"whole-segment preallocation", func() segment.Config { c := smallConfig(); c.PreallocateBytes = 0; return c }, 700},
		{"defaults", segment.DefaultConfig, 20000},
		{"large and small", func() segment.Config { c := segment.DefaultConfig(); c.SegmentBytes = 4 << 20; return c }, 400 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTestLog(t, dir, tc.cfg(), 0, true)
			rng := rand.New(rand.NewSource(1))
			var want [][]byte
			next := int64(0)
			for i := range 100 {
				b := randomBatch(rng, 1+rng.Intn(tc.size), int64(1000+i))
				info := mustAppend(t, l, b)
				h, _ := segment.ParseBatchHeader(b)
				if info.FirstOffset != next || info.LastOffset != h.LastOffset() || h.BaseOffset != next {
					t.Fatalf("append %d: info %+v, header base %d, want first %d", i, info, h.BaseOffset, next)
				}
				next = info.LastOffset + 1
				want = append(want, b)
			}
			if l.EndOffset() != next {
				t.Fatalf("EndOffset = %d, want %d", l.EndOffset(), next)
			}
			equalBatches(t, readAllBatches(t, l, 0, false), want)
			// Every offset reads from the batch that holds it.
			for _, b := range want {
				h, _ := segment.ParseBatchHeader(b)
				for _, off := range []int64{h.BaseOffset, h.LastOffset()} {
					rr, err := l.Read(off, 1, segment.ReadOptions{MinOneBatch: true})
					if err != nil {
						t.Fatal(err)
					}
					if rr.FirstOffset != h.BaseOffset || rr.Range.Size != int64(len(b)) {
						t.Fatalf("Read(%d, 1 byte, minOneBatch) = first %d size %d; want %d, %d", off, rr.FirstOffset, rr.Range.Size, h.BaseOffset, len(b))
					}
					rr.Release()
				}
			}
			// Nothing flushed yet: a durable read sees nothing.
			if got := readAllBatches(t, l, 0, true); len(got) != 0 {
				t.Fatalf("durable read before Sync returned %d batches", len(got))
			}
			end, err := l.Sync()
			if err != nil || end != next || l.FlushedOffset() != next {
				t.Fatalf("Sync = %d, %v; FlushedOffset %d; want %d", end, err, l.FlushedOffset(), next)
			}
			equalBatches(t, readAllBatches(t, l, 0, true), want)
			// What a crash leaves is recovered whole.
			l.Abandon()
			l2 := openTestLog(t, dir, tc.cfg(), 0, false)
			equalBatches(t, readAllBatches(t, l2, 0, false), want)
		})
	}
}

func TestReadBounds(t *testing.T) {
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
	rng := rand.New(rand.NewSource(2))
	var sizes []int64
	for range 5 {
		b := randomBatch(rng, 300, 1)
		mustAppend(t, l, b)
		sizes = append(sizes, int64(len(b)))
	}
	end := l.EndOffset()
	for _, tc := range []struct {
		name        string
		offset      int64
		maxBytes    int
		minOneBatch bool
		wantSize    int64
		wantErr     error
	}{
		{"below start", -1, 100, true, 0, segment.ErrOffsetOutOfRange},
		{"past end", end + 1, 100, true, 0, segment.ErrOffsetOutOfRange},
		{"at end", end, 100, true, 0, nil},
		{"cut by maxBytes", 0, int(sizes[0] + 10), false, sizes[0] + 10, nil},
		{"exactly two batches", 0, int(sizes[0] + sizes[1]), false, sizes[0] + sizes[1], nil},
		{"minOneBatch beats maxBytes", 0, 10, true, sizes[0], nil},
		{"no minOneBatch, small max", 0, 10, false, 10, nil},
		{"zero max", 0, 0, false, 0, nil},
		{"everything", 0, 1 << 20, false, sizes[0] + sizes[1] + sizes[2] + sizes[3] + sizes[4], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr, err := l.Read(tc.offset, tc.maxBytes, segment.ReadOptions{MinOneBatch: tc.minOneBatch})
			defer rr.Release()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if rr.Range.Size != tc.wantSize {
				t.Fatalf("size = %d, want %d", rr.Range.Size, tc.wantSize)
			}
		})
	}
}

// TestReadDoesNotAllocate keeps Read, on every fetch, free of allocations
// whatever its ReadOptions (passed by value, they must not escape).
func TestReadDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		// Under -race, unix.Pread's instrumentation moves Read's batch walk (and the small
		// window inside it) to the heap: one allocation the normal build does not make.
		t.Skip("allocation counts differ under the race detector")
	}
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
	mustAppend(t, l, randomBatch(rand.New(rand.NewSource(3)), 300, 1))
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []segment.ReadOptions{{}, {MinOneBatch: true}, {DurableOnly: true, MinOneBatch: true}} {
		allocs := testing.AllocsPerRun(100, func() {
			rr, err := l.Read(0, 100, opts)
			if err != nil || rr.Range.Size == 0 {
				t.Fatalf("Read(0, 100, %+v) = %+v, %v", opts, rr.Range, err)
			}
			rr.Release()
		})
		if allocs != 0 {
			t.Errorf("Read with %+v: %v allocations, want 0", opts, allocs)
		}
	}
}

func TestReopen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clean bool
		close bool // a clean close before reopening (else the files are left as a crash would)
	}{
		{"clean close, clean open", true, true},
		{"clean close, unclean open", false, true},
		{"no close, unclean open", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			l, err := segment.OpenLog(dir, testTP, cfg, 0, true, quietLogger)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(3))
			var want [][]byte
			for i := range 300 {
				b := randomBatch(rng, 1+rng.Intn(900), int64(i))
				mustAppend(t, l, b)
				want = append(want, b)
			}
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			end := l.EndOffset()
			if tc.close {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Cleanup(func() { l.Close() })
			}
			l2 := openTestLog(t, dir, cfg, 0, tc.clean)
			if l2.EndOffset() != end || l2.FlushedOffset() != end || l2.StartOffset() != 0 {
				t.Fatalf("reopened: start %d end %d flushed %d; want end %d", l2.StartOffset(), l2.EndOffset(), l2.FlushedOffset(), end)
			}
			equalBatches(t, readAllBatches(t, l2, 0, false), want)
			// Appends continue where the log ended, and survive another reopen.
			b := randomBatch(rng, 500, 1)
			if info := mustAppend(t, l2, b); info.FirstOffset != end {
				t.Fatalf("append after reopen at %d, want %d", info.FirstOffset, end)
			}
			want = append(want, b)
			if err := l2.Close(); err != nil {
				t.Fatal(err)
			}
			l3 := openTestLog(t, dir, cfg, 0, true)
			equalBatches(t, readAllBatches(t, l3, 0, false), want)
		})
	}
}

func TestRollFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openTestLog(t, dir, cfg, 0, true)
	rng := rand.New(rand.NewSource(4))
	for range 100 {
		mustAppend(t, l, randomBatch(rng, 2000, 1))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) < 3 {
		t.Fatalf("%d segments after 200 KB in 64 KB segments", len(logs))
	}
	for _, p := range logs {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > cfg.SegmentBytes {
			t.Fatalf("%s is %d bytes, over segment.bytes %d", p, info.Size(), cfg.SegmentBytes)
		}
		for _, suffix := range []string{segment.OffsetIndexSuffix, segment.TimeIndexSuffix} {
			if _, err := os.Stat(p[:len(p)-len(segment.LogSuffix)] + suffix); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// woken reports whether ch holds a wake-up, taking it.
func woken(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestWatch(t *testing.T) {
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
	rng := rand.New(rand.NewSource(5))
	ch := make(chan struct{}, 1)
	l.Watch(ch)
	if woken(ch) {
		t.Fatal("woken before any change")
	}
	// Changes between the registration and the wait are kept: one wake-up
	// for two appends, and the channel never blocks the appender.
	mustAppend(t, l, randomBatch(rng, 100, 1))
	mustAppend(t, l, randomBatch(rng, 100, 1))
	if !woken(ch) {
		t.Fatal("not woken by an append")
	}
	if woken(ch) {
		t.Fatal("woken twice: the buffer holds one wake-up")
	}
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if !woken(ch) {
		t.Fatal("not woken by a sync")
	}
	l.Unwatch(ch)
	mustAppend(t, l, randomBatch(rng, 100, 1))
	if woken(ch) {
		t.Fatal("woken after Unwatch")
	}
}

func TestWatchMany(t *testing.T) {
	l := openTestLog(t, t.TempDir(), smallConfig(), 0, true)
	rng := rand.New(rand.NewSource(6))
	chs := make([]chan struct{}, 100)
	for i := range chs {
		chs[i] = make(chan struct{}, 1)
		l.Watch(chs[i])
	}
	twice := chs[7] // registered twice: kept until unwatched twice
	l.Watch(twice)
	for i := 0; i < len(chs); i += 2 {
		l.Unwatch(chs[i])
	}
	mustAppend(t, l, randomBatch(rng, 100, 1))
	for i, ch := range chs {
		if got, want := woken(ch), i%2 == 1; got != want {
			t.Fatalf("watcher %d: woken %v, want %v", i, got, want)
		}
	}
	for i := 1; i < len(chs); i += 2 {
		l.Unwatch(chs[i])
	}
	mustAppend(t, l, randomBatch(rng, 100, 1))
	if !woken(twice) {
		t.Fatal("a channel watched twice and unwatched once was not woken")
	}
	l.Unwatch(twice)
	mustAppend(t, l, randomBatch(rng, 100, 1))
	for i, ch := range chs {
		if woken(ch) {
			t.Fatalf("watcher %d woken after Unwatch", i)
		}
	}
}
