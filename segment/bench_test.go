package segment_test

import (
	"fmt"
	"hash/crc32"
	"testing"

	"runnel/segment"
	"runnel/segment/segmenttest"
)

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"1MiB", 1 << 20}}

// benchBatch is one batch of about size bytes in 1 KiB records (one smaller
// record for the 1 KiB size).
func benchBatch(size int) []byte {
	const overhead = 61 + 10 // header, and a record's framing
	var records []segmenttest.Record
	for left := size - overhead; left > 0; left -= 1024 {
		records = append(records, segmenttest.Record{Value: make([]byte, min(left, 1024-10))})
	}
	return segmenttest.Batch(records)
}

// BenchmarkValidateBatches measures the append path's validation of a
// produce request's records; compare with BenchmarkCRC32CBaseline, the CRC
// of the same bytes alone.
func BenchmarkValidateBatches(b *testing.B) {
	for _, s := range benchSizes {
		batch := benchBatch(s.size)
		b.Run("size="+s.name, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			var records int64
			each := func(_ int, h segment.BatchHeader) error { records += int64(h.RecordCount); return nil }
			for b.Loop() {
				if err := segment.ValidateBatches(batch, each); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var sink uint32

// BenchmarkCRC32CBaseline is the raw cost ValidateBatches builds on:
// crc32.Checksum (Castagnoli) over the same batch bytes.
func BenchmarkCRC32CBaseline(b *testing.B) {
	table := crc32.MakeTable(crc32.Castagnoli)
	for _, s := range benchSizes {
		batch := benchBatch(s.size)
		b.Run("size="+s.name, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				sink = crc32.Checksum(batch[21:], table) // the bytes the CRC covers
			}
		})
	}
}

func TestBenchBatchSizes(t *testing.T) {
	for _, s := range benchSizes {
		if n := len(benchBatch(s.size)); n < s.size*9/10 || n > s.size {
			t.Errorf("%s batch is %d bytes", s.name, n)
		}
		if err := segment.ValidateBatches(benchBatch(s.size), nil); err != nil {
			t.Error(fmt.Errorf("%s: %w", s.name, err))
		}
	}
}
