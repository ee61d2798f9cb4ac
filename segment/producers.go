package segment

import (
	"fmt"
	"math"
)

// retainedBatches is how many of a producer's latest batches are remembered
// for duplicate detection: Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN,
// matching the client limit of 5 in-flight requests per connection for
// idempotent producers.
const retainedBatches = 5

// ProducerState is a partition's idempotent producer state, Kafka's
// ProducerStateManager without transactions: per producer id, the current
// epoch and the sequence ranges and offsets of its last 5 batches. It lets
// the log reject out-of-order and fenced batches and answer a retried batch
// with the offsets it already got, instead of appending it twice.
//
// It is not safe for concurrent use: the log calls it under its lock. When a
// log opens (or is truncated) it is loaded from the latest producer-state
// snapshot (snapshot.go) and Update is called for every batch stored after it.
type ProducerState struct {
	producers map[int64]*producerEntry
}

type producerEntry struct {
	epoch         int16
	lastTimestamp int64                          // max timestamp of the producer's last batch or marker
	batches       [retainedBatches]batchMetadata // oldest first
	n             int                            // batches[:n] are in use
}

type batchMetadata struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
}

func (e *producerEntry) retained() []batchMetadata { return e.batches[:e.n] }

// DuplicateBatch describes the stored batch that a retried batch duplicates.
type DuplicateBatch struct{ FirstOffset, LastOffset int64 }

// NewProducerState returns an empty state.
func NewProducerState() *ProducerState {
	return &ProducerState{producers: make(map[int64]*producerEntry)}
}

// lastSequence is the sequence of the batch's last record; sequences wrap
// from math.MaxInt32 to 0.
func lastSequence(h BatchHeader) int32 {
	return int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) % (math.MaxInt32 + 1))
}

// inSequence reports whether next follows last (wrapping at math.MaxInt32).
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// Check decides whether the batch h may be appended, with Kafka's rules:
//   - a batch without a producer id is not checked;
//   - an epoch older than the producer's is fenced (ErrInvalidProducerEpoch);
//   - a batch with the producer's epoch and the sequence range of one of its
//     last 5 batches is a duplicate: Check returns that batch's offsets and
//     the log answers with them without appending;
//   - otherwise the base sequence must follow the producer's last sequence,
//     or be 0 for a new epoch, else ErrOutOfOrderSequence.
//
// A producer id the partition does not know must start at sequence 0. Kafka
// since 2.5 (KIP-360) answers UNKNOWN_PRODUCER_ID there; we answer
// ErrOutOfOrderSequence (OUT_OF_ORDER_SEQUENCE_NUMBER), which clients also
// handle by resetting the producer's sequences, and which does not depend
// on knowing whether the producer's state expired or never existed.
//
// Check does not change the state; Update records an appended batch. When
// one append holds several batches of the same producer, the second must be
// checked after Update of the first (Kafka accepts only one batch per
// partition in a produce request).
func (s *ProducerState) Check(h BatchHeader) (*DuplicateBatch, error) {
	if !h.HasProducerID() {
		return nil, nil
	}
	e := s.producers[h.ProducerID]
	if e == nil {
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: unknown producer %d starts at sequence %d, want 0",
				ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence)
		}
		return nil, nil
	}
	if h.ProducerEpoch < e.epoch {
		return nil, fmt.Errorf("%w: producer %d epoch %d is older than the current %d",
			ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	if h.ProducerEpoch > e.epoch {
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d, want 0",
				ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil, nil
	}
	lastSeq := lastSequence(h)
	for _, b := range e.retained() {
		if b.firstSeq == h.BaseSequence && b.lastSeq == lastSeq {
			return &DuplicateBatch{FirstOffset: b.firstOffset, LastOffset: b.lastOffset}, nil
		}
	}
	expectedAfter := int32(-1) // no batch retained (only markers): start at 0
	if e.n > 0 {
		expectedAfter = e.batches[e.n-1].lastSeq
	}
	if !inSequence(expectedAfter, h.BaseSequence) {
		return nil, fmt.Errorf("%w: producer %d epoch %d sent sequence %d after %d",
			ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, expectedAfter)
	}
	return nil, nil
}

// Update records that the batch h was stored with its first record at
// firstOffset: after a successful append, and for each stored batch when a
// log is opened. A new epoch forgets the batches of the old one. A control
// batch (transaction marker) only updates the epoch: it has no sequence.
func (s *ProducerState) Update(h BatchHeader, firstOffset int64) {
	if !h.HasProducerID() {
		return
	}
	e := s.producers[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch}
		s.producers[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		e.epoch, e.n = h.ProducerEpoch, 0
	}
	e.lastTimestamp = h.MaxTimestamp
	if h.IsControl() {
		return
	}
	if e.n == retainedBatches {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = batchMetadata{
		firstSeq: h.BaseSequence, lastSeq: lastSequence(h),
		firstOffset: firstOffset, lastOffset: firstOffset + int64(h.LastOffsetDelta),
	}
	e.n++
}

// TruncateTo forgets the batches that end at or after offset, for a log
// truncated to offset. A producer with no batch left is forgotten entirely
// (its next batch must start at sequence 0); a log that must keep such
// producers rebuilds the state by replaying its batches into a new
// ProducerState instead.
func (s *ProducerState) TruncateTo(offset int64) {
	for id, e := range s.producers {
		kept := 0
		for _, b := range e.retained() {
			if b.lastOffset < offset {
				e.batches[kept] = b
				kept++
			}
		}
		removed := e.n - kept
		e.n = kept
		if kept == 0 && removed > 0 {
			delete(s.producers, id)
		}
	}
}
