package segment_test

import (
	"bytes"
	"math/rand"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"runnel/io/disk"
	"runnel/segment"
)

// zeroWrite is a pwrite of zeros to a .log that zeroWatchFS saw.
type zeroWrite struct {
	off, n     int64
	sizeBefore int64 // the file's size when it was made
}

// zeroWatchFS records the pwrites of zeros to .log files, and can fail them.
type zeroWatchFS struct {
	disk.FS
	mu     sync.Mutex
	writes []zeroWrite
	fail   bool
}

func (f *zeroWatchFS) Pwrite(file *os.File, b []byte, off int64) error {
	if !strings.HasSuffix(file.Name(), ".log") || len(b) < 4096 || bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
		return f.FS.Pwrite(file, b, off)
	}
	info, err := file.Stat()
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, zeroWrite{off: off, n: int64(len(b)), sizeBefore: info.Size()})
	if f.fail {
		return syscall.EIO
	}
	return f.FS.Pwrite(file, b, off)
}

// openDir opens dir, for a SyncFS of its file system.
func openDir(t *testing.T, dir string) *os.File {
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func (f *zeroWatchFS) taken() []zeroWrite {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.writes
	f.writes = nil
	return w
}

// TestZeroAhead: after a small sync, appends keep written zeros ahead of the log's end (at least
// 64 KiB once they write, each block once, never over a batch, never past the fallocated size); after a large
// one, or a group sync, they write none; every batch reads back and recovers whole, with and without a clean
// shutdown, across rolls.
func TestZeroAhead(t *testing.T) {
	fs := &zeroWatchFS{FS: disk.OS}
	cfg := segment.DefaultConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.PreallocateBytes = 256 << 10
	cfg.FS = fs
	dir := t.TempDir()
	l := openTestLog(t, dir, cfg, 0, true)
	rng := rand.New(rand.NewSource(1))
	var want [][]byte
	var end int64 // the log's byte end after the last append, within its segment
	appendSync := func(size int, sync bool) {
		b := randomBatch(rng, size, 1)
		info := mustAppend(t, l, b)
		if info.FirstOffset == 0 || end+int64(len(b)) > cfg.SegmentBytes {
			end = 0 // the first append, or a roll
		}
		end += int64(len(b))
		want = append(want, b)
		if sync {
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}

	appendSync(1000, false)
	if w := fs.taken(); len(w) > 0 {
		t.Fatalf("zeros written before any sync: %+v", w)
	}
	appendSync(1000, true) // a small sync: zeroing from the next append on
	for range 2000 {       // about 2 MiB: rolls twice
		appendSync(500+rng.Intn(1500), true)
	}
	writes := fs.taken()
	if len(writes) < 10 {
		t.Fatalf("%d zero writes over 2 MiB of small synced appends, want one at least every 64 KiB", len(writes))
	}
	for i, w := range writes {
		if i > 0 && w.off >= writes[i-1].off && w.off < writes[i-1].off+writes[i-1].n {
			t.Errorf("zero write [%d, +%d) again over the last one, [%d, +%d)", w.off, w.n, writes[i-1].off, writes[i-1].n)
		}
		if w.n < 60<<10 && w.off+w.n != w.sizeBefore {
			t.Errorf("zero write of %d bytes at %d, short of the fallocated end %d", w.n, w.off, w.sizeBefore)
		}
		if w.off%4096 != 0 || w.n%4096 != 0 {
			t.Errorf("zero write [%d, +%d) not in whole blocks", w.off, w.n)
		}
		if w.off+w.n > w.sizeBefore {
			t.Errorf("zero write [%d, +%d) past the file's size %d", w.off, w.n, w.sizeBefore)
		}
	}

	// Large syncs turn it off.
	appendSync(200<<10, true)
	fs.taken()
	for range 20 {
		appendSync(100<<10, true)
	}
	if w := fs.taken(); len(w) > 0 {
		t.Fatalf("zeros written after syncs of 100 KiB: %+v", w)
	}
	appendSync(1000, true) // and a small one on again
	appendSync(1000, false)
	if w := fs.taken(); len(w) != 1 || w[0].off < end {
		t.Fatalf("after a small sync: zero writes %+v, want one after the end %d", w, end)
	}

	// A group sync (PrepareSync, then a syncfs) turns it off, however small.
	appendSync(1000, false)
	finish, err := l.PrepareSync()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := finish(disk.OS.SyncFS(openDir(t, dir))); err != nil {
		t.Fatal(err)
	}
	fs.taken()
	for range 100 {
		appendSync(1000, false)
	}
	if w := fs.taken(); len(w) > 0 {
		t.Fatalf("zeros written after a group sync: %+v", w)
	}

	equalBatches(t, readAllBatches(t, l, 0, false), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, clean := range []bool{true, false} {
		l = openTestLog(t, dir, cfg, 0, clean)
		equalBatches(t, readAllBatches(t, l, 0, false), want)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestZeroAheadWriteFailure: a failed write of zeros costs the segment its zeroing, nothing else:
// the append that made it succeeds, later appends and syncs too, and no more zeros are written
// to that segment.
func TestZeroAheadWriteFailure(t *testing.T) {
	fs := &zeroWatchFS{FS: disk.OS, fail: true}
	cfg := segment.DefaultConfig()
	cfg.PreallocateBytes = 64 << 10 // fallocations after the failure: zeroing must not resume
	cfg.FS = fs
	l := openTestLog(t, t.TempDir(), cfg, 0, true)
	rng := rand.New(rand.NewSource(2))
	var want [][]byte
	for i := range 200 {
		b := randomBatch(rng, 1000, 1)
		mustAppend(t, l, b)
		want = append(want, b)
		if _, err := l.Sync(); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
	}
	if w := fs.taken(); len(w) != 1 {
		t.Fatalf("zero writes %+v, want the one that failed", w)
	}
	equalBatches(t, readAllBatches(t, l, 0, true), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
