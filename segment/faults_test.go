package segment_test

import (
	"bytes"
	"errors"
	"math/rand"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"runnel/io/disk/faultfs"
	"runnel/io/flush"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

// faultConfig has segments large enough for runFaultLoad's large appends (up to 230 KiB) and
// small enough to roll often.
func faultConfig(fs *faultfs.FS) segment.Config {
	c := segment.DefaultConfig()
	c.SegmentBytes = 1 << 20
	c.PreallocateBytes = 256 << 10
	c.SegmentIndexBytes = 4096
	c.IndexIntervalBytes = 1024
	if fs != nil {
		c.FS = fs
	}
	return c
}

// faultLoad is what appenders saw: the batches acknowledged durable (by first offset, as
// stored) and the errors they got.
type faultLoad struct {
	mu          sync.Mutex
	acked       map[int64][]byte
	large       int // acknowledged batches of 32 KiB or more
	syncErrs    []error
	appendErrs  []error
	ackedSignal chan struct{} // gets a token per acknowledgement, if not full
}

// runFaultLoad runs appenders against l through a durable flusher, one batch in flight each,
// until stop is closed, an append or sync fails, or each has sent perAppender batches. One
// batch in largeEvery (0: none) is 40-230 KiB. It returns when the appenders have stopped.
func runFaultLoad(t *testing.T, l *segment.Log, f *flush.Flusher, seed int64, largeEvery, perAppender int, stop <-chan struct{}, ld *faultLoad) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewSource(seed<<8 | int64(g)))
			for range perAppender {
				select {
				case <-stop:
					return
				default:
				}
				size := 50 + rng.Intn(3000)
				large := largeEvery > 0 && rng.Intn(largeEvery) == 0
				if large {
					size = 40<<10 + rng.Intn(190<<10)
				}
				b := randomBatch(rng, size, 1)
				info, err := l.Append(b, segment.AppendOptions{})
				if err != nil {
					ld.mu.Lock()
					ld.appendErrs = append(ld.appendErrs, err)
					ld.mu.Unlock()
					return
				}
				done := make(chan error, 1)
				f.Wait(l, info.LastOffset+1, func(err error) { done <- err })
				err = <-done
				ld.mu.Lock()
				if err != nil {
					ld.syncErrs = append(ld.syncErrs, err)
				} else {
					ld.acked[info.FirstOffset] = b // stamped in place: the stored bytes
					if large {
						ld.large++
					}
				}
				ld.mu.Unlock()
				if err != nil {
					return
				}
				select {
				case ld.ackedSignal <- struct{}{}:
				default:
				}
			}
		})
	}
	wg.Wait()
}

// checkAcked reopens the log in dir as after a crash and checks that every acknowledged batch
// is there, byte for byte, and that the log takes appends.
func checkAcked(t *testing.T, dir string, acked map[int64][]byte) {
	t.Helper()
	l, err := segment.OpenLog(dir, testTP, faultConfig(nil), 0, false, quietLogger)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer l.Close()
	checkAckedIn(t, l, acked)
	mustAppend(t, l, randomBatch(rand.New(rand.NewSource(1)), 100, 1))
	if _, err := l.Sync(); err != nil {
		t.Fatalf("Sync after reopen: %v", err)
	}
}

// checkAckedIn checks that every acknowledged batch is in l, byte for byte.
func checkAckedIn(t *testing.T, l *segment.Log, acked map[int64][]byte) {
	t.Helper()
	for offset, want := range acked {
		rr, err := l.Read(offset, 1, segment.ReadOptions{MinOneBatch: true})
		if err != nil {
			t.Fatalf("acknowledged offset %d: %v (log ends at %d)", offset, err, l.EndOffset())
		}
		got := splitBatches(rangeBytes(t, &rr))
		if len(got) == 0 || !bytes.Equal(got[0], want) {
			t.Fatalf("acknowledged offset %d: lost or changed after the crash (log ends at %d)", offset, l.EndOffset())
		}
	}
}

// TestSyncFailureIsSticky fails every k-th fdatasync of the segment files under load: the
// waiters of the failed sync get ErrStorageFailed, the log refuses appends, reads and syncs from
// then on, no later Sync declares anything more durable, and after a crash (on a file system that,
// like Linux, drops the writes of a failed fdatasync for good) every acknowledged batch is there.
func TestSyncFailureIsSticky(t *testing.T) {
	for _, k := range []int{1, 3, 8} {
		t.Run("every="+string(rune('0'+k)), func(t *testing.T) {
			root := t.TempDir()
			fs := faultfs.NewCrashable(root)
			fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Every: k, PathContains: segment.LogSuffix})
			dir := filepath.Join(root, testTP.DirName())
			l, err := segment.OpenLog(dir, testTP, faultConfig(fs), 0, false, quietLogger)
			if err != nil {
				t.Fatal(err)
			}
			f := flush.New(flush.Config{Policy: flush.Durable})
			ld := &faultLoad{acked: map[int64][]byte{}}
			runFaultLoad(t, l, f, int64(k), 16, 200, nil, ld)
			if fs.Injected() == 0 {
				t.Fatal("no fdatasync failed")
			}
			if len(ld.syncErrs) == 0 {
				t.Fatal("no waiter saw the failed sync")
			}
			for _, err := range append(ld.syncErrs, ld.appendErrs...) {
				if !errors.Is(err, segment.ErrStorageFailed) || !errors.Is(err, syscall.EIO) {
					t.Fatalf("error %v does not wrap ErrStorageFailed and EIO", err)
				}
			}
			flushed := l.FlushedOffset()
			for range 3 {
				if end, err := l.Sync(); !errors.Is(err, segment.ErrStorageFailed) {
					t.Fatalf("Sync after the failure: end %d, err %v; want ErrStorageFailed", end, err)
				}
			}
			if got := l.FlushedOffset(); got != flushed {
				t.Fatalf("flushed offset moved from %d to %d after a failed sync", flushed, got)
			}
			if _, err := l.Append(randomBatch(rand.New(rand.NewSource(2)), 100, 1), segment.AppendOptions{}); !errors.Is(err, segment.ErrStorageFailed) {
				t.Fatalf("Append after the failure: %v, want ErrStorageFailed", err)
			}
			if _, err := l.Read(l.StartOffset(), 1, segment.ReadOptions{MinOneBatch: true}); !errors.Is(err, segment.ErrStorageFailed) {
				t.Fatalf("Read after the failure: %v, want ErrStorageFailed", err)
			}
			clone := filepath.Join(t.TempDir(), "clone")
			if err := fs.CrashClone(clone); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := l.Close(); !errors.Is(err, segment.ErrStorageFailed) {
				t.Fatalf("Close of a failed log: %v, want ErrStorageFailed", err)
			}
			checkAcked(t, filepath.Join(clone, testTP.DirName()), ld.acked)
			checkAcked(t, dir, ld.acked) // and a restart on the real files
		})
	}
}

// TestCrashFaultFS cuts the power at random moments of acks=all load on a LogDir, small appends
// and large ones mixed, with checkpoints written now and then. Each round restarts on what the
// previous crash left (recovering from the recovery-point checkpoint) and checks that every
// batch acknowledged durable in any round is there byte for byte.
func TestCrashFaultFS(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	acked := map[int64][]byte{}
	small, large := 0, 0
	dir := filepath.Join(t.TempDir(), "data")
	for round := range rounds {
		fs := faultfs.NewCrashable(dir)
		d, err := segment.OpenLogDir(dir, func(string) segment.Config { return faultConfig(fs) }, quietLogger)
		if err != nil {
			t.Fatalf("round %d: open: %v", round, err)
		}
		l, err := d.Create(testTP, faultConfig(fs))
		if err != nil {
			t.Fatal(err)
		}
		checkAckedIn(t, l, acked)
		f := flush.New(flush.Config{Policy: flush.Durable})
		ld := &faultLoad{acked: map[int64][]byte{}, ackedSignal: make(chan struct{}, 1)}
		stop := make(chan struct{})
		loaded := make(chan struct{})
		go func() {
			defer close(loaded)
			runFaultLoad(t, l, f, seed+int64(round), 6, 1<<20, stop, ld)
		}()
		for i := range 1 + rng.Intn(60) { // crash after a random number of acknowledgements
			select {
			case <-ld.ackedSignal:
			case <-loaded:
				t.Fatalf("round %d: the load stopped before the crash: %v %v", round, ld.appendErrs, ld.syncErrs)
			}
			if i%10 == 9 {
				if err := d.WriteCheckpoints(); err != nil {
					t.Fatal(err)
				}
			}
		}
		next := filepath.Join(t.TempDir(), "data")
		if err := fs.CrashClone(next); err != nil {
			t.Fatal(err)
		}
		close(stop)
		<-loaded
		f.Close()
		d.Abandon()
		ld.mu.Lock()
		for offset, b := range ld.acked {
			acked[offset] = b
		}
		small += len(ld.acked) - ld.large
		large += ld.large
		ld.mu.Unlock()
		dir = next
	}
	checkAcked(t, filepath.Join(dir, testTP.DirName()), acked)
	if small == 0 || large == 0 {
		t.Fatalf("acknowledged %d small and %d large appends; want both", small, large)
	}
	t.Logf("%d rounds, %d small and %d large appends acknowledged", rounds, small, large)
}

// TestFallocateFailureIsNotSticky: running out of space while preallocating refuses that append
// only; the log and its directory stay online (disk full is not a failing disk).
func TestFallocateFailureIsNotSticky(t *testing.T) {
	fs := faultfs.New()
	cfg := faultConfig(fs)
	cfg.PreallocateBytes = 4096
	d, err := segment.OpenLogDir(t.TempDir(), func(string) segment.Config { return cfg }, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l, err := d.Create(testTP, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	fs.Inject(faultfs.Rule{Op: faultfs.Fallocate, Every: 1, Errno: syscall.ENOSPC})
	if _, err := l.Append(randomBatch(rng, 8000, 1), segment.AppendOptions{}); !errors.Is(err, segment.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) || errors.Is(err, segment.ErrStorageFailed) {
		t.Fatalf("Append without space: %v, want ErrNoSpace (ENOSPC) and not ErrStorageFailed", err)
	}
	if err := d.Failed(); err != nil {
		t.Fatalf("log dir failed after ENOSPC: %v", err)
	}
	fs.Clear() // space freed
	mustAppend(t, l, randomBatch(rng, 8000, 1))
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestStorageFailureTakesDirOffline: one log's failed fdatasync takes its whole LogDir offline:
// every log there refuses appends, syncs and reads with the first failure, and no new log is
// created there.
func TestStorageFailureTakesDirOffline(t *testing.T) {
	fs := faultfs.New()
	cfg := faultConfig(fs)
	d, err := segment.OpenLogDir(t.TempDir(), func(string) segment.Config { return cfg }, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	bad, err := d.Create(segment.TopicPartition{Topic: "bad", Partition: 0}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	other, err := d.Create(segment.TopicPartition{Topic: "other", Partition: 0}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(4))
	mustAppend(t, other, randomBatch(rng, 100, 1))
	mustAppend(t, bad, randomBatch(rng, 100, 1))
	fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Nth: 1, PathContains: "bad-0"})
	if _, err := bad.Sync(); !errors.Is(err, segment.ErrStorageFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync: %v, want ErrStorageFailed wrapping EIO", err)
	}
	first := d.Failed()
	if first == nil || !strings.Contains(first.Error(), "bad-0") {
		t.Fatalf("LogDir.Failed() = %v, want the failure naming bad-0's file", first)
	}
	if _, err := other.Append(randomBatch(rng, 100, 1), segment.AppendOptions{}); err != first {
		t.Fatalf("Append to another log of the dir: %v, want %v", err, first)
	}
	if _, err := other.Sync(); err != first {
		t.Fatalf("Sync of another log of the dir: %v, want %v", err, first)
	}
	if got := other.FlushedOffset(); got != 0 {
		t.Fatalf("another log's flushed offset moved to %d", got)
	}
	if _, err := other.Read(0, 100, segment.ReadOptions{MinOneBatch: true}); err != first {
		t.Fatalf("Read of another log of the dir: %v, want %v", err, first)
	}
	if _, err := d.Create(segment.TopicPartition{Topic: "new", Partition: 0}, cfg); err != first {
		t.Fatalf("Create in an offline dir: %v, want %v", err, first)
	}
}

// TestTruncateSurvivesCrash truncates into the first of several segments, appends until the
// log ends exactly where the next (deleted) segment began, syncs and cuts the power: the
// deleted segments must not come back after the new batches.
func TestTruncateSurvivesCrash(t *testing.T) {
	root := t.TempDir()
	fs := faultfs.NewCrashable(root)
	dir := filepath.Join(root, testTP.DirName())
	cfg := smallConfig()
	cfg.FS = fs
	l, err := segment.OpenLog(dir, testTP, cfg, 0, false, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batch := func(seq int) []byte {
		return segmenttest.Batch([]segmenttest.Record{{Value: bytes.Repeat([]byte{byte(seq)}, 500)}}, segmenttest.Timestamp(int64(seq)))
	}
	for i := 0; l.EndOffset() < 1 || len(segmentBases(t, dir)) < 3; i++ {
		mustAppend(t, l, batch(i))
	}
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	next := segmentBases(t, dir)[1]
	if err := l.TruncateTo(next / 2); err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for l.EndOffset() < next {
		b := batch(1000 + int(l.EndOffset()))
		mustAppend(t, l, b)
		want = append(want, b)
	}
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if err := fs.CrashClone(clone); err != nil {
		t.Fatal(err)
	}
	r := openTestLog(t, filepath.Join(clone, testTP.DirName()), smallConfig(), 0, false)
	if r.EndOffset() != next {
		t.Fatalf("after the crash the log ends at %d, want %d", r.EndOffset(), next)
	}
	equalBatches(t, readAllBatches(t, r, next/2, false), want)
}

// segmentBases lists the base offsets of the .log files in dir.
func segmentBases(t *testing.T, dir string) []int64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segment.LogSuffix))
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for _, n := range names {
		base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(n), segment.LogSuffix), 10, 64)
		if err == nil {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	return bases
}

// TestTruncateZeroingFailureRefusesAppends fails the pwrite that zeroes the bytes a truncation
// removes: TruncateTo reports the EIO, the log refuses appends rather than write after bytes it
// could not clear, and a reopen finds the log as it was before the truncation.
func TestTruncateZeroingFailureRefusesAppends(t *testing.T) {
	fs := faultfs.New()
	dir := filepath.Join(t.TempDir(), testTP.DirName())
	cfg := smallConfig()
	cfg.FS = fs
	l, err := segment.OpenLog(dir, testTP, cfg, 0, false, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	want := appendSynced(t, l, rng, 40<<10)
	end := l.EndOffset()
	fs.Inject(faultfs.Rule{Op: faultfs.Pwrite, Nth: 1, PathContains: segment.LogSuffix})
	if err := l.TruncateTo(end / 2); !errors.Is(err, syscall.EIO) {
		t.Fatalf("TruncateTo with the zeroing failing: %v, want EIO", err)
	}
	if fs.Injected() != 1 {
		t.Fatalf("%d faults injected, want the zeroing's one", fs.Injected())
	}
	fs.Clear()
	if _, err := l.Append(randomBatch(rng, 1000, 1), segment.AppendOptions{}); err == nil {
		t.Fatal("Append after a failed truncation succeeded")
	}
	if err := l.Close(); err != nil {
		t.Logf("Close after a failed truncation: %v", err)
	}
	r := openTestLog(t, dir, smallConfig(), 0, false)
	if r.EndOffset() != end {
		t.Fatalf("reopened, the log ends at %d, want %d", r.EndOffset(), end)
	}
	equalBatches(t, readAllBatches(t, r, 0, false), want)
}
