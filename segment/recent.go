package segment

import "sync/atomic"

// recentBatchCount is how many of a segment's last appended batches recentBatches holds: a
// consumer at the log end asks for one of the last few.
const recentBatchCount = 8

// recentBatches are the position, offsets and size of the last batches the appender wrote to
// a segment, so that a read at the log's tail finds the batch it asks for without reading
// headers (segment.readRange). With a consumer tailing 10,000 partitions those reads, one or
// two preads of headers written moments before, took 9-10% of the broker's CPU; without them
// sendfile paid part of it instead (the first touch of the same pages), and CPU per GiB
// moved within noise (results/2026-12-05-s20-tail): what is saved for certain is the calls.
//
// The appender writes it under Log.mu; readers read it with no lock. seq is odd while the
// appender changes entries, so a reader that sees it odd, or changed across its reads, falls
// back to reading headers. Truncation clears it (Log.cutLocked) under Log.view's write lock.
type recentBatches struct {
	seq     atomic.Uint64
	entries [recentBatchCount]recentBatch
	next    int // the entry written next (Log.mu)
}

// recentBatch is one batch: size 0 for an entry not written yet.
type recentBatch struct {
	pos, base, last, size atomic.Int64
}

// note records the batches of one append, headers, written from pos on.
func (r *recentBatches) note(headers []BatchHeader, pos int64) {
	for len(headers) > recentBatchCount {
		pos += int64(headers[0].Size())
		headers = headers[1:]
	}
	r.seq.Add(1)
	for _, h := range headers {
		e := &r.entries[r.next]
		e.pos.Store(pos)
		e.base.Store(h.BaseOffset)
		e.last.Store(h.LastOffset())
		e.size.Store(int64(h.Size()))
		r.next = (r.next + 1) % recentBatchCount
		pos += int64(h.Size())
	}
	r.seq.Add(1)
}

// clear forgets every batch.
func (r *recentBatches) clear() {
	r.seq.Add(1)
	for i := range r.entries {
		r.entries[i].size.Store(0)
	}
	r.next = 0
	r.seq.Add(1)
}

// find returns the position, offsets and size of the recent batch that holds offset; ok is
// false when none does or the appender changed them meanwhile.
func (r *recentBatches) find(offset int64) (pos, base, last, size int64, ok bool) {
	seq := r.seq.Load()
	if seq&1 != 0 {
		return 0, 0, 0, 0, false
	}
	for i := range r.entries {
		e := &r.entries[i]
		if size = e.size.Load(); size > 0 && e.base.Load() <= offset && offset <= e.last.Load() {
			pos, base, last, ok = e.pos.Load(), e.base.Load(), e.last.Load(), true
			break
		}
	}
	return pos, base, last, size, ok && r.seq.Load() == seq
}
