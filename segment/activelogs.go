package segment

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// activeEpoch is how long a log counts as active after its last append (between one and two
// epochs).
const activeEpoch = time.Second

// activeLogs counts a log directory's logs that appended in the current or the previous epoch,
// among which the directory's drop-behind is divided: the synced pages kept in the page cache
// (keepWindow) and the step they are dropped in (dropChunk), so that 1,000 active partitions do
// not each keep what one alone may. A log joins once per epoch from its append (under its own
// Log.mu), with atomics only. When the previous epoch saw no append
// (at start, or after a pause), all the open logs are counted until an epoch has counted them.
type activeLogs struct {
	now    func() time.Time
	opened atomic.Int64               // logs open in the directory (open and close)
	cur    atomic.Pointer[epochCount] // the current epoch and the logs that joined it
	prev   atomic.Int64               // logs that joined the epoch before cur; -1: unknown
}

// epochCount is the number of logs that appended in one epoch.
type epochCount struct {
	epoch int64
	n     atomic.Int64
}

func newActiveLogs() *activeLogs {
	a := &activeLogs{now: time.Now}
	a.cur.Store(&epochCount{})
	a.prev.Store(-1)
	return a
}

// open counts a log opened; close, once, the same log closed.
func (a *activeLogs) open()  { a.opened.Add(1) }
func (a *activeLogs) close() { a.opened.Add(-1) }

// join counts the caller, a log that appended, as active in the current epoch unless *joined
// (the caller's, under its Log.mu) says it already is.
func (a *activeLogs) join(joined *int64) {
	epoch := a.now().UnixNano() / int64(activeEpoch)
	c := a.cur.Load()
	for c.epoch < epoch {
		next := &epochCount{epoch: epoch}
		if a.cur.CompareAndSwap(c, next) {
			prev := int64(-1)
			if c.epoch == epoch-1 {
				prev = c.n.Load() // a join racing the swap may be missed: it rejoins next epoch
			}
			a.prev.Store(prev)
		}
		c = a.cur.Load()
	}
	if *joined != c.epoch {
		*joined = c.epoch
		c.n.Add(1)
	}
}

// active is the count of logs that appended in this or the previous epoch, as the last join
// saw it; the logs open if no epoch counted them.
func (a *activeLogs) active() int64 {
	active := max(a.cur.Load().n.Load(), a.prev.Load())
	if active <= 0 {
		active = a.opened.Load()
	}
	return max(active, 1)
}

// Bounds of dropSynced's step, and the directory's total of it: up to 256 active logs drop 1 MiB
// at a time, 1,000 logs 256 KiB, and from 4,096 on, 64 KiB. A larger step makes fewer fadvise
// calls; a smaller one keeps each log's page cache closer to its keep window. (The same
// chunks once bounded the synced pages a log kept mapped, when readers read the active segment
// through a mapping.)
const (
	minDropChunk   = 64 << 10
	maxDropChunk   = 1 << 20
	dropChunkTotal = 256 << 20
)

// dropChunk is dropSynced's step for each log: its share of dropChunkTotal among the active
// logs, in whole minDropChunks, between minDropChunk and maxDropChunk.
func (a *activeLogs) dropChunk() int64 {
	return min(max(dropChunkTotal/a.active(), minDropChunk), maxDropChunk) / minDropChunk * minDropChunk
}

// Bounds of a log's keep window (Config.CacheKeepBytes), and the default of the directory's
// total: 1 GiB keeps the most, 64 MiB, for up to 16 active logs, 1 MiB for 1,024, and the least,
// 64 KiB (dropChunk's least), from 16,384. With a floor of 1 MiB, 10,000 active logs kept
// 10 GB, more than they wrote in a bench run: no page was ever dropped, every append grew the
// page cache into memory the VM's balloon had given back to its host, and at 10,000 partitions
// the copy into those pages cost 12x per byte what it did at 8 (results/2026-12-04-keep-window/).
const (
	minKeepWindow    = 64 << 10
	maxKeepWindow    = 64 << 20
	DefaultCacheKeep = 1 << 30
)

// keepCap is the most a directory's logs keep in all: an eighth of the machine's memory.
var keepCap = sync.OnceValue(func() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil || si.Totalram == 0 {
		return DefaultCacheKeep
	}
	return int64(si.Totalram) * int64(max(si.Unit, 1)) / 8
})

// keepWindow is the synced bytes each active log keeps in the page cache behind its durable
// end with drop-behind: total (clamped to keepCap) divided among the active logs, clamped to
// [minKeepWindow, maxKeepWindow].
func (a *activeLogs) keepWindow(total int64) int64 {
	return min(max(min(total, keepCap())/a.active(), minKeepWindow), maxKeepWindow)
}
