package index

import (
	"encoding/binary"
	"fmt"
)

// Search keys of a time index entry: its timestamp, and its relative offset (at byte 8).
var (
	timestampField  = field{off: 0, wide: true}
	timeOffsetField = field{off: 8}
)

// TimeIndex is a Kafka .timeindex file: a sparse map from timestamps to the offsets after
// which any record with a greater timestamp must come. An entry (T, O) says that the greatest
// timestamp in the log before offset O is T. Timestamps strictly increase, offsets never
// decrease. Same concurrency and file rules as OffsetIndex.
type TimeIndex struct {
	x *file
}

// OpenTimeIndex opens the time index of the segment starting at baseOffset; see
// OpenOffsetIndex (entries are 12 bytes here).
func OpenTimeIndex(path string, baseOffset int64, maxBytes int, writable bool) (*TimeIndex, error) {
	x, err := openFile(path, baseOffset, maxBytes, writable, TimeEntrySize)
	if err != nil {
		return nil, err
	}
	return &TimeIndex{x: x}, nil
}

// entry returns entry i.
func (t *TimeIndex) entry(i int) (timestamp, offset int64) {
	return t.x.key(timestampField, i), t.x.offsetAt(timeOffsetField.off, i)
}

// MaybeAppend adds the entry (timestamp, offset) if timestamp is above the last entry's
// (above NoTimestamp when the index is empty, as in Kafka, so an empty index never records
// NoTimestamp); otherwise it does nothing and returns nil. offset must not be below the last
// entry's and must lie within [BaseOffset, BaseOffset+MaxRelativeOffset] (ErrInvalidEntry).
//
// Like Kafka's, the time index keeps its last slot for the entry the log writes when it rolls
// the segment: IsFull reports true one slot early, while MaybeAppend returns ErrIndexFull
// only when no slot is left at all.
func (t *TimeIndex) MaybeAppend(timestamp, offset int64) error {
	x := t.x
	if !x.writable() {
		return x.errNotWritable()
	}
	rel, err := x.relative(offset)
	if err != nil {
		return err
	}
	n := x.entries()
	lastTimestamp, lastOffset := t.lastEntry(n)
	if offset < lastOffset {
		return fmt.Errorf("%w: %s: offset %d below the last entry's %d", ErrInvalidEntry, x.path, offset, lastOffset)
	}
	if timestamp <= lastTimestamp {
		return nil
	}
	if n >= x.capacity {
		return x.errIsFull()
	}
	e := x.slot(n)
	binary.BigEndian.PutUint64(e[0:8], uint64(timestamp))
	binary.BigEndian.PutUint32(e[8:12], rel)
	x.count.Store(int64(n + 1)) // publish
	return nil
}

// lastEntry returns entry n-1, or (NoTimestamp, BaseOffset) when n is 0.
func (t *TimeIndex) lastEntry(n int) (timestamp, offset int64) {
	if n == 0 {
		return NoTimestamp, t.x.base
	}
	return t.entry(n - 1)
}

// Lookup returns the entry with the greatest timestamp <= timestamp: the log scans forward
// from entryOffset for the first batch whose max timestamp reaches timestamp. When there is
// none it returns (NoTimestamp, BaseOffset). Warm tail first, O(log n), as OffsetIndex.Lookup.
func (t *TimeIndex) Lookup(timestamp int64) (entryTimestamp, entryOffset int64) {
	n := t.x.entries()
	if n == 0 {
		return NoTimestamp, t.x.base
	}
	i := t.x.lastAtMost(n, timestampField, timestamp)
	if i < 0 {
		return NoTimestamp, t.x.base
	}
	return t.entry(i)
}

// LastEntry returns the last entry (the segment's greatest indexed timestamp); ok is false,
// and the result (NoTimestamp, BaseOffset), when the index is empty.
func (t *TimeIndex) LastEntry() (timestamp, offset int64, ok bool) {
	n := t.x.entries()
	timestamp, offset = t.lastEntry(n)
	return timestamp, offset, n > 0
}

// Entries returns the number of entries.
func (t *TimeIndex) Entries() int { return t.x.entries() }

// IsFull reports whether the log should roll: true when at most the slot kept for the roll
// entry is left (Kafka's TimeIndex.isFull), and always once read-only.
func (t *TimeIndex) IsFull() bool { return t.x.entries() >= t.x.capacity-1 }

// BaseOffset returns the base offset of the index's segment.
func (t *TimeIndex) BaseOffset() int64 { return t.x.base }

// TruncateTo drops the entries with offset >= offset, under the same rules as
// OffsetIndex.TruncateTo.
func (t *TimeIndex) TruncateTo(offset int64) {
	x := t.x
	n := x.entries()
	x.lowerCount(x.entriesBefore(n, timeOffsetField.off, offset))
}

// Reset drops every entry, with the same rules as TruncateTo.
func (t *TimeIndex) Reset() { t.x.lowerCount(0) }

// Sync makes the entries appended so far durable (msync). No-op when not writable.
func (t *TimeIndex) Sync() error { return t.x.sync() }

// Seal ends appending; see OffsetIndex.Seal.
func (t *TimeIndex) Seal() error { return t.x.seal() }

// Close releases the index; see OffsetIndex.Close.
func (t *TimeIndex) Close() error { return t.x.close(true) }

// CloseUnsynced is Close without the fdatasync; see OffsetIndex.CloseUnsynced.
func (t *TimeIndex) CloseUnsynced() error { return t.x.close(false) }

// SanityCheck verifies that the index could have been written by MaybeAppend: a file size
// that is a whole number of entries, strictly increasing timestamps above NoTimestamp,
// non-decreasing offsets and relative offsets that fit Kafka's signed int32. O(n), like
// OffsetIndex.SanityCheck; the error wraps ErrCorruptIndex and names the file and entry.
func (t *TimeIndex) SanityCheck() error {
	x := t.x
	if err := x.checkSize(); err != nil {
		return err
	}
	n := x.entries()
	var prevTimestamp, prevRel int64 = NoTimestamp, 0
	for i := range n {
		timestamp := x.key(timestampField, i)
		rel := x.key(timeOffsetField, i)
		switch {
		case rel > MaxRelativeOffset:
			return x.corrupt(i, fmt.Sprintf("relative offset %d above %d", rel, MaxRelativeOffset))
		case timestamp <= prevTimestamp:
			return x.corrupt(i, fmt.Sprintf("timestamp %d not above the previous entry's %d", timestamp, prevTimestamp))
		case rel < prevRel:
			return x.corrupt(i, fmt.Sprintf("offset %d below the previous entry's %d", x.base+rel, x.base+prevRel))
		}
		prevTimestamp, prevRel = timestamp, rel
	}
	return nil
}
