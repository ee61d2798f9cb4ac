package index

import (
	"encoding/binary"
	"fmt"
)

// relField is the search key of an offset index entry: its relative offset.
var relField = field{off: 0}

// OffsetIndex is a Kafka .index file: a sparse map from offsets to positions in the segment's
// .log file. Single writer (the log's appender), many concurrent readers (Lookup, LastEntry,
// Entries): the entry count is published atomically after the entry bytes are written.
type OffsetIndex struct {
	x *file
}

// OpenOffsetIndex opens the offset index of the segment starting at baseOffset. Its entries
// are the file's whole 8-byte entries (files are trimmed to their entries on Seal and on a
// clean Close; after a crash, call SanityCheck or rebuild).
//
// writable: the file is created if missing, preallocated (fallocate) to maxBytes rounded down
// to whole entries, and mapped whole; Append fills it. A maxBytes below one entry (with no
// entries in the file) reserves nothing: the index is full from the start. Read-only: the
// file is mapped at its size and maxBytes is ignored.
func OpenOffsetIndex(path string, baseOffset int64, maxBytes int, writable bool) (*OffsetIndex, error) {
	x, err := openFile(path, baseOffset, maxBytes, writable, OffsetEntrySize)
	if err != nil {
		return nil, err
	}
	return &OffsetIndex{x: x}, nil
}

// entry returns entry i.
func (o *OffsetIndex) entry(i int) (offset int64, position uint32) {
	e := o.x.at(i)
	return o.x.base + int64(binary.BigEndian.Uint32(e[0:4])), binary.BigEndian.Uint32(e[4:8])
}

// Append adds an entry mapping offset to position. offset must be above the last entry's (and
// within [BaseOffset, BaseOffset+MaxRelativeOffset]); position must not be below the last
// entry's nor above MaxPosition (ErrInvalidEntry). It returns ErrIndexFull when the file has
// no free slot and ErrNotWritable on a read-only, sealed or closed index.
func (o *OffsetIndex) Append(offset int64, position uint32) error {
	x := o.x
	if !x.writable() {
		return x.errNotWritable()
	}
	n := x.entries()
	if n >= x.capacity {
		return x.errIsFull()
	}
	rel, err := x.relative(offset)
	if err != nil {
		return err
	}
	if position > MaxPosition {
		return fmt.Errorf("%w: %s: position %d above %d", ErrInvalidEntry, x.path, position, MaxPosition)
	}
	if n > 0 {
		if lastOffset, lastPosition := o.entry(n - 1); offset <= lastOffset || position < lastPosition {
			return fmt.Errorf("%w: %s: entry (offset %d, position %d) does not follow (offset %d, position %d)",
				ErrInvalidEntry, x.path, offset, position, lastOffset, lastPosition)
		}
	}
	e := x.slot(n)
	binary.BigEndian.PutUint32(e[0:4], rel)
	binary.BigEndian.PutUint32(e[4:8], position)
	x.count.Store(int64(n + 1)) // publish
	return nil
}

// Lookup returns the entry with the greatest offset <= offset: where in the log to start
// scanning forward for offset. When there is none (offset is below the first entry, or the
// index is empty) it returns (BaseOffset, 0), the start of the segment. It searches the warm
// tail of the index (its last 8 KiB) before the rest; O(log n) either way.
func (o *OffsetIndex) Lookup(offset int64) (entryOffset int64, position uint32) {
	x := o.x
	n := x.entries()
	if n == 0 || offset < x.base {
		return x.base, 0
	}
	i := x.lastAtMost(n, relField, offset-x.base)
	if i < 0 {
		return x.base, 0
	}
	return o.entry(i)
}

// LastEntry returns the last entry; ok is false (and the result (BaseOffset, 0)) when the
// index is empty.
func (o *OffsetIndex) LastEntry() (offset int64, position uint32, ok bool) {
	n := o.x.entries()
	if n == 0 {
		return o.x.base, 0, false
	}
	offset, position = o.entry(n - 1)
	return offset, position, true
}

// Entries returns the number of entries.
func (o *OffsetIndex) Entries() int { return o.x.entries() }

// IsFull reports whether Append has no free slot left (always true once read-only).
func (o *OffsetIndex) IsFull() bool { return o.x.entries() >= o.x.capacity }

// BaseOffset returns the base offset of the index's segment.
func (o *OffsetIndex) BaseOffset() int64 { return o.x.base }

// TruncateTo drops the entries with offset >= offset (none if offset is past the last entry).
// Only the published count changes: the next Append overwrites the dropped slots, and Seal or
// Close cuts them from the file (a read-only index's file keeps them). So TruncateTo must not
// run concurrently with readers (the log truncates under its exclusive lock): a reader that
// loaded the old count could read a slot being overwritten, or a page Seal cut from the file.
func (o *OffsetIndex) TruncateTo(offset int64) {
	x := o.x
	n := x.entries()
	x.lowerCount(x.entriesBefore(n, relField.off, offset))
}

// Reset drops every entry, with the same rules as TruncateTo.
func (o *OffsetIndex) Reset() { o.x.lowerCount(0) }

// Sync makes the entries appended so far durable (msync). No-op when not writable.
func (o *OffsetIndex) Sync() error { return o.x.sync() }

// Seal ends appending: it trims the file to its entries and makes it durable. The mapping stays, so concurrent readers keep working (they never read past
// Entries, which is within the trimmed size). Sealing a read-only or sealed index does nothing.
func (o *OffsetIndex) Seal() error { return o.x.seal() }

// Close releases the index. A writable index that was not sealed is trimmed and synced first
// (a clean close). No reader may use the index during or after Close; lookups after it find
// no entries. Close is idempotent.
func (o *OffsetIndex) Close() error { return o.x.close(true) }

// CloseUnsynced is Close without the fdatasync of a trimmed index: the entries and the new
// size are durable only once the caller has synced the index's file system (syncfs), which
// it must do before anything relies on them (a clean-shutdown marker). Closing thousands of
// indexes then costs one journal commit instead of one each.
func (o *OffsetIndex) CloseUnsynced() error { return o.x.close(false) }

// SanityCheck verifies that the index could have been written by Append: a file size that is
// a whole number of entries, strictly increasing offsets, non-decreasing positions, relative
// offsets and positions that fit Kafka's signed int32 fields. It reads every entry (O(n));
// the log calls it on indexes it did not rebuild after an unclean stop. It cannot know the log
// file's size: the log checks LastEntry's position against it. The error wraps
// ErrCorruptIndex and names the file and entry.
func (o *OffsetIndex) SanityCheck() error {
	x := o.x
	if err := x.checkSize(); err != nil {
		return err
	}
	n := x.entries()
	var prevRel, prevPosition int64 = -1, 0
	for i := range n {
		e := x.at(i)
		rel := int64(binary.BigEndian.Uint32(e[0:4]))
		position := int64(binary.BigEndian.Uint32(e[4:8]))
		switch {
		case rel > MaxRelativeOffset:
			return x.corrupt(i, fmt.Sprintf("relative offset %d above %d", rel, MaxRelativeOffset))
		case position > MaxPosition:
			return x.corrupt(i, fmt.Sprintf("position %d above %d", position, MaxPosition))
		case rel <= prevRel:
			return x.corrupt(i, fmt.Sprintf("offset %d not above the previous entry's %d", x.base+rel, x.base+prevRel))
		case position < prevPosition:
			return x.corrupt(i, fmt.Sprintf("position %d below the previous entry's %d", position, prevPosition))
		}
		prevRel, prevPosition = rel, position
	}
	return nil
}
