package segment

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The checks every reader of a segment applies to the batches it walks (doc.go, "What a reader
// checks"): reads, recovery, index rebuilds and the startup scan share batchWalk, so that they
// agree on what a damaged log is.

// DamageError is ErrCorruptLog with where: the segment file, the position of the batch (or
// index entry) that failed a check, the offset that was asked for or expected there, and why.
type DamageError struct {
	File     string
	Position int64
	Offset   int64
	Reason   error
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("segment: damaged log: %s at position %d (offset %d): %v", e.File, e.Position, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorruptLog) true; the reason is in Reason.
func (e *DamageError) Unwrap() error { return ErrCorruptLog }

// errOutOfOrder is why a batch fails when it does not start after the previous batch's last
// offset. The CRC covers neither base offset, so either batch may be the damaged one: recovery
// keeps neither, and a read serves neither.
var errOutOfOrder = errors.New("offsets out of order")

// batchWalk walks the batches of one segment forward from a position, checking each header
// against the segment and the batch before it:
//
//   - the header is whole, magic 2, and its length is at least the header's and ends within the
//     segment (within limit: a batch that runs past it is damage, never "not there yet");
//   - a batch of zeros is ErrZeroedTail (the end of what was written, to recovery; damage to a
//     reader, since limit covers whole batches only);
//   - base offsets increase: a batch starts after the previous one's last offset; the first batch
//     at position 0 starts at or after the segment's base offset; every last offset lies below
//     upper (the next segment's base offset) and within the segment's relative range;
//   - from an index entry (anchor: the entry's offset, at the entry's position) the batch there
//     starts at or below the entry's offset, and the batches from there reach it without a gap
//     (Kafka indexes an append's first batch position with its last offset, so the entry's
//     offset may be in a later batch of the same append, but never past a gap);
//   - for recovery and the startup scan, also the CRC-32C of the whole batch (checkCRC);
//   - the batch the startup scan found damaged (segment.damaged) fails.
//
// The CRC does not cover base offset and length, so a changed base offset shows only against a
// neighbour: a batch's offsets are vouched for by the batch after it (or by upper).
type batchWalk struct {
	r        batchReader
	base     int64 // the segment's base offset
	upper    int64 // every offset in the segment is below it
	pos      int64 // where the next batch starts
	prevLast int64 // last offset of the batch that ends at pos; -1 before the first
	anchor   int64 // an index entry's offset the walk must reach without a gap; -1 for none
	damaged  *Damage
}

// init points w at s from pos up to limit. anchor is the offset of the index entry at pos (-1
// when pos is not an entry's); buf, if not nil, is the read window.
func (w *batchWalk) init(s *segment, limit, upper, pos, anchor int64, buf []byte) {
	w.r.initFD(s.fd, limit, buf)
	w.base, w.upper, w.pos, w.prevLast, w.anchor = s.baseOffset, upper, pos, -1, anchor
	w.damaged = s.damaged.Load()
}

// next checks the batch at w.pos and moves past it. why is io.EOF at the limit, ErrZeroedTail
// where zeros start, or what is wrong with the batch (wrapping ErrShortBatch, ErrInvalidBatch,
// ErrUnsupportedMagic or ErrCorruptBatch); w stays at the batch then. err is an I/O failure.
func (w *batchWalk) next() (h BatchHeader, why, err error) {
	pos, limit := w.pos, w.r.limit
	if pos >= limit {
		return h, io.EOF, nil
	}
	b, err := w.r.peek(pos, int(min(limit-pos, BatchHeaderSize)))
	if err != nil {
		return h, nil, err
	}
	if isZero(b[:min(len(b), offLeaderEpoch)]) {
		return h, ErrZeroedTail, nil
	}
	if h, why = ParseBatchHeader(b); why != nil {
		return h, why, nil
	}
	size, last := int64(h.Size()), h.LastOffset()
	first := w.prevLast < 0
	switch {
	case w.damaged != nil && pos == w.damaged.Position:
		why = fmt.Errorf("%w: the startup scan found: %s", ErrInvalidBatch, w.damaged.Reason)
	case pos+size > limit:
		why = fmt.Errorf("%w: batch of %d bytes, %d left in the segment", ErrShortBatch, size, limit-pos)
	case h.LastOffsetDelta < 0:
		why = fmt.Errorf("%w: lastOffsetDelta %d", ErrInvalidBatch, h.LastOffsetDelta)
	case h.BaseOffset < w.base:
		why = fmt.Errorf("%w: base offset %d below the segment's %d", ErrInvalidBatch, h.BaseOffset, w.base)
	case first && w.anchor >= 0 && h.BaseOffset > w.anchor:
		why = fmt.Errorf("%w: base offset %d above the offset %d of the index entry at its position", ErrInvalidBatch, h.BaseOffset, w.anchor)
	case !first && h.BaseOffset <= w.prevLast:
		why = fmt.Errorf("%w: %w: base offset %d does not follow the previous batch's last offset %d", ErrInvalidBatch, errOutOfOrder, h.BaseOffset, w.prevLast)
	case !first && w.prevLast < w.anchor && h.BaseOffset != w.prevLast+1:
		why = fmt.Errorf("%w: base offset %d leaves a gap after %d before the index entry's offset %d", ErrInvalidBatch, h.BaseOffset, w.prevLast, w.anchor)
	case last-w.base > maxRelativeOffset || last >= w.upper:
		why = fmt.Errorf("%w: offsets [%d, %d] do not fit a segment based at %d (next at %d)", ErrInvalidBatch, h.BaseOffset, last, w.base, w.upper)
	}
	if why != nil {
		return h, why, nil
	}
	w.pos, w.prevLast = pos+size, last
	return h, nil, nil
}

// checkCRC checks the CRC-32C of the batch h at pos, which next has passed: why is
// ErrCorruptBatch if it does not match, err an I/O failure. (Apart from next, so that a walk
// that never checks CRCs can live on its caller's stack: the CRC code keeps its input.)
func (w *batchWalk) checkCRC(pos int64, h BatchHeader) (why, err error) {
	b, err := w.r.peek(pos, h.Size())
	if err != nil {
		return nil, err
	}
	_, why = ValidateBatch(b)
	return why, nil
}

// scanBatches walks w to its limit, checking every batch (next, and with crc checkCRC), and
// calls each with the position and header of every good batch, once the batch after it has
// passed too: when two batches are out of order neither is good. It returns where the good
// batches end, how many there are, and why the walk stopped there: nil at the limit,
// ErrZeroedTail, or what is wrong. err is an I/O failure, or each's error. Recovery, index
// rebuilds, the startup scan and Scan (dump-log) all read segments through it.
func scanBatches(w *batchWalk, crc bool, each func(pos int64, h BatchHeader) error) (end int64, batches int, why, err error) {
	var pending BatchHeader
	pendingPos := int64(-1)
	for {
		pos := w.pos
		h, why, err := w.next()
		if why == nil && err == nil && crc {
			why, err = w.checkCRC(pos, h)
		}
		if err != nil {
			return pos, batches, nil, err
		}
		if pendingPos >= 0 && errors.Is(why, errOutOfOrder) {
			return pendingPos, batches, why, nil
		}
		if pendingPos >= 0 {
			if err := each(pendingPos, pending); err != nil {
				return pendingPos, batches, nil, err
			}
			batches++
		}
		if why == io.EOF {
			return pos, batches, nil, nil
		}
		if why != nil {
			return pos, batches, why, nil
		}
		pending, pendingPos = h, pos
	}
}

// anchorReached reports whether the walk has passed its index entry's offset.
func (w *batchWalk) anchorReached() bool { return w.anchor < 0 || w.prevLast >= w.anchor }

// startFor is where a walk looking for offset starts: the position of the offset index's
// greatest entry at or below offset, with that entry's offset as the walk's anchor, or position
// 0 and no anchor.
func (s *segment) startFor(offset int64) (pos, anchor int64) {
	if offset > s.baseOffset {
		if entry, p := s.offsetIndex.Lookup(offset); p > 0 {
			return int64(p), entry
		}
	}
	return 0, -1
}

// find walks to the first batch whose last offset is >= offset and returns its header and
// position; found is false when the walk reaches the limit first (pos is the limit then). why
// is what is wrong at pos if the walk cannot go on: a batch that fails a check, or an index
// entry whose offset the batches from its position end before reaching. err is an I/O failure.
func (w *batchWalk) find(offset int64) (h BatchHeader, pos int64, found bool, why, err error) {
	start := w.pos
	for {
		pos = w.pos
		if h, why, err = w.next(); err != nil {
			return h, pos, false, nil, err
		}
		if why == io.EOF {
			if !w.anchorReached() {
				return h, start, false, fmt.Errorf("%w: the batches from the index entry for offset %d end at offset %d before reaching it", ErrInvalidBatch, w.anchor, w.prevLast), nil
			}
			return h, pos, false, nil, nil
		}
		if why != nil {
			return h, pos, false, why, nil
		}
		if h.LastOffset() >= offset {
			return h, pos, true, nil, nil
		}
	}
}

// readRange finds in s the first batch whose last offset is >= offset, below limit, and the
// range Read serves from it: up to maxBytes (cut mid-batch if need be), or the whole first
// batch if minOneBatch and it is longer. first is that batch's base offset. Every batch of the
// range that is whole is vouched for by the header after it (or the end of the segment); the
// range is cut before the first one that cannot be, so that the next read there reports the
// damage. found is false when no such batch lies below limit. err is a *DamageError when the
// batch holding offset cannot be vouched for, or an I/O error.
//
// A batch among the last few the appender wrote (s.recent) is found without reading headers.
func (s *segment) readRange(offset, limit, upper int64, maxBytes int, minOneBatch bool) (first, pos, n int64, found bool, err error) {
	var w batchWalk
	var size int64
	if p, base, last, sz, ok := s.recent.find(offset); ok && p+sz <= limit && s.damaged.Load() == nil {
		// Where find would leave the walk: past the batch, which the appender validated.
		pos, first, size = p, base, sz
		w.init(s, limit, upper, pos+size, -1, nil)
		w.prevLast = last
	} else {
		start, anchor := s.startFor(offset)
		w.init(s, limit, upper, start, anchor, nil)
		h, p, found, why, err := w.find(offset)
		switch {
		case err != nil:
			return 0, p, 0, false, fmt.Errorf("segment: reading %s at %d: %w", s.path(logSuffix), p, err)
		case why != nil:
			return 0, p, 0, false, &DamageError{File: s.path(logSuffix), Position: p, Offset: offset, Reason: why}
		case !found:
			return 0, p, 0, false, nil
		}
		pos, first, size = p, h.BaseOffset, int64(h.Size())
	}
	n = min(int64(maxBytes), limit-pos)
	if minOneBatch && n < size {
		n = size
	}
	checked := s.checked.Load()
	if pos+n <= checked {
		return first, pos, n, true, nil
	}
	if !s.active.Load() {
		// A sealed segment, read from disk more often than not: read the range in large
		// windows, and have the whole segment checked once so that later reads need not.
		// The active segment's reads are at its tail, where batchReader.peek reads little
		// ahead, and s.checked moves with them.
		s.checkInBackground(upper)
		buf := rangeWindows.Get().(*[]byte)
		defer rangeWindows.Put(buf)
		w.r.buf, w.r.bufPos = *buf, -1
	}
	vouched := pos // the batches of [pos, vouched) are vouched for
	defer func() {
		if pos <= checked {
			storeMax(&s.checked, vouched) // a reader going forward from here need not walk again
		}
	}()
	for end := w.pos; end <= pos+n; end = w.pos {
		_, why, err := w.next()
		if err != nil {
			return first, pos, 0, false, fmt.Errorf("segment: reading %s at %d: %w", s.path(logSuffix), end, err)
		}
		if why != nil && why != io.EOF {
			if vouched == pos {
				return first, pos, 0, false, &DamageError{File: s.path(logSuffix), Position: end, Offset: offset, Reason: why}
			}
			n = vouched - pos
			break
		}
		vouched = end
		if why == io.EOF {
			break
		}
	}
	return first, pos, n, true, nil
}

// checkInBackground walks the headers of the sealed segment s once (batchWalk's checks, as a
// read would), from a goroutine that holds a reference to it, and moves s.checked to the end
// of what passed: a segment trusted at open costs reads a walk of their range only until then.
// At most one runs per segment; one that fails on I/O may run again on a later read.
func (s *segment) checkInBackground(upper int64) {
	if !s.checking.CompareAndSwap(false, true) {
		return
	}
	s.refs.Add(1)
	go func() {
		defer s.release()
		var w batchWalk
		w.init(s, s.size.Load(), upper, 0, -1, make([]byte, scanBufferSize))
		end, _, why, err := scanBatches(&w, false, func(int64, BatchHeader) error { return nil })
		switch {
		case err != nil:
			s.checking.Store(false)
		case why == nil:
			s.checked.Store(math.MaxInt64)
		default:
			storeMax(&s.checked, end)
		}
	}()
}

// rangeWindow is the pread window of a read that vouches for the batches of its range in a
// sealed segment: the range is read in a few large preads rather than one per header.
const rangeWindow = 64 << 10

var rangeWindows = sync.Pool{New: func() any { b := make([]byte, rangeWindow); return &b }}

// damageLogInterval is how often a log logs damage its reads found: the first time, then at
// most once per interval with the count of reads refused meanwhile (a consumer retrying at a
// damaged offset would flood the log otherwise).
const damageLogInterval = time.Minute

// damageReport counts the reads of a log refused for damage, and logs them rate-limited.
type damageReport struct {
	total *atomic.Int64 // the log directory's count, if the log belongs to one
	count atomic.Int64

	mu       sync.Mutex
	logged   time.Time // when the last line was logged
	unlogged int64     // reads refused since then
}

// noteDamage counts and logs err if it is a *DamageError.
func (l *Log) noteDamage(err error) {
	var de *DamageError
	if !errors.As(err, &de) {
		return
	}
	d := &l.damage
	d.count.Add(1)
	if d.total != nil {
		d.total.Add(1)
	}
	now := l.now()
	d.mu.Lock()
	if !d.logged.IsZero() && now.Sub(d.logged) < damageLogInterval {
		d.unlogged++
		d.mu.Unlock()
		return
	}
	refused := d.unlogged
	d.logged, d.unlogged = now, 0
	d.mu.Unlock()
	l.logger.Error("segment: read refused: the log is damaged", "file", de.File, "position", de.Position,
		"offset", de.Offset, "reason", de.Reason.Error(), "refused_unlogged", refused)
}

// DamageFound is the number of reads of the log refused with ErrCorruptLog since it was opened.
func (l *Log) DamageFound() int64 { return l.damage.count.Load() }
