package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"runnel/io/disk"
	"runnel/io/mmap"
)

// Format constants: part of the on-disk format shared with Apache Kafka.
const (
	// OffsetEntrySize is the size of one .index entry: relative offset uint32, position uint32.
	OffsetEntrySize = 8
	// TimeEntrySize is the size of one .timeindex entry: timestamp int64, relative offset uint32.
	TimeEntrySize = 12
	// MaxRelativeOffset is the largest offset-baseOffset an entry can hold. Kafka reads the
	// field as a signed int32, so a segment must roll before its offsets get further than this
	// from its base offset (Kafka's LogSegment.canConvertToRelativeOffset).
	MaxRelativeOffset = math.MaxInt32
	// MaxPosition is the largest log file position an entry can hold: Kafka reads it as a
	// signed int32 (segment.bytes is an int).
	MaxPosition = math.MaxInt32
	// NoTimestamp is Kafka's RecordBatch.NO_TIMESTAMP: what TimeIndex.Lookup returns when no
	// entry matches, and the timestamp an empty time index compares new entries against.
	NoTimestamp = -1
)

// warmBytes is the size of the tail of an index that lookups search before the rest (Kafka's
// AbstractIndex uses the same 8 KiB). Appends and lookups of recent offsets keep these pages
// in memory; a plain binary search over the whole file would instead touch the middle, the
// quarter points and so on, pages that nothing else keeps warm.
const warmBytes = 8192

// field says where an entry's search key lives: at byte off, an int64 (wide) or a uint32.
type field struct {
	off  int
	wide bool
}

// file is what both index types share: the file, its mapping, and the published entry count.
//
// Concurrency: one writer (Append, TruncateTo, Reset, Sync, Seal, Close) and any number of
// readers (lookups, Entries, LastEntry). The writer stores an entry's bytes and then publishes
// the new count with an atomic store; readers load the count once and read only entries below
// it, so they never see a half-written entry and never touch bytes past the file's end.
type file struct {
	path      string
	base      int64
	entrySize int
	// warmEntries is how many entries fill warmBytes (computed once: a division per lookup
	// would cost as much as a few probes).
	warmEntries int

	// m is the mapping (nil when there is nothing to map: an empty read-only file, or after
	// Close); b is its first capacity*entrySize bytes.
	m        *mmap.Mapping
	b        []byte
	capacity int
	count    atomic.Int64
	// tail holds the latest entries of a writable index, those from tail.first on, in the
	// heap instead of the mapping (nil: the mapping holds every entry). See tailBytes.
	tail atomic.Pointer[tail]

	// writer is set while the index is writable (until Seal or Close). No index keeps a
	// descriptor once mapped, since a mapping outlives it: 10,000 active segments would
	// otherwise hold 20,000 descriptors for their indexes alone. The writer syncs through the
	// mapping and reopens the file by path to trim it, checking that id is still the file
	// there (a deleted and recreated partition has a new file at the same path).
	writer bool
	id     fileID
	// badSize records that the file's size was not a multiple of the entry size at open.
	badSize int64
	closed  bool
}

// tailBytes is the size of an index's tail: the appender stores entries in a heap buffer of
// this size and copies it into the mapping when it is full (and at sync, seal and close), one
// store into the mapped pages per tailBytes of entries instead of one per entry. A store into
// a shared file mapping whose page was written back since its last store (syncfs writes every
// dirty page of the file system back, every second or so when 1,000 partitions sync in
// groups) takes a page fault: ext4's page_mkwrite, with a journal handle and an mtime update,
// about 3 µs against 60 ns for a store into a dirty page (BenchmarkAppendManyAfterWriteback,
// issue 16). An index's file need not hold its latest entries before a seal or a close: the
// active segment's indexes are rebuilt after a crash. 1 KiB per writable index: 20 MiB at
// 10,000 partitions.
const tailBytes = 1024

// tail is a buffer of whole entries from entry first on. The appender fills it and publishes
// each entry with the count, as it would into the mapping; once it replaces the tail, after
// copying it into the mapping, nothing writes it again, so that a reader that loaded it can go
// on reading it.
type tail struct {
	first int
	buf   []byte
}

// openFile opens (writable: creating if missing) an index file of entrySize-byte entries.
// A writable file is preallocated to maxBytes rounded down to whole entries (or its existing
// size, if larger: entries are never dropped at open) and mapped whole; a read-only file is
// mapped at its size. Either way the entries are the file's whole entries: a cleanly closed
// index is trimmed to exactly its entries.
func openFile(path string, base int64, maxBytes int, writable bool, entrySize int) (*file, error) {
	if base < 0 {
		return nil, fmt.Errorf("index: open %s: negative base offset %d", path, base)
	}
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR | os.O_CREATE
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("index: open: %w", err)
	}
	x, err := mapFile(f, path, base, maxBytes, writable, entrySize)
	if err != nil {
		f.Close()
		return nil, err
	}
	if x.id, err = idOf(f); err != nil {
		x.unmap()
		f.Close()
		return nil, err
	}
	// No index needs its descriptor: its mapping outlives it.
	if err := f.Close(); err != nil {
		x.unmap()
		return nil, fmt.Errorf("index: close %s: %w", path, err)
	}
	x.writer = writable
	return x, nil
}

// fileID names a file whatever its path: device and inode. It tells files apart only while
// the file is pinned: an inode number is given to a new file once the old one is unlinked and
// nothing holds it any more. An index's mapping pins its file, so trim compares ids only for
// a mapped index.
type fileID struct{ dev, ino uint64 }

func idOf(f *os.File) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, fmt.Errorf("index: stat %s: %w", f.Name(), err)
	}
	return fileID{dev: st.Dev, ino: st.Ino}, nil
}

func mapFile(f *os.File, path string, base int64, maxBytes int, writable bool, entrySize int) (*file, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("index: stat: %w", err)
	}
	size := st.Size()
	entries := int(size) / entrySize
	x := &file{
		path:        path,
		base:        base,
		entrySize:   entrySize,
		warmEntries: warmBytes / entrySize,
		badSize:     size % int64(entrySize),
	}
	x.count.Store(int64(entries))

	mapBytes := int(size)
	if writable {
		x.capacity = max(maxBytes/entrySize, entries)
		if x.capacity == 0 {
			// Nothing reserved (the log's fallback when the disk is full): an index that is
			// full from the start, with nothing to map.
			return x, nil
		}
		mapBytes = x.capacity * entrySize
		// Allocate every block now, holes included: a store through the mapping into a block
		// the file system cannot allocate (disk full) would raise SIGBUS instead of an error.
		if err := disk.Fallocate(f, 0, int64(mapBytes)); err != nil {
			return nil, fmt.Errorf("index: preallocate %s: %w", path, err)
		}
	} else {
		x.capacity = entries
		if entries == 0 {
			return x, nil // nothing to map
		}
	}
	m, err := mmap.Map(f, mapBytes, writable)
	if err != nil {
		return nil, fmt.Errorf("index: %s: %w", path, err)
	}
	x.m = m
	if writable {
		// No read-around on faults: a first store into a fallocated (unwritten) page would
		// otherwise zero-fill read_ahead_kb of the file (8 MiB on virtio) into the page cache.
		if err := m.Advise(0, mapBytes, unix.MADV_RANDOM); err != nil {
			m.Unmap()
			return nil, fmt.Errorf("index: %s: %w", path, err)
		}
	}
	x.b = m.Bytes()[:x.capacity*entrySize]
	return x, nil
}

// entries returns the published entry count.
func (x *file) entries() int { return int(x.count.Load()) }

// writable reports whether the writer may still append.
func (x *file) writable() bool { return x.writer }

// errNotWritable returns ErrNotWritable with the path.
func (x *file) errNotWritable() error { return fmt.Errorf("%w: %s", ErrNotWritable, x.path) }

// at returns the bytes of entry i, a published entry (below the count a reader loaded) or the
// slot the appender is about to fill: in the tail if it holds i, else in the mapping. A tail
// replaced since a reader loaded the count holds the same entries as the mapping below the
// new tail's first entry, which the appender copied there before replacing it.
func (x *file) at(i int) []byte {
	p := i * x.entrySize
	if t := x.tail.Load(); t != nil && i >= t.first {
		p -= t.first * x.entrySize
		return t.buf[p : p+x.entrySize]
	}
	return x.b[p : p+x.entrySize]
}

// slot returns the bytes of entry n, the next one the appender fills (n below capacity): in
// the tail, which it starts or replaces (copying the full one into the mapping first) if it
// does not hold n.
func (x *file) slot(n int) []byte {
	t := x.tail.Load()
	if t == nil || n < t.first || (n-t.first+1)*x.entrySize > len(t.buf) {
		if t != nil && n >= t.first {
			x.flushTail(t, n)
		}
		entries := min(tailBytes/x.entrySize, x.capacity-n)
		t = &tail{first: n, buf: make([]byte, entries*x.entrySize)}
		x.tail.Store(t)
	}
	p := (n - t.first) * x.entrySize
	return t.buf[p : p+x.entrySize]
}

// flushTail copies the entries of t below n into the mapping.
func (x *file) flushTail(t *tail, n int) {
	if n > t.first {
		copy(x.b[t.first*x.entrySize:n*x.entrySize], t.buf[:(n-t.first)*x.entrySize])
	}
}

// flush copies the published entries the tail holds into the mapping (before a sync or a
// trim); the tail stays, unless drop, for appends to come.
func (x *file) flush(drop bool) {
	if t := x.tail.Load(); t != nil {
		x.flushTail(t, x.entries())
		if drop {
			x.tail.Store(nil)
		}
	}
}

// key reads the search key k of entry i.
func (x *file) key(k field, i int) int64 {
	e := x.at(i)
	if k.wide {
		return int64(binary.BigEndian.Uint64(e[k.off : k.off+8]))
	}
	return int64(binary.BigEndian.Uint32(e[k.off : k.off+4]))
}

// offsetAt reads the relative offset stored at byte off of entry i as an absolute offset.
func (x *file) offsetAt(off, i int) int64 {
	return x.base + x.key(field{off: off}, i)
}

// lastAtMost returns the index of the last of the first n entries whose key k is <= target,
// or -1 if there is none. The n entries must be sorted by k (non-decreasing); on unsorted
// (corrupt) entries it still returns -1 or an index below n.
//
// It looks at the first entry of the warm tail (the last warmBytes of entries) first and then
// binary-searches either the tail or the cold part before it: O(log n) probes either way, and
// lookups near the end, the common case (consumers that keep up, the appender), stay in pages
// that are already resident.
func (x *file) lastAtMost(n int, k field, target int64) int {
	lo, hi := 0, n
	if warm := n - x.warmEntries; warm > 0 {
		if x.key(k, warm) <= target {
			lo = warm + 1
		} else {
			hi = warm
		}
	}
	// Invariant: entries before lo have key <= target, entries from hi on have key > target.
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if x.key(k, mid) <= target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

// entriesBefore returns how many of the first n entries have an offset (stored at byte off)
// below offset; the entries must be sorted by offset.
func (x *file) entriesBefore(n, off int, offset int64) int {
	if offset <= x.base {
		return 0
	}
	return x.lastAtMost(n, field{off: off}, offset-x.base-1) + 1
}

// relative converts an offset to the relative offset stored in an entry, checking that it
// belongs to this segment.
func (x *file) relative(offset int64) (uint32, error) {
	if offset < x.base || offset-x.base > MaxRelativeOffset {
		return 0, fmt.Errorf("%w: %s: offset %d outside [%d, %d]",
			ErrInvalidEntry, x.path, offset, x.base, x.base+MaxRelativeOffset)
	}
	return uint32(offset - x.base), nil
}

// lowerCount lowers the published count to n (if it is above). No reader may run meanwhile;
// see OffsetIndex.TruncateTo.
func (x *file) lowerCount(n int) {
	if n < x.entries() {
		x.count.Store(int64(n))
	}
	if t := x.tail.Load(); t != nil && n < t.first {
		x.tail.Store(nil) // it held only dropped entries; the next append starts another
	}
}

// sync makes the entries durable: msync(MS_SYNC) of the mapped entries, on Linux an
// fdatasync of that range (the file's size included). Read-only and sealed indexes have
// nothing unsynced.
func (x *file) sync() error {
	if !x.writer || x.m == nil {
		return nil
	}
	x.flush(false)
	if err := x.m.Sync(0, x.entries()*x.entrySize); err != nil {
		return fmt.Errorf("index: sync %s: %w", x.path, err)
	}
	return nil
}

// trim ends the writable life of the index: it cuts the file to its entries, makes that and
// the entries durable with one fdatasync (unless sync is false: the caller makes the whole
// file system durable afterwards, with syncfs), through a descriptor opened for it. The
// mapping stays, so readers keep working: they never read past the count, which is within
// the new size. A file no longer at its path (its directory renamed for deletion, or another
// in its place) is left as it is.
func (x *file) trim(sync bool) error {
	if !x.writer {
		return nil
	}
	// The entries, all in the mapping from here on, whatever happens to the file: the
	// readers read them there once the tail is gone, and no append comes after a trim.
	x.flush(true)
	if x.m == nil {
		// Nothing was reserved, so there is nothing to cut (an index opened full on a full
		// disk: no entries, no preallocation). Nothing pins its file either: it may have been
		// replaced at its path by a file that got its inode number (reindexLocked does that),
		// and cutting that one would leave its writer's mapping past the end of the file.
		x.writer = false
		return nil
	}
	f, err := os.OpenFile(x.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		x.writer = false
		return nil
	}
	if err != nil {
		return fmt.Errorf("index: trim %s: %w", x.path, err)
	}
	defer f.Close()
	if id, err := idOf(f); err != nil || id != x.id {
		x.writer = false
		return err
	}
	used := int64(x.entries() * x.entrySize)
	if err := f.Truncate(used); err != nil {
		return fmt.Errorf("index: trim %s to %d bytes: %w", x.path, used, err)
	}
	// From here on the mapping reaches past the end of the file: no more appends.
	x.writer = false
	x.capacity = x.entries()
	if !sync {
		return nil
	}
	if err := disk.Fdatasync(f); err != nil {
		return fmt.Errorf("index: sync %s: %w", x.path, err)
	}
	return nil
}

// seal trims the file and makes the index read-only.
func (x *file) seal() error {
	if x.closed {
		return fmt.Errorf("index: seal %s: index is closed", x.path)
	}
	return x.trim(true)
}

// close trims a still-writable index (a clean close), syncing it if sync, and unmaps. It is
// idempotent. No reader may use the index during or after Close.
func (x *file) close(sync bool) error {
	if x.closed {
		return nil
	}
	x.closed = true
	err := x.trim(sync)
	x.writer = false // a failed trim leaves the file at its preallocated size
	if uerr := x.unmap(); err == nil {
		err = uerr
	}
	return err
}

func (x *file) unmap() error {
	x.count.Store(0)
	x.capacity = 0
	x.tail.Store(nil)
	x.b = nil
	if x.m == nil {
		return nil
	}
	m := x.m
	x.m = nil
	if err := m.Unmap(); err != nil {
		return fmt.Errorf("index: unmap %s: %w", x.path, err)
	}
	return nil
}

// checkSize reports a file whose size at open was not a whole number of entries.
func (x *file) checkSize() error {
	if x.badSize != 0 {
		return x.corrupt(-1, fmt.Sprintf("file size is not a multiple of %d bytes (%d left over)", x.entrySize, x.badSize))
	}
	return nil
}

// corrupt returns ErrCorruptIndex for entry i (-1: the file as a whole).
func (x *file) corrupt(i int, why string) error {
	if i < 0 {
		return fmt.Errorf("%w: %s: %s", ErrCorruptIndex, x.path, why)
	}
	return fmt.Errorf("%w: %s: entry %d: %s", ErrCorruptIndex, x.path, i, why)
}

// errIsFull returns ErrIndexFull with the path.
func (x *file) errIsFull() error {
	return fmt.Errorf("%w: %s (%d entries)", ErrIndexFull, x.path, x.capacity)
}
