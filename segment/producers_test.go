package segment

import (
	"errors"
	"math"
	"testing"
)

// producerBatch is the header of a batch of n records from producer id.
func producerBatch(id int64, epoch int16, seq int32, n int32) BatchHeader {
	return BatchHeader{ProducerID: id, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, RecordCount: n, Magic: 2}
}

func TestProducerState(t *testing.T) {
	type step struct {
		h       BatchHeader
		wantErr error
		wantDup *DuplicateBatch // duplicate of the batch stored at these offsets
	}
	// Each step is checked; if it passes (no error, no duplicate) it is
	// appended at the log end offset, which starts at 100.
	tests := []struct {
		name  string
		steps []step
	}{
		{"non-idempotent skips checks", []step{
			{h: producerBatch(NoProducerID, -1, -1, 3)},
			{h: producerBatch(NoProducerID, -1, -1, 3)},
		}},
		{"in order", []step{
			{h: producerBatch(1, 0, 0, 3)},
			{h: producerBatch(1, 0, 3, 2)},
			{h: producerBatch(1, 0, 5, 1)},
		}},
		{"unknown producer must start at 0", []step{
			{h: producerBatch(1, 0, 5, 1), wantErr: ErrOutOfOrderSequence},
			{h: producerBatch(1, 3, 1, 1), wantErr: ErrOutOfOrderSequence},
			{h: producerBatch(1, 3, 0, 1)},
		}},
		{"gap", []step{
			{h: producerBatch(1, 0, 0, 3)},
			{h: producerBatch(1, 0, 4, 1), wantErr: ErrOutOfOrderSequence},
			{h: producerBatch(1, 0, 3, 1)},
		}},
		{"overlap that is no duplicate", []step{
			{h: producerBatch(1, 0, 0, 3)},
			{h: producerBatch(1, 0, 1, 3), wantErr: ErrOutOfOrderSequence},
			{h: producerBatch(1, 0, 0, 2), wantErr: ErrOutOfOrderSequence},
		}},
		{"duplicate of last", []step{
			{h: producerBatch(1, 0, 0, 3)},
			{h: producerBatch(1, 0, 0, 3), wantDup: &DuplicateBatch{100, 102}},
		}},
		{"duplicate of each of the last five", []step{
			{h: producerBatch(1, 0, 0, 1)},
			{h: producerBatch(1, 0, 1, 1)},
			{h: producerBatch(1, 0, 2, 1)},
			{h: producerBatch(1, 0, 3, 1)},
			{h: producerBatch(1, 0, 4, 1)},
			{h: producerBatch(1, 0, 5, 1)},
			{h: producerBatch(1, 0, 0, 1), wantErr: ErrOutOfOrderSequence}, // sixth back: forgotten
			{h: producerBatch(1, 0, 1, 1), wantDup: &DuplicateBatch{101, 101}},
			{h: producerBatch(1, 0, 3, 1), wantDup: &DuplicateBatch{103, 103}},
			{h: producerBatch(1, 0, 5, 1), wantDup: &DuplicateBatch{105, 105}},
		}},
		{"producers are independent", []step{
			{h: producerBatch(1, 0, 0, 2)},
			{h: producerBatch(2, 0, 0, 2)},
			{h: producerBatch(1, 0, 2, 1)},
			{h: producerBatch(2, 0, 0, 2), wantDup: &DuplicateBatch{102, 103}},
			{h: producerBatch(NoProducerID, -1, -1, 2)},
			{h: producerBatch(2, 0, 2, 1)},
		}},
		{"older epoch is fenced", []step{
			{h: producerBatch(1, 5, 0, 2)},
			{h: producerBatch(1, 4, 2, 1), wantErr: ErrInvalidProducerEpoch},
			{h: producerBatch(1, 4, 0, 2), wantErr: ErrInvalidProducerEpoch}, // not a duplicate across epochs
		}},
		{"new epoch starts at 0", []step{
			{h: producerBatch(1, 0, 0, 2)},
			{h: producerBatch(1, 1, 2, 1), wantErr: ErrOutOfOrderSequence},
			{h: producerBatch(1, 1, 0, 1)},
			{h: producerBatch(1, 0, 2, 1), wantErr: ErrInvalidProducerEpoch},
			{h: producerBatch(1, 1, 0, 1), wantDup: &DuplicateBatch{102, 102}},
			{h: producerBatch(1, 1, 1, 1)},
		}},
		{"new epoch forgets old batches", []step{
			{h: producerBatch(1, 0, 0, 2)},
			{h: producerBatch(1, 1, 0, 2)},
			{h: producerBatch(1, 1, 0, 2), wantDup: &DuplicateBatch{102, 103}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewProducerState()
			end := int64(100)
			for i, st := range tt.steps {
				dup, err := s.Check(st.h)
				if !errors.Is(err, st.wantErr) || (err == nil) != (st.wantErr == nil) {
					t.Fatalf("step %d: err = %v, want %v", i, err, st.wantErr)
				}
				switch {
				case st.wantDup == nil && dup != nil:
					t.Fatalf("step %d: duplicate of %+v, want none", i, *dup)
				case st.wantDup != nil && (dup == nil || *dup != *st.wantDup):
					t.Fatalf("step %d: duplicate %v, want %+v", i, dup, *st.wantDup)
				}
				if err == nil && dup == nil {
					s.Update(st.h, end)
					end += int64(st.h.RecordCount)
				}
			}
		})
	}
}

func TestProducerSequenceWrap(t *testing.T) {
	s := NewProducerState()
	// Replay (Update without Check) of a batch ending at MaxInt32.
	s.Update(producerBatch(1, 0, math.MaxInt32-2, 3), 0)
	if _, err := s.Check(producerBatch(1, 0, math.MaxInt32, 1)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence MaxInt32 again: %v, want out of order", err)
	}
	// A batch wrapping past MaxInt32: sequences MaxInt32-... then 0, 1.
	wrap := producerBatch(1, 0, 0, 2)
	if dup, err := s.Check(wrap); dup != nil || err != nil {
		t.Fatalf("sequence 0 after MaxInt32: %v %v, want accepted", dup, err)
	}
	s.Update(wrap, 3)
	s.Update(producerBatch(1, 0, math.MaxInt32, 3), 5) // ends at sequence 1
	if got := lastSequence(producerBatch(1, 0, math.MaxInt32, 3)); got != 1 {
		t.Fatalf("last sequence of 3 records from MaxInt32 = %d, want 1", got)
	}
	if dup, err := s.Check(producerBatch(1, 0, 2, 1)); dup != nil || err != nil {
		t.Fatalf("sequence 2 after a wrapped batch: %v %v", dup, err)
	}
	if dup, _ := s.Check(producerBatch(1, 0, math.MaxInt32, 3)); dup == nil || *dup != (DuplicateBatch{5, 7}) {
		t.Fatalf("wrapped batch retried: duplicate %v, want {5 7}", dup)
	}
}

func TestProducerControlBatch(t *testing.T) {
	s := NewProducerState()
	s.Update(producerBatch(1, 0, 0, 2), 0)
	marker := producerBatch(1, 1, -1, 1)
	marker.Attributes = attrControl | attrTransactional
	s.Update(marker, 2) // the coordinator bumped the epoch with a marker
	if _, err := s.Check(producerBatch(1, 0, 2, 1)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch after marker: %v", err)
	}
	if _, err := s.Check(producerBatch(1, 1, 0, 1)); err != nil {
		t.Fatalf("new epoch at 0 after marker: %v", err)
	}
	s.TruncateTo(0) // a producer with only a marker has nothing to truncate
	if _, err := s.Check(producerBatch(1, 0, 0, 1)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("producer forgotten by a truncation that removed none of its batches: %v", err)
	}
}

func TestProducerTruncateTo(t *testing.T) {
	s := NewProducerState()
	s.Update(producerBatch(1, 0, 0, 2), 0) // offsets 0-1
	s.Update(producerBatch(2, 0, 0, 2), 2) // 2-3
	s.Update(producerBatch(1, 0, 2, 2), 4) // 4-5
	s.Update(producerBatch(1, 0, 4, 2), 6) // 6-7
	s.TruncateTo(4)
	if _, err := s.Check(producerBatch(1, 0, 2, 2)); err != nil {
		t.Fatalf("producer 1 after truncation to 4 must continue at sequence 2: %v", err)
	}
	if dup, _ := s.Check(producerBatch(1, 0, 0, 2)); dup == nil || *dup != (DuplicateBatch{0, 1}) {
		t.Fatalf("batch before the truncation point: duplicate %v", dup)
	}
	s.TruncateTo(2)
	if dup, err := s.Check(producerBatch(2, 0, 0, 2)); dup != nil || err != nil {
		t.Fatalf("producer 2 truncated away must be new again: %v %v", dup, err)
	}
	if _, err := s.Check(producerBatch(2, 0, 2, 2)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("forgotten producer at sequence 2: %v", err)
	}
}

func TestProducerStateAllocs(t *testing.T) {
	s := NewProducerState()
	s.Update(producerBatch(1, 0, 0, 1), 0)
	seq, off := int32(1), int64(1)
	allocs := testing.AllocsPerRun(100, func() {
		h := producerBatch(1, 0, seq, 1)
		if dup, err := s.Check(h); dup != nil || err != nil {
			t.Fatal(dup, err)
		}
		s.Update(h, off)
		seq++
		off++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Check+Update of a known producer, want 0", allocs)
	}
}
