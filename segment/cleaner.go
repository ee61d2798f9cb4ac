package segment

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// cleanerCheckpointFile is Kafka's cleaner-offset-checkpoint in each log directory: per
// compacted log, the end of its clean section (the format of the other offset checkpoints).
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// CleanerConfig is the broker's log.cleaner.* settings.
type CleanerConfig struct {
	Threads int // log.cleaner.threads (1)
	// DedupeBufferSize (log.cleaner.dedupe.buffer.size, 128 MiB) bounds the offset maps of
	// all the threads together.
	DedupeBufferSize int64
	// IOMaxBytesPerSecond (log.cleaner.io.max.bytes.per.second) limits what all the threads
	// read and write together; <= 0 or math.MaxFloat64 (the default, Kafka's): no limit.
	IOMaxBytesPerSecond float64
	Backoff             time.Duration // log.cleaner.backoff.ms: sleep when no log needs cleaning (15 s)
	// Committed returns the offset below which tp's records are committed, where cleaning
	// stops (Log.Cleanable); nil: the log's own high watermark, right for a replicated log.
	Committed func(tp TopicPartition, l *Log) int64
}

// DefaultCleanerConfig returns Kafka's defaults.
func DefaultCleanerConfig() CleanerConfig {
	return CleanerConfig{Threads: 1, DedupeBufferSize: 128 << 20, IOMaxBytesPerSecond: math.MaxFloat64, Backoff: 15 * time.Second}
}

// Cleaner compacts the logs of some log directories whose Config.Compact is set, as Kafka's
// LogCleaner: Threads goroutines each pick the log with the highest dirty ratio (one past
// max.compaction.lag.ms first) among those worth cleaning and not being cleaned, clean it
// (Log.Clean) and record the end of its clean section in the directory's
// cleaner-offset-checkpoint. Its methods may be called concurrently.
type Cleaner struct {
	cfg    CleanerConfig
	dirs   []*LogDir
	logger *slog.Logger
	io     throttler

	mu          sync.Mutex
	inProgress  map[*Log]bool
	uncleanable map[*Log]bool // a clean failed: left alone until a restart (Kafka's uncleanable partitions)
	checkpoints map[*LogDir]map[TopicPartition]int64

	done chan struct{}
	wg   sync.WaitGroup

	bytesCleaned  atomic.Int64
	lastCleanMs   atomic.Int64 // unix ms when the last clean ended, 0 before the first
	lastDuration  atomic.Int64 // nanoseconds the last clean took
	maxDirtyRatio atomic.Uint64
}

// NewCleaner returns a cleaner of dirs' logs, which reads their cleaner-offset-checkpoint
// files (one that cannot be read is logged and counts as empty: everything is dirty).
func NewCleaner(cfg CleanerConfig, dirs []*LogDir, logger *slog.Logger) *Cleaner {
	if logger == nil {
		logger = slog.Default()
	}
	c := &Cleaner{cfg: cfg, dirs: dirs, logger: logger, inProgress: map[*Log]bool{}, uncleanable: map[*Log]bool{},
		checkpoints: map[*LogDir]map[TopicPartition]int64{}, done: make(chan struct{})}
	c.io = throttler{rate: cfg.IOMaxBytesPerSecond, done: c.done}
	for _, d := range dirs {
		m, err := ReadOffsetCheckpoint(filepath.Join(d.Path(), cleanerCheckpointFile))
		if err != nil {
			logger.Warn("segment: cleaner checkpoint unreadable; every compacted log is dirty", "path", d.Path(), "err", err)
			m = map[TopicPartition]int64{}
		}
		c.checkpoints[d] = m
	}
	return c
}

// Start starts the cleaner goroutines.
func (c *Cleaner) Start() {
	threads := max(c.cfg.Threads, 1)
	for range threads {
		c.wg.Go(func() {
			m := NewOffsetMap(c.cfg.DedupeBufferSize / int64(threads))
			buf := make([]byte, scanBufferSize)
			for {
				cleaned, err := c.cleanDirtiest(m, buf)
				if err != nil {
					c.logger.Error("segment: cleaning failed", "err", err)
				}
				if cleaned {
					continue
				}
				t := time.NewTimer(c.cfg.Backoff)
				select {
				case <-c.done:
					t.Stop()
					return
				case <-t.C:
				}
			}
		})
	}
}

// Close stops the goroutines, waiting for cleans under way to end (unthrottled from now on).
func (c *Cleaner) Close() {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	c.wg.Wait()
}

// CleanOnce cleans the log most worth it, if one is, with the offset map m; it reports whether
// it cleaned one. (The goroutines of Start call it; tests call it to clean now.)
func (c *Cleaner) CleanOnce(m *OffsetMap) (bool, error) { return c.cleanDirtiest(m, nil) }

func (c *Cleaner) cleanDirtiest(m *OffsetMap, buf []byte) (bool, error) {
	d, l, info := c.grabDirtiest()
	if l == nil {
		return false, nil
	}
	defer func() {
		c.mu.Lock()
		delete(c.inProgress, l)
		c.mu.Unlock()
	}()
	start := time.Now()
	stats, err := l.Clean(info, CleanOptions{Map: m, Throttle: c.io.wait, Buffer: buf})
	if errors.Is(err, errCleanAborted) || errors.Is(err, ErrClosed) || (err != nil && l.closedNow()) {
		return false, nil // the log changed, was closed or deleted: the next pass looks again
	}
	if err != nil {
		c.mu.Lock()
		c.uncleanable[l] = true
		c.mu.Unlock()
		return false, fmt.Errorf("%s, left uncleaned until a restart: %w", l.tp.DirName(), err)
	}
	c.bytesCleaned.Add(stats.BytesRead)
	c.lastCleanMs.Store(time.Now().UnixMilli())
	c.lastDuration.Store(int64(time.Since(start)))
	c.logger.Info("segment: log cleaned", "topic", l.tp.Topic, "partition", l.tp.Partition,
		"first_dirty", stats.FirstDirty, "end", stats.End, "segments_read", stats.SegmentsRead,
		"segments_written", stats.SegmentsWritten, "bytes_read", stats.BytesRead, "bytes_written", stats.BytesWritten,
		"records_read", stats.RecordsRead, "records_kept", stats.RecordsKept, "took", time.Since(start))
	return true, c.saveCheckpoint(d, l.tp, stats.End)
}

// grabDirtiest picks the log to clean and marks it in progress.
func (c *Cleaner) grabDirtiest() (*LogDir, *Log, CleanableInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		bestDir  *LogDir
		best     *Log
		bestInfo CleanableInfo
		maxRatio float64
	)
	for _, d := range c.dirs {
		if d.Failed() != nil {
			continue
		}
		for tp, l := range d.Logs() {
			if c.inProgress[l] || c.uncleanable[l] || !l.Compacted() {
				continue
			}
			checkpoint, ok := c.checkpoints[d][tp]
			if !ok {
				checkpoint = -1
			}
			committed := l.HighWatermark()
			if c.cfg.Committed != nil {
				committed = c.cfg.Committed(tp, l)
			}
			info := l.Cleanable(checkpoint, committed)
			maxRatio = max(maxRatio, info.Ratio())
			if !info.Worth {
				continue
			}
			if best == nil || (info.MustClean && !bestInfo.MustClean) ||
				(info.MustClean == bestInfo.MustClean && info.Ratio() > bestInfo.Ratio()) {
				bestDir, best, bestInfo = d, l, info
			}
		}
	}
	c.maxDirtyRatio.Store(math.Float64bits(maxRatio))
	if best != nil {
		c.inProgress[best] = true
	}
	return bestDir, best, bestInfo
}

// saveCheckpoint records end as tp's clean section's end and rewrites d's checkpoint file
// with the logs d still has.
func (c *Cleaner) saveCheckpoint(d *LogDir, tp TopicPartition, end int64) error {
	logs := d.Logs()
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.checkpoints[d]
	m[tp] = end
	for k := range m {
		if _, ok := logs[k]; !ok {
			delete(m, k)
		}
	}
	return WriteOffsetCheckpoint(filepath.Join(d.Path(), cleanerCheckpointFile), m)
}

// CleanerStats are the cleaner's metrics.
type CleanerStats struct {
	BytesCleaned  int64         // bytes of segments read by cleans since the start
	LastClean     time.Time     // when the last clean ended; zero before the first
	LastDuration  time.Duration // how long the last clean took
	MaxDirtyRatio float64       // the highest dirty ratio among the compacted logs at the last pick
}

// Stats returns the cleaner's metrics.
func (c *Cleaner) Stats() CleanerStats {
	s := CleanerStats{BytesCleaned: c.bytesCleaned.Load(), LastDuration: time.Duration(c.lastDuration.Load()),
		MaxDirtyRatio: math.Float64frombits(c.maxDirtyRatio.Load())}
	if ms := c.lastCleanMs.Load(); ms > 0 {
		s.LastClean = time.UnixMilli(ms)
	}
	return s
}

// throttler keeps the cleaner's I/O under rate bytes a second, shared by its goroutines
// (Kafka's Throttler): it sleeps whoever is ahead of the rate, measured over periods of a
// second.
type throttler struct {
	rate float64
	done <-chan struct{}

	mu          sync.Mutex
	periodStart time.Time
	bytes       float64
}

// wait counts n bytes and sleeps while the current period is ahead of the rate.
func (t *throttler) wait(n int64) {
	if t.rate <= 0 || t.rate >= math.MaxFloat64 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.periodStart.IsZero() || now.Sub(t.periodStart) > time.Second {
		t.periodStart, t.bytes = now, 0
	}
	t.bytes += float64(n)
	ahead := time.Duration(t.bytes/t.rate*float64(time.Second)) - now.Sub(t.periodStart)
	if ahead <= 0 {
		return
	}
	timer := time.NewTimer(ahead)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-t.done:
	}
}
