package segment

import (
	"math"
	"sort"
)

// The high watermark is owned by the log, as Kafka's UnifiedLog.highWatermarkMetadata: the
// offset below which every record is replicated to the whole ISR, which the replication
// leader computes and a follower learns from its fetch responses. Consumers read below it only
// (ReadOptions.UpToHighWatermark). It is kept as an offsetMark, its byte position computed once
// per change, so that reads compare positions and look nothing up. It stays within [log start,
// log end]: truncation lowers it, a log start moved above it raises it. LogDir saves it in
// replication-offset-checkpoint; an open without a checkpointed value starts it at the log
// start offset.

// HighWatermark returns the high watermark: reads with UpToHighWatermark stop before it.
func (l *Log) HighWatermark() int64 { return l.highWatermark.Load().offset }

// SetHighWatermark sets the high watermark to offset clamped to [StartOffset, EndOffset], and
// returns the value set. It may go down (a follower told a lower one by a new leader). An
// offset inside a batch makes reads stop before that batch. A change wakes Watch watchers.
func (l *Log) SetHighWatermark(offset int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.setHighWatermarkLocked(offset)
}

// setHighWatermarkLocked sets the high watermark, clamped, with its position in the current
// segments (always computed afresh: callers also use it after the segments changed).
func (l *Log) setHighWatermarkLocked(offset int64) int64 {
	offset = min(max(offset, l.startOffset.Load()), l.mu.nextOffset)
	mark := l.markLocked(offset)
	old := l.highWatermark.Swap(&mark)
	if old == nil || old.offset != offset {
		l.changed.notify()
	}
	return offset
}

// keepHighWatermarkLocked moves the high watermark back into [log start, log end] after they
// moved (retention, DeleteRecordsBefore, truncation), and refreshes its position.
func (l *Log) keepHighWatermarkLocked() {
	l.setHighWatermarkLocked(l.HighWatermark())
}

// markLocked returns offset's mark: the position of the first batch whose last offset is at or
// after offset, in the segment that holds offset (the log end's position for the log end).
func (l *Log) markLocked(offset int64) offsetMark {
	segs := l.view.segments
	if len(segs) == 0 { // closed
		return offsetMark{base: offset, offset: offset}
	}
	i := max(sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > offset })-1, 0)
	upper := int64(math.MaxInt64)
	if i+1 < len(segs) {
		upper = segs[i+1].baseOffset
	}
	return l.markIn(segs[i], upper, offset)
}

// markIn returns offset's mark in s, the segment that holds it (the next segment starts at
// upper). A batch that cannot be read there stops reads before it: its position is the mark's.
func (l *Log) markIn(s *segment, upper, offset int64) offsetMark {
	size := s.size.Load()
	if offset == l.mu.nextOffset {
		return offsetMark{base: s.baseOffset, pos: size, offset: offset}
	}
	start, anchor := s.startFor(offset)
	var w batchWalk
	w.init(s, size, upper, start, anchor, nil)
	_, pos, _, why, err := w.find(offset)
	if why != nil || err != nil {
		l.logger.Warn("segment: high watermark position at an unreadable batch", "segment", s.path(logSuffix),
			"position", pos, "offset", offset, "reason", why, "err", err)
	}
	return offsetMark{base: s.baseOffset, pos: pos, offset: offset}
}
