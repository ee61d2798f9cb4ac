package segment_test

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

func TestBuildBatch(t *testing.T) {
	recs := []segment.KeyValue{
		{Key: []byte("k0"), Value: []byte("v0")},
		{Key: []byte("tombstone")},              // nil value
		{Value: bytes.Repeat([]byte("x"), 300)}, // nil key, multi-byte varint length
		{Key: []byte{}, Value: []byte{}},        // empty, not null
	}
	prefix := []byte("prefix")
	b := segment.BuildBatch(append([]byte(nil), prefix...), 1700000000123, recs)
	if !bytes.Equal(b[:len(prefix)], prefix) {
		t.Fatalf("prefix overwritten")
	}
	batch := b[len(prefix):]
	h, err := segment.ValidateBatch(batch)
	if err != nil {
		t.Fatalf("ValidateBatch: %v", err)
	}
	if h.Size() != len(batch) || h.RecordCount != 4 || h.LastOffsetDelta != 3 || h.ProducerID != segment.NoProducerID || h.Codec() != segment.CodecNone {
		t.Fatalf("header %+v", h)
	}
	got, err := segment.Records(batch)
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	for i, r := range got {
		if r.Offset != int64(i) || r.Timestamp != 1700000000123 || !bytes.Equal(r.Key, recs[i].Key) || !bytes.Equal(r.Value, recs[i].Value) ||
			(r.Key == nil) != (recs[i].Key == nil) || (r.Value == nil) != (recs[i].Value == nil) {
			t.Errorf("record %d: got %+v, want %+v", i, r, recs[i])
		}
	}
	// An independent decoder agrees on the header.
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(batch); err != nil {
		t.Fatalf("kmsg: %v", err)
	}
	if kb.NumRecords != 4 || kb.FirstTimestamp != 1700000000123 || kb.MaxTimestamp != 1700000000123 || kb.Magic != 2 || kb.PartitionLeaderEpoch != -1 {
		t.Fatalf("kmsg header %+v", kb)
	}
}
