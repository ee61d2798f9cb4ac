package segment_test

import (
	"errors"
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
	rng := rand.New(rand.NewSource(31))
	var want [][]byte
	appendFits := func() error {
		b := randomBatch(rng, 60<<10, 1)
		_, err := l.Append(b, segment.AppendOptions{})
		if err == nil {
			want = append(want, b)
			return nil
		}
		if !errors.Is(err, segment.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append on a full disk: %v, want ErrNoSpace wrapping ENOSPC", err)
		}
		return err
	}

	filler := disktest.Fill(t, mnt, 12<<20)
	free := disktest.Available(t, mnt)
	appended := int64(0)
	for appendFits() == nil {
		appended += int64(len(want[len(want)-1]))
	}
	if appended < free-(512<<10) {
		t.Fatalf("appends refused after %d bytes with %d free at the start", appended, free)
	}
	if !d.ShortOfSpace() {
		t.Fatal("log dir not short of space after an append was refused")
	}
	info, err := os.Stat(filepath.Join(path, testTP.DirName(), segment.SegmentFileName(0, segment.LogSuffix)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > appended+(64<<10) {
		t.Fatalf(".log is %d bytes holding %d: a failed preallocation kept what it took", info.Size(), appended)
	}
	for range 3 {
		if appendFits() == nil {
			t.Fatal("an append succeeded on a full disk")
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

	// Reopen on a full disk: after a crash, then after a clean close.
	filler = disktest.Fill(t, mnt, 16<<10)
	d.Abandon()
	if d, err = segment.OpenLogDir(path, cfgFor, quietLogger); err != nil {
		t.Fatalf("reopen after a crash on a full disk: %v", err)
	}
	equalBatches(t, readAllBatches(t, d.Logs()[testTP], 0, false), want)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	disktest.Fill(t, mnt, 16<<10)
	if d, err = segment.OpenLogDir(path, cfgFor, quietLogger); err != nil {
		t.Fatalf("reopen after a clean close on a full disk: %v", err)
	}
	l = d.Logs()[testTP]
	equalBatches(t, readAllBatches(t, l, 0, false), want)
	disktest.Free(t, filler, 1<<20)
	if err := appendFits(); err != nil {
		t.Fatalf("append after reopening and freeing 1 MiB: %v", err)
	}
}
