package segment_test

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"runnel/io/disk/disktest"
	"runnel/segment"
)

// TestDiskFull appends to a log on a small ext4 that is nearly full (less free than one
// preallocation chunk). Appends go on while the file system has room for them (preallocation
// shrinks to what fits, and a failed fallocate gives back what it took: ext4 keeps the blocks
// it got before running out), then fail with ErrNoSpace without failing the log, and succeed
// again once a little space is freed; the directory reports short of space, and space again
// once a whole chunk is granted. The log directory then reopens on a full disk, after a crash
// and after a clean close, with everything appended. Needs root (skipped otherwise).
func TestDiskFull(t *testing.T) {
	mnt := disktest.SmallExt4(t, 64)
	path := filepath.Join(mnt, "data")
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = 32 << 20
	cfg.PreallocateBytes = 16 << 20
	cfg.SegmentIndexBytes = 1 << 20
	cfgFor := func(string) segment.Config { return cfg }
	d, err := segment.OpenLogDir(path, cfgFor, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if d != nil {
			d.Close()
		}
	}()
	l, err := d.Create(testTP, cfg)
	if err != nil {
		t.Fatal(err)
	}
	empty := segment.TopicPartition{Topic: "empty", Partition: 0}
	if _, err := d.Create(empty, cfg); err != nil {
		t.Fatal(err)
	}
	otherTP := segment.TopicPartition{Topic: "other", Partition: 0}
	other, err := d.Create(otherTP, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(31))
	var want, wantOther [][]byte
	appendTo := func(l *segment.Log, want *[][]byte) error {
		b := randomBatch(rng, 60<<10, 1)
		_, err := l.Append(b, segment.AppendOptions{})
		if err == nil {
			*want = append(*want, b)
			return nil
		}
		if !errors.Is(err, segment.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append on a full disk: %v, want ErrNoSpace wrapping ENOSPC", err)
		}
		return err
	}
	appendFits := func() error { return appendTo(l, &want) }

	// Two logs take turns until one is refused: neither may hold space the other needs.
	filler := disktest.Fill(t, mnt, 12<<20)
	free := disktest.Available(t, mnt)
	full := l
	for i := 0; ; i++ {
		if i%2 == 0 && appendFits() != nil {
			break
		}
		if i%2 == 1 && appendTo(other, &wantOther) != nil {
			full = other
			break
		}
	}
	appended := int64(0)
	for tp, batches := range map[segment.TopicPartition][][]byte{testTP: want, otherTP: wantOther} {
		size := int64(0)
		for _, b := range batches {
			size += int64(len(b))
		}
		info, err := os.Stat(filepath.Join(path, tp.DirName(), segment.SegmentFileName(0, segment.LogSuffix)))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > size+(64<<10) {
			t.Fatalf("%v: .log is %d bytes holding %d: a failed preallocation kept what it took", tp, info.Size(), size)
		}
		appended += size
	}
	if appended < free-(512<<10) {
		t.Fatalf("appends refused after %d bytes with %d free at the start", appended, free)
	}
	if !d.ShortOfSpace() {
		t.Fatal("log dir not short of space after an append was refused")
	}
	for range 3 {
		if _, err := full.Append(randomBatch(rng, 60<<10, 1), segment.AppendOptions{}); !errors.Is(err, segment.ErrNoSpace) {
			t.Fatalf("Append on a full disk: %v, want ErrNoSpace", err)
		}
	}
	if n := d.NoSpaceAppends(); n < 4 {
		t.Fatalf("NoSpaceAppends = %d, want at least 4", n)
	}

	disktest.Free(t, filler, 2<<20) // a little: less than a chunk
	for range 16 {                  // 1 MiB
		if err := appendFits(); err != nil {
			t.Fatalf("append after freeing 2 MiB: %v", err)
		}
	}
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filler) // plenty: whole chunks are granted again
	for i := 0; d.ShortOfSpace(); i++ {
		if i == 400 { // 24 MiB
			t.Fatal("log dir still short of space with the disk empty")
		}
		if err := appendFits(); err != nil {
			t.Fatalf("append with the disk empty: %v", err)
		}
	}
	equalBatches(t, readAllBatches(t, l, 0, false), want)
	equalBatches(t, readAllBatches(t, other, 0, false), wantOther)

	// Reopen on a full disk (nothing free): after a crash, then after a clean close, which
	// gives back the preallocated space that the filler then takes.
	filler = disktest.Fill(t, mnt, 0)
	d.Abandon()
	if d, err = segment.OpenLogDir(path, cfgFor, quietLogger); err != nil {
		t.Fatalf("reopen after a crash on a full disk: %v", err)
	}
	equalBatches(t, readAllBatches(t, d.Logs()[testTP], 0, false), want)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	filler2 := disktest.Fill(t, mnt, 0)
	if d, err = segment.OpenLogDir(path, cfgFor, quietLogger); err != nil {
		t.Fatalf("reopen after a clean close on a full disk: %v", err)
	}
	l = d.Logs()[testTP]
	equalBatches(t, readAllBatches(t, l, 0, false), want)
	filler3 := disktest.Fill(t, mnt, 0) // what opening gave back
	for _, tp := range []segment.TopicPartition{testTP, empty} {
		l = d.Logs()[tp]
		if appendFits() == nil {
			t.Fatalf("%v: an append succeeded on a full disk", tp)
		}
	}
	os.Remove(filler)
	os.Remove(filler2)
	os.Remove(filler3)
	for _, tp := range []segment.TopicPartition{empty, testTP} {
		l = d.Logs()[tp]
		if err := appendFits(); err != nil {
			t.Fatalf("%v: append after reopening on a full disk and freeing space: %v", tp, err)
		}
	}
	equalBatches(t, readAllBatches(t, d.Logs()[empty], 0, false), want[len(want)-2:len(want)-1])
}

// TestDiskFullRolls fills a small ext4 with a log of small segments, so that rolls run out
// of space too (a new segment's indexes, not only its .log): every acknowledged batch stays
// readable, no segment is rolled per batch, and appends resume once space is freed, also
// after a crash. Needs root (skipped otherwise).
func TestDiskFullRolls(t *testing.T) {
	mnt := disktest.SmallExt4(t, 32)
	dir := filepath.Join(mnt, "t-0")
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = 256 << 10
	cfg.PreallocateBytes = 128 << 10
	cfg.SegmentIndexBytes = 64 << 10
	l := openTestLog(t, dir, cfg, 0, true)
	filler := disktest.Fill(t, mnt, 3<<20)
	rng := rand.New(rand.NewSource(32))
	var want [][]byte
	appended, refused := 0, 0
	for refused < 20 {
		b := randomBatch(rng, 1+rng.Intn(40<<10), 1)
		if _, err := l.Append(b, segment.AppendOptions{}); err != nil {
			if !errors.Is(err, segment.ErrNoSpace) {
				t.Fatalf("Append on a full disk: %v, want ErrNoSpace", err)
			}
			refused++
			continue
		}
		want = append(want, b)
		appended += len(b)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := 0
	for _, e := range entries {
		if filepath.Ext(e.Name()) == segment.LogSuffix {
			logs++
		}
	}
	if max := appended/int(cfg.SegmentBytes-(40<<10)) + 2; logs > max {
		t.Fatalf("%d segments for %d bytes, want at most %d", logs, appended, max)
	}
	disktest.Free(t, filler, 1<<20)
	for range 10 {
		want = append(want, randomBatch(rng, 20<<10, 1))
		mustAppend(t, l, want[len(want)-1])
	}
	equalBatches(t, readAllBatches(t, l, 0, false), want)
	l.Abandon()
	equalBatches(t, readAllBatches(t, openTestLog(t, dir, cfg, 0, false), 0, false), want)
}

// TestDiskFullNoIndexRoom: a roll on a full disk whose new segment can reserve nothing for
// its indexes is refused with ErrNoSpace, even though sealing the old segment would free
// its preallocated tail: a segment that cannot index its batches would have every read scan
// it from the start, and roll again at its next append. Needs root (skipped otherwise).
func TestDiskFullNoIndexRoom(t *testing.T) {
	mnt := disktest.SmallExt4(t, 16)
	dir := filepath.Join(mnt, "t-0")
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = 8 << 20
	cfg.PreallocateBytes = 1 << 20
	cfg.SegmentIndexBytes = 48 // a time index of 4 slots: full after 3 entries
	cfg.IndexIntervalBytes = 1 // an entry per batch
	l := openTestLog(t, dir, cfg, 0, true)
	rng := rand.New(rand.NewSource(33))
	var want [][]byte
	for range 4 {
		want = append(want, randomBatch(rng, 1000, int64(len(want)+1)))
		mustAppend(t, l, want[len(want)-1])
	}
	filler := disktest.Fill(t, mnt, 0)
	if _, err := l.Append(randomBatch(rng, 1000, 10), segment.AppendOptions{}); !errors.Is(err, segment.ErrNoSpace) {
		t.Fatalf("Append that rolls on a full disk: %v, want ErrNoSpace", err)
	}
	os.Remove(filler)
	want = append(want, randomBatch(rng, 1000, 11))
	mustAppend(t, l, want[len(want)-1])
	equalBatches(t, readAllBatches(t, l, 0, false), want)
}

// TestPreallocationFallback runs without root on a simulated file system that grants at most
// 4 KiB per fallocate and, like ext4, keeps the blocks and the size it got when it refuses
// more. Appends succeed (preallocation falls back to what they need), and a refused fallocate
// is undone: the next one finds the .log at the size the refused one found.
func TestPreallocationFallback(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig() // 16 KiB chunks
	l := openTestLog(t, dir, cfg, 0, true)
	const grant = 4 << 10
	refusedAt := int64(-1) // the size a refused fallocate found, until the next call
	refused := 0
	var undoErr error
	restore := segment.SetFallocate(func(f *os.File, off, n int64) error {
		info, err := f.Stat()
		if err != nil {
			return err
		}
		if refusedAt >= 0 && info.Size() != refusedAt && undoErr == nil {
			undoErr = fmt.Errorf(".log is %d bytes after a refused fallocate, was %d", info.Size(), refusedAt)
		}
		refusedAt = -1
		if err := syscall.Fallocate(int(f.Fd()), 0, off, min(n, grant)); err != nil {
			return err
		}
		if n > grant {
			refused++
			refusedAt = info.Size()
			return &os.PathError{Op: "fallocate", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return nil
	})
	defer restore()
	rng := rand.New(rand.NewSource(34))
	var want [][]byte
	for range 40 {
		b := randomBatch(rng, 1000, 1)
		mustAppend(t, l, b)
		want = append(want, b)
	}
	if undoErr != nil {
		t.Fatal(undoErr)
	}
	if refused == 0 {
		t.Fatal("no fallocate refused")
	}
	equalBatches(t, readAllBatches(t, l, 0, false), want)
}

// TestDiskFullEpochCheckpoint: WriteEpochs that cannot write leader-epoch-checkpoint for lack
// of space fails with ErrNoSpace (not a storage failure: the old file is intact, and Sync, which
// does not write it, still works), and the next WriteEpochs, once space is freed, writes it.
// Needs root (skipped otherwise).
func TestDiskFullEpochCheckpoint(t *testing.T) {
	mnt := disktest.SmallExt4(t, 16)
	dir := filepath.Join(mnt, "t-0")
	cfg := segment.DefaultConfig()
	cfg.PreallocateBytes = 1 << 20
	cfg.SegmentIndexBytes = 64 << 10
	l := openTestLog(t, dir, cfg, 0, true)
	rng := rand.New(rand.NewSource(35))
	if _, err := l.Append(randomBatch(rng, 1000, 1), segment.AppendOptions{LeaderEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteEpochs(); err != nil {
		t.Fatal(err)
	}
	filler := disktest.Fill(t, mnt, 0)
	// Fits in the preallocated chunk; its new epoch needs the checkpoint rewritten.
	if _, err := l.Append(randomBatch(rng, 1000, 2), segment.AppendOptions{LeaderEpoch: 2}); err != nil {
		t.Fatal(err)
	}
	if end, err := l.Sync(); err != nil || end != l.EndOffset() {
		t.Fatalf("Sync on a full disk: %d, %v; want %d, nil", end, err, l.EndOffset())
	}
	if err := l.WriteEpochs(); !errors.Is(err, segment.ErrNoSpace) {
		t.Fatalf("WriteEpochs on a full disk: %v, want ErrNoSpace", err)
	}
	os.Remove(filler)
	if err := l.WriteEpochs(); err != nil {
		t.Fatalf("WriteEpochs after freeing space: %v", err)
	}
	epochs, err := segment.ReadLeaderEpochCheckpoint(filepath.Join(dir, "leader-epoch-checkpoint"))
	if err != nil || len(epochs) != 2 {
		t.Fatalf("leader-epoch-checkpoint: %v, %v; want epochs 1 and 2", epochs, err)
	}
}
