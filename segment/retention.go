package segment

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"
)

// ApplyRetention deletes whole segments, oldest first and never the active one: those whose
// newest batch is older than now - retention.ms (an active segment that old is rolled first,
// so that it goes too), as many as keep the log within
// retention.bytes, and those wholly below the log start offset. The log start offset moves to
// the first remaining segment. Files go when their last reader releases them. It returns how
// many segments it deleted.
func (l *Log) ApplyRetention(now time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return 0, ErrClosed
	}
	if err := l.storageFailure(); err != nil {
		return 0, err
	}
	cfg := l.mu.cfg
	segs := l.view.segments
	n := l.belowStartLocked()
	if cfg.RetentionMs >= 0 {
		cutoff := now.Add(-cfg.RetentionMs).UnixMilli()
		k := 0
		for k < len(segs)-1 && segs[k].maxTimestampOrModTime() < cutoff {
			k++
		}
		if active := l.mu.active; k == len(segs)-1 && active.size.Load() > 0 && active.maxTimestampOrModTime() < cutoff {
			// The active segment has expired too: as Kafka does, roll it (a log always has a
			// segment) so that it can be deleted with the rest.
			if err := l.rollLocked(); err != nil {
				return 0, err
			}
			segs = l.view.segments
			k = len(segs) - 1
		}
		n = max(n, k)
	}
	if cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range segs {
			total += s.size.Load()
		}
		k := 0
		for excess := total - cfg.RetentionBytes; k < len(segs)-1 && excess >= segs[k].size.Load(); k++ {
			excess -= segs[k].size.Load()
		}
		n = max(n, k)
	}
	return n, l.deleteOldestLocked(n, "retention")
}

// DeleteRecordsBefore moves the log start offset up to offset (Kafka's DeleteRecords) and
// deletes the segments wholly below it. It returns the new log start offset.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return l.startOffset.Load(), ErrClosed
	}
	if err := l.storageFailure(); err != nil {
		return l.startOffset.Load(), err
	}
	if offset < 0 || offset > l.mu.nextOffset {
		return l.startOffset.Load(), fmt.Errorf("%w: %d not in [0, %d]", ErrOffsetOutOfRange, offset, l.mu.nextOffset)
	}
	l.raiseStartLocked(offset)
	err := l.deleteOldestLocked(l.belowStartLocked(), "delete records")
	l.keepHighWatermarkLocked()
	return l.startOffset.Load(), err
}

// belowStartLocked counts the oldest segments that hold nothing at or after the start offset.
func (l *Log) belowStartLocked() int {
	segs, start := l.view.segments, l.startOffset.Load()
	n := 0
	for n < len(segs)-1 && segs[n+1].baseOffset <= start {
		n++
	}
	return n
}

// deleteOldestLocked removes the n oldest segments (never the active one) from the log, renames
// their files and drops the log's references to them.
func (l *Log) deleteOldestLocked(n int, why string) error {
	if n <= 0 {
		return nil
	}
	l.view.Lock()
	doomed := slices.Clone(l.view.segments[:n])
	l.view.segments = slices.Clone(l.view.segments[n:])
	first := l.view.segments[0].baseOffset
	l.view.Unlock()
	l.raiseStartLocked(first)
	l.keepHighWatermarkLocked()
	return l.dropSegmentsLocked(doomed, why)
}

// raiseStartLocked moves the log start offset up to offset, if it is below, and wakes the
// log's watchers: a parked fetch answers the new log start offset.
func (l *Log) raiseStartLocked(offset int64) {
	if offset > l.startOffset.Load() {
		l.startOffset.Store(offset)
		l.changed.notify()
	}
}

// dropSegmentsLocked deletes segments already taken out of the segment list.
func (l *Log) dropSegmentsLocked(doomed []*segment, why string) error {
	var errs []error
	for _, s := range doomed {
		l.mu.unsynced = slices.DeleteFunc(l.mu.unsynced, func(u *segment) bool { return u == s })
		if err := s.markDeleted(); err != nil {
			errs = append(errs, l.failLocked(err))
		}
		l.logger.Info("segment: deleted", "segment", s.path(logSuffix), "reason", why, "bytes", s.size.Load())
		s.release()
	}
	return errors.Join(errs...)
}

// TruncateTo removes every batch that ends at or after offset, so that the log ends at the
// last batch boundary at or below offset (replication truncates followers to an epoch's end).
// Later segments are deleted; the segment that holds the new end becomes active again; the
// removed bytes of the segment are zeroed and synced, so that recovery cannot bring back
// stale batches. An offset at or below the log start offset empties the log and restarts it at
// offset.
func (l *Log) TruncateTo(offset int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if offset >= l.mu.nextOffset {
		return nil
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	if offset <= l.startOffset.Load() {
		return l.truncateFullyLocked(offset)
	}
	segs := l.view.segments
	i := len(segs) - 1
	for segs[i].baseOffset > offset {
		i--
	}
	s := segs[i]
	upper := int64(math.MaxInt64)
	if i+1 < len(segs) {
		upper = segs[i+1].baseOffset
	}
	start, anchor := s.startFor(offset)
	var w batchWalk
	w.init(s, s.size.Load(), upper, start, anchor, nil)
	h, pos, found, why, err := w.find(offset)
	if why != nil {
		err = &DamageError{File: s.path(logSuffix), Position: pos, Offset: offset, Reason: why}
	}
	if err != nil {
		return fmt.Errorf("segment: truncating %s: %w", s.path(logSuffix), err)
	}
	newEnd := offset
	if found && h.BaseOffset < offset {
		newEnd = h.BaseOffset
	}
	if err := l.cutLocked(i, pos, newEnd); err != nil {
		l.mu.failed = fmt.Errorf("segment: truncation of %s failed, appends refused: %w", s.path(logSuffix), err)
		return l.mu.failed
	}
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset, which may lie past the
// log end (Kafka's UnifiedLog.truncateFullyAndStartAt: a Raft follower that installs a snapshot
// taken beyond its log). The new start is durable after the next Sync.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if offset < 0 {
		return fmt.Errorf("%w: start at %d", ErrOffsetOutOfRange, offset)
	}
	return l.truncateFullyLocked(offset)
}

// cutLocked makes segment i the active one, ending at position pos and offset newEnd.
func (l *Log) cutLocked(i int, pos, newEnd int64) error {
	cfg := l.mu.cfg
	l.view.Lock()
	segs := l.view.segments
	s := segs[i]
	doomed := slices.Clone(segs[i+1:])
	l.view.segments = slices.Clone(segs[:i+1])
	if s != l.mu.active {
		// Reopen a sealed segment for appending.
		l.mu.unsynced = slices.DeleteFunc(l.mu.unsynced, func(u *segment) bool { return u == s })
		if err := s.closeIndexes(); err != nil {
			l.view.Unlock()
			return err
		}
		if err := s.openIndexes(cfg, indexesWritable); err != nil {
			l.view.Unlock()
			return err
		}
		if err := s.activate(cfg.SegmentBytes, cfg.preallocateChunk()); err != nil {
			l.view.Unlock()
			return err
		}
	}
	if err := s.zero(pos, s.size.Load()); err != nil {
		l.view.Unlock()
		return err
	}
	s.size.Store(pos)
	s.recent.clear()
	if s.durable.Load() > pos {
		s.durable.Store(pos)
	}
	s.offsetIndex.TruncateTo(newEnd)
	s.timeIndex.TruncateTo(newEnd)
	l.view.Unlock()

	l.mu.active = s
	s.nextOffset = newEnd
	s.bytesSinceIndex = 0
	if s.rollAt.IsZero() { // reactivated: segment.ms counts from now
		s.rollAt = l.now()
	}
	s.recomputeMaxTimestamp()
	errs := []error{l.dropSegmentsLocked(doomed, "truncation")}
	if err := l.fs.Fdatasync(s.file); err != nil {
		errs = append(errs, l.failLocked(err))
	}
	if len(doomed) > 0 {
		// Make the removal of the later segments durable: after a crash they would otherwise
		// come back, and follow the cut segment once appends refill it up to their base.
		if err := l.fs.SyncDir(l.dir); err != nil {
			errs = append(errs, l.failLocked(err))
		}
	}
	l.mu.nextOffset = newEnd
	l.endOffset.Store(newEnd)
	if mark := l.durable.Load(); mark.offset >= newEnd {
		// It was durable through the new end; a mark below it stays as it is.
		l.publishDurable(s.baseOffset, pos, newEnd)
	}
	// Snapshots past the new end go, and the state is rebuilt from the latest one left (Kafka's
	// truncateAndReload): batches below the cut stay deduplicated.
	if err := l.loadProducersLocked(); err != nil {
		errs = append(errs, l.failLocked(err))
	}
	errs = append(errs, l.truncateEpochsLocked(newEnd))
	l.keepHighWatermarkLocked()
	l.changed.notify()
	return errors.Join(errs...)
}

// truncateFullyLocked deletes every segment and restarts the log, empty, at offset.
func (l *Log) truncateFullyLocked(offset int64) error {
	l.view.Lock()
	doomed := l.view.segments
	l.view.segments = nil
	l.view.Unlock()
	// Rename the old files away first: the new segment may have the same name.
	errs := []error{l.dropSegmentsLocked(doomed, "truncation")}
	s, err := createSegment(l.fs, l.dir, offset, l.mu.cfg, l.space)
	if err != nil {
		l.mu.failed = fmt.Errorf("segment: log %s has no segment after truncation: %w", l.dir, err)
		return l.mu.failed
	}
	l.view.Lock()
	l.view.segments = []*segment{s}
	l.view.Unlock()
	l.mu.active, l.mu.nextOffset, l.mu.unsynced, l.mu.dirDirty = s, offset, nil, true
	l.startOffset.Store(offset)
	l.endOffset.Store(offset)
	l.publishDurable(offset, 0, offset)
	l.mu.producers = NewProducerState()
	snaps, err := listSnapshots(l.fs, l.dir)
	if err == nil {
		err = l.dropSnapshots(snaps)
	}
	if err != nil {
		errs = append(errs, l.failLocked(err))
	}
	errs = append(errs, l.truncateEpochsLocked(-1))
	l.keepHighWatermarkLocked()
	l.changed.notify()
	return errors.Join(errs...)
}

// truncateEpochsLocked forgets the leader epochs that start at or after end (all of them for
// end < 0) and rewrites the checkpoint if that changed anything.
func (l *Log) truncateEpochsLocked(end int64) error {
	kept := l.mu.epochs
	for len(kept) > 0 && (end < 0 || kept[len(kept)-1].StartOffset >= end) {
		kept = kept[:len(kept)-1]
	}
	if len(kept) == len(l.mu.epochs) {
		return nil
	}
	l.mu.epochs = slices.Clip(kept)
	l.mu.newEpochs = false
	return writeLeaderEpochCheckpoint(l.fs, filepath.Join(l.dir, leaderEpochFile), l.mu.epochs)
}

// recomputeMaxTimestamp finds the max timestamp of s after a truncation: the time index's last
// remaining entry, then the batches after it.
func (s *segment) recomputeMaxTimestamp() {
	s.maxTimestamp, s.offsetOfMaxTime = -1, -1
	pos := int64(0)
	if ts, off, ok := s.timeIndex.LastEntry(); ok {
		s.maxTimestamp, s.offsetOfMaxTime = ts, off
		_, p := s.offsetIndex.Lookup(off)
		pos = int64(p)
	}
	var r batchReader
	r.initFD(s.fd, s.size.Load(), nil)
	for {
		h, err := r.header(pos)
		if err != nil || pos+int64(h.Size()) > r.limit {
			return
		}
		if h.MaxTimestamp > s.maxTimestamp {
			s.maxTimestamp, s.offsetOfMaxTime = h.MaxTimestamp, h.LastOffset()
		}
		pos += int64(h.Size())
	}
}
