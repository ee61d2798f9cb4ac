package segment_test

import (
	"errors"
	"math/rand"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"runnel/internal/wait"
	"runnel/segment"
)

// TestAppendNoSpace runs out of disk space while preallocating: the append fails with ENOSPC,
// nothing of it is written, and the log stays consistent and takes appends again once there is
// space, also after a crash reopen.
func TestAppendNoSpace(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openTestLog(t, dir, cfg, 0, true)
	var full atomic.Bool
	restore := segment.SetFallocate(func(f *os.File, off, n int64) error {
		if full.Load() {
			return &os.PathError{Op: "fallocate", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return syscall.Fallocate(int(f.Fd()), 0, off, n)
	})
	defer restore()
	want := fillLog(t, l, 20, 21)
	full.Store(true)
	end := l.EndOffset()
	rng := rand.New(rand.NewSource(22))
	failed := 0
	for range 200 { // enough to need a new chunk and a new segment
		b := randomBatch(rng, 1000, 1)
		if _, err := l.Append(b, segment.AppendOptions{}); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Append without space: %v", err)
			}
			failed++
			continue
		}
		want = append(want, b)
	}
	if failed == 0 {
		t.Fatal("no append ran out of space")
	}
	equalBatches(t, readAllBatches(t, l, 0, false), want)
	if l.EndOffset() < end {
		t.Fatalf("end went back from %d to %d", end, l.EndOffset())
	}
	full.Store(false)
	want = append(want, fillLog(t, l, 50, 23)...)
	equalBatches(t, readAllBatches(t, l, 0, false), want)
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Abandon()
	l2 := openTestLog(t, dir, cfg, 0, false)
	equalBatches(t, readAllBatches(t, l2, 0, false), want)
}

// TestConcurrent runs appenders, readers, syncs, retention and Watch watchers at once
// (run it with -race): every read must return whole valid batches in offset order, and in the
// end the log holds exactly what was appended after the start offset.
func TestConcurrent(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionMs = -1
	cfg.RetentionBytes = 256 << 10
	l := openTestLog(t, t.TempDir(), cfg, 0, true)
	var (
		mu       sync.Mutex
		appended = map[int64][]byte{} // base offset -> batch
		stop     atomic.Bool
		wg       sync.WaitGroup
		errs     = make(chan error, 16)
	)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}
	for g := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewSource(int64(g)))
			for !stop.Load() {
				b := randomBatch(rng, 1+rng.Intn(2000), 1)
				info, err := l.Append(b, segment.AppendOptions{})
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				appended[info.FirstOffset] = b
				mu.Unlock()
			}
		})
	}
	for g := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewSource(int64(100 + g)))
			for !stop.Load() {
				start, end := l.StartOffset(), l.EndOffset()
				offset := start + rng.Int63n(end-start+1)
				durable := rng.Intn(2) == 0
				rr, err := l.Read(offset, 1+rng.Intn(20000), segment.ReadOptions{DurableOnly: durable, MinOneBatch: true})
				if errors.Is(err, segment.ErrOffsetOutOfRange) && offset < l.StartOffset() {
					continue // retention moved the start meanwhile
				}
				if err != nil {
					fail(err)
					return
				}
				b := make([]byte, rr.Range.Size)
				if _, err := rr.Range.File.ReadAt(b, rr.Range.Position); err != nil && rr.Range.Size > 0 {
					fail(err)
				}
				rr.Release()
				next := int64(-1)
				for _, batch := range splitBatches(b) {
					h, err := segment.ValidateBatch(batch)
					if err != nil || (next >= 0 && h.BaseOffset != next) {
						fail(errors.Join(errors.New("bad batch in a read"), err))
						return
					}
					next = h.LastOffset() + 1
				}
				if durable && next > l.FlushedOffset() {
					fail(errors.New("durable read past the flushed offset"))
					return
				}
			}
		})
	}
	wg.Go(func() {
		for !stop.Load() {
			if _, err := l.Sync(); err != nil {
				fail(err)
				return
			}
			if _, err := l.ApplyRetention(time.Now()); err != nil {
				fail(err)
				return
			}
		}
	})
	wg.Go(func() {
		ch := make(chan struct{}, 1)
		l.Watch(ch)
		defer l.Unwatch(ch)
		for !stop.Load() {
			end := l.EndOffset()
			select {
			case <-ch:
				if l.EndOffset() < end {
					fail(errors.New("end went backwards"))
				}
			case <-time.After(5 * time.Second):
				if !stop.Load() {
					fail(errors.New("no wake-up for 5 seconds while appending"))
				}
				return
			}
		}
	})
	// Run until retention has deleted segments many times under the readers
	// (or something failed), however fast or loaded the machine is.
	took := wait.Until(t, time.Minute, "retention to pass offset 2000", func() bool {
		return stop.Load() || l.StartOffset() >= 2000
	})
	t.Logf("start offset %d after %v", l.StartOffset(), took)
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	got := readAllBatches(t, l, l.StartOffset(), false)
	if len(got) == 0 {
		t.Fatal("nothing left")
	}
	for _, b := range got {
		h := header(b)
		want, ok := appended[h.BaseOffset]
		if !ok || string(want) != string(b) {
			t.Fatalf("batch at %d is not the one appended there", h.BaseOffset)
		}
	}
}
