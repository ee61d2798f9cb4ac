package segment

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"

	"runnel/index"
)

// scanBufferSize is the pread window of recovery and index rebuilds: large sequential reads.
const scanBufferSize = 1 << 20

// rebuildBuffers holds rebuild's scan buffers: an open rebuilds every log's active segment, and
// a new 1 MiB buffer each made 10,000 logs allocate (and clear, and collect) 10 GiB.
var rebuildBuffers = sync.Pool{New: func() any { b := make([]byte, scanBufferSize); return &b }}

// rebuild scans the batches of s from position 0 up to its size (scanBatches, with the CRC
// when validate), resetting and rebuilding both indexes the way the appender fills them. each,
// if not nil, sees every good batch. It returns the position where the good batches end, how
// many there are and, when they end before the size, why (ErrZeroedTail, or what is wrong with
// the batch there); err reports an I/O or index failure.
func (s *segment) rebuild(cfg Config, validate bool, nextBase int64, each func(BatchHeader)) (end int64, batches int, why, err error) {
	s.offsetIndex.Reset()
	s.timeIndex.Reset()
	s.nextOffset, s.maxTimestamp, s.offsetOfMaxTime, s.bytesSinceIndex = s.baseOffset, -1, -1, 0
	buf := rebuildBuffers.Get().(*[]byte)
	defer rebuildBuffers.Put(buf)
	var w batchWalk
	w.init(s, s.size.Load(), nextBase, 0, -1, *buf)
	end, batches, why, err = scanBatches(&w, validate, func(pos int64, h BatchHeader) error {
		// A full index (opened small on a full disk) only makes reads scan further.
		if err := s.updateIndexes(h, pos, cfg.IndexIntervalBytes); err != nil && !errors.Is(err, index.ErrIndexFull) {
			return err
		}
		if each != nil {
			each(h)
		}
		return nil
	})
	if err != nil {
		return end, batches, nil, fmt.Errorf("segment: scanning %s at %d: %w", s.path(logSuffix), end, err)
	}
	s.markChecked(end, why)
	return end, batches, why, nil
}

// markChecked records how far a scan that stopped at end (why) checked s.
func (s *segment) markChecked(end int64, why error) {
	if why == nil {
		s.checked.Store(math.MaxInt64)
	} else {
		s.checked.Store(end)
	}
}

// recover scans s (see rebuild), with validate checking every batch's CRC too, and cuts the
// file at the first bad or torn batch: what follows is garbage from a crash, never synced, so
// never acknowledged as durable. After validating or cutting it syncs the file. It returns why
// it cut the file (ErrZeroedTail for preallocated space), nil if it did not, and adds the
// segment to rep. A zeroed tail (preallocated space) is logged quietly; anything else loudly,
// with file, position and size.
func (s *segment) recover(cfg Config, validate bool, nextBase int64, each func(BatchHeader), logger *slog.Logger, rep *LogScan) (cut, err error) {
	fileSize := s.size.Load()
	end, batches, why, err := s.rebuild(cfg, validate, nextBase, each)
	if err != nil {
		return nil, err
	}
	rep.Segments++
	rep.Batches += batches
	if end < fileSize {
		attrs := []any{"file", s.path(logSuffix), "position", end, "bytes", fileSize - end, "next_offset", s.nextOffset}
		if why == ErrZeroedTail {
			logger.Debug("segment: recovery removed zeroed tail", attrs...)
		} else {
			logger.Warn("segment: recovery truncated damaged or torn batches", append(attrs, "reason", why.Error())...)
			rep.Damage = append(rep.Damage, Damage{File: s.path(logSuffix), Position: end, Offset: s.nextOffset, Reason: why.Error(), Cut: true})
		}
		if err := s.fs.Truncate(s.file, end); err != nil {
			return nil, err
		}
		s.size.Store(end)
		s.allocated = end
		s.checked.Store(math.MaxInt64) // what is left passed the checks
	}
	if validate || end < fileSize {
		// What a crashed process wrote may be in the page cache only: make it as durable
		// as the recovery point will say it is.
		if err := s.fs.Fdatasync(s.file); err != nil {
			return nil, err
		}
	}
	s.durable.Store(end)
	return why, nil
}

// check scans a trusted sealed segment as recovery would (every batch whole, with its CRC-32C,
// offsets increasing and below nextBase) without changing anything, and adds what it found to
// rep: the full startup scan of what lies below the recovery point. Damage is logged and
// reported, and the segment kept as it is: its batches were synced, so acknowledged, and the
// undamaged ones after the damage stay readable through the offset index; reads at the damage
// fail with ErrCorruptLog.
func (s *segment) check(nextBase int64, logger *slog.Logger, rep *LogScan) error {
	var w batchWalk
	w.init(s, s.size.Load(), nextBase, 0, -1, make([]byte, scanBufferSize))
	expected := s.baseOffset // the offset after the last good batch
	end, batches, why, err := scanBatches(&w, true, func(_ int64, h BatchHeader) error {
		expected = h.LastOffset() + 1
		return nil
	})
	if err != nil {
		return fmt.Errorf("segment: scanning %s at %d: %w", s.path(logSuffix), end, err)
	}
	rep.Segments++
	rep.Batches += batches
	s.markChecked(end, why)
	if why != nil {
		d := Damage{File: s.path(logSuffix), Position: end, Offset: expected, Reason: why.Error()}
		logger.Error("segment: scan found damage below the recovery point, kept", "file", d.File, "position", d.Position, "offset", d.Offset, "reason", d.Reason)
		rep.Damage = append(rep.Damage, d)
		s.damaged.Store(&d)
	}
	return nil
}

// loadIndexes opens the existing indexes of a segment whose .log is trusted, as mode says:
// indexesReadOnly for a sealed segment, indexesWritable for the active one. An index that is
// missing or corrupt is rebuilt from the .log (indexes are derived data).
func (s *segment) loadIndexes(cfg Config, mode indexMode, logger *slog.Logger) error {
	err := s.openIndexes(cfg, mode)
	if err == nil {
		s.loadMaxTimestamp()
		return nil
	}
	if !errors.Is(err, index.ErrCorruptIndex) && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	logger.Info("segment: rebuilding index", "segment", s.path(logSuffix), "reason", err.Error())
	if err := s.openIndexes(cfg, indexesCreate); err != nil {
		return err
	}
	end, _, why, err := s.rebuild(cfg, false, math.MaxInt64, nil)
	if err != nil {
		return err
	}
	if why != nil {
		// A trusted segment with a bad header: index what precedes it; reads past it fail.
		logger.Warn("segment: batch header unreadable while rebuilding index", "segment", s.path(logSuffix), "position", end, "reason", why.Error())
	}
	if mode != indexesReadOnly {
		return nil
	}
	return s.sealIndexes()
}

// loadMaxTimestamp takes a trusted segment's max timestamp from its time index's last entry,
// where sealing and a clean close put it.
func (s *segment) loadMaxTimestamp() {
	if ts, off, ok := s.timeIndex.LastEntry(); ok {
		s.maxTimestamp, s.offsetOfMaxTime = ts, off
	}
}
