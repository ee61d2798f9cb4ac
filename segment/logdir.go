package segment

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"runnel/io/disk"
)

// Files of a data directory, as Kafka names them; part of the on-disk format.
const (
	recoveryPointFile  = "recovery-point-offset-checkpoint"
	logStartOffsetFile = "log-start-offset-checkpoint"
	highWatermarkFile  = "replication-offset-checkpoint" // each log's high watermark
	cleanShutdownFile  = ".kafka_cleanshutdown"
	lockFile           = ".lock"   // flock'ed while a process has the directory open
	deleteDirSuffix    = "-delete" // "<topic>-<partition>.<uuid>-delete": a deletion under way
	strayDirSuffix     = "-stray"  // "<topic>-<partition>.<uuid>-stray": a partition set aside, kept
)

// rootFiles are the files a LogDir (and its cleaner) replace atomically in the directory.
var rootFiles = []string{recoveryPointFile, logStartOffsetFile, highWatermarkFile, cleanShutdownFile, cleanerCheckpointFile}

// openWorkers bounds how many logs a LogDir opens at once.
const openWorkers = 8

// syncWorkers bounds how many logs a LogDir closes or writes the epochs of at once. Those
// spend their time waiting in fdatasync and directory fsync, which the file system serves
// together: on ext4 concurrent fsyncs share one journal commit, so the wait per file falls
// as more wait at once. With 8, closing 10,000 logs took over 20 s (5 fdatasyncs and 2
// directory fsyncs each).
const syncWorkers = 128

// LogDir is one data directory: a directory per partition log named "<topic>-<partition>",
// Kafka's recovery-point and log-start-offset checkpoints, and the clean-shutdown marker.
// Its methods may be called concurrently.
type LogDir struct {
	path   string
	cfgFor func(topic string) Config
	logger *slog.Logger

	lock     *os.File    // holds the flock on .lock until Close; SyncAll's syncfs goes through it
	fs       disk.FS     // for SyncAll
	space    *spaceState // whether its file system is short of space, shared by its logs
	activity *activeLogs // counts its logs that appended lately, among which it divides what they keep

	failed atomic.Pointer[error] // the first storage failure of any of its logs; sticky (Log.failure points here)
	damage atomic.Int64          // reads of its logs refused with ErrCorruptLog
	scan   ScanReport            // what OpenLogDir scanned

	mu       sync.Mutex
	logs     map[TopicPartition]*Log
	creating map[TopicPartition]chan struct{} // closed when that Create finishes
	closing  bool
}

// OpenOption is an option of OpenLogDir.
type OpenOption func(*openOptions)

type openOptions struct {
	scan ScanMode
	skip []TopicPartition
	fs   disk.FS
}

// WithFS sets the FS through which SyncAll syncs the directory's file system (default
// disk.OS); its logs use their Config's.
func WithFS(fs disk.FS) OpenOption { return func(o *openOptions) { o.fs = fs } }

// WithoutPartitions leaves the partition directories tps alone: they are not opened, listed
// or deleted (the metadata log, which its own storage keeps).
func WithoutPartitions(tps ...TopicPartition) OpenOption {
	return func(o *openOptions) { o.skip = append(o.skip, tps...) }
}

// WithScan sets which segments the open reads batch by batch (default ScanFromRecoveryPoint).
func WithScan(mode ScanMode) OpenOption { return func(o *openOptions) { o.scan = mode } }

// OpenLogDir opens every partition log under path (creating path if needed), in parallel.
// If the previous run shut down cleanly (the marker file exists) the logs' files are trusted,
// otherwise each log recovers what lies past its recovery point; WithScan(ScanFull) checks
// every segment besides (ScanReport, logged at the end of the open). The marker is then removed,
// so that a crash from now on counts as unclean. cfgFor gives each topic's config (nil: the
// defaults). Leftovers of interrupted deletions are removed. An unreadable checkpoint file is
// logged and costs a full recovery, never a failed open. Like Kafka, it takes an exclusive
// flock on the directory's .lock file, so that two processes never share a directory.
func OpenLogDir(path string, cfgFor func(topic string) Config, logger *slog.Logger, opts ...OpenOption) (d *LogDir, err error) {
	o := openOptions{fs: disk.OS}
	for _, opt := range opts {
		opt(&o)
	}
	if cfgFor == nil {
		cfgFor = func(string) Config { return DefaultConfig() }
	}
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	lock, err := lockDir(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	d = &LogDir{path: path, cfgFor: cfgFor, logger: logger, lock: lock, fs: cmp.Or(o.fs, disk.OS),
		logs: map[TopicPartition]*Log{}, creating: map[TopicPartition]chan struct{}{}}
	d.space = newSpaceState(path, logger)
	d.activity = newActiveLogs()
	marker := filepath.Join(path, cleanShutdownFile)
	_, statErr := os.Stat(marker)
	clean := statErr == nil
	// A checkpoint that cannot be read is not fatal, as in Kafka's LogManager: without
	// recovery points every log recovers all its segments (even after a clean shutdown,
	// whose checkpoint should have been intact), without start offsets each log starts at
	// its first segment.
	recoverAll := false
	recoveryPoints, err := ReadOffsetCheckpoint(filepath.Join(path, recoveryPointFile))
	if err != nil {
		logger.Warn("segment: recovery points unreadable; recovering every segment of every log", "path", path, "err", err)
		recoveryPoints, recoverAll = nil, true
	}
	startOffsets, err := ReadOffsetCheckpoint(filepath.Join(path, logStartOffsetFile))
	if err != nil {
		logger.Warn("segment: log start offsets unreadable; each log starts at its first segment", "path", path, "err", err)
		startOffsets = nil
	}
	highWatermarks, err := ReadOffsetCheckpoint(filepath.Join(path, highWatermarkFile))
	if err != nil {
		logger.Warn("segment: high watermarks unreadable; each log's starts at its log start offset", "path", path, "err", err)
		highWatermarks = nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	var tps []TopicPartition
	for _, e := range entries {
		if !e.IsDir() {
			// A crash in the middle of replacing one of the directory's own files leaves its
			// temporary, which nothing else would remove.
			if base, ok := disk.TempOf(e.Name()); ok && slices.Contains(rootFiles, base) {
				if err := os.Remove(filepath.Join(path, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
					return nil, fmt.Errorf("segment: %w", err)
				}
			}
			continue
		}
		if strings.HasSuffix(e.Name(), deleteDirSuffix) {
			if err := os.RemoveAll(filepath.Join(path, e.Name())); err != nil {
				return nil, fmt.Errorf("segment: %w", err)
			}
			continue
		}
		if tp, ok := ParsePartitionDir(e.Name()); ok && !slices.Contains(o.skip, tp) {
			tps = append(tps, tp)
		}
	}
	logs := make([]*Log, len(tps))
	errs := make([]error, len(tps))
	d.scan = ScanReport{Mode: o.scan, Logs: make([]LogScan, len(tps))}
	forEachParallel(len(tps), func(i int) {
		tp := tps[i]
		st := logState{recoveryPoint: recoveryPoints[tp], startOffset: -1, highWatermark: -1, clean: clean && !recoverAll,
			scan: o.scan, report: &d.scan.Logs[i], damageTotal: &d.damage, space: d.space, activity: d.activity}
		if start, ok := startOffsets[tp]; ok {
			st.startOffset = start
		}
		if hw, ok := highWatermarks[tp]; ok {
			st.highWatermark = hw
		}
		logs[i], errs[i] = openLog(filepath.Join(path, tp.DirName()), tp, cfgFor(tp.Topic), st, logger)
	})
	if err := errors.Join(errs...); err != nil {
		for _, l := range logs {
			if l != nil {
				l.Close()
			}
		}
		return nil, err
	}
	for i, tp := range tps {
		logs[i].failure = &d.failed
		d.logs[tp] = logs[i]
	}
	if clean {
		if err := os.Remove(marker); err != nil {
			d.closeLogs()
			return nil, fmt.Errorf("segment: %w", err)
		}
		if err := disk.SyncDir(path); err != nil {
			d.closeLogs()
			return nil, err
		}
	}
	d.scan.log(logger, path)
	logger.Info("segment: log directory opened", "path", path, "logs", len(tps), "clean", clean)
	return d, nil
}

// lockDir takes the exclusive flock on path's .lock file; closing the file releases it.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(path, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is open in another LogDir or process", ErrDirInUse, path)
		}
		return nil, fmt.Errorf("segment: lock %s: %w", f.Name(), err)
	}
	return f, nil
}

// forEachParallel calls f(0..n-1) from at most openWorkers goroutines and waits.
func forEachParallel(n int, f func(i int)) { forEachParallelN(n, openWorkers, f) }

// forEachParallelN calls f(0..n-1) from at most workers goroutines and waits.
func forEachParallelN(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Path is the directory's path.
func (d *LogDir) Path() string { return d.path }

// Failed returns nil while the directory is usable, or, once a storage operation of one of
// its logs failed, that first failure (wrapping ErrStorageFailed): the directory is offline.
func (d *LogDir) Failed() error {
	if e := d.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// SyncAll makes every write to the directory's file system durable with one syncfs(2), as if
// each of its logs' files and directories had been fsynced; a log synced this way is finished
// with Log.PrepareSync's finish. Use it only if SyncAllReportsErrors. The syncfs goes through
// the .lock file, open since before the logs were, so it reports every writeback error on the
// file system since then: any such error, even of a file outside the directory, fails the
// directory (sticky, as a failed fdatasync of one of its logs does), because the kernel reports
// it only once and a later syncfs would succeed over lost data.
func (d *LogDir) SyncAll() error {
	if err := d.Failed(); err != nil {
		return err
	}
	if err := d.fs.SyncFS(d.lock); err != nil {
		return failDir(&d.failed, d.logger, err)
	}
	return nil
}

// SyncAllReportsErrors reports whether SyncAll can stand in for fdatasync of each file: the
// directory's FS says its SyncFS reports writeback errors (for the operating system's, the
// kernel's syncfs(2) does: Linux 5.8 and later).
func (d *LogDir) SyncAllReportsErrors() bool { return d.fs.SyncFSReportsErrors() }

// DamageFound is the number of reads of the directory's logs refused with ErrCorruptLog since
// it was opened (the broker's runnel_log_damaged_reads_total).
func (d *LogDir) DamageFound() int64 { return d.damage.Load() }

// ScanReport is what OpenLogDir scanned: per log, segments and batches checked and the damage
// found (cut or kept).
func (d *LogDir) ScanReport() ScanReport { return d.scan }

// ShortOfSpace reports whether the directory's file system is short of space: a
// preallocation was refused since the last time a whole chunk was granted (logs then
// preallocate less, and appends that do not fit fail with ErrNoSpace).
func (d *LogDir) ShortOfSpace() bool { return d.space.short.Load() }

// NoSpaceAppends counts the appends to the directory's logs refused with ErrNoSpace.
func (d *LogDir) NoSpaceAppends() uint64 { return d.space.refused.Load() }

// Logs returns the open logs (a copy of the map).
func (d *LogDir) Logs() map[TopicPartition]*Log {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.logs)
}

// Create creates the log of tp, or returns it if it is already open. Creates of different
// partitions run in parallel. The new directory becomes durable with the log's first Sync.
// A failed Create removes the directory it made.
func (d *LogDir) Create(tp TopicPartition, cfg Config) (*Log, error) {
	if err := d.Failed(); err != nil {
		return nil, err // an offline directory takes no new logs
	}
	d.mu.Lock()
	for {
		if d.closing || d.logs == nil {
			d.mu.Unlock()
			return nil, ErrClosed
		}
		if l, ok := d.logs[tp]; ok {
			d.mu.Unlock()
			return l, nil
		}
		wait, ok := d.creating[tp]
		if !ok {
			break
		}
		d.mu.Unlock()
		<-wait
		d.mu.Lock()
	}
	done := make(chan struct{})
	d.creating[tp] = done
	d.mu.Unlock()

	dir := filepath.Join(d.path, tp.DirName())
	_, statErr := os.Stat(dir)
	l, err := openLog(dir, tp, cfg, logState{startOffset: -1, highWatermark: -1, clean: true, damageTotal: &d.damage, space: d.space, activity: d.activity}, d.logger)
	if err != nil && errors.Is(statErr, fs.ErrNotExist) {
		// A log that could not be made (ENOSPC preallocating it) leaves no directory
		// behind for the next start to open.
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("segment: %w", rmErr))
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.creating, tp)
	close(done)
	if err != nil {
		return nil, err
	}
	if d.closing || d.logs == nil {
		l.Close()
		return nil, ErrClosed
	}
	l.failure = &d.failed
	d.logs[tp] = l
	return l, nil
}

// Delete closes and removes the log of tp (Kafka style: the directory is renamed to
// "<dir>.<uuid>-delete", then removed). Deleting a log that does not exist does nothing.
func (d *LogDir) Delete(tp TopicPartition) error {
	d.mu.Lock()
	l, ok := d.logs[tp]
	delete(d.logs, tp)
	d.mu.Unlock()
	if !ok {
		return nil
	}
	return l.Delete()
}

// MarkStray closes tp's log and renames its directory to "<topic>-<partition>.<uuid>-stray",
// which no later open takes for a partition, and returns the new path. As Kafka does with a
// log its metadata no longer assigns to the broker, the files are kept: a partition the image
// disowns by mistake (a stale image, a topic recreated while the broker was away) loses no
// record, and an operator deletes the directory once sure it is not needed.
func (d *LogDir) MarkStray(tp TopicPartition) (string, error) {
	d.mu.Lock()
	l, ok := d.logs[tp]
	delete(d.logs, tp)
	d.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("segment: no log %s in %s", tp.DirName(), d.path)
	}
	return l.moveAside(strayDirSuffix)
}

// WriteCheckpoints writes the recovery point (flushed offset), log start offset and high
// watermark of every log to Kafka's three checkpoint files. Recovery trusts the epochs in
// leader-epoch-checkpoint for the batches before the recovery point, so each log's new epochs
// are made durable (Log.WriteEpochs) after its flushed offset is read and before the recovery
// points are written; if that fails for a log, the recovery points stay those last written.
func (d *LogDir) WriteCheckpoints() error {
	d.mu.Lock()
	logs := slices.Collect(maps.Values(d.logs))
	recoveryPoints := make(map[TopicPartition]int64, len(d.logs))
	startOffsets := make(map[TopicPartition]int64, len(d.logs))
	highWatermarks := make(map[TopicPartition]int64, len(d.logs))
	for tp, l := range d.logs {
		recoveryPoints[tp] = l.FlushedOffset()
		startOffsets[tp] = l.StartOffset()
		highWatermarks[tp] = l.HighWatermark()
	}
	d.mu.Unlock()
	errs := make([]error, len(logs))
	forEachParallelN(len(logs), syncWorkers, func(i int) { errs[i] = logs[i].WriteEpochs() })
	var err error
	if i := slices.IndexFunc(errs, func(err error) bool { return err != nil }); i >= 0 {
		err = errs[i] // the first: with thousands of logs on a full disk, one says it
	}
	if err == nil {
		err = WriteOffsetCheckpoint(filepath.Join(d.path, recoveryPointFile), recoveryPoints)
	}
	return errors.Join(err,
		WriteOffsetCheckpoint(filepath.Join(d.path, logStartOffsetFile), startOffsets),
		WriteOffsetCheckpoint(filepath.Join(d.path, highWatermarkFile), highWatermarks))
}

// Close closes every log (each syncs and trims its files), writes the checkpoints and, if all
// of that worked, the clean-shutdown marker that lets the next open trust the files.
//
// Where syncfs reports writeback errors (SyncAllReportsErrors) and the directory and its logs
// use the same FS, the logs close without syncing anything themselves
// (closeLogsUnsynced): two syncfs calls of the file system stand in for their 5 fdatasyncs and
// directory fsync each, which at 10,000 logs were most of a shutdown. The marker is written
// only after the last of them, as before after the last fdatasync.
func (d *LogDir) Close() error {
	d.mu.Lock()
	if d.logs == nil || d.closing {
		d.mu.Unlock()
		return nil
	}
	d.closing = true
	d.mu.Unlock()
	var err error
	if d.closesUnsynced() {
		err = d.closeLogsUnsynced()
	} else {
		err = d.closeLogs()
	}
	err = errors.Join(err, d.WriteCheckpoints())
	d.mu.Lock()
	d.logs = nil
	d.mu.Unlock()
	if err == nil {
		err = disk.WriteFileAtomic(filepath.Join(d.path, cleanShutdownFile), nil, 0o644)
	}
	return errors.Join(err, d.lock.Close())
}

// closesUnsynced reports whether Close may make its logs durable with syncfs: the directory's
// FS says its syncfs reports writeback errors, and every log uses that same FS (one that keeps
// its own account of what is durable, as faultfs does, must see the syncfs that stands in for
// the logs' fdatasyncs; a syncfs behind its back would not update it).
func (d *LogDir) closesUnsynced() bool {
	if !d.SyncAllReportsErrors() {
		return false
	}
	for _, l := range d.Logs() {
		fsys := l.fs
		if o, ok := fsys.(osFS); ok {
			fsys = o.FS // a Config without an FS: the operating system's, fallocate aside
		}
		if fsys != d.fs {
			return false
		}
	}
	return true
}

// closeLogsUnsynced closes every log in parallel without syncing (Log.closeUnsynced), then
// makes all of it durable: a syncfs for the files' data (the segments' and indexes' trimmed
// sizes, the new snapshots and epochs files), the renames that put the new files in place, a
// syncfs for those, and only then each log's end published as durable. A failed syncfs fails
// the directory, as SyncAll's does, and no log's end is published.
func (d *LogDir) closeLogsUnsynced() error {
	list := slices.Collect(maps.Values(d.Logs()))
	closes := make([]*unsyncedClose, len(list))
	errs := make([]error, len(list))
	start := time.Now()
	forEachParallelN(len(list), syncWorkers, func(i int) { closes[i], errs[i] = list[i].closeUnsynced() })
	closed := time.Now()
	synced := d.SyncAll()
	if synced == nil {
		forEachParallelN(len(list), syncWorkers, func(i int) { closes[i].rename() })
		synced = d.SyncAll()
	}
	for i, c := range closes {
		errs[i] = errors.Join(errs[i], c.finish(synced))
	}
	d.logger.Info("segment: logs closed", "path", d.path, "logs", len(list),
		"close", closed.Sub(start).Round(time.Millisecond), "sync", time.Since(closed).Round(time.Millisecond))
	return errors.Join(synced, errors.Join(errs...))
}

// abandon drops every log as a crash would and releases the directory.
func (d *LogDir) abandon() {
	for _, l := range d.Logs() {
		l.abandon()
	}
	d.mu.Lock()
	d.logs = nil
	d.mu.Unlock()
	d.lock.Close()
}

// closeLogs closes every log in parallel; the logs stay in the map for WriteCheckpoints.
func (d *LogDir) closeLogs() error {
	logs := d.Logs()
	list := make([]*Log, 0, len(logs))
	for _, l := range logs {
		list = append(list, l)
	}
	errs := make([]error, len(list))
	forEachParallelN(len(list), syncWorkers, func(i int) { errs[i] = list[i].Close() })
	return errors.Join(errs...)
}

// maxNameBytes is the longest file name Linux file systems take (NAME_MAX).
const maxNameBytes = 255

// asideDirName is "<topic>-<partition>.<uuid><suffix>", the topic cut short if the name would
// be too long for the file system, as Kafka names its "-delete" and "-stray" directories.
func asideDirName(tp TopicPartition, suffix string) string {
	suffix = "-" + strconv.FormatInt(int64(tp.Partition), 10) + "." + newUUID() + suffix
	return tp.Topic[:min(len(tp.Topic), maxNameBytes-len(suffix))] + suffix
}

// newUUID returns 32 random hex digits, Kafka's form of a UUID in deleted directory names.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
