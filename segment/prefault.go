package segment

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"runnel/io/mmap"
)

// prefaultWindow is the most a log pre-faults ahead of the write position of its active mapping,
// so that the appender's small pwrites find their pages in the page cache, zeroed, instead of
// allocating and zeroing each one, and readers of the active segment find them mapped.
// It is what a log gets while the budget's total covers it; minPrefaultWindow is the least.
const (
	prefaultWindow    = 4 << 20
	minPrefaultWindow = 64 << 10
)

// DefaultPrefaultTotal is the default budget (runnel.segment.prefault.total.bytes) of a log
// directory's pre-fault windows: 64 active logs get the whole 4 MiB each, 1,000 get 256 KiB.
const DefaultPrefaultTotal = 256 << 20

// activeEpoch is how long a log counts as active after its last append (between one and two
// epochs).
const activeEpoch = time.Second

// prefaultBudget divides a total of pre-fault window bytes among the logs that appended in the
// current or the previous epoch, so that 1,000 partitions do not each hold 4 MiB of page cache
// and, through the fallocation that follows the window, of disk. It is the one owner of the
// count of active logs; a log joins once per epoch from its append (under its own Log.mu),
// with atomics only. When the previous epoch saw no append (at start, or after a pause), all
// its open logs are assumed active until an epoch has counted them.
type prefaultBudget struct {
	total  int64 // bytes; 0 = no pre-fault
	now    func() time.Time
	opened atomic.Int64               // logs open with this budget
	cur    atomic.Pointer[epochCount] // the current epoch and the logs that joined it
	prev   atomic.Int64               // logs that joined the epoch before cur; -1: unknown
}

// epochCount is the number of logs that appended in one epoch.
type epochCount struct {
	epoch int64
	n     atomic.Int64
}

// newPrefaultBudget returns a budget of total bytes (0 = no pre-fault).
func newPrefaultBudget(total int64) *prefaultBudget {
	b := &prefaultBudget{total: total, now: time.Now}
	b.cur.Store(&epochCount{})
	b.prev.Store(-1)
	return b
}

// join counts the caller as active in the current epoch unless *joined says it already is, and
// returns the window each active log gets: the total divided among the logs active in this or
// the previous epoch, clamped to [minPrefaultWindow, prefaultWindow]; 0 if the total is 0.
func (b *prefaultBudget) join(joined *int64) int64 {
	if b.total <= 0 {
		return 0
	}
	epoch := b.now().UnixNano() / int64(activeEpoch)
	c := b.cur.Load()
	for c.epoch < epoch {
		next := &epochCount{epoch: epoch}
		if b.cur.CompareAndSwap(c, next) {
			prev := int64(-1)
			if c.epoch == epoch-1 {
				prev = c.n.Load() // a join racing the swap may be missed: it rejoins next epoch
			}
			b.prev.Store(prev)
		}
		c = b.cur.Load()
	}
	n := c.n.Load()
	if *joined != c.epoch {
		*joined = c.epoch
		n = c.n.Add(1)
	}
	prev := b.prev.Load()
	if prev < 0 {
		prev = b.opened.Load()
	}
	return b.window(max(n, prev))
}

// window is the pre-fault window of each of active logs.
func (b *prefaultBudget) window(active int64) int64 {
	return min(max(b.total/max(active, 1), minPrefaultWindow), prefaultWindow)
}

// releaseChunk is releaseSynced's chunk for each log: its share of the budget as join last
// computed it, in whole minPrefaultWindows, at most releaseChunk (which it is without a budget).
func (b *prefaultBudget) releaseChunk() int64 {
	if b.total <= 0 {
		return releaseChunk
	}
	return min(b.window(b.active()), releaseChunk) / minPrefaultWindow * minPrefaultWindow
}

// Bounds of a log's keep window (Config.CacheKeepBytes), and the default of the directory's
// total: 1 GiB keeps the most, 64 MiB, for up to 16 active logs, and the least, 1 MiB, from
// 1,024 of them.
const (
	minKeepWindow    = 1 << 20
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

// active is the count of logs that appended in this or the previous epoch, as join last saw
// it; the logs open if no epoch counted them.
func (b *prefaultBudget) active() int64 {
	active := max(b.cur.Load().n.Load(), b.prev.Load())
	if active <= 0 {
		active = b.opened.Load()
	}
	return max(active, 1)
}

// keepWindow is the synced bytes each active log keeps in the page cache behind its durable
// end with drop-behind: total (clamped to keepCap) divided among the active logs, clamped to
// [minKeepWindow, maxKeepWindow]. It counts active logs as the pre-fault windows do (with no
// pre-fault budget, none join: every open log counts).
func (b *prefaultBudget) keepWindow(total int64) int64 {
	return min(max(min(total, keepCap())/b.active(), minKeepWindow), maxKeepWindow)
}

// prefaulter pre-faults ranges of the active mapping from a background goroutine of the log's,
// which runs only while it has a request: 10,000 logs do not keep 10,000 goroutines (and
// their stacks) for work that comes every few hundred KiB of appends. MADV_POPULATE_READ leaves
// page contents alone and the pages clean (MADV_POPULATE_WRITE dirtied them: with 1,000 logs
// every fdatasync then wrote and write-protected 4 GB of zeros), so it may run while the
// appender writes nearby. Its methods are called with Log.mu held; the mapping is unmapped
// only after wait.
type prefaulter struct {
	logger *slog.Logger
	budget *prefaultBudget // shared with the other logs of the directory
	joined int64           // the budget's epoch this log last counted itself active in
	busy   sync.WaitGroup

	mu      sync.Mutex
	pending *prefaultRequest // the request waiting behind the running one
	running bool             // the goroutine runs
}

type prefaultRequest struct {
	mapping  *mmap.Mapping
	released *atomic.Int64 // the segment's released mark: run skips what lies below it
	off, n   int
}

// request queues [off, off+n) of m, the mapping of a segment whose released mark is released;
// it reports false, queueing nothing, if a request is already waiting.
func (p *prefaulter) request(m *mmap.Mapping, released *atomic.Int64, off, n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending != nil {
		return false
	}
	p.busy.Add(1)
	p.pending = &prefaultRequest{mapping: m, released: released, off: off, n: n}
	if !p.running {
		p.running = true
		go p.run()
	}
	return true
}

// run serves the requests until none is waiting.
func (p *prefaulter) run() {
	for {
		p.mu.Lock()
		r := p.pending
		p.pending = nil
		p.running = r != nil
		p.mu.Unlock()
		if r == nil {
			return
		}
		// A request that runs late (the goroutine was not scheduled while the appender wrote
		// through the range and a Sync released it) skips what releaseSynced has passed:
		// populating it would map released pages again and read dropped ones back from disk.
		// A release racing the populate may still see a few pages come back.
		off := max(r.off, int(r.released.Load()))
		// POPULATE_READ, not _WRITE: pages come in zeroed but clean, so a Sync writes (and
		// write-protects) only the pages an append dirtied, not the whole window of zeros.
		if off < r.off+r.n {
			if err := r.mapping.Advise(off, r.off+r.n-off, unix.MADV_POPULATE_READ); err != nil {
				// Not fatal: the appender's stores fault the pages in themselves.
				p.logger.Debug("segment: prefault failed", "err", err)
			}
		}
		p.busy.Done()
	}
}

// wait returns once no request is queued or running.
func (p *prefaulter) wait() { p.busy.Wait() }

// stop waits for the requests queued and leaves the budget; it is called once, when the log
// closes.
func (p *prefaulter) stop() {
	p.budget.opened.Add(-1)
	p.busy.Wait()
}

// noPrefaultBytes is the append size from which a log stops pre-faulting: such appends' pwrites
// fill whole pages, which the page cache takes without zeroing them, so pre-faulted pages would
// only be zeroed for the pwrite to overwrite. Below it, an append's pwrite finds its partly
// written pages present and zeroed, and readers of the active segment find them mapped. An
// acks=all load of 64 KiB batches gained 1.5-2.6x throughput over 8 partitions when its
// appends stopped pre-faulting (and stopped writing through the mapping) at this size
// (results/2026-12-02-durable/).
const noPrefaultBytes = 32 << 10

// prefaultAheadLocked keeps the pages up to the log's share of the budget (at most
// prefaultWindow) past the write position of the active segment s fallocated and pre-faulted,
// asking for half a window at a time. After an append of noPrefaultBytes or more (n bytes) it
// does nothing.
func (l *Log) prefaultAheadLocked(s *segment, n int64) {
	if l.mu.cfg.NoPrefault {
		return
	}
	window := l.prefault.budget.join(&l.prefault.joined) // counts a large append as active too
	if window == 0 || n >= noPrefaultBytes {
		return
	}
	size := s.size.Load()
	s.populated = max(s.populated, size) // what is written (say, by a large append) needs no pre-fault
	want := min(s.capacity, size+window)
	if want-s.populated < window/2 {
		return
	}
	if s.extend(l.mu.cfg.preallocateChunk(), want, preallocOptional) != nil {
		return // no space: the append that needs it falls back to less
	}
	if l.prefault.request(s.mapping, &s.released, int(s.populated), int(want-s.populated)) {
		s.populated = want
	}
}
