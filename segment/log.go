package segment

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"runnel/index"
	"runnel/io/disk"
)

// Config is a partition log's configuration (Kafka's topic configs of the same names).
type Config struct {
	SegmentBytes       int64         // segment.bytes: a segment rolls before it would exceed this (1 GiB)
	SegmentMs          time.Duration // segment.ms: a segment rolls this long after its first append (7 d; 0 = never)
	IndexIntervalBytes int           // index.interval.bytes: log bytes between index entries (4096)
	SegmentIndexBytes  int           // segment.index.bytes: size of each index file (10 MiB)
	RetentionMs        time.Duration // retention.ms: delete segments whose newest record is older (7 d; <0 = forever)
	RetentionBytes     int64         // retention.bytes: delete old segments while the log is larger (-1 = no limit)
	// PreallocateBytes (runnel.segment.preallocate.bytes) is how far ahead of the write
	// position the active .log is fallocated, in chunks of this size, so that 1000 partitions
	// of 1 GiB segments do not reserve 1 TiB; 0 = the whole segment.bytes at once.
	PreallocateBytes int64
	// DropBehind (runnel.segment.drop.behind) drops the pages a sync made durable from the
	// page cache once they are more than the log's keep window (CacheKeepBytes) behind its
	// durable end (Log.dropSyncedLocked), so that appends reuse that memory instead of
	// growing the page cache: cheaper writes on a VM whose balloon gives free memory back to
	// its host, at the cost of reading from disk what a consumer further behind than the
	// window, or a catch-up read of older data, asks for. On by default (DefaultConfig); off
	// is Kafka's behaviour, the page cache keeps what was written for its readers.
	DropBehind bool
	// CacheKeepBytes (runnel.segment.cache.keep.bytes) is, with DropBehind, how many synced
	// bytes behind their durable ends the logs of a directory keep in the page cache, shared
	// among the logs that appended lately (activeLogs): each log keeps
	// between minKeepWindow (64 KiB) and maxKeepWindow (64 MiB), and the total is clamped to an
	// eighth of the machine's memory. A consumer lagging by less reads from the page cache.
	CacheKeepBytes int64
	// FS performs the log's file operations (nil = the operating system's); tests inject
	// faults with io/disk/faultfs. A log keeps the FS it was opened with.
	FS disk.FS
	// Clock tells the time segment.ms measures from and against (nil = time.Now); tests
	// replace it to let time pass. A log keeps the clock it was opened with.
	Clock func() time.Time
	// ProducerIDExpiration (Kafka's broker setting producer.id.expiration.ms, 1 d) is how long
	// after its last batch's max timestamp an idle idempotent producer is forgotten, at
	// snapshots and by ExpireProducers; 0 = never.
	ProducerIDExpiration time.Duration

	// Compaction (cleanup.policy=compact; clean.go, cleaner.go). Compact turns the cleaner on
	// for the log; retention still applies (compact,delete) unless the caller turns it off.
	Compact                bool
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio (0.5)
	MinCompactionLag       time.Duration // min.compaction.lag.ms: records younger stay uncleaned (0)
	MaxCompactionLag       time.Duration // max.compaction.lag.ms: a dirty section older is cleaned whatever its ratio (0 = never)
	DeleteRetention        time.Duration // delete.retention.ms: how long a tombstone outlives the clean that first passed it (1 d)
}

// clock returns the clock to open a log with.
func (c Config) clock() func() time.Time {
	if c.Clock == nil {
		return time.Now
	}
	return c.Clock
}

// fs returns the FS to open a log with.
func (c Config) fs() disk.FS {
	if c.FS == nil {
		return osFS{disk.OS}
	}
	return c.FS
}

// DefaultConfig returns Kafka's defaults, with 64 MiB preallocation chunks, and drop-behind
// with the default keep window.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		RetentionMs:        7 * 24 * time.Hour,
		RetentionBytes:     -1,
		PreallocateBytes:   64 << 20,
		DropBehind:         true,
		CacheKeepBytes:     DefaultCacheKeep,

		ProducerIDExpiration: 24 * time.Hour,

		MinCleanableDirtyRatio: 0.5,
		DeleteRetention:        24 * time.Hour,
	}
}

func (c Config) validate() error {
	switch {
	case c.SegmentBytes < BatchHeaderSize || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("%w: segment.bytes %d not in [%d, %d]", ErrInvalidConfig, c.SegmentBytes, BatchHeaderSize, math.MaxInt32)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("%w: index.interval.bytes %d is negative", ErrInvalidConfig, c.IndexIntervalBytes)
	case c.SegmentIndexBytes < 4*index.TimeEntrySize:
		return fmt.Errorf("%w: segment.index.bytes %d is less than %d", ErrInvalidConfig, c.SegmentIndexBytes, 4*index.TimeEntrySize)
	case c.CacheKeepBytes < 0:
		return fmt.Errorf("%w: cache keep bytes %d is negative", ErrInvalidConfig, c.CacheKeepBytes)
	case c.PreallocateBytes < 0:
		return fmt.Errorf("%w: preallocate bytes %d is negative", ErrInvalidConfig, c.PreallocateBytes)
	}
	return nil
}

// maxSegmentMs is how long after its first batch a segment rolls: segment.ms, or for a
// compacted log max.compaction.lag.ms if that is shorter (Kafka's LogConfig.maxSegmentMs), so
// that records in the active segment, which is never cleaned, are cleaned in time.
func (c Config) maxSegmentMs() time.Duration {
	if c.Compact && c.MaxCompactionLag > 0 && (c.SegmentMs <= 0 || c.MaxCompactionLag < c.SegmentMs) {
		return c.MaxCompactionLag
	}
	return c.SegmentMs
}

// preallocateChunk is the granularity of fallocate on the active segment.
func (c Config) preallocateChunk() int64 {
	if c.PreallocateBytes <= 0 || c.PreallocateBytes > c.SegmentBytes {
		return c.SegmentBytes
	}
	return c.PreallocateBytes
}

// FileRange is a byte range of a segment file, to be sent with sendfile or read with pread.
// File stays open until the ReadResult holding it is released.
type FileRange struct {
	File           *os.File
	Position, Size int64
}

// ReadResult is what Read returns: a range of whole batches (the last one cut short only by
// maxBytes) in one segment file. It holds that segment open, even if retention or truncation
// deletes it meanwhile, until Release.
type ReadResult struct {
	Range       FileRange
	FirstOffset int64 // base offset of the first batch in Range (may be below the offset asked for)
	seg         *segment
}

// Release lets the segment go. Calling it again, or on an empty result, does nothing.
func (r *ReadResult) Release() {
	if r.seg != nil {
		r.seg.release()
		r.seg = nil
	}
}

// AppendInfo describes a successful append. For a duplicate of a recent idempotent batch the
// offsets are those the batch got the first time and nothing was written.
type AppendInfo struct {
	FirstOffset, LastOffset int64
	LogAppendTime           int64 // -1 unless the batches were stamped with AppendOptions.LogAppendTime
	Duplicate               bool
}

// AppendOptions are the broker's per-append choices.
type AppendOptions struct {
	LeaderEpoch   int32 // stamped into every batch; a new epoch is recorded in leader-epoch-checkpoint
	LogAppendTime int64 // >0: stamp it as every batch's timestamp (timestamp type LogAppendTime)
}

// leaderEpochFile is Kafka's leader epoch checkpoint, in the partition directory.
const leaderEpochFile = "leader-epoch-checkpoint"

// Log is one partition's log: a sorted run of segments, the last one active.
//
// Locks, in the order they are taken:
//  1. syncMu serialises Sync and TruncateTo, so that a flushed offset is published only for
//     bytes that were synced;
//  2. mu groups the append state (one appender at a time): the active segment, the next
//     offset, producer state, epochs, config, and every segment's appender fields;
//  3. view guards the segment list and each segment's index objects. Holders of
//     mu take it for writing to change them; readers (Read) take it for reading, so they never
//     wait for an append, only for a roll, retention or truncation.
//
// changed has its own small lock, taken last. Offsets readers need are atomics.
type Log struct {
	dir    string
	tp     TopicPartition
	logger *slog.Logger
	now    func() time.Time // Config.Clock
	fs     disk.FS
	// dropBehind and keepBytes are Config.DropBehind and CacheKeepBytes as the log was opened
	// with them.
	dropBehind bool
	keepBytes  int64
	// failure is the first storage failure of the log's directory (its LogDir's, or the log's
	// own when opened alone), sticky: once set, Append, Sync and Read refuse with it.
	failure *atomic.Pointer[error]
	space   *spaceState // the log directory's (the log's own when opened alone)

	syncMu sync.Mutex

	mu struct {
		sync.Mutex
		cfg        Config
		active     *segment
		nextOffset int64
		producers  *ProducerState
		epochs     []EpochEntry
		newEpochs  bool       // epochs has entries not yet in leader-epoch-checkpoint
		unsynced   []*segment // sealed segments with bytes not yet fdatasync'd
		dirDirty   bool       // a segment file was created since the last directory fsync
		newDir     bool       // the log's directory was created and its parent not yet fsync'd
		closed     bool
		failed     error         // a storage failure, or a roll or truncation that left the files in a state we refuse to append to
		headers    []BatchHeader // Append's scratch space
		joined     int64         // the activeLogs epoch the log last joined
		// zeroAhead: the log's last fdatasync covered less than zeroAheadMaxSync bytes, so
		// appends write zeros ahead of themselves (segment.zeroAhead).
		zeroAhead bool
	}

	view struct {
		sync.RWMutex
		segments []*segment // by base offset; the last is the active segment; nil once closed
	}

	startOffset atomic.Int64
	endOffset   atomic.Int64
	durable     atomic.Pointer[offsetMark]
	// highWatermark is replaced under mu, and when the cleaner swaps segments under view's
	// lock too (highwatermark.go).
	highWatermark atomic.Pointer[offsetMark]
	// deleteHorizon is the latest delete horizon the last clean gave or saw on a tombstone's
	// batch it kept (-1: none; clean.go): once past, the log is worth cleaning again.
	deleteHorizon atomic.Int64

	collectHeader func(pos int, h BatchHeader) error // ValidateBatches callback, made once
	damage        damageReport                       // reads refused with ErrCorruptLog
	activity      *activeLogs                        // counts the log among its directory's active logs
	changed       notifier
}

// logState is what a log directory knows about a log from its checkpoints.
type logState struct {
	recoveryPoint int64
	startOffset   int64 // -1 when unknown
	highWatermark int64 // from replication-offset-checkpoint; -1 when unknown
	clean         bool
	scan          ScanMode
	report        *LogScan      // what the open scanned; nil: not reported
	damageTotal   *atomic.Int64 // the directory's count of reads refused for damage, or nil
	space         *spaceState   // the log directory's; nil: the log gets its own
	activity      *activeLogs   // the log directory's; nil: the log counts alone
}

// OpenLog opens (creating if needed) the log of tp in dir. After a clean shutdown the files are
// trusted; otherwise every segment that may hold bytes past recoveryPoint (and always the last)
// is validated batch by batch and cut at the first torn or corrupt batch (see doc.go). A nil
// logger means slog.Default().
func OpenLog(dir string, tp TopicPartition, cfg Config, recoveryPoint int64, clean bool, logger *slog.Logger) (*Log, error) {
	return openLog(dir, tp, cfg, logState{recoveryPoint: recoveryPoint, startOffset: -1, highWatermark: -1, clean: clean}, logger)
}

func openLog(dir string, tp TopicPartition, cfg Config, st logState, logger *slog.Logger) (*Log, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	l := &Log{dir: dir, tp: tp, logger: logger.With("topic", tp.Topic, "partition", tp.Partition), now: cfg.clock(),
		fs: cfg.fs(), dropBehind: cfg.DropBehind, keepBytes: cfg.CacheKeepBytes, failure: new(atomic.Pointer[error])}
	l.collectHeader = l.collectHeaderLocked
	l.deleteHorizon.Store(-1)
	l.damage.total = st.damageTotal
	if st.report == nil {
		st.report = &LogScan{}
	}
	st.report.Partition = tp
	if l.space = st.space; l.space == nil {
		l.space = newSpaceState(dir, l.logger)
	}
	if l.activity = st.activity; l.activity == nil {
		l.activity = newActiveLogs()
	}
	l.mu.cfg = cfg
	l.mu.producers = NewProducerState()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		l.mu.newDir = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	bases, err := listSegments(l.fs, dir)
	if err != nil {
		return nil, err
	}
	var recovered []EpochEntry // epochs of the batches recovery read, for loadEpochs
	if len(bases) == 0 {
		s, err := createSegment(l.fs, dir, max(st.startOffset, 0), cfg, l.space)
		if err != nil {
			return nil, err
		}
		l.view.segments = []*segment{s}
		l.mu.dirDirty = true
	} else if l.view.segments, err = l.loadSegments(bases, cfg, st, &recovered); err != nil {
		return nil, err
	}
	active := l.view.segments[len(l.view.segments)-1]
	l.mu.active = active
	l.mu.nextOffset = active.nextOffset
	if active.size.Load() > 0 {
		active.rollAt = active.rollStart(l.now())
	}
	start := l.view.segments[0].baseOffset
	if st.startOffset > start {
		start = min(st.startOffset, l.mu.nextOffset)
	}
	l.startOffset.Store(start)
	l.endOffset.Store(l.mu.nextOffset)
	l.publishDurable(active.baseOffset, active.size.Load(), l.mu.nextOffset)
	l.setHighWatermarkLocked(max(st.highWatermark, start))
	if err := l.loadEpochs(recovered); err != nil {
		l.releaseAll()
		return nil, err
	}
	if err := l.loadProducersLocked(); err != nil {
		l.releaseAll()
		return nil, err
	}
	l.activity.open() // closed when the log closes (close, abandon)
	return l, nil
}

// listSegments returns the base offsets of the .log files in dir, sorted, after removing files
// left behind by deletions (*.deleted), index files without a .log, and temporary
// leader-epoch-checkpoint files.
func listSegments(fs disk.FS, dir string) ([]int64, error) {
	if err := finishCleaning(fs, dir); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	logs := map[int64]bool{}
	var bases []int64
	for _, e := range entries {
		if base, ok := parseSegmentFileName(e.Name(), logSuffix); ok {
			logs[base] = true
			bases = append(bases, base)
		}
	}
	for _, e := range entries {
		name := e.Name()
		base, isIndex := parseSegmentFileName(name, offsetIndexSuffix)
		if !isIndex {
			base, isIndex = parseSegmentFileName(name, timeIndexSuffix)
		}
		// A temporary leader-epoch-checkpoint is what a crash or a failed Close left of a
		// replacement (LogDir.Close on syncfs leaves one in every log until its deferred
		// rename); nothing else would ever remove it.
		if filepath.Ext(name) == deletedSuffix || (isIndex && !logs[base]) || disk.IsTempOf(name, leaderEpochFile) {
			if err := fs.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("segment: %w", err)
			}
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// createSegment creates a new, empty active segment at base; space is the log directory's.
func createSegment(fs disk.FS, dir string, base int64, cfg Config, space *spaceState) (*segment, error) {
	s, err := openSegmentFile(fs, dir, base, true, space)
	if err != nil {
		return nil, err
	}
	err = s.openIndexes(cfg, indexesCreate)
	if err == nil {
		err = s.activate(cfg.SegmentBytes, cfg.preallocateChunk())
	}
	if err != nil {
		// Leave no empty segment behind: a reopen would take it for the last one.
		s.markDeleted()
		s.release()
		return nil, err
	}
	return s, nil
}

// loadSegments opens the segments at bases. Trusted sealed segments keep their read-only
// indexes (rebuilt if missing or corrupt); segments to recover are validated and cut; a cut in
// a sealed segment (other than of preallocated zeros up to the next segment's base) drops every
// later segment, whose bytes came after the damage, and makes the cut one the last. The last
// segment becomes active. The leader epochs of the batches it recovers go to recovered.
func (l *Log) loadSegments(bases []int64, cfg Config, st logState, recovered *[]EpochEntry) (segs []*segment, err error) {
	noteEpoch := func(h BatchHeader) { *recovered = appendNewerEpoch(*recovered, h.PartitionLeaderEpoch, h.BaseOffset) }
	defer func() {
		if err != nil {
			for _, s := range segs {
				s.release()
			}
			segs = nil
		}
	}()
	for i := 0; i < len(bases); i++ {
		s, err := openSegmentFile(l.fs, l.dir, bases[i], false, l.space)
		if err != nil {
			return segs, err
		}
		segs = append(segs, s)
		if i == len(bases)-1 {
			if err := s.openIndexes(cfg, indexesCreate); err != nil {
				return segs, err
			}
			validate := !st.clean || st.scan == ScanFull
			if _, err := s.recover(cfg, validate, math.MaxInt64, noteEpoch, l.logger, st.report); err != nil {
				return segs, err
			}
			return segs, s.activate(cfg.SegmentBytes, cfg.preallocateChunk())
		}
		if st.clean || bases[i+1] < st.recoveryPoint {
			if err := s.loadIndexes(cfg, indexesReadOnly, l.logger); err != nil {
				return segs, err
			}
			if st.scan == ScanFull {
				if err := s.check(bases[i+1], l.logger, st.report); err != nil {
					return segs, err
				}
			}
			continue
		}
		if err := s.openIndexes(cfg, indexesCreate); err != nil {
			return segs, err
		}
		scanned, batches := st.report.Segments, st.report.Batches
		cut, err := s.recover(cfg, true, bases[i+1], noteEpoch, l.logger, st.report)
		if err != nil {
			return segs, err
		}
		// A zeroed tail that ends where the next segment starts is preallocated space of a
		// roll that did not finish; anything else means the later segments follow damage.
		if cut != nil && (cut != ErrZeroedTail || s.nextOffset != bases[i+1]) {
			for _, later := range bases[i+1:] {
				l.logger.Warn("segment: recovery removed a segment after a damaged one", "segment", filepath.Join(l.dir, segmentFileName(later, logSuffix)))
				for _, suffix := range []string{logSuffix, offsetIndexSuffix, timeIndexSuffix} {
					if err := l.fs.Remove(filepath.Join(l.dir, segmentFileName(later, suffix))); err != nil && !errors.Is(err, os.ErrNotExist) {
						return segs, fmt.Errorf("segment: %w", err)
					}
				}
			}
			// Load the cut segment again, as the last one (and count it once).
			st.report.Segments, st.report.Batches = scanned, batches
			bases = bases[:i+1]
			segs = segs[:i]
			s.release()
			i--
			continue
		}
		if err := s.sealIndexes(); err != nil {
			return segs, err
		}
	}
	return segs, nil
}

// loadEpochs reads leader-epoch-checkpoint, forgets the epochs of records recovery cut, and
// adds the newer epochs of the batches it recovered (recorded in memory by appends that no
// Sync wrote down before a crash), as Kafka's segment recovery assigns them to its cache.
func (l *Log) loadEpochs(recovered []EpochEntry) error {
	epochs, err := ReadLeaderEpochCheckpoint(filepath.Join(l.dir, leaderEpochFile))
	if err != nil {
		return err
	}
	kept := epochs
	for len(kept) > 0 && kept[len(kept)-1].StartOffset >= l.mu.nextOffset {
		kept = kept[:len(kept)-1] // epochs of records lost in recovery
	}
	for _, e := range recovered {
		kept = appendNewerEpoch(kept, e.Epoch, e.StartOffset)
	}
	l.mu.epochs = kept
	if !slices.Equal(kept, epochs) {
		return writeLeaderEpochCheckpoint(l.fs, filepath.Join(l.dir, leaderEpochFile), kept)
	}
	return nil
}

// appendNewerEpoch returns epochs with epoch starting at offset appended if it is newer than
// the last one.
func appendNewerEpoch(epochs []EpochEntry, epoch int32, offset int64) []EpochEntry {
	if n := len(epochs); epoch < 0 || (n > 0 && epoch <= epochs[n-1].Epoch) {
		return epochs
	}
	return append(slices.Clip(epochs), EpochEntry{Epoch: epoch, StartOffset: offset})
}

// collectHeaderLocked is Append's ValidateBatches callback.
func (l *Log) collectHeaderLocked(_ int, h BatchHeader) error {
	l.mu.headers = append(l.mu.headers, h)
	return nil
}

// usableLocked reports why the log takes no appends, if it does not.
func (l *Log) usableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	if err := l.storageFailure(); err != nil {
		return err
	}
	return l.mu.failed
}

// storageFailure returns the sticky storage failure of the log's directory, or nil.
func (l *Log) storageFailure() error {
	if e := l.failure.Load(); e != nil {
		return *e
	}
	return nil
}

// failLocked makes cause, a failed write or sync of the log's files, the log's sticky failure
// and, if its directory has none yet, the directory's (logged once, there); it returns the
// error that Append, Sync and Read give from now on: the directory's first failure, which
// wraps ErrStorageFailed and names the file and errno. Nothing is retried: after a failed
// fdatasync, Linux may have marked the unwritten pages clean, so a later sync proves nothing.
func (l *Log) failLocked(cause error) error {
	l.mu.failed = failDir(l.failure, l.logger, cause)
	return l.mu.failed
}

// failDir makes cause, wrapped in ErrStorageFailed, the directory's sticky failure unless it
// has one already (logged once, there), and returns the directory's failure.
func failDir(failure *atomic.Pointer[error], logger *slog.Logger, cause error) error {
	err := fmt.Errorf("%w: %w", ErrStorageFailed, cause)
	if failure.CompareAndSwap(nil, &err) {
		logger.Error("segment: storage failed; the log directory is offline until a restart", "err", cause)
	}
	return *failure.Load()
}

// Append validates records (one or more batches back to back; all or nothing), checks
// idempotent producers' sequences, stamps base offsets and the leader epoch into records in
// place, and copies them once into the active segment's file (pwrite). The bytes are visible to
// Read when Append returns, durable after a Sync that starts later.
func (l *Log) Append(records []byte, opts AppendOptions) (AppendInfo, error) {
	return l.append(records, &opts)
}

// append is the path Append and AppendAsFollower share (Kafka's UnifiedLog.append with its
// AppendOrigin): leader is the leader's options, or nil for a follower, which stores the
// batches as the leader stamped them (follower.go). Rolls, preallocation, indexes, failure
// handling and the Watch wake-ups are the same for both.
func (l *Log) append(records []byte, leader *AppendOptions) (AppendInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return AppendInfo{}, err
	}
	cfg := &l.mu.cfg
	n := int64(len(records))
	if n == 0 {
		return AppendInfo{}, fmt.Errorf("%w: no batches", ErrInvalidBatch)
	}
	if n > cfg.SegmentBytes {
		return AppendInfo{}, fmt.Errorf("%w: %d bytes, segment.bytes is %d", ErrRecordTooLarge, n, cfg.SegmentBytes)
	}
	l.mu.headers = l.mu.headers[:0]
	validate := ValidateBatches
	if leader == nil {
		validate = validateReplicatedBatches
	}
	if err := validate(records, l.collectHeader); err != nil {
		return AppendInfo{}, err
	}
	headers := l.mu.headers
	var next int64
	if leader != nil {
		next = l.assignOffsetsLocked(headers, *leader)
	} else if err := l.checkReplicatedOffsetsLocked(headers); err != nil {
		return AppendInfo{}, err
	} else {
		next = headers[len(headers)-1].LastOffset() + 1
	}
	first := headers[0].BaseOffset
	if err := l.maybeRollLocked(n, next-1); err != nil {
		return AppendInfo{}, l.countNoSpace(err)
	}
	s := l.mu.active
	pos := s.size.Load()
	if err := s.extend(cfg.preallocateChunk(), pos+n); err != nil {
		return AppendInfo{}, l.countNoSpace(err) // nothing written; the log is as it was
	}
	appendTime := int64(-1)
	if leader != nil {
		if dup, err := l.checkProducersLocked(headers); err != nil || dup != nil {
			if err != nil {
				return AppendInfo{}, err
			}
			return AppendInfo{FirstOffset: dup.FirstOffset, LastOffset: dup.LastOffset, LogAppendTime: -1, Duplicate: true}, nil
		}
		l.recordEpochLocked(leader.LeaderEpoch, first)
		appendTime = stampBatches(records, headers, *leader)
	} else {
		l.replicateProducersAndEpochsLocked(headers)
	}
	if err := s.write(records, pos); err != nil {
		l.mu.producers.TruncateTo(first)
		return AppendInfo{}, l.failLocked(err)
	}
	for i, p := 0, pos; i < len(headers); i++ {
		if err := s.updateIndexes(headers[i], p, cfg.IndexIntervalBytes); err != nil && !errors.Is(err, index.ErrIndexFull) {
			// An index entry is an optimisation: reads scan further without it.
			l.logger.Warn("segment: index entry not written", "segment", s.path(logSuffix), "err", err)
		}
		p += int64(headers[i].Size())
	}
	s.recent.note(headers, pos)
	if pos == 0 {
		s.rollAt = l.now()
	}
	s.size.Store(pos + n)
	if l.mu.zeroAhead {
		if err := s.zeroAhead(pos + n); err != nil {
			l.logger.Warn("segment: writing zeros ahead of the appends; this segment stops doing it", "segment", s.path(logSuffix), "err", err)
		}
	}
	l.mu.nextOffset = next
	l.endOffset.Store(next)
	l.activity.join(&l.mu.joined)
	l.changed.notifyAppend()
	return AppendInfo{FirstOffset: first, LastOffset: next - 1, LogAppendTime: appendTime}, nil
}

// assignOffsetsLocked gives the headers of a leader's append their offsets from the log end
// on, the leader epoch and, with LogAppendTime, the max timestamp (before the producer state
// records it), and returns the new log end.
func (l *Log) assignOffsetsLocked(headers []BatchHeader, opts AppendOptions) int64 {
	next := l.mu.nextOffset
	for i := range headers {
		headers[i].BaseOffset = next
		headers[i].PartitionLeaderEpoch = opts.LeaderEpoch
		if opts.LogAppendTime > 0 {
			headers[i].MaxTimestamp = opts.LogAppendTime
		}
		next += int64(headers[i].LastOffsetDelta) + 1
	}
	return next
}

// stampBatches writes what assignOffsetsLocked gave the headers into the batches of records,
// and returns the log append time stamped, or -1.
func stampBatches(records []byte, headers []BatchHeader, opts AppendOptions) int64 {
	appendTime := int64(-1)
	for i, p := 0, 0; i < len(headers); i++ {
		StampBaseOffset(records[p:], headers[i].BaseOffset, opts.LeaderEpoch)
		if opts.LogAppendTime > 0 {
			StampLogAppendTime(records[p:], opts.LogAppendTime)
			appendTime = opts.LogAppendTime
		}
		p += headers[i].Size()
	}
	return appendTime
}

// countNoSpace counts an append refused for lack of space (err wraps ErrNoSpace) and returns
// err.
func (l *Log) countNoSpace(err error) error {
	if errors.Is(err, ErrNoSpace) {
		l.space.refused.Add(1)
	}
	return err
}

// checkProducersLocked runs the idempotent producer checks of each batch (headers carry their
// new offsets) and records the batches that pass, so that a later batch of the same producer in
// the same append is checked against them; if one fails, those records are undone.
func (l *Log) checkProducersLocked(headers []BatchHeader) (*DuplicateBatch, error) {
	for i, h := range headers {
		if !h.HasProducerID() {
			continue
		}
		dup, err := l.mu.producers.Check(h)
		if err != nil || dup != nil {
			if i > 0 {
				l.mu.producers.TruncateTo(headers[0].BaseOffset)
			}
			return dup, err
		}
		l.mu.producers.Update(h, h.BaseOffset)
	}
	return nil, nil
}

// recordEpochLocked notes that epoch starts at offset, if epoch is newer than the last one
// recorded. WriteEpochs writes it to leader-epoch-checkpoint, before a recovery point past
// offset is written (so the file's write stays off the append and sync paths).
func (l *Log) recordEpochLocked(epoch int32, offset int64) {
	n := len(l.mu.epochs)
	if l.mu.epochs = appendNewerEpoch(l.mu.epochs, epoch, offset); len(l.mu.epochs) > n {
		l.mu.newEpochs = true
	}
}

// maybeRollLocked rolls a new active segment if n more bytes ending at offset last cannot go
// into the current one: it would pass segment.bytes, segment.ms has elapsed since its first
// batch, an index is full, or last is too far from the base offset for an index entry.
func (l *Log) maybeRollLocked(n, last int64) error {
	s := l.mu.active
	cfg := &l.mu.cfg
	size := s.size.Load()
	if size == 0 {
		// An empty active segment's base is the next offset; it only needs room for n, and
		// indexes with room (opened on a full disk, they have none).
		if s.indexesFull() {
			if err := l.reindexLocked(s); err != nil {
				return err
			}
		}
		if n > s.capacity {
			return s.activate(cfg.SegmentBytes, cfg.preallocateChunk()) // segment.bytes grew
		}
		return nil
	}
	full := size+n > min(s.capacity, cfg.SegmentBytes)
	segmentMs := cfg.maxSegmentMs()
	aged := segmentMs > 0 && l.now().Sub(s.rollAt) >= segmentMs
	indexFull := s.indexesFull()
	overflow := last-s.baseOffset > maxRelativeOffset
	if !full && !aged && !indexFull && !overflow {
		return nil
	}
	return l.rollLocked()
}

// reindexLocked opens the indexes of the empty active segment s again, at full size if the
// file system has room now. It returns ErrNoSpace if they still have none.
func (l *Log) reindexLocked(s *segment) error {
	ox, tx, err := s.newIndexes(l.mu.cfg, indexesCreate)
	if err != nil {
		return err
	}
	l.view.Lock()
	oldOffsets, oldTimes := s.offsetIndex, s.timeIndex
	s.offsetIndex, s.timeIndex = ox, tx
	l.view.Unlock()
	// Their files are already replaced: closing them trims nothing (an index trims its file
	// only while that is still the one at its path), so the new ones keep their reservation.
	if err := errors.Join(oldOffsets.Close(), oldTimes.Close()); err != nil {
		l.logger.Warn("segment: closing replaced indexes", "segment", s.path(logSuffix), "err", err)
	}
	if s.indexesFull() {
		return s.errNoIndexRoom()
	}
	return nil
}

// rollLocked seals the active segment and starts a new one at the next offset. The new
// segment is created first, so that a failure (no space) leaves the log as it was.
func (l *Log) rollLocked() error {
	old := l.mu.active
	ns, err := createSegment(l.fs, l.dir, l.mu.nextOffset, l.mu.cfg, l.space)
	if err == nil && ns.indexesFull() {
		// Opened on a full disk, with no room for index entries: not a segment to append to.
		err = ns.errNoIndexRoom()
		ns.markDeleted()
		ns.release()
	}
	if err != nil {
		return err
	}
	err = old.seal()
	if err == nil {
		l.view.Lock()
		l.view.segments = append(l.view.segments, ns)
		l.view.Unlock()
	}
	if err != nil {
		ns.markDeleted()
		ns.release()
		return l.failLocked(fmt.Errorf("sealing %s: %w", old.path(logSuffix), err))
	}
	l.mu.active = ns
	l.mu.dirDirty = true
	if old.unsynced {
		l.mu.unsynced = append(l.mu.unsynced, old)
	}
	l.logger.Debug("segment: rolled", "segment", ns.path(logSuffix), "sealed_bytes", old.size.Load())
	l.takeSnapshotLocked()
	return nil
}

// ReadOptions says how far a Read may go. The zero value reads up to the log end and no
// further than maxBytes. It is passed by value and does not escape.
type ReadOptions struct {
	// DurableOnly stops at the flushed offset instead of the log end (what a consumer may
	// see when only durable records are served).
	DurableOnly bool
	// UpToHighWatermark stops at the high watermark (what a consumer may see of a replicated
	// partition). With DurableOnly too, the lower limit wins.
	UpToHighWatermark bool
	// MinOneBatch returns the whole first batch even when it is longer than maxBytes, so
	// that a reader always progresses (Kafka's minOneMessage).
	MinOneBatch bool
}

// Read returns the range of batches starting with the one that holds offset, at most maxBytes
// long (cut mid-batch if need be) unless opts.MinOneBatch and the first batch alone is longer,
// in which case that whole batch. Only bytes up to the log end are returned, or with
// opts.DurableOnly up to the flushed offset, or with opts.UpToHighWatermark up to the high
// watermark (before the batch holding it, should it lie inside one). An offset between that
// limit and the log end gives an empty result; one outside [StartOffset, EndOffset] gives
// ErrOffsetOutOfRange. The result must be released. Read serves only batches it can vouch
// for (doc.go, "What a reader checks"): when the batch holding offset fails a check it
// returns a *DamageError (ErrCorruptLog), counted in DamageFound and logged, rate-limited; a
// range is cut before a later batch that fails one.
func (l *Log) Read(offset int64, maxBytes int, opts ReadOptions) (ReadResult, error) {
	if err := l.storageFailure(); err != nil {
		return ReadResult{FirstOffset: offset}, err
	}
	end := l.endOffset.Load()
	limitOffset := end
	mark := l.durable.Load()
	if opts.DurableOnly {
		limitOffset = min(limitOffset, mark.offset)
	}
	if opts.UpToHighWatermark {
		limitOffset = min(limitOffset, l.HighWatermark())
	}
	empty := ReadResult{FirstOffset: offset}
	if start := l.startOffset.Load(); offset < start || offset > end {
		return empty, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, start, end)
	}
	if offset >= limitOffset || (maxBytes <= 0 && !opts.MinOneBatch) {
		return empty, nil
	}
	l.view.RLock()
	defer l.view.RUnlock()
	segs := l.view.segments
	if segs == nil {
		return empty, ErrClosed
	}
	hw := l.highWatermark.Load() // under view's lock: the cleaner moves its position there
	i := max(sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > offset })-1, 0)
	for ; i < len(segs); i++ {
		s := segs[i]
		size := s.size.Load()
		limit := size
		if opts.DurableOnly {
			limit = mark.limit(s, size)
		}
		if opts.UpToHighWatermark {
			limit = min(limit, hw.limit(s, size))
		}
		upper := int64(math.MaxInt64)
		if i+1 < len(segs) {
			upper = segs[i+1].baseOffset
		}
		first, pos, n, found, err := s.readRange(offset, limit, upper, maxBytes, opts.MinOneBatch)
		if err != nil {
			l.noteDamage(err)
			return empty, err
		}
		if !found {
			if limit < size {
				return empty, nil // the rest is not durable, or not below the high watermark, yet
			}
			continue
		}
		s.refs.Add(1)
		return ReadResult{Range: FileRange{File: s.file, Position: pos, Size: n}, FirstOffset: first, seg: s}, nil
	}
	return empty, nil
}

// Sync makes every append completed before the call durable: it fdatasyncs the segments
// sealed since the last Sync and the active one, and the directory if a segment file was
// created. The append lock is held only to note what to sync. It returns the end offset
// (exclusive) now durable, which becomes the FlushedOffset and recovery point, and wakes Watch
// watchers. Log is an io/flush Target.
//
// A failed sync is a storage failure (see failLocked): the log and its directory go offline
// and the flushed offset never moves again, so the failed range is never declared durable.
func (l *Log) Sync() (int64, error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	p, err := l.beginSync(true)
	if p == nil {
		return l.FlushedOffset(), err
	}
	return p.finish(l.syncFiles(p.active, p.pos, p.sealed, p.dirs))
}

// PrepareSync is the first half of a Sync whose files a syncfs(2) of the log's file system
// makes durable (LogDir.SyncAll) instead of fdatasync: it notes what the sync covers.
// finish(syncErr) is the second half: it publishes the noted end as durable if syncErr is nil,
// and is a storage failure of the log otherwise. Until finish, the log's other syncs,
// truncations and Close wait. Log is an io/flush GroupTarget.
func (l *Log) PrepareSync() (finish func(syncErr error) (int64, error), err error) {
	l.syncMu.Lock()
	p, err := l.beginSync(false)
	if p == nil {
		l.syncMu.Unlock()
		if err != nil {
			return nil, err
		}
		return func(error) (int64, error) { return l.FlushedOffset(), nil }, nil
	}
	return func(syncErr error) (int64, error) {
		defer l.syncMu.Unlock()
		return p.finish(syncErr)
	}, nil
}

// pendingSync is a sync between beginSync, which noted what it covers, and finish.
type pendingSync struct {
	l           *Log
	active      *segment
	pos, end    int64      // the active segment's size and the log's end when noted
	sealed      []*segment // sealed segments not yet synced
	sealedSizes []int64
	dirs        dirtyDirs
}

// beginSync, under syncMu, notes what a sync starting now must cover. It returns nil and no
// error when there is nothing to sync, nil and the error when the log cannot be synced.
// Otherwise the caller makes the noted files durable and calls finish. Leader epochs are not
// its business: WriteEpochs makes them durable before a recovery point passes them.
// It decides whether appends write zeros ahead of themselves: they do after a sync of the log
// alone (fdatasync, not a group's syncfs) that covered less than zeroAheadMaxSync bytes, and not
// after a group sync: groups are for many partitions written at once, where the zeros would
// double the bytes written for syncs whose metadata one syncfs already shares.
func (l *Log) beginSync(alone bool) (*pendingSync, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return nil, ErrClosed
	}
	if err := l.storageFailure(); err != nil {
		return nil, err
	}
	p := &pendingSync{l: l, active: l.mu.active, end: l.mu.nextOffset, sealed: l.mu.unsynced,
		dirs: dirtyDirs{log: l.mu.dirDirty, parent: l.mu.newDir}}
	p.pos = p.active.size.Load()
	if p.pos <= p.active.durable.Load() && len(p.sealed) == 0 && p.dirs == (dirtyDirs{}) {
		return nil, nil
	}
	l.mu.zeroAhead = alone && p.pos-p.active.durable.Load() < zeroAheadMaxSync
	l.mu.unsynced, l.mu.dirDirty, l.mu.newDir = nil, false, false
	p.active.refs.Add(1)
	p.sealedSizes = make([]int64, len(p.sealed))
	for i, s := range p.sealed {
		s.refs.Add(1)
		p.sealedSizes[i] = s.size.Load()
	}
	return p, nil
}

// WriteEpochs makes leader-epoch-checkpoint durable with the epochs recorded so far, if they
// changed since it was last written. Sync does not: recovery rebuilds the epochs of the
// batches after the recovery point from their partitionLeaderEpoch (loadEpochs), so the file
// must hold an epoch only before a recovery point past the epoch's start is written, and
// LogDir.WriteCheckpoints calls WriteEpochs first (as Kafka flushes its leader-epoch cache
// before it moves the recovery point). A full disk fails with ErrNoSpace and leaves the
// epochs to write next time; any other failure is a storage failure of the log. After Close
// it fails with ErrClosed only if Close could not write them.
func (l *Log) WriteEpochs() error {
	l.syncMu.Lock() // as truncations hold it: no older list can overwrite a newer one
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if !l.mu.newEpochs {
		l.mu.Unlock()
		return nil
	}
	if l.mu.closed { // and Close could not write them
		l.mu.Unlock()
		return ErrClosed
	}
	if err := l.storageFailure(); err != nil {
		l.mu.Unlock()
		return err
	}
	epochs := slices.Clone(l.mu.epochs)
	l.mu.newEpochs = false
	l.mu.Unlock()

	err := l.writeEpochs(epochs)
	if err == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(err, ErrNoSpace) {
		l.mu.newEpochs = true
		return err
	}
	return l.failLocked(err)
}

// release drops the references beginSync took.
func (p *pendingSync) release() {
	for _, s := range p.sealed {
		s.release()
	}
	p.active.release()
}

// finish completes the sync: syncErr is the result of making the noted files durable. On
// success it publishes the noted end as durable and wakes Watch watchers; on failure the
// log fails (failLocked). It returns what Sync returns.
func (p *pendingSync) finish(syncErr error) (int64, error) {
	l := p.l
	defer p.active.release()
	for _, s := range p.sealed {
		s.release()
	}
	if syncErr != nil {
		l.mu.Lock()
		err := l.failLocked(syncErr)
		l.mu.Unlock()
		return l.FlushedOffset(), err
	}
	for i, s := range p.sealed {
		storeMax(&s.durable, p.sealedSizes[i])
	}
	storeMax(&p.active.durable, p.pos)
	l.publishDurable(p.active.baseOffset, p.pos, p.end)
	l.changed.notify()
	if l.dropBehind {
		l.dropSynced(p.active)
	}
	return p.end, nil
}

// dropSynced drops from the page cache what lies more than the log's keep window behind its
// durable end, which a Sync has just moved (dropSyncedLocked), in the log's share of the
// directory's steps (activeLogs.dropChunk). A failure costs only memory: it is logged.
func (l *Log) dropSynced(active *segment) {
	l.view.RLock()
	err := l.dropSyncedLocked(l.activity.keepWindow(l.keepBytes), l.activity.dropChunk())
	l.view.RUnlock()
	if err != nil {
		l.logger.Warn("segment: dropping synced pages from the page cache", "segment", active.path(logSuffix), "err", err)
	}
}

// dropSyncedLocked drops from the page cache the synced pages of the log's segments that lie
// more than keep bytes behind the log's durable end, counted across segments: the window spans
// a roll, so that the sealed segment's last pages leave the page cache once the active segment
// has keep durable bytes of its own (segment.dropSynced). It walks back from the active segment
// and stops at the first sealed segment with nothing left to drop (older ones were dropped
// before it, or were not appended by this process). The caller holds syncMu and view for
// reading: the segments in the list hold the log's reference, their files open.
func (l *Log) dropSyncedLocked(keep, chunk int64) error {
	segs := l.view.segments
	var errs []error
	newer := int64(0) // durable bytes in the segments after s
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		sealed := i < len(segs)-1
		durable := s.durable.Load()
		if sealed && s.dropped >= durable {
			break
		}
		if err := s.dropSynced(durable-max(keep-newer, 0), chunk, sealed); err != nil {
			errs = append(errs, err)
		}
		newer += durable
	}
	return errors.Join(errs...)
}

// writeEpochs writes leader-epoch-checkpoint if epochs is not nil.
func (l *Log) writeEpochs(epochs []EpochEntry) error { return l.writeEpochsWith(l.fs, epochs) }

// writeEpochsWith is writeEpochs writing through fsys.
func (l *Log) writeEpochsWith(fsys disk.FS, epochs []EpochEntry) error {
	if epochs == nil {
		return nil
	}
	return l.epochsError(writeLeaderEpochCheckpoint(fsys, filepath.Join(l.dir, leaderEpochFile), epochs))
}

// epochsError is err, from a write or a rename of a new leader-epoch-checkpoint, as the log
// returns it: the old file is intact and the next WriteEpochs or Close tries again, so a full
// disk is not a failure but ErrNoSpace, and the directory short of space.
func (l *Log) epochsError(err error) error {
	if isNoSpace(err) {
		l.space.shortOf(err)
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// deferredDirSync is an FS whose SyncDir of dir only notes that dir needs one (pending): a
// caller that makes several atomic writes into dir fsyncs it once after the last. Every other
// call goes to FS.
type deferredDirSync struct {
	disk.FS
	dir     string
	pending bool
}

func (d *deferredDirSync) SyncDir(dir string) error {
	if dir == d.dir {
		d.pending = true
		return nil
	}
	return d.FS.SyncDir(dir)
}

// dirtyDirs says which directories need an fsync for new entries in them to be durable.
type dirtyDirs struct{ log, parent bool }

// syncFiles makes what a pendingSync noted durable file by file (fdatasync, directory fsync).
func (l *Log) syncFiles(active *segment, pos int64, sealed []*segment, dirs dirtyDirs) error {
	for _, s := range sealed {
		if err := l.fs.Fdatasync(s.file); err != nil {
			return err
		}
	}
	if pos > active.durable.Load() {
		if err := l.fs.Fdatasync(active.file); err != nil {
			return err
		}
	}
	if dirs.log {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return err
		}
	}
	if dirs.parent {
		return l.fs.SyncDir(filepath.Dir(l.dir))
	}
	return nil
}

// storeMax raises v to x if x is larger.
func storeMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// StartOffset is the log start offset: the first offset that may be read.
func (l *Log) StartOffset() int64 { return l.startOffset.Load() }

// EndOffset is the log end offset: the offset the next appended record gets.
func (l *Log) EndOffset() int64 { return l.endOffset.Load() }

// FlushedOffset is the end (exclusive) of the records known to be on disk, the recovery point.
func (l *Log) FlushedOffset() int64 { return l.durable.Load().offset }

// Size is the bytes of whole batches in the log's segments (Kafka's Log.size, which
// DescribeLogDirs reports): preallocated space not yet written is not counted.
func (l *Log) Size() int64 {
	l.view.RLock()
	defer l.view.RUnlock()
	var n int64
	for _, s := range l.view.segments {
		n += s.size.Load()
	}
	return n
}

// offsetMark is an offset of the log with its byte position: position pos of the segment
// based at base. It is published whole, so that reads never see a position without its
// offset. Two marks limit reads: durable, how far the log is known to be on disk (only Sync,
// TruncateTo and Close, under syncMu, replace it), and highWatermark (highwatermark.go).
type offsetMark struct{ base, pos, offset int64 }

func (l *Log) publishDurable(base, pos, offset int64) {
	l.durable.Store(&offsetMark{base: base, pos: pos, offset: offset})
}

// limit is how far the bytes of s (of size bytes) below the mark reach.
func (m *offsetMark) limit(s *segment, size int64) int64 {
	switch {
	case s.baseOffset < m.base:
		return size
	case s.baseOffset == m.base:
		return min(size, m.pos)
	}
	return 0
}

// Watch registers ch for a wake-up, a send that never blocks (a full channel is left as is),
// each time EndOffset or FlushedOffset advances or HighWatermark changes, until Unwatch(ch).
// Register first, then check the offsets, then wait on ch: a change after Watch is not lost,
// as a channel with a buffer of 1 keeps one wake-up however many changes came (long-poll
// fetch). A channel registered n times gets n sends per change and needs n Unwatch calls.
func (l *Log) Watch(ch chan<- struct{}) { l.changed.watch(watcher{ch: ch, appends: true}) }

// Unwatch removes one registration of ch by Watch; no send to ch starts after it returns.
func (l *Log) Unwatch(ch chan<- struct{}) { l.changed.unwatch(watcher{ch: ch, appends: true}) }

// WatchTagged is Watch for a waiter on many logs (watch.go): each change marks tag in set,
// then wakes set.C, so that the waiter learns which logs changed.
func (l *Log) WatchTagged(set *WakeSet, tag int) {
	l.changed.watch(watcher{ch: set.C, set: set, tag: tag, appends: true})
}

// UnwatchTagged removes one registration by WatchTagged; no mark or send starts after it
// returns.
func (l *Log) UnwatchTagged(set *WakeSet, tag int) {
	l.changed.unwatch(watcher{ch: set.C, set: set, tag: tag, appends: true})
}

// WatchTaggedNoAppends is WatchTagged for a waiter that reads only up to FlushedOffset or
// HighWatermark (DurableOnly, UpToHighWatermark): it is woken by every change but an append,
// which moves only EndOffset. Its count is ChangesNoAppends.
func (l *Log) WatchTaggedNoAppends(set *WakeSet, tag int) {
	l.changed.watch(watcher{ch: set.C, set: set, tag: tag})
}

// UnwatchTaggedNoAppends removes one registration by WatchTaggedNoAppends; no mark or send
// starts after it returns.
func (l *Log) UnwatchTaggedNoAppends(set *WakeSet, tag int) {
	l.changed.unwatch(watcher{ch: set.C, set: set, tag: tag})
}

// Changes counts the log's changes that Watch reports, ever. Read it before reading the log:
// a different count later means something changed since (a waiter that registers after its
// read checks it so that a change between the read and the registration is not missed).
func (l *Log) Changes() uint64 { return l.changed.changes(true) }

// ChangesNoAppends is Changes without the appends: the changes WatchTaggedNoAppends reports.
func (l *Log) ChangesNoAppends() uint64 { return l.changed.changes(false) }

// OffsetForTimestamp returns the offset and timestamp of the first record, at or after the
// log start offset, whose timestamp is >= ts (ListOffsets by time). As in Kafka, the time index
// finds the first batch whose max timestamp is >= ts, and that batch's records are decoded
// (decompressed if need be) to find the record: records inside a batch need not be in
// timestamp order, and a batch's max timestamp is not its first record's. ok is false when no
// record is that recent; an error means a batch could not be read or decoded.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	for from := int64(0); ; {
		batch, minOffset, found, err := l.batchForTimestamp(ts, from)
		if err != nil || !found {
			return -1, -1, false, err
		}
		h, err := ParseBatchHeader(batch)
		if err == nil {
			// Decoded outside the append lock: decompression can take a while.
			var records []Record
			records, err = Records(batch)
			for _, r := range records {
				if r.Timestamp >= ts && r.Offset >= minOffset {
					return r.Offset, r.Timestamp, true, nil
				}
			}
		}
		if err != nil {
			return -1, -1, false, fmt.Errorf("segment: %s: batch at offset %d for timestamp %d: %w", l.dir, h.BaseOffset, ts, err)
		}
		// Every record of the batch at or after minOffset is older (the batch's max
		// timestamp is on a record before the log start): go on with the next batch.
		from = h.LastOffset() + 1
	}
}

// batchForTimestamp returns a copy of the first batch whose max timestamp is >= ts and which
// holds an offset at or after both from and the log start offset, and that lower bound on the
// offsets of interest; found is false when no batch is that recent.
func (l *Log) batchForTimestamp(ts, from int64) (batch []byte, minOffset int64, found bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	minOffset = max(l.startOffset.Load(), from)
	segs := l.view.segments
	for i, s := range segs {
		if s.maxTimestamp < ts || (i+1 < len(segs) && segs[i+1].baseOffset <= minOffset) {
			continue
		}
		_, entryOffset := s.timeIndex.Lookup(ts)
		_, pos := s.offsetIndex.Lookup(max(entryOffset, minOffset))
		var r batchReader
		r.initFD(s.fd, s.size.Load(), nil)
		for p := int64(pos); ; {
			h, err := r.header(p)
			if err != nil || p+int64(h.Size()) > r.limit {
				break
			}
			if h.MaxTimestamp >= ts && h.LastOffset() >= minOffset {
				b, err := r.peek(p, h.Size())
				if err != nil {
					return nil, minOffset, false, fmt.Errorf("segment: reading %s at %d: %w", s.path(logSuffix), p, err)
				}
				return bytes.Clone(b), minOffset, true, nil
			}
			p += int64(h.Size())
		}
	}
	return nil, minOffset, false, nil
}

// MaxTimestamp returns the greatest batch max timestamp in the log and the last offset of the
// first batch that carries it; (-1, -1) when the log has no timestamps.
func (l *Log) MaxTimestamp() (timestamp, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	timestamp, offset = -1, -1
	for _, s := range l.view.segments {
		if s.maxTimestamp > timestamp {
			timestamp, offset = s.maxTimestamp, s.offsetOfMaxTime
		}
	}
	return timestamp, offset
}

// SetConfig changes the configuration; the active segment keeps the segment.bytes it was
// activated with until it rolls. An invalid config is logged and ignored.
func (l *Log) SetConfig(cfg Config) {
	if err := cfg.validate(); err != nil {
		l.logger.Warn("segment: config ignored", "err", err)
		return
	}
	l.mu.Lock()
	l.mu.cfg = cfg
	l.mu.Unlock()
}

// LeaderEpochs returns the leader epochs recorded and the offset each starts at.
func (l *Log) LeaderEpochs() []EpochEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.mu.epochs)
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch as Kafka does: for the latest epoch, the log
// end offset; for an older one, the start offset of the first later epoch, with the largest
// recorded epoch <= epoch; (-1, -1) when epoch is unknown or newer than the latest.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	epochs := l.mu.epochs
	if epoch < 0 || len(epochs) == 0 {
		return -1, -1
	}
	if epochs[len(epochs)-1].Epoch == epoch {
		return epoch, l.mu.nextOffset
	}
	higher := sort.Search(len(epochs), func(i int) bool { return epochs[i].Epoch > epoch })
	if higher == len(epochs) {
		return -1, -1
	}
	if higher == 0 {
		return epoch, epochs[0].StartOffset
	}
	return epochs[higher-1].Epoch, epochs[higher].StartOffset
}

// Close syncs the log and trims the active segment and its indexes to their used size (a clean
// close). Readers holding results keep their segments until they release them.
func (l *Log) Close() error { return l.close(nil) }

// closeUnsynced is Close for a caller that makes the log durable with a syncfs of its file
// system (LogDir.Close): it trims and writes everything Close does but syncs nothing, and
// defers to c the renames of the files it replaces atomically (the producer snapshot,
// leader-epoch-checkpoint). The caller then syncs the file system, which makes the data of
// every file durable, renames (c.rename), syncs it again, which makes the renames durable,
// and calls c.finish: only then is the log's end published as durable. A crash in between
// leaves each replaced file old or new, whole, as Close's own fdatasync before each rename
// does, and a log whose recovery point was not advanced.
func (l *Log) closeUnsynced() (*unsyncedClose, error) {
	c := &unsyncedClose{l: l}
	c.fs = deferredSyncFS{FS: l.fs, c: c}
	err := l.close(c)
	return c, err
}

// unsyncedClose is what closeUnsynced left for after the syncfs.
type unsyncedClose struct {
	l  *Log
	fs deferredSyncFS
	// renames are the atomic replacements whose temporary files wait for the first syncfs;
	// epochs says whether one of them is leader-epoch-checkpoint.
	renames [][2]string
	epochs  bool
	// durable is the end to publish once the file system is synced (ok: nothing failed).
	ok                   bool
	base, pos, endOffset int64
	err                  error // of a rename
}

// deferredSyncFS is the log's FS for closeUnsynced: no fdatasync or directory fsync (the
// syncfs covers them), and renames deferred to unsyncedClose.rename.
type deferredSyncFS struct {
	disk.FS
	c *unsyncedClose
}

func (deferredSyncFS) Fdatasync(*os.File) error { return nil }
func (deferredSyncFS) SyncDir(string) error     { return nil }
func (d deferredSyncFS) Rename(oldpath, newpath string) error {
	d.c.renames = append(d.c.renames, [2]string{oldpath, newpath})
	return nil
}

// rename makes the deferred renames, after the syncfs that made the new files' data durable,
// and then deletes the snapshots older than the latest snapshotsKept, as Close does after
// writing one. A failed rename leaves the old file and removes the new one, as a failed atomic
// write does; as in Close, a snapshot's is logged, and leader-epoch-checkpoint's fails the
// close.
func (c *unsyncedClose) rename() {
	for _, r := range c.renames {
		err := c.l.fs.Rename(r[0], r[1])
		if err == nil {
			continue
		}
		c.l.fs.Remove(r[0])
		if filepath.Base(r[1]) == leaderEpochFile {
			c.err = errors.Join(c.err, c.l.epochsError(fmt.Errorf("segment: %w", err)))
		} else {
			c.l.logger.Warn("segment: producer state snapshot not written", "file", r[1], "err", err)
		}
	}
	if len(c.renames) > 0 {
		if err := c.l.pruneSnapshots(); err != nil {
			c.l.logger.Warn("segment: old producer state snapshots not deleted", "dir", c.l.dir, "err", err)
		}
	}
}

// finish publishes the log's end as durable if the syncfs calls (synced: the failure, nil if
// both succeeded) and the renames succeeded, and returns the renames' failure.
func (c *unsyncedClose) finish(synced error) error {
	l := c.l
	if (synced != nil || c.err != nil) && c.epochs {
		l.mu.Lock()
		l.mu.newEpochs = true // not written: LogDir writes no recovery point past them
		l.mu.Unlock()
	}
	if synced == nil && c.err == nil && c.ok {
		l.publishDurable(c.base, c.pos, c.endOffset)
	}
	l.changed.notify()
	return c.err
}

// close is Close, or closeUnsynced's part of it if c is not nil.
func (l *Log) close(c *unsyncedClose) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return nil
	}
	l.mu.closed = true
	l.activity.close()
	if err := l.storageFailure(); err != nil {
		// Nothing more is synced or trimmed: the next open recovers from the recovery point.
		l.releaseAll()
		l.changed.notify()
		return err
	}
	s := l.mu.active
	var errs []error
	if s.maxTimestamp >= 0 {
		if err := s.timeIndex.MaybeAppend(s.maxTimestamp, s.offsetOfMaxTime); err != nil && !errors.Is(err, index.ErrIndexFull) {
			errs = append(errs, err)
		}
	}
	l.view.Lock()
	if c != nil {
		errs = append(errs, s.offsetIndex.CloseUnsynced(), s.timeIndex.CloseUnsynced())
	} else {
		errs = append(errs, s.offsetIndex.Close(), s.timeIndex.Close())
	}
	s.offsetIndex, s.timeIndex = nil, nil
	if err := l.fs.Truncate(s.file, s.size.Load()); err != nil {
		errs = append(errs, err)
	}
	segs := l.view.segments
	l.view.segments = nil
	l.view.Unlock()
	var epochs []EpochEntry
	if l.mu.newEpochs {
		epochs = l.mu.epochs
	}
	if c != nil {
		// The syncfs covers the segments, the indexes and the directories; the new files'
		// renames wait for it (unsyncedClose).
		l.takeSnapshotWithLocked(c.fs, false)
		epochErr := l.writeEpochsWith(c.fs, epochs)
		c.epochs = epochs != nil && epochErr == nil
		l.mu.newEpochs = l.mu.newEpochs && epochErr != nil
		errs = append(errs, epochErr)
		err := errors.Join(errs...)
		c.ok = err == nil
		c.base, c.pos, c.endOffset = s.baseOffset, s.size.Load(), l.mu.nextOffset
		l.mu.unsynced = nil
		for _, s := range segs {
			s.release()
		}
		return err
	}
	// The snapshot and leader-epoch-checkpoint are each written whole and fdatasync'd before
	// their rename; the renames are made durable by the one directory fsync below, before
	// the log's end is published as durable (and before LogDir.Close writes the
	// clean-shutdown marker), instead of by a directory fsync each: closing 10,000 logs
	// spends its time in fsyncs.
	dirs := &deferredDirSync{FS: l.fs, dir: l.dir}
	l.takeSnapshotWithLocked(dirs, true)
	epochErr := l.writeEpochsWith(dirs, epochs)
	l.mu.newEpochs = l.mu.newEpochs && epochErr != nil // for WriteEpochs to report
	// One fdatasync of the active segment covers its data and its new size.
	errs = append(errs, epochErr, l.fs.Fdatasync(s.file),
		l.syncFiles(s, 0, l.mu.unsynced, dirtyDirs{log: l.mu.dirDirty || dirs.pending, parent: l.mu.newDir}))
	if err := errors.Join(errs...); err == nil {
		l.publishDurable(s.baseOffset, s.size.Load(), l.mu.nextOffset)
	}
	l.mu.unsynced = nil
	for _, s := range segs {
		s.release()
	}
	l.changed.notify()
	return errors.Join(errs...)
}

// releaseAll drops the log's references to its segments (a failed open).
func (l *Log) releaseAll() {
	l.view.Lock()
	segs := l.view.segments
	l.view.segments = nil
	l.view.Unlock()
	for _, s := range segs {
		s.release()
	}
}

// Delete closes the log and removes its directory: renamed first to
// "<dir>.<uuid>-delete", so that a crash midway leaves a name that the next start removes,
// then removed.
func (l *Log) Delete() error {
	doomed, err := l.moveAside(deleteDirSuffix)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	return nil
}

// moveAside closes the log without syncing it (abandon) and renames its directory to
// asideDirName's "<dir>.<uuid><suffix>", durably, returning the new path.
func (l *Log) moveAside(suffix string) (string, error) {
	l.abandon()
	aside := filepath.Join(filepath.Dir(l.dir), asideDirName(l.tp, suffix))
	if err := os.Rename(l.dir, aside); err != nil {
		return "", fmt.Errorf("segment: %w", err)
	}
	if err := disk.SyncDir(filepath.Dir(l.dir)); err != nil {
		return "", err
	}
	return aside, nil
}

// abandon closes the log without syncing or trimming anything, as if the process had died
// (the page cache keeps what was written).
func (l *Log) abandon() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return
	}
	l.mu.closed = true
	l.activity.close()
	l.releaseAll()
	l.changed.notify()
}
