package quorum

import (
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"

	"runnel/segment"
)

// EntryBatches returns the log's batches of the entries [lo, hi) as the log holds them (doc.go:
// one batch per entry, at offset index-1): at least one, then no more than maxBytes in all.
// raft.ErrCompacted means lo is below the first index the log still holds (FirstIndex).
// It is how the controller serves the committed log to brokers that follow it.
func (s *Storage) EntryBatches(lo, hi uint64, maxBytes int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkRange(lo, hi); err != nil {
		return nil, err
	}
	var out []byte
	err := s.scan(int64(lo)-1, int64(hi)-1, func(h segment.BatchHeader, batch []byte) (bool, error) {
		if len(out) > 0 && len(out)+len(batch) > maxBytes {
			return false, nil
		}
		out = append(out, batch...)
		return true, nil
	})
	return out, err
}

// DecodeEntryBatches decodes the entries stored in b, batches as EntryBatches returns them,
// each checked (CRC-32C included) as bytes from the network must be. A batch cut short at the
// end is ignored, as Kafka's clients ignore one; any other batch that is not an entry is an
// error.
func DecodeEntryBatches(b []byte) ([]*pb.Entry, error) {
	var out []*pb.Entry
	for p := 0; p+segment.BatchHeaderSize <= len(b); {
		h, err := segment.ParseBatchHeader(b[p:])
		if err != nil {
			return nil, fmt.Errorf("quorum: entry batch at byte %d: %w", p, err)
		}
		if p+h.Size() > len(b) {
			break
		}
		if _, err := segment.ValidateBatch(b[p : p+h.Size()]); err != nil {
			return nil, fmt.Errorf("quorum: entry batch at offset %d: %w", h.BaseOffset, err)
		}
		if h.LastOffsetDelta != 0 || h.PartitionLeaderEpoch < 0 {
			return nil, fmt.Errorf("quorum: batch at offset %d is not an entry", h.BaseOffset)
		}
		e, err := DecodeEntry(h, b[p:p+h.Size()])
		if err != nil {
			return nil, fmt.Errorf("quorum: entry batch at offset %d: %w", h.BaseOffset, err)
		}
		out = append(out, e)
		p += h.Size()
	}
	return out, nil
}
