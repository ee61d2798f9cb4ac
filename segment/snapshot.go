package segment

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"runnel/io/disk"
)

// Producer-state snapshots, Kafka's "<offset>.snapshot" files (doc.go, "Producer-state
// snapshots"): the idempotent producer table as it was at a log end offset, so that opening a
// log replays only the batches after it.

const (
	// SnapshotSuffix ends the name of a producer-state snapshot file.
	SnapshotSuffix = ".snapshot"
	// producerSnapshotVersion is Kafka's PRODUCER_SNAPSHOT_VERSION.
	producerSnapshotVersion = 1
	// snapshotCRCEnd is where the CRC-covered part starts: after version int16 and crc uint32.
	snapshotCRCEnd = 6
	// snapshotEntrySize is the size of one entry: 8+2+4+8+4+8+4+8 bytes.
	snapshotEntrySize = 46
	// snapshotsKept is how many snapshots a log keeps: the latest two, as Kafka.
	snapshotsKept = 2
)

// ProducerSnapshotEntry is one producer of a snapshot, with Kafka's fields. LastOffset is -1
// (and LastSequence -1, OffsetDelta 0) for a producer whose batches are gone and that only
// wrote transaction markers since. Runnel has no transactions: it writes CoordinatorEpoch and
// CurrentTxnFirstOffset as -1.
type ProducerSnapshotEntry struct {
	ProducerID            int64
	Epoch                 int16
	LastSequence          int32
	LastOffset            int64
	OffsetDelta           int32 // last offset - first offset of the last batch (= its lastOffsetDelta)
	Timestamp             int64 // max timestamp of the last batch (or marker), what expiration measures
	CoordinatorEpoch      int32
	CurrentTxnFirstOffset int64
}

// FirstSequence is the first sequence of the producer's last batch.
func (e ProducerSnapshotEntry) FirstSequence() int32 {
	return decrementSequence(e.LastSequence, e.OffsetDelta)
}

// AppendProducerSnapshot appends the snapshot file holding entries, in Kafka's format, to b.
func AppendProducerSnapshot(b []byte, entries []ProducerSnapshotEntry) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, producerSnapshotVersion)
	b = binary.BigEndian.AppendUint32(b, 0) // the CRC, below
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
		b = binary.BigEndian.AppendUint16(b, uint16(e.Epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(e.LastSequence))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
		b = binary.BigEndian.AppendUint32(b, uint32(e.OffsetDelta))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Timestamp))
		b = binary.BigEndian.AppendUint32(b, uint32(e.CoordinatorEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.CurrentTxnFirstOffset))
	}
	crc := crc32.Checksum(b[start+snapshotCRCEnd:], castagnoli)
	binary.BigEndian.PutUint32(b[start+2:], crc)
	return b
}

// ParseProducerSnapshot decodes a snapshot file. A wrong version, CRC or length is an error
// wrapping ErrCorruptSnapshot.
func ParseProducerSnapshot(b []byte) ([]ProducerSnapshotEntry, error) {
	if len(b) < snapshotCRCEnd+4 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorruptSnapshot, len(b))
	}
	if v := int16(binary.BigEndian.Uint16(b)); v != producerSnapshotVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorruptSnapshot, v)
	}
	if want, got := binary.BigEndian.Uint32(b[2:]), crc32.Checksum(b[snapshotCRCEnd:], castagnoli); want != got {
		return nil, fmt.Errorf("%w: stored CRC %d, computed %d", ErrCorruptSnapshot, want, got)
	}
	n := int32(binary.BigEndian.Uint32(b[snapshotCRCEnd:]))
	body := b[snapshotCRCEnd+4:]
	if n < 0 || int64(n)*snapshotEntrySize != int64(len(body)) {
		return nil, fmt.Errorf("%w: %d entries announced, %d bytes follow", ErrCorruptSnapshot, n, len(body))
	}
	entries := make([]ProducerSnapshotEntry, n)
	for i := range entries {
		p := body[i*snapshotEntrySize:]
		entries[i] = ProducerSnapshotEntry{
			ProducerID:            int64(binary.BigEndian.Uint64(p)),
			Epoch:                 int16(binary.BigEndian.Uint16(p[8:])),
			LastSequence:          int32(binary.BigEndian.Uint32(p[10:])),
			LastOffset:            int64(binary.BigEndian.Uint64(p[14:])),
			OffsetDelta:           int32(binary.BigEndian.Uint32(p[22:])),
			Timestamp:             int64(binary.BigEndian.Uint64(p[26:])),
			CoordinatorEpoch:      int32(binary.BigEndian.Uint32(p[34:])),
			CurrentTxnFirstOffset: int64(binary.BigEndian.Uint64(p[38:])),
		}
	}
	return entries, nil
}

// ReadProducerSnapshot reads and decodes the snapshot file at path.
func ReadProducerSnapshot(path string) ([]ProducerSnapshotEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	entries, err := ParseProducerSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}

// snapshotEntries returns the state as snapshot entries, by producer id. A producer keeps only
// its last batch in a snapshot (as in Kafka): after a restart, a retry of that batch is
// recognised, and older retries are out of sequence.
func (s *ProducerState) snapshotEntries() []ProducerSnapshotEntry {
	entries := make([]ProducerSnapshotEntry, 0, len(s.producers))
	for id, e := range s.producers {
		se := ProducerSnapshotEntry{ProducerID: id, Epoch: e.epoch, LastSequence: -1, LastOffset: -1,
			Timestamp: e.lastTimestamp, CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1}
		if e.n > 0 {
			b := e.batches[e.n-1]
			se.LastSequence, se.LastOffset, se.OffsetDelta = b.lastSeq, b.lastOffset, int32(b.lastOffset-b.firstOffset)
		}
		entries = append(entries, se)
	}
	slices.SortFunc(entries, func(a, b ProducerSnapshotEntry) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return entries
}

// loadSnapshotEntries adds the producers of a snapshot, except those expired at nowMs.
func (s *ProducerState) loadSnapshotEntries(entries []ProducerSnapshotEntry, nowMs int64, expiration time.Duration) {
	for _, se := range entries {
		if expired(se.Timestamp, nowMs, expiration) {
			continue
		}
		e := &producerEntry{epoch: se.Epoch, lastTimestamp: se.Timestamp}
		if se.LastOffset >= 0 {
			e.batches[0] = batchMetadata{
				firstSeq: se.FirstSequence(), lastSeq: se.LastSequence,
				firstOffset: se.LastOffset - int64(se.OffsetDelta), lastOffset: se.LastOffset,
			}
			e.n = 1
		}
		s.producers[se.ProducerID] = e
	}
}

// Expire forgets the producers whose last write is at least expiration older than nowMs
// (Kafka's producer.id.expiration.ms, measured against the batches' max timestamps) and returns
// how many it forgot. Their next batch must start a new sequence.
func (s *ProducerState) Expire(nowMs int64, expiration time.Duration) int {
	n := 0
	for id, e := range s.producers {
		if expired(e.lastTimestamp, nowMs, expiration) {
			delete(s.producers, id)
			n++
		}
	}
	return n
}

// Len returns how many producers the state holds.
func (s *ProducerState) Len() int { return len(s.producers) }

func expired(lastTimestamp, nowMs int64, expiration time.Duration) bool {
	return expiration > 0 && nowMs-lastTimestamp >= expiration.Milliseconds()
}

// decrementSequence is seq - n, wrapping below 0 to math.MaxInt32 as sequences do.
func decrementSequence(seq, n int32) int32 {
	if seq < n {
		return int32(int64(math.MaxInt32) - int64(n-seq) + 1)
	}
	return seq - n
}

// snapshotFile is a snapshot's path and the offset in its name.
type snapshotFile struct {
	offset int64
	path   string
}

// listSnapshots returns the snapshot files in dir, oldest first, after removing temporary files
// that a crash left behind in the middle of writing one.
func listSnapshots(fs disk.FS, dir string) ([]snapshotFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	var snaps []snapshotFile
	for _, e := range entries {
		name := e.Name()
		if off, ok := parseSegmentFileName(name, SnapshotSuffix); ok {
			snaps = append(snaps, snapshotFile{off, filepath.Join(dir, name)})
		} else if base, ok := disk.TempOf(name); ok && strings.HasSuffix(base, SnapshotSuffix) {
			if err := fs.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("segment: %w", err)
			}
		}
	}
	slices.SortFunc(snaps, func(a, b snapshotFile) int { return cmp.Compare(a.offset, b.offset) })
	return snaps, nil
}

// removeSnapshots deletes the given snapshot files.
func (l *Log) removeSnapshots(snaps []snapshotFile) error {
	for _, s := range snaps {
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("segment: %w", err)
		}
	}
	return nil
}

// dropSnapshots deletes the snapshots of offsets the log no longer has (truncated away) and
// makes that durable: one that came back after a crash could be taken for the state of the
// batches appended since at the same offsets.
func (l *Log) dropSnapshots(snaps []snapshotFile) error {
	if len(snaps) == 0 {
		return nil
	}
	if err := l.removeSnapshots(snaps); err != nil {
		return err
	}
	return l.fs.SyncDir(l.dir)
}

// takeSnapshotLocked writes the producer state as the snapshot of the log end offset (at a roll
// and a clean close), after expiring idle producers, and deletes all but the latest two
// snapshots. The file is replaced atomically through the log's FS; a failure is logged and
// costs only a longer replay at the next open, so it does not fail the log.
func (l *Log) takeSnapshotLocked() { l.takeSnapshotWithLocked(l.fs, true) }

// takeSnapshotWithLocked is takeSnapshotLocked writing through fsys (Close's, which leaves
// the directory's fsync to the end of Close). Without prune the older snapshots are left for
// pruneSnapshots: closeUnsynced's fsys defers the rename, and listing the directory before it
// would remove the new snapshot's temporary file as a leftover.
func (l *Log) takeSnapshotWithLocked(fsys disk.FS, prune bool) {
	l.mu.producers.Expire(l.now().UnixMilli(), l.mu.cfg.ProducerIDExpiration)
	path := filepath.Join(l.dir, segmentFileName(l.mu.nextOffset, SnapshotSuffix))
	data := AppendProducerSnapshot(nil, l.mu.producers.snapshotEntries())
	err := disk.WriteFileAtomicFS(fsys, path, data, 0o644)
	if err == nil && prune {
		err = l.pruneSnapshots()
	}
	if err != nil {
		l.logger.Warn("segment: producer state snapshot not written", "file", path, "err", err)
	}
}

// pruneSnapshots deletes all but the latest snapshotsKept snapshots (and leftover temporary
// files of snapshots).
func (l *Log) pruneSnapshots() error {
	snaps, err := listSnapshots(l.fs, l.dir)
	if err == nil && len(snaps) > snapshotsKept {
		err = l.removeSnapshots(snaps[:len(snaps)-snapshotsKept])
	}
	return err
}

// loadProducersLocked rebuilds the producer state for a log that ends at l.mu.nextOffset, as
// Kafka's loadProducerState: it deletes the snapshots past the log end, loads the latest one
// that reads back (deleting, with a warning, any later one that fails its CRC or does not
// parse) and replays the batch headers after its offset; without a usable snapshot it replays
// the whole log from its first segment. Producers expired by now are not loaded.
func (l *Log) loadProducersLocked() error {
	l.mu.producers = NewProducerState()
	snaps, err := listSnapshots(l.fs, l.dir)
	if err != nil {
		return err
	}
	end := l.mu.nextOffset
	keep := len(snaps)
	for keep > 0 && snaps[keep-1].offset > end {
		keep--
	}
	if err := l.dropSnapshots(snaps[keep:]); err != nil {
		return err
	}
	snaps = snaps[:keep]
	from := int64(-1)
	for len(snaps) > 0 && from < 0 {
		snap := snaps[len(snaps)-1]
		snaps = snaps[:len(snaps)-1]
		entries, err := ReadProducerSnapshot(snap.path)
		if err != nil {
			l.logger.Warn("segment: producer state snapshot ignored", "err", err)
			if err := l.removeSnapshots([]snapshotFile{snap}); err != nil {
				return err
			}
			continue
		}
		l.mu.producers.loadSnapshotEntries(entries, l.now().UnixMilli(), l.mu.cfg.ProducerIDExpiration)
		from = snap.offset
	}
	return l.replayProducersLocked(max(from, 0))
}

// replayProducersLocked feeds the producer state every batch header at or after offset from.
// Damage stops the replay of a segment (reads refuse it anyway) with a warning.
func (l *Log) replayProducersLocked(from int64) error {
	segs := l.view.segments
	var buf []byte
	for i, s := range segs {
		upper, end := int64(math.MaxInt64), l.mu.nextOffset // end: where s's batches end
		if i+1 < len(segs) {
			upper, end = segs[i+1].baseOffset, segs[i+1].baseOffset
		}
		if end <= from || s.size.Load() == 0 {
			continue
		}
		if buf == nil {
			buf = make([]byte, scanBufferSize)
		}
		var w batchWalk
		w.init(s, s.size.Load(), upper, 0, -1, buf)
		_, _, why, err := scanBatches(&w, false, func(_ int64, h BatchHeader) error {
			if h.BaseOffset >= from {
				l.mu.producers.Update(h, h.BaseOffset)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("segment: replaying producer state from %s: %w", s.path(logSuffix), err)
		}
		if why != nil && why != ErrZeroedTail {
			l.logger.Warn("segment: producer state replay stopped at damage", "segment", s.path(logSuffix), "reason", why.Error())
		}
	}
	return nil
}

// ExpireProducers forgets the idempotent producers idle for longer than
// producer.id.expiration.ms by the log's clock, as Kafka's periodic check does; the broker calls
// it from its retention loop. It returns how many it forgot.
func (l *Log) ExpireProducers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.producers.Expire(l.now().UnixMilli(), l.mu.cfg.ProducerIDExpiration)
}
