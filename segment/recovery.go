package segment

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"

	"runnel/index"
)

// scanBufferSize is the pread window of recovery and index rebuilds: large sequential reads.
const scanBufferSize = 1 << 20

// errZeroedTail is why a scan stopped at a batch of length zero: preallocated space never
// written, or written but never synced, which is an expected end rather than damage.
var errZeroedTail = errors.New("zeroed tail")

// rebuild scans the batches of s from position 0 up to its size, resetting and rebuilding both
// indexes the way the appender fills them. With validate every batch is checked whole (lengths,
// magic, CRC-32C) and its offsets must lie after the previous batch's, below nextBase (the next
// segment's base offset) and within the segment's relative range; the scan stops at the first
// batch that fails. each, if not nil, sees every
// good batch. It returns the position where the good batches end and, when that is before the
// size, why (errZeroedTail, or the batch's error); err reports an I/O or index failure.
func (s *segment) rebuild(cfg Config, validate bool, nextBase int64, each func(BatchHeader)) (end int64, why, err error) {
	s.offsetIndex.Reset()
	s.timeIndex.Reset()
	s.nextOffset, s.maxTimestamp, s.offsetOfMaxTime, s.bytesSinceIndex = s.baseOffset, -1, -1, 0
	var r batchReader
	r.init(s, s.size.Load(), make([]byte, scanBufferSize))
	r.data = nil // always pread: the mapping (if any) may cover less than the file
	pos := int64(0)
	for {
		h, stop := s.nextBatch(&r, pos, validate, nextBase)
		if stop != nil {
			if stop == io.EOF {
				return pos, nil, nil
			}
			return pos, stop, nil
		}
		if err := s.updateIndexes(h, pos, cfg.IndexIntervalBytes); err != nil {
			return pos, nil, err
		}
		if each != nil {
			each(h)
		}
		pos += int64(h.Size())
	}
}

// nextBatch returns the header of the batch at pos, or why the scan ends there: io.EOF at the
// exact end, errZeroedTail, or what is wrong with the batch.
func (s *segment) nextBatch(r *batchReader, pos int64, validate bool, nextBase int64) (BatchHeader, error) {
	if pos == r.limit {
		return BatchHeader{}, io.EOF
	}
	h, err := r.header(pos)
	if err == io.EOF {
		return BatchHeader{}, errZeroedTail
	}
	if err != nil {
		return BatchHeader{}, err
	}
	if pos+int64(h.Size()) > r.limit {
		return BatchHeader{}, fmt.Errorf("%w: batch of %d bytes, %d left in the file", ErrShortBatch, h.Size(), r.limit-pos)
	}
	if !validate {
		return h, nil
	}
	b, err := r.peek(pos, h.Size())
	if err != nil {
		return BatchHeader{}, err
	}
	if _, err := ValidateBatch(b); err != nil {
		return BatchHeader{}, err
	}
	if h.BaseOffset < s.nextOffset || h.LastOffset() < h.BaseOffset || h.LastOffset() >= nextBase ||
		h.LastOffset()-s.baseOffset > maxRelativeOffset {
		return BatchHeader{}, fmt.Errorf("%w: offsets [%d, %d] do not follow %d in a segment based at %d (next at %d)",
			ErrInvalidBatch, h.BaseOffset, h.LastOffset(), s.nextOffset, s.baseOffset, nextBase)
	}
	return h, nil
}

// recover scans s (see rebuild), with validate checking every batch, and cuts the file at the
// first bad or torn batch: what follows is garbage from a crash, never synced, so never
// acknowledged as durable. After validating or cutting it syncs the file. It returns why it
// cut the file (errZeroedTail for preallocated space), nil if it did not. A zeroed tail
// (preallocated space) is logged quietly; anything else loudly, with file, position and size.
func (s *segment) recover(cfg Config, validate bool, nextBase int64, each func(BatchHeader), logger *slog.Logger) (cut, err error) {
	fileSize := s.size.Load()
	end, why, err := s.rebuild(cfg, validate, nextBase, each)
	if err != nil {
		return nil, err
	}
	if end < fileSize {
		attrs := []any{"file", s.path(logSuffix), "position", end, "bytes", fileSize - end, "next_offset", s.nextOffset}
		if why == errZeroedTail {
			logger.Debug("segment: recovery removed zeroed tail", attrs...)
		} else {
			logger.Warn("segment: recovery truncated damaged or torn batches", append(attrs, "reason", why.Error())...)
		}
		if err := s.fs.Truncate(s.file, end); err != nil {
			return nil, err
		}
		s.size.Store(end)
		s.allocated = end
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

// loadIndexes opens the indexes of a segment whose .log is trusted: read-only for a sealed
// segment, writable for the active one. An index that is missing or corrupt is rebuilt from the
// .log (indexes are derived data).
func (s *segment) loadIndexes(cfg Config, writable bool, logger *slog.Logger) error {
	err := s.openIndexes(cfg, writable, false)
	if err == nil {
		s.loadMaxTimestamp()
		return nil
	}
	if !errors.Is(err, index.ErrCorruptIndex) && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	logger.Info("segment: rebuilding index", "segment", s.path(logSuffix), "reason", err.Error())
	if err := s.openIndexes(cfg, true, true); err != nil {
		return err
	}
	end, why, err := s.rebuild(cfg, false, math.MaxInt64, nil)
	if err != nil {
		return err
	}
	if why != nil {
		// A trusted segment with a bad header: index what precedes it; reads past it fail.
		logger.Warn("segment: batch header unreadable while rebuilding index", "segment", s.path(logSuffix), "position", end, "reason", why.Error())
	}
	if writable {
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
