package segment

import (
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"

	"runnel/io/mmap"
)

// prefaultWindow is how far ahead of the write position the active mapping is pre-faulted, so
// that the appender's copies find their pages present instead of taking a fault per page.
const prefaultWindow = 4 << 20

// prefaulter pre-faults ranges of the active mapping from a background goroutine owned by the
// log, started on first use and stopped by Close. MADV_POPULATE_READ leaves page contents
// alone and the pages clean (MADV_POPULATE_WRITE dirtied them: with 1,000 logs every fdatasync
// then wrote and write-protected 4 GB of zeros), so it may run while the appender writes nearby. Its
// methods are called with Log.mu held; the mapping is unmapped only after wait.
type prefaulter struct {
	logger   *slog.Logger
	requests chan prefaultRequest
	busy     sync.WaitGroup
}

type prefaultRequest struct {
	mapping *mmap.Mapping
	off, n  int
}

// request queues [off, off+n) of m; it reports false, queueing nothing, if a request is
// already waiting.
func (p *prefaulter) request(m *mmap.Mapping, off, n int) bool {
	if p.requests == nil {
		p.requests = make(chan prefaultRequest, 1)
		go p.run(p.requests)
	}
	p.busy.Add(1)
	select {
	case p.requests <- prefaultRequest{mapping: m, off: off, n: n}:
		return true
	default:
		p.busy.Done()
		return false
	}
}

func (p *prefaulter) run(requests <-chan prefaultRequest) {
	for r := range requests {
		// POPULATE_READ, not _WRITE: pages come in zeroed but clean, so a Sync writes (and
		// write-protects) only the pages an append dirtied, not the whole window of zeros.
		if err := r.mapping.Advise(r.off, r.n, unix.MADV_POPULATE_READ); err != nil {
			// Not fatal: the appender's stores fault the pages in themselves.
			p.logger.Debug("segment: prefault failed", "err", err)
		}
		p.busy.Done()
	}
}

// wait returns once no request is queued or running.
func (p *prefaulter) wait() { p.busy.Wait() }

// stop waits for the running request and ends the goroutine.
func (p *prefaulter) stop() {
	p.busy.Wait()
	if p.requests != nil {
		close(p.requests)
		p.requests = nil
	}
}

// prefaultAheadLocked keeps the pages up to prefaultWindow past the write position of the
// active segment s fallocated and pre-faulted, asking for half a window at a time. After an
// append large enough to go through pwrite (n bytes) it does nothing: pre-faulted pages would
// only be zeroed for pwrite to overwrite.
func (l *Log) prefaultAheadLocked(s *segment, n int64) {
	if l.mu.cfg.NoPrefault || n >= directWriteBytes {
		return
	}
	size := s.size.Load()
	s.populated = max(s.populated, size) // what is written (say, by pwrite) needs no pre-fault
	want := min(s.capacity, size+prefaultWindow)
	if want-s.populated < prefaultWindow/2 {
		return
	}
	if s.extend(l.mu.cfg.preallocateChunk(), want, preallocOptional) != nil {
		return // no space: the append that needs it falls back to less
	}
	if l.prefault.request(s.mapping, int(s.populated), int(want-s.populated)) {
		s.populated = want
	}
}
