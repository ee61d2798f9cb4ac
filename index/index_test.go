package index

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// testIndex is what both index types share, so lifecycle tests run against each.
type testIndex interface {
	Entries() int
	IsFull() bool
	BaseOffset() int64
	TruncateTo(offset int64)
	Reset()
	Sync() error
	Seal() error
	Close() error
	SanityCheck() error
}

// kind adapts one index type to the lifecycle tests. Canonical entry i has offset
// base+2i+1, position 100i and timestamp 1000+10i.
type kind struct {
	name      string
	entrySize int
	path      func(dir string, base int64) string
	open      func(path string, base int64, maxBytes int, writable bool) (testIndex, error)
	add       func(x testIndex, i int) error
	// found reports whether a lookup just past canonical entry i finds exactly entry i.
	found func(x testIndex, i int) bool
}

var kinds = []kind{
	{
		name:      "offset",
		entrySize: OffsetEntrySize,
		path:      indexPath,
		open: func(path string, base int64, maxBytes int, writable bool) (testIndex, error) {
			return OpenOffsetIndex(path, base, maxBytes, writable)
		},
		add: func(x testIndex, i int) error {
			o := x.(*OffsetIndex)
			return o.Append(o.BaseOffset()+2*int64(i)+1, 100*uint32(i))
		},
		found: func(x testIndex, i int) bool {
			o := x.(*OffsetIndex)
			offset := o.BaseOffset() + 2*int64(i) + 1
			gotOffset, gotPosition := o.Lookup(offset + 1)
			return gotOffset == offset && gotPosition == 100*uint32(i)
		},
	},
	{
		name:      "time",
		entrySize: TimeEntrySize,
		path:      timeIndexPath,
		open: func(path string, base int64, maxBytes int, writable bool) (testIndex, error) {
			return OpenTimeIndex(path, base, maxBytes, writable)
		},
		add: func(x testIndex, i int) error {
			t := x.(*TimeIndex)
			return t.MaybeAppend(1000+10*int64(i), t.BaseOffset()+2*int64(i)+1)
		},
		found: func(x testIndex, i int) bool {
			t := x.(*TimeIndex)
			timestamp := 1000 + 10*int64(i)
			gotTimestamp, gotOffset := t.Lookup(timestamp + 5)
			return gotTimestamp == timestamp && gotOffset == t.BaseOffset()+2*int64(i)+1
		},
	},
}

// forEachKind runs test as a subtest for each index type.
func forEachKind(t *testing.T, test func(t *testing.T, k kind)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { test(t, k) })
	}
}

func (k kind) mustOpen(t *testing.T, path string, base int64, maxBytes int, writable bool) testIndex {
	t.Helper()
	x, err := k.open(path, base, maxBytes, writable)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func (k kind) mustAdd(t *testing.T, x testIndex, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := k.add(x, i); err != nil {
			t.Fatalf("appending entry %d: %v", i, err)
		}
	}
}

// checkEntries checks that x holds exactly canonical entries [0, n).
func (k kind) checkEntries(t *testing.T, x testIndex, n int) {
	t.Helper()
	if x.Entries() != n {
		t.Fatalf("Entries = %d, want %d", x.Entries(), n)
	}
	for i := range n {
		if !k.found(x, i) {
			t.Fatalf("entry %d not found", i)
		}
	}
}

// TestLifecycle walks an index through open, append, seal, close and reopen (read-only and
// writable), checking the file's size at each step: preallocated while writable, trimmed to its
// entries once sealed or cleanly closed.
func TestLifecycle(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		const base = 4096
		path := k.path(t.TempDir(), base)
		x := k.mustOpen(t, path, base, 100*k.entrySize+3, true)
		if got := fileSize(t, path); got != int64(100*k.entrySize) {
			t.Fatalf("writable file is %d bytes, want %d (preallocated)", got, 100*k.entrySize)
		}
		k.mustAdd(t, x, 0, 10)
		if err := x.Sync(); err != nil {
			t.Fatal(err)
		}
		k.checkEntries(t, x, 10)

		// What a restart after a crash now would see: the preallocated size, a zero tail.
		crashed := k.mustOpen(t, path, base, 0, false)
		if crashed.Entries() != 100 {
			t.Errorf("unclean file: Entries = %d, want 100", crashed.Entries())
		}
		if err := crashed.SanityCheck(); !errors.Is(err, ErrCorruptIndex) {
			t.Errorf("SanityCheck of an untrimmed file = %v, want ErrCorruptIndex", err)
		}
		crashed.Close()

		if err := x.Seal(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, path); got != int64(10*k.entrySize) {
			t.Fatalf("sealed file is %d bytes, want %d", got, 10*k.entrySize)
		}
		k.checkEntries(t, x, 10)
		if err := k.add(x, 10); !errors.Is(err, ErrNotWritable) {
			t.Fatalf("append after Seal = %v, want ErrNotWritable", err)
		}
		if !x.IsFull() {
			t.Error("sealed index is not IsFull")
		}
		if err := x.Seal(); err != nil {
			t.Errorf("second Seal: %v", err)
		}
		if err := x.Sync(); err != nil {
			t.Errorf("Sync after Seal: %v", err)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if err := x.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if x.Entries() != 0 {
			t.Errorf("Entries after Close = %d", x.Entries())
		}
		if err := x.Seal(); err == nil {
			t.Error("Seal after Close succeeded")
		}

		ro := k.mustOpen(t, path, base, 0, false)
		k.checkEntries(t, ro, 10)
		if err := ro.SanityCheck(); err != nil {
			t.Fatal(err)
		}
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}

		// Reopened writable (the active segment after a clean restart): appends continue.
		w := k.mustOpen(t, path, base, 100*k.entrySize, true)
		if got := fileSize(t, path); got != int64(100*k.entrySize) {
			t.Fatalf("reopened writable file is %d bytes, want %d", got, 100*k.entrySize)
		}
		k.checkEntries(t, w, 10)
		k.mustAdd(t, w, 10, 15)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, path); got != int64(15*k.entrySize) {
			t.Fatalf("cleanly closed file is %d bytes, want %d", got, 15*k.entrySize)
		}
		k.checkEntries(t, k.mustOpen(t, path, base, 0, false), 15)

		// Reset, as recovery does before rebuilding an index.
		w = k.mustOpen(t, path, base, 100*k.entrySize, true)
		w.Reset()
		if w.Entries() != 0 {
			t.Fatalf("Entries after Reset = %d", w.Entries())
		}
		k.mustAdd(t, w, 0, 3)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		k.checkEntries(t, k.mustOpen(t, path, base, 0, false), 3)
	})
}

// TestTruncateReadOnly: on a read-only index TruncateTo only hides entries; the file keeps them.
func TestTruncateReadOnly(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		path := k.path(t.TempDir(), 0)
		w := k.mustOpen(t, path, 0, 1024, true)
		k.mustAdd(t, w, 0, 10)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		ro := k.mustOpen(t, path, 0, 0, false)
		ro.TruncateTo(2*4 + 1) // keeps entries 0..3
		k.checkEntries(t, ro, 4)
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
		k.checkEntries(t, k.mustOpen(t, path, 0, 0, false), 10)
	})
}

// TestConcurrentReaders appends while readers look up every published entry, then seals the
// index (trimming its file) under the readers. Run with -race.
func TestConcurrentReaders(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		const n = 20000
		x := k.mustOpen(t, k.path(t.TempDir(), 1<<33), 1<<33, n*k.entrySize, true)
		var sealed atomic.Bool
		var wg sync.WaitGroup
		for r := range 2 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(r), 3))
				for lookups, afterSeal := 0, 0; afterSeal < 1000; lookups++ {
					if sealed.Load() {
						afterSeal++
					}
					published := x.Entries()
					if published == 0 {
						continue
					}
					for _, i := range []int{published - 1, rng.IntN(published)} {
						if !k.found(x, i) {
							t.Errorf("lookup %d: published entry %d of %d not found", lookups, i, published)
							return
						}
					}
				}
			})
		}
		for i := range n {
			if err := k.add(x, i); err != nil {
				t.Fatal(err)
			}
		}
		if err := x.Seal(); err != nil {
			t.Fatal(err)
		}
		sealed.Store(true)
		wg.Wait()
		k.checkEntries(t, x, n)
	})
}

func TestOffsetIndexSanityCheck(t *testing.T) {
	const big = MaxRelativeOffset + 1
	tests := []struct {
		name string
		file []byte
		ok   bool
	}{
		{"empty", nil, true},
		{"valid", offsetFileBytes(0, 0, 3, 100, 9, 100, 12, 5000), true},
		{"largest fields", offsetFileBytes(1, 1, MaxRelativeOffset, MaxPosition), true},
		{"one zero entry", offsetFileBytes(0, 0), true}, // indistinguishable from (base, 0)
		{"size not a multiple of 8", append(offsetFileBytes(0, 0, 3, 100), 1, 2, 3), false},
		{"shorter than one entry", []byte{0, 0, 0}, false},
		{"equal offsets", offsetFileBytes(3, 0, 3, 100), false},
		{"decreasing offsets", offsetFileBytes(3, 0, 9, 100, 4, 200), false},
		{"decreasing positions", offsetFileBytes(3, 100, 9, 99), false},
		{"relative offset beyond int32", offsetFileBytes(0, 0, big, 100), false},
		{"position beyond int32", offsetFileBytes(0, 0, 1, big), false},
		{"zero tail", append(offsetFileBytes(3, 0, 9, 100), make([]byte, 16)...), false},
		{"zeros only", make([]byte, 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := indexPath(t.TempDir(), 100)
			writeFile(t, path, tt.file)
			err := openOffset(t, path, 100, 0, false).SanityCheck()
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCorruptIndex)) {
				t.Errorf("SanityCheck = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestTimeIndexSanityCheck(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		ok   bool
	}{
		{"empty", nil, true},
		{"valid", timeFileBytes(10, 0, 20, 0, 30, 7), true},
		{"timestamp zero first", timeFileBytes(0, 0, 1, 3), true},
		{"largest fields", timeFileBytes(5, 0, math.MaxInt64, MaxRelativeOffset), true},
		{"size not a multiple of 12", append(timeFileBytes(10, 0), 1), false},
		{"equal timestamps", timeFileBytes(10, 0, 10, 1), false},
		{"decreasing timestamps", timeFileBytes(10, 0, 20, 1, 15, 2), false},
		{"negative timestamp", timeFileBytes(-5, 0, 20, 1), false},
		{"NoTimestamp", timeFileBytes(NoTimestamp, 0), false},
		{"decreasing offsets", timeFileBytes(10, 5, 20, 4), false},
		{"relative offset beyond int32", timeFileBytes(10, 0, 20, MaxRelativeOffset+1), false},
		{"zero tail", append(timeFileBytes(10, 0, 20, 4), make([]byte, 24)...), false},
		{"zeros only", make([]byte, 48), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := timeIndexPath(t.TempDir(), 100)
			writeFile(t, path, tt.file)
			err := openTime(t, path, 100, 0, false).SanityCheck()
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCorruptIndex)) {
				t.Errorf("SanityCheck = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// A writable index holds no descriptor, and closing it trims the file at its path only while
// that is still its file: a partition deleted and created again under the same name has a new
// file there, which the old index must leave as it is.
func TestWritableHoldsNoDescriptorAndTrimsOnlyItsFile(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		dir := t.TempDir()
		path := k.path(dir, 0)
		before := openDescriptors(t)
		old := k.mustOpen(t, path, 0, 100*k.entrySize, true)
		if got := openDescriptors(t); got != before {
			t.Fatalf("an open writable index holds %d descriptors, want 0", got-before)
		}
		k.mustAdd(t, old, 0, 3)
		if err := os.Rename(dir, dir+"-delete"); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		recreated := k.mustOpen(t, path, 0, 100*k.entrySize, true)
		k.mustAdd(t, recreated, 0, 5)
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, path); got != int64(100*k.entrySize) {
			t.Fatalf("closing the old index cut the new file at its path to %d bytes", got)
		}
		if got := fileSize(t, k.path(dir+"-delete", 0)); got != int64(100*k.entrySize) {
			t.Fatalf("old file is %d bytes: a file moved away is left as it is", got)
		}
		if err := recreated.Close(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, path); got != int64(5*k.entrySize) {
			t.Fatalf("closed file is %d bytes, want %d (trimmed to its entries)", got, 5*k.entrySize)
		}
	})
}

func openDescriptors(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// An index that reserved nothing (opened full on a full disk) pins no file, so the inode
// number of its file, once that is removed, may go to a new file at the same path (as the log
// does when it opens an empty segment's indexes again). Closing the old index must leave the
// new file as it is: cutting it would put the new index's mapping past the end of its file,
// and its next append would fault (SIGBUS) instead of writing.
func TestReservedNothingLeavesItsReplacementAlone(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		path := k.path(t.TempDir(), 0)
		old := k.mustOpen(t, path, 0, 0, true)
		if err := k.add(old, 0); !errors.Is(err, ErrIndexFull) {
			t.Fatalf("append to an index that reserved nothing: %v, want ErrIndexFull", err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		replacement := k.mustOpen(t, path, 0, 100*k.entrySize, true)
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, path); got != int64(100*k.entrySize) {
			t.Fatalf("closing the old index cut its replacement to %d bytes", got)
		}
		k.mustAdd(t, replacement, 0, 5)
		if err := replacement.Close(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, path); got != int64(5*k.entrySize) {
			t.Fatalf("closed file is %d bytes, want %d (trimmed to its entries)", got, 5*k.entrySize)
		}
	})
}

// TestTailReachesTheFile: entries the appender keeps in its heap tail (tailBytes) are read
// like the others, survive truncations inside and below the tail, and are in the file after a
// clean close, over several tails.
func TestTailReachesTheFile(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		path := k.path(t.TempDir(), 0)
		perTail := tailBytes / k.entrySize
		x, err := k.open(path, 0, 2000*k.entrySize, true)
		if err != nil {
			t.Fatal(err)
		}
		k.mustAdd(t, x, 0, 3*perTail+10)
		k.checkEntries(t, x, 3*perTail+10)
		x.TruncateTo(2*int64(3*perTail+5) + 1) // inside the last tail
		k.checkEntries(t, x, 3*perTail+5)
		k.mustAdd(t, x, 3*perTail+5, 3*perTail+20)
		x.TruncateTo(2*int64(perTail+3) + 1) // below the last tail's first entry
		k.checkEntries(t, x, perTail+3)
		k.mustAdd(t, x, perTail+3, 5*perTail+7)
		if err := x.Sync(); err != nil {
			t.Fatal(err)
		}
		k.mustAdd(t, x, 5*perTail+7, 5*perTail+9)
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		r := k.mustOpen(t, path, 0, 0, false)
		k.checkEntries(t, r, 5*perTail+9)
		if err := r.SanityCheck(); err != nil {
			t.Fatal(err)
		}
	})
}
