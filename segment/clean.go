package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"runnel/index"
	"runnel/io/disk"
)

// Log compaction, as Kafka's LogCleaner does it (doc.go, "Compaction"). The Cleaner
// (cleaner.go) decides which log to clean and keeps the checkpoints; this file cleans one log.

// Suffixes of the cleaner's files (part of the format, Kafka's): a cleaned segment is written
// as <base>.log.cleaned (and .index.cleaned, .timeindex.cleaned), then renamed to
// <base>.log.swap, which commits it, and then to <base>.log once the segments it replaces are
// gone.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// CleanableInfo is what the cleaner needs to know about a compacted log to choose it.
type CleanableInfo struct {
	// FirstDirty is the first offset not yet cleaned (the cleaner's checkpoint, within the log).
	FirstDirty int64
	// FirstUncleanable is where cleaning must stop: the active segment's base offset, or the
	// base of the first segment with records newer than min.compaction.lag.ms or not
	// committed.
	FirstUncleanable int64
	// CleanBytes and DirtyBytes are the sizes of the segments below FirstDirty and of those
	// in [FirstDirty, FirstUncleanable).
	CleanBytes, DirtyBytes int64
	// MustClean: the dirty section's first batch is older than max.compaction.lag.ms.
	MustClean bool
	// TombstonesDue: a tombstone the last clean kept has passed its delete horizon.
	TombstonesDue bool
	// Worth: the log should be cleaned now (dirty ratio at least min.cleanable.dirty.ratio,
	// or MustClean, or TombstonesDue), and there is something to clean.
	Worth bool
}

// Ratio is the dirty ratio: dirty bytes over all the bytes below FirstUncleanable.
func (c CleanableInfo) Ratio() float64 {
	if c.CleanBytes+c.DirtyBytes == 0 {
		return 0
	}
	return float64(c.DirtyBytes) / float64(c.CleanBytes+c.DirtyBytes)
}

// Compacted reports whether the log's cleanup.policy includes compact.
func (l *Log) Compacted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.cfg.Compact
}

// closedNow reports whether the log has been closed (or deleted).
func (l *Log) closedNow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.closed
}

// Cleanable measures the log's clean and dirty sections, given the cleaner's checkpoint for it
// (Kafka's LogCleanerManager.cleanableOffsets and the dirty ratio). A checkpoint below the log
// start offset or past the log end counts as the log start offset. committed is the offset
// below which every record is committed (the high watermark, or a single durable replica's
// flushed offset): as Kafka's cleaner stops at the last stable offset, no record at or above
// it takes part, so that a key's later record that a crash or a new leader's truncation would
// take away has not removed its committed one first.
func (l *Log) Cleanable(checkpoint, committed int64) CleanableInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	cfg := l.mu.cfg
	now := l.now()
	segs := l.view.segments
	info := CleanableInfo{FirstDirty: checkpoint, FirstUncleanable: l.mu.active.baseOffset}
	if start := l.startOffset.Load(); checkpoint < start || checkpoint > l.mu.nextOffset {
		info.FirstDirty = start
	}
	lagCutoff := now.Add(-cfg.MinCompactionLag).UnixMilli()
	for i, s := range segs[:len(segs)-1] {
		if segs[i+1].baseOffset <= info.FirstDirty {
			continue
		}
		if segs[i+1].baseOffset > committed || (cfg.MinCompactionLag > 0 && s.maxTimestampOrModTime() > lagCutoff) {
			info.FirstUncleanable = max(s.baseOffset, info.FirstDirty)
			break
		}
	}
	if l.mu.closed || l.mu.failed != nil {
		return info
	}
	first := true
	for i, s := range segs[:len(segs)-1] {
		switch {
		case s.baseOffset >= info.FirstUncleanable:
		case segs[i+1].baseOffset <= info.FirstDirty:
			info.CleanBytes += s.size.Load()
		default:
			info.DirtyBytes += s.size.Load()
			if first && cfg.MaxCompactionLag > 0 {
				if ts := s.firstBatchTimestamp(); ts >= 0 && ts < now.Add(-cfg.MaxCompactionLag).UnixMilli() {
					info.MustClean = true
				}
			}
			first = false
		}
	}
	// Kafka's LogCleanerManager cleans a log whose tombstones are due even when its dirty
	// ratio is low, so that they go about delete.retention.ms after the clean that kept them.
	horizon := l.deleteHorizon.Load()
	info.TombstonesDue = horizon >= 0 && horizon <= now.UnixMilli() && info.CleanBytes+info.DirtyBytes > 0
	info.Worth = info.TombstonesDue || (info.DirtyBytes > 0 && (info.MustClean || info.Ratio() >= cfg.MinCleanableDirtyRatio))
	return info
}

// firstBatchTimestamp is the max timestamp of the segment's first batch (Kafka's
// LogSegment rollingBasedTimestamp), -1 when it has none or it cannot be read.
func (s *segment) firstBatchTimestamp() int64 {
	var r batchReader
	r.initFD(s.fd, s.size.Load(), nil)
	h, err := r.header(0)
	if err != nil {
		return -1
	}
	return h.MaxTimestamp
}

// rollStart is when segment.ms starts counting for a segment that already holds batches at
// open: its first batch's max timestamp, as Kafka's rollingBasedTimestamp, so that a restart
// does not give the active segment a new segment.ms; now when that is unknown or in the future.
func (s *segment) rollStart(now time.Time) time.Time {
	if ts := s.firstBatchTimestamp(); ts >= 0 && ts < now.UnixMilli() {
		return time.UnixMilli(ts)
	}
	return now
}

// CleanStats says what one Clean did.
type CleanStats struct {
	FirstDirty, End         int64 // the dirty section mapped: [FirstDirty, End); End is the new checkpoint
	BytesRead, BytesWritten int64
	SegmentsRead            int
	SegmentsWritten         int
	RecordsRead             int64
	RecordsKept             int64
}

// errCleanAborted: the log changed under a clean (retention, truncation, a close) and the
// cleaned segment was thrown away; the next clean starts again.
var errCleanAborted = errors.New("segment: clean aborted, the log changed")

// CleanOptions are a clean's tools, owned by the cleaner goroutine that runs it.
type CleanOptions struct {
	Map *OffsetMap
	// Throttle, if not nil, is told of every n bytes read or written and may sleep
	// (log.cleaner.io.max.bytes.per.second).
	Throttle func(n int64)
	// Buffer, if not nil, is the read window (grown if a batch is larger).
	Buffer []byte
}

// Clean compacts the log as Kafka's Cleaner.doClean does, for the sections info describes
// (from Cleanable): it maps each key of the dirty section [info.FirstDirty, End) to its latest
// offset (End is where the map filled up, or info.FirstUncleanable), then rewrites every
// segment below End, in groups of consecutive segments that fit one segment (segment.bytes,
// segment.index.bytes, 32-bit relative offsets), keeping a record when it is the latest of its
// key (or its key is not in the map) and, for a tombstone, until its batch's delete horizon
// has passed. Each group becomes one segment by the .cleaned/.swap protocol (doc.go), swapped
// in under the append lock; readers holding the old segments keep them until they release
// them. The active segment is never touched. Stats.End is the cleaner's new checkpoint.
func (l *Log) Clean(info CleanableInfo, opts CleanOptions) (CleanStats, error) {
	stats := CleanStats{FirstDirty: info.FirstDirty, End: info.FirstDirty}
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return stats, err
	}
	cfg := l.mu.cfg
	now := l.now()
	var segs []*segment
	var sizes []segmentSize
	for _, s := range l.view.segments {
		if s == l.mu.active || s.baseOffset >= info.FirstUncleanable {
			break
		}
		s.refs.Add(1)
		segs = append(segs, s)
		// Measured now: a truncation may reopen a sealed segment's indexes later.
		sizes = append(sizes, segmentSize{s.size.Load(), s.offsetIndex.Entries(), s.timeIndex.Entries() + 1})
	}
	// Kafka keeps a producer's last batch, emptied if need be, so that its sequence survives.
	lastOfProducer := make(map[int64]int64, l.mu.producers.Len())
	for id, e := range l.mu.producers.producers {
		if e.n > 0 {
			lastOfProducer[id] = e.batches[e.n-1].lastOffset
		}
	}
	upper := l.mu.active.baseOffset
	l.mu.Unlock()
	defer func() {
		for _, s := range segs {
			s.release()
		}
	}()
	c := cleaning{log: l, cfg: cfg, opts: opts, stats: &stats, lastOfProducer: lastOfProducer,
		now: now.UnixMilli(), horizon: now.Add(cfg.DeleteRetention).UnixMilli(), latestHorizon: -1}
	if c.opts.Buffer == nil {
		c.opts.Buffer = make([]byte, scanBufferSize)
	}
	end, err := c.buildMap(segs, info)
	if err != nil {
		return stats, err
	}
	stats.End = end
	n := 0
	for n < len(segs) && segs[n].baseOffset < end {
		n++
	}
	for _, group := range groupForCleaning(segs[:n], sizes[:n], upper, cfg) {
		if err := c.cleanGroup(group); err != nil {
			return stats, err
		}
	}
	l.deleteHorizon.Store(c.latestHorizon)
	return stats, nil
}

// cleaning is the state of one Clean.
type cleaning struct {
	log            *Log
	cfg            Config
	opts           CleanOptions
	stats          *CleanStats
	lastOfProducer map[int64]int64
	now, horizon   int64 // the clean's time, and the delete horizon it gives new tombstones
	latestHorizon  int64 // the latest delete horizon of a batch kept, -1 if none
	out            []byte
	records, kept  []Record // a batch's records, and those a clean keeps
	writeBuf       []byte   // the cleanedWriters' buffer
	compress       recompressor
}

// forEachBatch calls each with every batch of s (bytes valid until the next call), counting
// and throttling what it reads; each returns false to stop.
func (c *cleaning) forEachBatch(s *segment, each func(b []byte, h BatchHeader) (bool, error)) error {
	var r batchReader
	r.initFD(s.fd, s.size.Load(), c.opts.Buffer)
	for pos := int64(0); ; {
		h, err := r.header(pos)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("segment: cleaning %s at %d: %w", s.path(logSuffix), pos, err)
		}
		b, err := r.peek(pos, h.Size())
		if err != nil {
			return fmt.Errorf("segment: cleaning %s at %d: %w", s.path(logSuffix), pos, err)
		}
		c.opts.Buffer = r.window()
		c.stats.BytesRead += int64(len(b))
		if c.opts.Throttle != nil {
			c.opts.Throttle(int64(len(b)))
		}
		if more, err := each(b, h); err != nil || !more {
			return err
		}
		pos += int64(h.Size())
	}
}

// buildMap maps the keys of the dirty section to their latest offsets, stopping before the
// first batch that might not fit the map; it returns the end of what it mapped.
func (c *cleaning) buildMap(segs []*segment, info CleanableInfo) (int64, error) {
	m := c.opts.Map
	m.Reset(info.FirstUncleanable - info.FirstDirty)
	end := info.FirstDirty
	full := false
	for i, s := range segs {
		if full {
			break
		}
		if i+1 < len(segs) && segs[i+1].baseOffset <= info.FirstDirty {
			continue
		}
		err := c.forEachBatch(s, func(b []byte, h BatchHeader) (bool, error) {
			if h.LastOffset() < info.FirstDirty {
				return true, nil
			}
			if m.Full(int(h.RecordCount)) {
				full = true
				return false, nil
			}
			if !h.IsControl() {
				records, err := appendRecords(c.records, b)
				if err != nil {
					return false, fmt.Errorf("segment: cleaning %s, batch at offset %d: %w", s.path(logSuffix), h.BaseOffset, err)
				}
				c.records = records
				for _, r := range records {
					if r.Offset >= info.FirstDirty && r.Key != nil {
						m.Put(r.Key, r.Offset)
					}
				}
			}
			end = h.LastOffset() + 1
			return true, nil
		})
		if err != nil {
			return end, err
		}
	}
	if full && end == info.FirstDirty {
		return end, fmt.Errorf("segment: cleaning %s: the dedupe buffer (log.cleaner.dedupe.buffer.size) holds %d keys, too few for one batch", c.log.dir, m.Capacity())
	}
	if !full {
		end = max(info.FirstUncleanable, info.FirstDirty)
	}
	return end, nil
}

// segmentSize is what grouping for a clean needs to know of a segment: its bytes and index
// entries (the time index's, with the entry a seal may add).
type segmentSize struct {
	bytes                      int64
	offsetEntries, timeEntries int
}

// groupForCleaning splits segs (consecutive, below the segment based at upper; sizes are
// theirs) into groups that each fit one segment, as Kafka's groupSegmentsBySize: at most
// segment.bytes of log and segment.index.bytes of either index before cleaning, and offsets
// within 32 bits of the group's base.
func groupForCleaning(segs []*segment, sizes []segmentSize, upper int64, cfg Config) [][]*segment {
	var groups [][]*segment
	for len(segs) > 0 {
		n := 1
		total := sizes[0]
		for n < len(segs) {
			next := upper
			if n+1 < len(segs) {
				next = segs[n+1].baseOffset
			}
			total.bytes += sizes[n].bytes
			total.offsetEntries += sizes[n].offsetEntries
			total.timeEntries += sizes[n].timeEntries
			if total.bytes > cfg.SegmentBytes || next-1-segs[0].baseOffset > maxRelativeOffset ||
				total.offsetEntries*index.OffsetEntrySize > cfg.SegmentIndexBytes ||
				total.timeEntries*index.TimeEntrySize > cfg.SegmentIndexBytes {
				break
			}
			n++
		}
		groups = append(groups, segs[:n])
		segs, sizes = segs[n:], sizes[n:]
	}
	return groups
}

// cleanedWriter writes a cleaned segment's .log.cleaned and its two indexes as the appender
// would fill them.
type cleanedWriter struct {
	c          *cleaning
	base       int64
	file       *os.File
	offsets    *index.OffsetIndex
	times      *index.TimeIndex
	buf        []byte // batches not yet written, from position pos-len(buf)
	pos        int64  // bytes of batches accepted
	nextOffset int64  // after the last batch accepted
	last       []byte // the last batch of the group, kept if nothing else is
	lastHead   BatchHeader
	// the appender's index bookkeeping (segment.updateIndexes)
	maxTimestamp, offsetOfMaxTime, bytesSinceIndex int64
}

func (c *cleaning) path(base int64, suffix string) string {
	return filepath.Join(c.log.dir, segmentFileName(base, suffix))
}

// cleanGroup rewrites the segments of group into one cleaned segment and swaps it in.
func (c *cleaning) cleanGroup(group []*segment) (err error) {
	base := group[0].baseOffset
	w := &cleanedWriter{c: c, base: base, buf: c.writeBuf[:0], maxTimestamp: -1, offsetOfMaxTime: -1}
	defer func() {
		c.writeBuf = w.buf
		if err != nil {
			w.discard()
		}
	}()
	if w.file, err = c.log.fs.OpenFile(c.path(base, logSuffix+cleanedSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	if w.offsets, err = index.OpenOffsetIndex(c.path(base, offsetIndexSuffix+cleanedSuffix), base, c.cfg.SegmentIndexBytes, true); err != nil {
		return err
	}
	if w.times, err = index.OpenTimeIndex(c.path(base, timeIndexSuffix+cleanedSuffix), base, c.cfg.SegmentIndexBytes, true); err != nil {
		return err
	}
	for _, s := range group {
		c.stats.SegmentsRead++
		err := c.forEachBatch(s, func(b []byte, h BatchHeader) (bool, error) {
			out, err := c.filterBatch(b, h)
			if err != nil {
				return false, fmt.Errorf("segment: cleaning %s, batch at offset %d: %w", s.path(logSuffix), h.BaseOffset, err)
			}
			if out != nil {
				return true, w.add(out)
			}
			w.last, w.lastHead = append(w.last[:0], b...), h
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	if w.pos == 0 && w.last != nil {
		// Nothing is left: keep the group's last batch, emptied, so that the swapped-in
		// segment names the offsets it replaces (recovery of a .swap relies on it).
		if err := w.add(appendEmptyBatch(nil, w.lastHead, w.last)); err != nil {
			return err
		}
	}
	if err := w.finish(); err != nil {
		return err
	}
	c.stats.SegmentsWritten++
	return c.log.swapCleaned(group, w)
}

// add accepts one batch for the cleaned segment.
func (w *cleanedWriter) add(batch []byte) error {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return err
	}
	if h.MaxTimestamp > w.maxTimestamp {
		w.maxTimestamp, w.offsetOfMaxTime = h.MaxTimestamp, h.LastOffset()
	}
	if w.bytesSinceIndex > int64(w.c.cfg.IndexIntervalBytes) {
		err := errors.Join(w.offsets.Append(h.LastOffset(), uint32(w.pos)), w.times.MaybeAppend(w.maxTimestamp, w.offsetOfMaxTime))
		if err != nil && !errors.Is(err, index.ErrIndexFull) {
			return err
		}
		w.bytesSinceIndex = 0
	}
	w.bytesSinceIndex += int64(len(batch))
	w.nextOffset = h.LastOffset() + 1
	w.buf = append(w.buf, batch...)
	w.pos += int64(len(batch))
	if len(w.buf) >= scanBufferSize {
		return w.flush()
	}
	return nil
}

func (w *cleanedWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.c.log.fs.Pwrite(w.file, w.buf, w.pos-int64(len(w.buf))); err != nil {
		return err
	}
	w.c.stats.BytesWritten += int64(len(w.buf))
	if w.c.opts.Throttle != nil {
		w.c.opts.Throttle(int64(len(w.buf)))
	}
	w.buf = w.buf[:0]
	return nil
}

// finish writes what is left, makes the .log.cleaned durable and seals the indexes (which
// makes them durable too).
func (w *cleanedWriter) finish() error {
	if err := w.flush(); err != nil {
		return err
	}
	if w.maxTimestamp >= 0 {
		if err := w.times.MaybeAppend(w.maxTimestamp, w.offsetOfMaxTime); err != nil && !errors.Is(err, index.ErrIndexFull) {
			return err
		}
	}
	if err := w.c.log.fs.Fdatasync(w.file); err != nil {
		return err
	}
	err := errors.Join(w.offsets.Seal(), w.times.Seal(), w.offsets.Close(), w.times.Close(), w.file.Close())
	w.offsets, w.times, w.file = nil, nil, nil
	return err
}

// discard closes and removes the cleaned files.
func (w *cleanedWriter) discard() {
	if w.file != nil {
		w.file.Close()
	}
	if w.offsets != nil {
		w.offsets.Close()
	}
	if w.times != nil {
		w.times.Close()
	}
	for _, suffix := range []string{logSuffix, offsetIndexSuffix, timeIndexSuffix} {
		w.c.log.fs.Remove(w.c.path(w.base, suffix+cleanedSuffix))
	}
}

// filterBatch returns what of the batch b the cleaned segment keeps (Kafka's
// MemoryRecords.filterTo with the cleaner's retention rules), in c.out, or nil when the batch
// goes: the batch itself when every record stays and no delete horizon is to be set; a new
// batch with the records that stay otherwise (same base offset, last offset delta, producer id,
// epoch and base sequence, codec; offsets and timestamps of the records kept); an empty
// batch (no records) when none stays but it is the last batch of a live idempotent producer.
// Control batches stay as they are.
func (c *cleaning) filterBatch(b []byte, h BatchHeader) ([]byte, error) {
	c.stats.RecordsRead += int64(h.RecordCount)
	if h.IsControl() {
		return b, nil
	}
	records, err := appendRecords(c.records, b)
	if err != nil {
		return nil, err
	}
	c.records = records
	_, hasHorizon := h.DeleteHorizon()
	needHorizon := false
	kept := c.kept[:0]
	for _, r := range records {
		if r.Key == nil {
			continue // Kafka drops keyless records from a compacted log
		}
		if latest := c.opts.Map.Get(r.Key); latest >= 0 && r.Offset < latest {
			continue
		}
		if r.Value == nil {
			if hasHorizon && c.now >= h.BaseTimestamp {
				continue // a tombstone past its delete horizon
			}
			needHorizon = needHorizon || !hasHorizon
		}
		kept = append(kept, r)
	}
	c.kept = kept
	c.stats.RecordsKept += int64(len(kept))
	if len(kept) > 0 && needHorizon {
		c.latestHorizon = max(c.latestHorizon, c.horizon)
	} else if len(kept) > 0 && hasHorizon {
		c.latestHorizon = max(c.latestHorizon, h.BaseTimestamp)
	}
	switch {
	case len(kept) == len(records) && !needHorizon:
		return b, nil
	case len(kept) == 0:
		if last, ok := c.lastOfProducer[h.ProducerID]; ok && h.HasProducerID() && last == h.LastOffset() {
			c.out = appendEmptyBatch(c.out[:0], h, b)
			return c.out, nil
		}
		return nil, nil
	}
	horizon := int64(-1)
	if needHorizon {
		horizon = c.horizon
	} else if hasHorizon {
		horizon = h.BaseTimestamp
	}
	c.out, err = appendCleanedBatch(c.out[:0], h, b, kept, horizon, &c.compress)
	return c.out, err
}

// appendEmptyBatch appends the header of batch b (whose decoded header is h) with no records,
// as Kafka's writeEmptyHeader: offsets, leader epoch, producer fields and base sequence kept,
// both timestamps the batch's max timestamp, no codec.
func appendEmptyBatch(dst []byte, h BatchHeader, b []byte) []byte {
	start := len(dst)
	dst = append(dst, b[:BatchHeaderSize]...)
	batch := dst[start:]
	be := binary.BigEndian
	be.PutUint32(batch[offBatchLength:], BatchHeaderSize-batchLengthOverhead)
	be.PutUint16(batch[offAttributes:], uint16(h.Attributes)&^attrCodecMask)
	be.PutUint64(batch[offBaseTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint32(batch[offRecordCount:], 0)
	be.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], castagnoli))
	return dst
}

// appendCleanedBatch appends a new batch holding records, the part of batch b (header h) that
// a clean keeps, compressed with b's codec by z, with the delete horizon set when horizon >= 0.
func appendCleanedBatch(dst []byte, h BatchHeader, b []byte, records []Record, horizon int64, z *recompressor) ([]byte, error) {
	start := len(dst)
	dst = append(dst, b[:BatchHeaderSize]...)
	attrs := uint16(h.Attributes) &^ attrDeleteHorizon
	baseTs, maxTs := records[0].Timestamp, int64(math.MinInt64)
	for _, r := range records {
		maxTs = max(maxTs, r.Timestamp)
	}
	if h.TimestampType() == TimestampLogAppendTime {
		maxTs = h.MaxTimestamp
	}
	if horizon >= 0 {
		attrs |= attrDeleteHorizon
		baseTs = horizon
	}
	raw := z.raw[:0]
	for _, r := range records {
		size := 1 + varintLen(r.Timestamp-baseTs) + varintLen(r.Offset-h.BaseOffset) + bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
		for _, hd := range r.Headers {
			size += varintLen(int64(len(hd.Key))) + len(hd.Key) + bytesLen(hd.Value)
		}
		raw = binary.AppendVarint(raw, int64(size))
		raw = append(raw, 0)
		raw = binary.AppendVarint(raw, r.Timestamp-baseTs)
		raw = binary.AppendVarint(raw, r.Offset-h.BaseOffset)
		raw = appendVarBytes(raw, r.Key)
		raw = appendVarBytes(raw, r.Value)
		raw = binary.AppendVarint(raw, int64(len(r.Headers)))
		for _, hd := range r.Headers {
			raw = binary.AppendVarint(raw, int64(len(hd.Key)))
			raw = append(raw, hd.Key...)
			raw = appendVarBytes(raw, hd.Value)
		}
	}
	z.raw = raw
	body, err := z.compress(h.Codec(), raw)
	if err != nil {
		return dst[:start], err
	}
	dst = append(dst, body...)
	batch := dst[start:]
	be := binary.BigEndian
	be.PutUint32(batch[offBatchLength:], uint32(len(batch)-batchLengthOverhead))
	be.PutUint16(batch[offAttributes:], attrs)
	be.PutUint64(batch[offBaseTimestamp:], uint64(baseTs))
	be.PutUint64(batch[offMaxTimestamp:], uint64(maxTs))
	be.PutUint32(batch[offRecordCount:], uint32(len(records)))
	be.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], castagnoli))
	return dst, nil
}

// recompressor compresses the records of rewritten batches with their batch's codec, as
// Kafka's cleaner does; its writers and buffers are reused from batch to batch.
type recompressor struct {
	raw  []byte
	enc  []byte       // snappy's and zstd's output
	out  bytes.Buffer // gzip's and lz4's output
	gzip *gzip.Writer
	lz4  *lz4.Writer
	zstd *zstd.Encoder
}

// compress returns raw compressed with codec (raw itself for CodecNone), valid until the next
// call. Snappy is written as one raw block, which Kafka's clients and franz-go read as well as
// the xerial framing.
func (z *recompressor) compress(codec int, raw []byte) ([]byte, error) {
	z.out.Reset()
	var w io.WriteCloser
	switch codec {
	case CodecNone:
		return raw, nil
	case CodecSnappy:
		z.enc = snappy.Encode(z.enc[:cap(z.enc)], raw)
		return z.enc, nil
	case CodecZstd:
		if z.zstd == nil {
			var err error
			if z.zstd, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)); err != nil {
				return nil, err
			}
		}
		z.enc = z.zstd.EncodeAll(raw, z.enc[:0])
		return z.enc, nil
	case CodecGzip:
		if z.gzip == nil {
			z.gzip = gzip.NewWriter(&z.out)
		}
		z.gzip.Reset(&z.out)
		w = z.gzip
	case CodecLZ4:
		if z.lz4 == nil {
			z.lz4 = lz4.NewWriter(&z.out)
		}
		z.lz4.Reset(&z.out)
		w = z.lz4
	default:
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedCodec, codec)
	}
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return z.out.Bytes(), nil
}

// swapCleaned replaces the segments of group with the cleaned segment w wrote, if they are
// still the log's (errCleanAborted otherwise): <base>.log.cleaned is renamed to <base>.log.swap
// and the directory synced (from here a crash completes the swap), the old segments' files
// are renamed to *.deleted (removed when their last reader lets go), the cleaned files get
// their final names and the directory is synced again.
func (l *Log) swapCleaned(group []*segment, w *cleanedWriter) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	base := w.base
	segs := l.view.segments
	i := 0
	for i < len(segs) && segs[i] != group[0] {
		i++
	}
	still := l.usableLocked() == nil && i+len(group) < len(segs)
	for k := 0; still && k < len(group); k++ {
		still = segs[i+k] == group[k]
	}
	if !still {
		w.discard()
		return errCleanAborted
	}
	path := func(suffix string) string { return filepath.Join(l.dir, segmentFileName(base, suffix)) }
	if err := l.fs.Rename(path(logSuffix+cleanedSuffix), path(logSuffix+swapSuffix)); err != nil {
		w.discard()
		return fmt.Errorf("segment: %w", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked(err)
	}
	for _, s := range group {
		if err := s.markDeleted(); err != nil {
			return l.failLocked(err)
		}
	}
	for _, suffix := range []string{offsetIndexSuffix, timeIndexSuffix} {
		if err := l.fs.Rename(path(suffix+cleanedSuffix), path(suffix)); err != nil {
			return l.failLocked(err)
		}
	}
	if err := l.fs.Rename(path(logSuffix+swapSuffix), path(logSuffix)); err != nil {
		return l.failLocked(err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked(err)
	}
	ns, err := openSegmentFile(l.fs, l.dir, base, false, l.space)
	if err != nil {
		return l.failLocked(err)
	}
	if err := ns.loadIndexes(l.mu.cfg, indexesReadOnly, l.logger); err != nil {
		ns.release()
		return l.failLocked(err)
	}
	ns.checked.Store(math.MaxInt64) // written and checked by this process
	ns.nextOffset = w.nextOffset
	// A high watermark in the group keeps its offset; its position is the new segment's.
	hw := l.highWatermark.Load()
	upper := segs[i+len(group)].baseOffset
	inGroup := hw.base >= base && hw.base < upper
	var moved offsetMark
	if inGroup {
		moved = l.markIn(ns, upper, hw.offset)
	}
	l.view.Lock()
	l.view.segments = append(append(append([]*segment(nil), segs[:i]...), ns), segs[i+len(group):]...)
	if inGroup {
		l.highWatermark.Store(&moved)
	}
	l.view.Unlock()
	for _, s := range group {
		l.mu.unsynced = removeSegment(l.mu.unsynced, s)
		s.release()
	}
	l.logger.Debug("segment: cleaned", "segment", ns.path(logSuffix), "replaced", len(group), "bytes", ns.size.Load())
	l.changed.notify()
	return nil
}

// removeSegment returns list without s.
func removeSegment(list []*segment, s *segment) []*segment {
	for i, u := range list {
		if u == s {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// finishCleaning, run before a log's segments are listed, removes the files of a clean that
// did not reach its swap (*.cleaned) and completes the swaps that did (Kafka's LogLoader): a
// <base>.log.swap was synced before it got that name, so it is whole; every segment whose base
// offset lies in [base, its last offset] is one it replaces and is removed (with the swap's
// base's indexes, which are rebuilt), then the swap takes its final name.
func finishCleaning(fs disk.FS, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	var swaps []int64
	for _, e := range entries {
		name := e.Name()
		if filepath.Ext(name) == cleanedSuffix {
			if err := fs.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("segment: %w", err)
			}
		}
		if base, ok := parseSegmentFileName(name, logSuffix+swapSuffix); ok {
			swaps = append(swaps, base)
		} else if filepath.Ext(name) == swapSuffix {
			if err := fs.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("segment: %w", err)
			}
		}
	}
	for _, base := range swaps {
		swap := filepath.Join(dir, segmentFileName(base, logSuffix+swapSuffix))
		last, err := lastOffsetOf(swap, base)
		if err != nil {
			return err
		}
		for _, e := range entries {
			for _, suffix := range []string{logSuffix, offsetIndexSuffix, timeIndexSuffix} {
				if b, ok := parseSegmentFileName(e.Name(), suffix); ok && b >= base && b <= last {
					if err := fs.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
						return fmt.Errorf("segment: %w", err)
					}
				}
			}
		}
		if err := fs.Rename(swap, filepath.Join(dir, segmentFileName(base, logSuffix))); err != nil {
			return fmt.Errorf("segment: %w", err)
		}
		if err := fs.SyncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// lastOffsetOf walks the batch headers of the segment file at path and returns the last offset
// of its last batch (base-1 when it has none).
func lastOffsetOf(path string, base int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("segment: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("segment: %w", err)
	}
	var r batchReader
	r.initFD(int(f.Fd()), info.Size(), make([]byte, scanBufferSize))
	last := base - 1
	for pos := int64(0); ; {
		h, err := r.header(pos)
		if err != nil || pos+int64(h.Size()) > info.Size() {
			return last, nil
		}
		last = h.LastOffset()
		pos += int64(h.Size())
	}
}
