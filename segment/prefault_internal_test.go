package segment

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"runnel/io/mmap"
)

// fixedClock returns a clock that tells *now.
func fixedClock(now *time.Time) func() time.Time { return func() time.Time { return *now } }

// TestPrefaultWindowShrinksWithActiveLogs: the budget is divided among the logs that appended
// in this or the last epoch, between 64 KiB and 4 MiB each, and a log alone again gets 4 MiB.
func TestPrefaultWindowShrinksWithActiveLogs(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newPrefaultBudget(256 << 20)
	b.now = fixedClock(&now)
	joined := make([]int64, 1000)
	if w := b.join(&joined[0]); w != prefaultWindow {
		t.Fatalf("one active log: window %d, want %d", w, prefaultWindow)
	}
	if w := b.join(&joined[0]); w != prefaultWindow {
		t.Fatalf("the same log again: window %d, want %d", w, prefaultWindow)
	}
	var w int64
	for n := 2; n <= len(joined); n++ {
		prev := w
		if w = b.join(&joined[n-1]); n > 64 && w >= prev {
			t.Fatalf("%d active logs: window %d, not below %d", n, w, prev)
		}
	}
	if want := int64(256<<20) / 1000; w != want {
		t.Fatalf("1,000 active logs: window %d, want %d", w, want)
	}
	now = now.Add(activeEpoch)
	if w := b.join(&joined[0]); w != int64(256<<20)/1000 {
		t.Fatalf("next epoch, 1,000 logs active in the last: window %d, want %d", w, int64(256<<20)/1000)
	}
	now = now.Add(activeEpoch)
	if w := b.join(&joined[0]); w != prefaultWindow {
		t.Fatalf("one log active in the last epoch: window %d, want %d", w, prefaultWindow)
	}
	for i := range joined {
		joined[i] = 0
	}
	small := newPrefaultBudget(32 << 20)
	small.now = fixedClock(&now)
	for i := range joined {
		w = small.join(&joined[i])
	}
	if w != minPrefaultWindow {
		t.Fatalf("32 MiB among 1,000 logs: window %d, want the floor %d", w, minPrefaultWindow)
	}
	if w := newPrefaultBudget(0).join(&joined[0]); w != 0 {
		t.Fatalf("no budget: window %d, want 0", w)
	}
}

// TestReleaseChunkFollowsTheWindow: the synced pages a log keeps mapped shrink with its share of
// the budget, in whole 64 KiB, from 1 MiB (few active logs, or no budget) to 64 KiB.
func TestReleaseChunkFollowsTheWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newPrefaultBudget(256 << 20)
	b.now = fixedClock(&now)
	joined := make([]int64, 10000)
	b.join(&joined[0])
	if c := b.releaseChunk(); c != releaseChunk {
		t.Fatalf("one active log: chunk %d, want %d", c, releaseChunk)
	}
	for i := range 1000 {
		b.join(&joined[i])
	}
	if c, want := b.releaseChunk(), int64(256<<20)/1000/minPrefaultWindow*minPrefaultWindow; c != want {
		t.Fatalf("1,000 active logs: chunk %d, want %d", c, want)
	}
	for i := range joined {
		b.join(&joined[i])
	}
	if c := b.releaseChunk(); c != minPrefaultWindow {
		t.Fatalf("10,000 active logs: chunk %d, want %d", c, minPrefaultWindow)
	}
	if c := newPrefaultBudget(0).releaseChunk(); c != releaseChunk {
		t.Fatalf("no budget: chunk %d, want %d", c, releaseChunk)
	}
}

// TestPrefaultManyLogsReserveWhatTheyHold: 1,000 logs of a directory with 4 KiB preallocation,
// each holding one small batch, fallocate their share of the default budget ahead at most,
// not 4 MiB each (4 GB in all).
func TestPrefaultManyLogsReserveWhatTheyHold(t *testing.T) {
	const logs = 1000
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	cfg.PreallocateBytes = 4 << 10
	cfg.SegmentIndexBytes = 4 << 10
	path := t.TempDir()
	d, err := OpenLogDir(path, func(string) Config { return cfg }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.Unix(1000, 0) // one epoch throughout: every log is counted active
	d.prefault.now = fixedClock(&now)
	for p := range logs {
		if _, err := d.Create(TopicPartition{Topic: "t", Partition: int32(p)}, cfg); err != nil {
			t.Fatal(err)
		}
	}
	for tp, l := range d.Logs() {
		batch := BuildBatch(nil, 0, []KeyValue{{Value: []byte(strings.Repeat("v", 1000))}})
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			t.Fatalf("%v: %v", tp, err)
		}
	}
	var held, reserved int64
	err = filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, logSuffix) {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		reserved += info.Sys().(*syscall.Stat_t).Blocks * 512
		for _, l := range d.Logs() {
			if filepath.Dir(p) == l.dir {
				held += l.mu.active.size.Load()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	window := int64(DefaultPrefaultTotal / logs)
	if limit := held + logs*(window+cfg.PreallocateBytes); reserved > limit {
		t.Fatalf("%d logs holding %d bytes reserve %s, over %s (their window of %d bytes each, plus a chunk)",
			logs, held, mib(reserved), mib(limit), window)
	}
	t.Logf("%d logs hold %s and reserve %s", logs, mib(held), mib(reserved))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// TestPrefaultSkipsReleased: a pre-fault request that runs after the segment's released mark
// passed part of its range populates only what lies above the mark, so that it reads no
// dropped page back from disk.
func TestPrefaultSkipsReleased(t *testing.T) {
	const size = 4 << 20
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Skip("tmpfs keeps every page in memory")
	}
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, size, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	m, err := mmap.Map(f, size, true)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	// Without read-around: a fault on a missing page of a file mapping reads the device's
	// read-ahead (8 MiB on this VM's disk) centred on it, pages below the mark included; that
	// is the kernel's, not the request's.
	if err := m.Advise(0, size, unix.MADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	var released atomic.Int64
	released.Store(size / 2)
	p := prefaulter{logger: slog.Default(), budget: newPrefaultBudget(DefaultPrefaultTotal)}
	if !p.request(m, &released, 0, size) {
		t.Fatal("request refused")
	}
	p.wait()
	page := os.Getpagesize()
	vec := make([]byte, size/page)
	b := m.Bytes()
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	var below, above int
	for i, v := range vec {
		if v&1 != 0 && i*page < size/2 {
			below += page
		} else if v&1 != 0 {
			above += page
		}
	}
	if below != 0 || above != size/2 {
		t.Fatalf("after a pre-fault of [0, %d) with the released mark at %d: %d bytes below the mark and %d above it in the page cache, want 0 and %d", size, size/2, below, above, size/2)
	}
}
