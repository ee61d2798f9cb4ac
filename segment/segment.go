package segment

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"runnel/index"
	"runnel/io/disk"
)

// File name suffixes of a segment's trio, and of files waiting for their last reader before
// they are removed. Part of the on-disk format (Kafka's names).
const (
	logSuffix         = ".log"
	offsetIndexSuffix = ".index"
	timeIndexSuffix   = ".timeindex"
	deletedSuffix     = ".deleted"
)

// fallocate is disk.Fallocate; tests replace it to run out of space.
var fallocate = disk.Fallocate

// osFS is the FS of a Config without one: disk.OS, with preallocation through fallocate.
type osFS struct{ disk.FS }

func (osFS) Fallocate(f *os.File, off, n int64) error { return fallocate(f, off, n) }

// maxRelativeOffset is the largest offset - baseOffset a segment may hold: index entries store
// it in 32 bits and Kafka keeps it non-negative as an int32.
const maxRelativeOffset = math.MaxInt32

// segmentFileName returns the name of a segment file: the base offset zero-padded to 20 digits
// (so names sort as offsets do) followed by suffix.
func segmentFileName(baseOffset int64, suffix string) string {
	return fmt.Sprintf("%020d%s", baseOffset, suffix)
}

// parseSegmentFileName returns the base offset of a file named by segmentFileName with suffix.
func parseSegmentFileName(name, suffix string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || base < 0 {
		return 0, false
	}
	return base, true
}

// segment is one segment of a partition log: its .log file of record batches and the sparse
// offset and time indexes over it.
//
// Who touches what: size, durable and active are atomics that readers load; refs counts the
// log's own reference plus one per unreleased ReadResult or in-flight Sync. offsetIndex and
// timeIndex are replaced only with both Log.mu and Log.view held for writing, so a reader under
// Log.view's read lock may use them. Every other field belongs to the log's appender (Log.mu).
//
// The .log is written with pwrite (write) and read with pread (batchReader) and sendfile, never
// through a mapping: only the indexes are mapped.
type segment struct {
	dir        string
	baseOffset int64
	fs         disk.FS // the log's file operations
	file       *os.File
	fd         int // file's descriptor, for pread without the shared file position

	offsetIndex *index.OffsetIndex
	timeIndex   *index.TimeIndex
	space       *spaceState // the log directory's, told when preallocation runs short

	size    atomic.Int64 // bytes of whole batches, published after they are in the file
	durable atomic.Int64 // bytes known to be on disk
	refs    atomic.Int32
	deleted atomic.Bool // files renamed to *.deleted; removed when refs reaches zero

	// checked: the batches of [0, checked) passed batchWalk's checks, each against the one
	// before it (math.MaxInt64: every batch, and those appended later, which the appender
	// validates and numbers itself). Reads vouch for batches past it (check.go).
	checked atomic.Int64
	// damaged is the batch the startup scan found damaged and kept, or nil: reads refuse it
	// even where the checks they make themselves (no CRC) would pass it.
	damaged atomic.Pointer[Damage]
	// checking is set while a background check of the segment runs (checkInBackground).
	checking atomic.Bool
	// active: the segment is the log's active one, appended to (activate), not sealed.
	active atomic.Bool
	// recent are the last batches appended to it, for reads at the tail.
	recent recentBatches

	// Appender state (Log.mu).
	capacity        int64     // the active segment never grows past it
	allocated       int64     // bytes of the file fallocated so far (the file's size)
	shortStep       int64     // 0, or since space ran short the preallocation step to try next
	nextOffset      int64     // offset after the last batch in this segment
	maxTimestamp    int64     // greatest batch max timestamp, -1 when none
	offsetOfMaxTime int64     // last offset of the batch that carries maxTimestamp
	bytesSinceIndex int64     // log bytes appended since the last offset index entry
	rollAt          time.Time // when the first batch was appended (segment.ms counts from here)
	unsynced        bool      // sealed with bytes not yet fdatasync'd
	// zeroed: zeroAhead wrote zeros up to here, so the file's blocks below it are written;
	// math.MaxInt64 after a failed write of zeros (no more for this segment).
	zeroed int64

	// dropped: with drop-behind, the file's pages below it were dropped from the page cache
	// (dropSynced). A segment opened from an existing file starts with it at the file's size:
	// only what this process appended is its to drop. Log.syncMu.
	dropped int64
}

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentFileName(s.baseOffset, suffix))
}

// openSegmentFile opens (or, with create, creates empty) the .log of the segment at base in
// dir. Its indexes are opened separately (openIndexes). space is the log directory's. The
// returned segment holds one reference, the log's.
func openSegmentFile(fs disk.FS, dir string, base int64, create bool, space *spaceState) (*segment, error) {
	s := &segment{dir: dir, baseOffset: base, fs: fs, nextOffset: base, maxTimestamp: -1, offsetOfMaxTime: -1, space: space}
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE | os.O_TRUNC
	}
	f, err := fs.OpenFile(s.path(logSuffix), flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("segment: %w", err)
	}
	s.file, s.fd = f, int(f.Fd())
	s.size.Store(info.Size())
	s.durable.Store(info.Size())
	s.allocated = info.Size()
	s.dropped = info.Size()
	s.refs.Store(1)
	if create {
		s.checked.Store(math.MaxInt64)
	}
	return s, nil
}

// indexMode says how openIndexes opens a segment's two index files.
type indexMode uint8

const (
	indexesReadOnly indexMode = iota // the existing files, mapped read-only (a sealed segment)
	indexesWritable                  // the existing files, mapped for writing
	indexesCreate                    // new files replacing any stale ones, mapped for writing
)

// openIndexes opens both index files as mode says: writable (for the active segment or a
// rebuild) or read-only. indexesCreate removes stale files first (a new segment); if the file
// system is short of space for segment.index.bytes, it then falls back to smaller index files,
// down to minIndexBytes, and then to indexes that reserve nothing and are full from the start
// (see indexesFull): so a log opens on a full disk. An index that is missing or fails its
// sanity check is reported with index.ErrCorruptIndex or fs.ErrNotExist; the caller then
// rebuilds it.
func (s *segment) openIndexes(cfg Config, mode indexMode) error {
	ox, tx, err := s.newIndexes(cfg, mode)
	if err != nil {
		return err
	}
	s.offsetIndex, s.timeIndex = ox, tx
	return nil
}

// newIndexes opens the indexes as openIndexes does and returns them, leaving s's as they are.
func (s *segment) newIndexes(cfg Config, mode indexMode) (*index.OffsetIndex, *index.TimeIndex, error) {
	maxBytes := cfg.SegmentIndexBytes
	for {
		ox, tx, err := s.openIndexesOfSize(maxBytes, mode)
		if err == nil || mode != indexesCreate || !isNoSpace(err) || maxBytes == 0 {
			return ox, tx, err
		}
		s.space.shortOf(err)
		if maxBytes = maxBytes / 2; maxBytes < minIndexBytes {
			maxBytes = 0
		}
	}
}

// openIndexesOfSize opens index files of maxBytes (see openIndexes).
func (s *segment) openIndexesOfSize(maxBytes int, mode indexMode) (*index.OffsetIndex, *index.TimeIndex, error) {
	writable := mode != indexesReadOnly
	if mode == indexesCreate {
		for _, suffix := range []string{offsetIndexSuffix, timeIndexSuffix} {
			if err := s.fs.Remove(s.path(suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, nil, fmt.Errorf("segment: %w", err)
			}
		}
	}
	if !writable {
		for _, suffix := range []string{offsetIndexSuffix, timeIndexSuffix} {
			if _, err := os.Stat(s.path(suffix)); err != nil {
				return nil, nil, fmt.Errorf("segment: %w", err)
			}
		}
	}
	ox, err := index.OpenOffsetIndex(s.path(offsetIndexSuffix), s.baseOffset, maxBytes, writable)
	if err != nil {
		return nil, nil, err
	}
	tx, err := index.OpenTimeIndex(s.path(timeIndexSuffix), s.baseOffset, maxBytes, writable)
	if err != nil {
		ox.Close()
		return nil, nil, err
	}
	if err := errors.Join(ox.SanityCheck(), tx.SanityCheck()); err != nil {
		ox.Close()
		tx.Close()
		return nil, nil, err
	}
	return ox, tx, nil
}

// indexesFull reports whether an index of s has no free slot: time for a roll, or, for an
// empty segment, to open its indexes again (they reserved nothing while the disk was full).
func (s *segment) indexesFull() bool {
	return s.offsetIndex.IsFull() || s.timeIndex.IsFull()
}

// errNoIndexRoom is the error of an append refused because s's indexes could reserve no room.
func (s *segment) errNoIndexRoom() error {
	return fmt.Errorf("%w: no room for the indexes of %s: %w", ErrNoSpace, s.path(logSuffix), unix.ENOSPC)
}

func (s *segment) closeIndexes() error {
	var errs []error
	if s.offsetIndex != nil {
		errs = append(errs, s.offsetIndex.Close())
		s.offsetIndex = nil
	}
	if s.timeIndex != nil {
		errs = append(errs, s.timeIndex.Close())
		s.timeIndex = nil
	}
	return errors.Join(errs...)
}

// activate makes s the active segment: writable indexes are already open; the .log may grow
// to capacity bytes (at least its size) and is fallocated in chunks to cover at least its data.
func (s *segment) activate(capacity, chunk int64) error {
	s.capacity = max(capacity, s.size.Load())
	if err := s.extend(chunk, s.size.Load()); err != nil {
		return err
	}
	s.active.Store(true)
	return nil
}

// extend fallocates the .log so that it covers at least end bytes, in whole preallocation
// chunks and never past capacity. When the file system is short of space (ENOSPC, EDQUOT),
// it asks for less, so that one log does not hold space that others need: minPreallocStep at
// a time and then exactly end; and the segment keeps to that until the file system has two
// chunks free again. A fallocate that fails can still have allocated blocks and raised the
// size (ext4 keeps what it got before it ran out), so extend cuts the file back: on error the
// file has its old size and allocation. Refused for lack of space, the error wraps ErrNoSpace.
func (s *segment) extend(chunk, end int64) error {
	if end <= s.allocated && s.allocated > 0 {
		return nil
	}
	step := chunk
	if s.shortStep > 0 {
		step = min(s.shortStep, chunk)
	}
	for {
		target := max(min(s.capacity, (end+step-1)/step*step), end)
		if target <= s.allocated {
			return nil
		}
		err := s.fs.Fallocate(s.file, s.allocated, target-s.allocated)
		if err == nil {
			s.allocated = target
			switch {
			case step >= chunk:
				s.shortStep = 0
				s.space.available()
			case s.freeBytes() >= 2*chunk:
				s.shortStep = 0 // whole chunks again from the next extension
			default:
				s.shortStep = minPreallocStep
			}
			return nil
		}
		// Readers and truncation stay below the size, so cutting the file there is safe.
		if terr := s.fs.Truncate(s.file, s.allocated); terr != nil {
			return fmt.Errorf("segment: preallocate %s to %d bytes: %w; cutting it back to %d: %w", s.path(logSuffix), target, err, s.allocated, terr)
		}
		if !isNoSpace(err) {
			return fmt.Errorf("segment: preallocate %s to %d bytes: %w", s.path(logSuffix), target, err)
		}
		s.space.shortOf(err)
		if step = min(step, minPreallocStep*2) / 2; step < minPreallocStep {
			step = 1 // exactly end
		}
		s.shortStep = step
		if target == end {
			return fmt.Errorf("%w: preallocate %s to %d bytes: %w", ErrNoSpace, s.path(logSuffix), target, err)
		}
	}
}

// freeBytes is what the file system holding s has free for unprivileged writers; 0 if it
// cannot tell.
func (s *segment) freeBytes() int64 {
	_, free, err := disk.Usage(s.dir)
	if err != nil {
		return 0
	}
	return free
}

// seal ends the active life of s: the indexes are trimmed and become read-only (readers keep
// using them), and the .log is cut to the bytes it holds (readers stay below them). The caller
// holds Log.mu. The data is not synced here: the next Log.Sync does it (s.unsynced).
func (s *segment) seal() error {
	if err := s.sealIndexes(); err != nil {
		return err
	}
	s.active.Store(false)
	size := s.size.Load()
	if err := s.fs.Truncate(s.file, size); err != nil {
		return err
	}
	// The new size must be durable before anything in the next segment is: otherwise a crash
	// could leave a zeroed tail here with acknowledged batches after it.
	s.unsynced = s.durable.Load() < size || s.allocated != size
	s.allocated = size
	s.zeroed = min(s.zeroed, size)
	return nil
}

// write puts b at position pos of the active segment, which is fallocated that far, with one
// pwrite into the page cache, whatever its size. pwrite marks dirty only the blocks it wrote;
// a store through the mapping instead takes a write fault (ext4 page_mkwrite) that marks the
// whole folio dirty, and since Linux 6.16 ext4 makes large folios (up to 2 MiB) of the range
// the mapping faults in ahead, so each fdatasync after a small append wrote back the folio's
// zeros beside it: at 10,000 synced 1 KiB appends/s a broker's syncs wrote 15-130x the bytes
// appended (results/2026-12-03-floor10k/), 0.2-1.3 GB/s. With pwrite a sync writes the
// appended blocks, as the disk floor's: 0.007-0.037x those bytes (results/2026-12-03-smallpw/).
// pwrite costs a system call: 1.1-1.2x the process's CPU per 1 KiB append, but 0.75-0.85x per
// 16 KiB, where the copy took a write fault per page (BenchmarkAppend); appends from 32 KiB
// were already written this way, for throughput (results/2026-12-02-durable/).
func (s *segment) write(b []byte, pos int64) error {
	return s.fs.Pwrite(s.file, b, pos)
}

// zero writes zeros over [from, to) of the file (truncation's removed bytes), with pwrite.
func (s *segment) zero(from, to int64) error {
	for from < to {
		n := min(to-from, int64(len(zeros)))
		if err := s.fs.Pwrite(s.file, zeros[:n], from); err != nil {
			return fmt.Errorf("segment: zeroing %s at %d: %w", s.path(logSuffix), from, err)
		}
		from += n
	}
	return nil
}

// zeroAheadMaxSync is the size below which an fdatasync of a log makes its appends write zeros
// ahead (Log.beginSync): syncs that small pay mostly for the metadata write zeroAhead avoids.
// Larger ones pay less for it, and the zeros cost CPU in proportion to the bytes appended: with
// 64 KiB, franz-go's 8 partitions at their acks=all maximum (latency-max) zeroed ahead and
// produced 0.90x as much (results/2026-12-04-zero-ahead/).
const zeroAheadMaxSync = 16 << 10

// zeroAheadBytes is how far ahead of the appends zeroAhead keeps the file written; it writes
// when less than half of it is left, so each write is at least half of it.
const zeroAheadBytes = 128 << 10

// blockSize is the file system block that zeroAhead aligns its writes to (ext4's and XFS's
// default, and the page size).
const blockSize = 4096

// zeros is what zeroAhead writes.
var zeros [zeroAheadBytes]byte

// zeroAhead writes zeros into the fallocated space after end, the end of the last append, so
// that zeroAheadBytes past it are written blocks. The space is fallocated, so reads of it
// already return zeros, but its extents are unwritten: the first write into each block
// converts its extent, and the fdatasync that makes that write durable must also write the
// extent change (on ext4 the inode's block): with a sync every few KiB, as at 10,000 synced
// 1 KiB appends/s, most syncs crossed into a new block and made three device writes (data,
// inode, cache flush) instead of two, 0.25 against 0.13 ms (results/2026-12-04-zero-ahead/).
// The zeros written here reach the disk with the next sync, together with their extent change:
// one metadata write per zeroAheadBytes/2 instead of one per block. It costs a second write of
// every byte, which is why only logs whose syncs are small do it (Log.beginSync). Only the
// appender writes past the end and the zeros stay below allocated, so no batch is overwritten
// and the file does not grow. A failed write stops the segment's zeroing (it is an
// optimisation: the syncs report whatever the disk does to the file). The caller holds Log.mu.
func (s *segment) zeroAhead(end int64) error {
	from := max(s.zeroed, (end+blockSize-1)/blockSize*blockSize)
	if from-end >= zeroAheadBytes/2 || from >= s.allocated {
		return nil
	}
	to := min(end/blockSize*blockSize+zeroAheadBytes, s.allocated)
	if err := s.fs.Pwrite(s.file, zeros[:to-from], from); err != nil {
		s.zeroed = math.MaxInt64 // past any size the segment can be fallocated to
		return err
	}
	s.zeroed = to
	return nil
}

// maxFolioBytes is the largest folio the page cache makes of a file's pages (PMD size on x86-64).
// POSIX_FADV_DONTNEED drops only folios wholly inside its range, so dropSynced reaches this
// far back over what it dropped before, where a folio may straddle the last range's start.
const maxFolioBytes = 2 << 20

// dropSynced drops from the page cache (POSIX_FADV_DONTNEED) the file's pages below limit, in
// whole chunks, that a sync made durable and that the page cache still holds from this
// process's appends; with sealed (the segment will not grow) it drops up to the durable size
// whole once limit reaches it. Log.dropSynced chooses limit: the log's keep window behind its
// durable end, so that the next appends reuse the memory of pages a window older instead of
// growing the page cache into memory the kernel has not touched lately: on a VM whose balloon
// reports free pages to the host (Firecracker's here), each such page costs a host fault on
// first touch. Only synced bytes are in the range, and the page cache never discards a dirty
// page anyway; a reader of the dropped range reads it from disk.
//
// The caller holds Log.syncMu and Log.view for reading, and s is in the log's segment list
// (so its file is open).
func (s *segment) dropSynced(limit, chunk int64, sealed bool) error {
	durable := s.durable.Load()
	if s.dropped > durable {
		s.dropped = durable / chunk * chunk // truncated: pages above were written again
	}
	end := min(limit, durable)
	if !sealed || end < durable {
		end = end / chunk * chunk
		if end-s.dropped < chunk {
			return nil
		}
	} else if end <= s.dropped {
		return nil
	}
	from := max(s.dropped-maxFolioBytes, 0)
	if err := unix.Fadvise(s.fd, from, end-from, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	s.dropped = end
	return nil
}

// sealIndexes records the segment's max timestamp as the time index's last entry (as Kafka
// does: retention and a reopen read it there) and seals both indexes.
func (s *segment) sealIndexes() error {
	if s.maxTimestamp >= 0 {
		if err := s.timeIndex.MaybeAppend(s.maxTimestamp, s.offsetOfMaxTime); err != nil && !errors.Is(err, index.ErrIndexFull) {
			return err
		}
	}
	return errors.Join(s.offsetIndex.Seal(), s.timeIndex.Seal())
}

// release drops one reference; the last one closes the files, and removes them if the segment
// was deleted.
func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.closeIndexes()
	s.file.Close()
	if s.deleted.Load() {
		for _, suffix := range []string{logSuffix, offsetIndexSuffix, timeIndexSuffix} {
			s.fs.Remove(s.path(suffix) + deletedSuffix)
		}
	}
}

// markDeleted renames the segment's files to *.deleted, so that a restart does not see them,
// and arranges for their removal once the last reader releases them. The caller then drops the
// log's reference.
func (s *segment) markDeleted() error {
	var errs []error
	for _, suffix := range []string{logSuffix, offsetIndexSuffix, timeIndexSuffix} {
		p := s.path(suffix)
		if err := s.fs.Rename(p, p+deletedSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.deleted.Store(true)
	return errors.Join(errs...)
}

// maxTimestampOrModTime is what time retention compares: the greatest batch timestamp, or the
// .log's modification time when no batch carries a timestamp (as Kafka does).
func (s *segment) maxTimestampOrModTime() int64 {
	if s.maxTimestamp >= 0 {
		return s.maxTimestamp
	}
	info, err := s.file.Stat()
	if err != nil {
		return math.MaxInt64 // keep what we cannot date
	}
	return info.ModTime().UnixMilli()
}

// updateIndexes does the appender's per-batch bookkeeping for the batch h written at pos: the
// segment's max timestamp and, once more than intervalBytes of log went by since the last entry,
// an offset index entry (batch last offset, batch position) and a time index entry (max
// timestamp so far), as Kafka's LogSegment.append does.
func (s *segment) updateIndexes(h BatchHeader, pos int64, intervalBytes int) error {
	if h.MaxTimestamp > s.maxTimestamp {
		s.maxTimestamp, s.offsetOfMaxTime = h.MaxTimestamp, h.LastOffset()
	}
	var err error
	if s.bytesSinceIndex > int64(intervalBytes) {
		err = errors.Join(s.offsetIndex.Append(h.LastOffset(), uint32(pos)),
			s.timeIndex.MaybeAppend(s.maxTimestamp, s.offsetOfMaxTime))
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += int64(h.Size())
	s.nextOffset = h.LastOffset() + 1
	return err
}

// readWindow is the pread window of a batchReader that is given no buffer: a few headers.
const readWindow = 4096

// batchReader reads a segment's bytes by position, with pread into a window buffer. It reads
// nothing at or past limit. Declared as a local variable and given no buffer, it needs no
// allocation.
//
// The active segment is read this way too. It was mapped, and its readers read batch headers
// through the mapping: each page they touched was mapped into the process, counted as
// resident (RssFile), and had to be unmapped again after each sync, with a TLB shootdown.
// With a consumer tailing 10,000 partitions the broker held 930 MiB of such pages, and
// faulting them in and unmapping them took 9% of its CPU; read by pread, 18 MiB, and 0.91x
// the CPU per byte moved (results/2026-12-05-s19-pread).
type batchReader struct {
	fd     int
	limit  int64
	buf    []byte // the window, if given or grown; else small
	small  [readWindow]byte
	bufPos int64 // the window holds the file's bytes [bufPos, bufPos+n); -1 before the first read
	n      int
}

// initFD points r at the file fd (a segment's, or any file of batches), up to limit. buf, if
// not nil, is the window to read into.
func (r *batchReader) initFD(fd int, limit int64, buf []byte) {
	r.fd, r.limit, r.buf, r.bufPos, r.n = fd, limit, buf, -1, 0
}

func (r *batchReader) window() []byte {
	if r.buf != nil {
		return r.buf
	}
	return r.small[:]
}

// peek returns the n bytes at pos, valid until the next call. It returns io.ErrUnexpectedEOF
// when they run past the limit. A read fills the window from pos, so that the headers of small
// batches that follow come from it, unless pos lies a whole window or more past the last
// read's start: batches that long would not have their next header in the window either, and
// it reads the n bytes asked for (a tailing consumer's walk over 16 KiB batches then copies a
// header's bytes per batch, not 4 KiB).
func (r *batchReader) peek(pos int64, n int) ([]byte, error) {
	if pos < 0 || pos+int64(n) > r.limit {
		return nil, io.ErrUnexpectedEOF
	}
	if r.bufPos >= 0 && pos >= r.bufPos && pos+int64(n) <= r.bufPos+int64(r.n) {
		return r.window()[pos-r.bufPos : pos-r.bufPos+int64(n)], nil
	}
	if n > len(r.window()) {
		r.buf = make([]byte, n)
	}
	buf := r.window()
	want := int(min(int64(len(buf)), r.limit-pos))
	if r.bufPos >= 0 && pos >= r.bufPos+int64(len(buf)) {
		want = n
	}
	got := 0
	for got < want {
		m, err := unix.Pread(r.fd, buf[got:want], pos+int64(got))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		got += m
	}
	r.bufPos, r.n = pos, got
	if got < n {
		return nil, io.ErrUnexpectedEOF
	}
	return buf[:n], nil
}

// header returns the header of the batch at pos; io.EOF at the limit or where a batch's base
// offset and length are zero (preallocated space); ErrShortBatch when fewer than
// BatchHeaderSize bytes are left.
func (r *batchReader) header(pos int64) (BatchHeader, error) {
	if pos >= r.limit {
		return BatchHeader{}, io.EOF
	}
	b, err := r.peek(pos, int(min(r.limit-pos, BatchHeaderSize)))
	if err != nil {
		return BatchHeader{}, err
	}
	if isZero(b[:min(len(b), offLeaderEpoch)]) {
		return BatchHeader{}, io.EOF
	}
	return ParseBatchHeader(b)
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
