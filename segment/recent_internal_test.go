package segment

import "testing"

// TestRecentBatchesHoldTheLastFew: find answers for the last recentBatchCount batches noted,
// one append or several at a time, with their positions; not for older ones, not after clear,
// and not while the appender is changing them.
func TestRecentBatchesHoldTheLastFew(t *testing.T) {
	var r recentBatches
	batch := func(base int64, records int32, size int) BatchHeader {
		return BatchHeader{BaseOffset: base, LastOffsetDelta: records - 1, BatchLength: int32(size - 12)}
	}
	// 12 batches of 3 records and 100 bytes: 3 alone, then 9 in one append.
	var headers []BatchHeader
	for i := range 12 {
		headers = append(headers, batch(int64(3*i), 3, 100))
	}
	for i := range 3 {
		r.note(headers[i:i+1], int64(100*i))
	}
	r.note(headers[3:], 300)
	for i, h := range headers {
		for _, off := range []int64{h.BaseOffset, h.LastOffset()} {
			pos, base, last, size, ok := r.find(off)
			if i < 12-recentBatchCount {
				if ok {
					t.Errorf("find(%d) found batch %d, noted %d batches before the last %d", off, base, i, recentBatchCount)
				}
				continue
			}
			if !ok || pos != int64(100*i) || base != h.BaseOffset || last != h.LastOffset() || size != 100 {
				t.Errorf("find(%d) = pos %d base %d last %d size %d ok %v; want %d %d %d 100 true", off, pos, base, last, size, ok, 100*i, h.BaseOffset, h.LastOffset())
			}
		}
	}
	if _, _, _, _, ok := r.find(36); ok {
		t.Error("find(36), past the last batch, found one")
	}
	r.seq.Add(1) // as note does before it changes entries
	if _, _, _, _, ok := r.find(33); ok {
		t.Error("find answered while the entries were changing")
	}
	r.seq.Add(1)
	r.clear()
	if _, _, _, _, ok := r.find(33); ok {
		t.Error("find answered after clear")
	}
	r.note(headers[0:1], 0)
	if pos, _, _, _, ok := r.find(1); !ok || pos != 0 {
		t.Errorf("after clear and a note, find(1) = %d, %v; want 0, true", pos, ok)
	}
}
