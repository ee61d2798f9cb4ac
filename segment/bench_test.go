package segment_test

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// realisticBatch is a batch of about 16 KiB of records of recordSize bytes
// (key and value), JSON-like text that compresses about as log lines do,
// compressed with opts. It returns the batch and its uncompressed size.
func realisticBatch(recordSize int, opts ...segmenttest.Option) ([]byte, int) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"user", "order", "status", "shipped", "pending", "amount", "currency", "EUR", "region", "eu-west-1", "ts", "id"}
	var records []segmenttest.Record
	raw := 0
	for raw+recordSize <= 16<<10 {
		var v []byte
		for len(v) < recordSize-20 {
			v = fmt.Appendf(v, `"%s":"%s-%d",`, words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(100000))
		}
		v = v[:recordSize-20]
		key := fmt.Appendf(nil, "key-%08d", rng.IntN(1e8))
		records = append(records, segmenttest.Record{Key: key, Value: v, TimestampDelta: int64(len(records))})
		raw += recordSize
	}
	return segmenttest.Batch(records, opts...), raw
}

// BenchmarkValidateProducerBatch compares, in one run, today's header and
// CRC check (check=header: ValidateBatch) with the record validation of
// the produce path (check=records: ValidateProducerBatch) on 16 KiB of
// records of 1 KiB and of 100 bytes, for every codec. SetBytes is the
// uncompressed size, so MB/s is of records produced whatever the codec.
// cpu-ns/op is the thread's CPU time, which a busy machine disturbs less
// than the wall-clock ns/op.
func BenchmarkValidateProducerBatch(b *testing.B) {
	for _, size := range []int{1024, 100} {
		for _, c := range codecs {
			batch, raw := realisticBatch(size, c.opts...)
			for _, check := range []struct {
				name string
				f    func([]byte) (segment.BatchHeader, error)
			}{{"header", segment.ValidateBatch}, {"records", segment.ValidateProducerBatch}} {
				b.Run(fmt.Sprintf("record=%dB/codec=%s/check=%s", size, c.name, check.name), func(b *testing.B) {
					b.SetBytes(int64(raw))
					b.ReportAllocs()
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					start := threadCPU(b)
					for b.Loop() {
						if _, err := check.f(batch); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(threadCPU(b)-start)/float64(b.N), "cpu-ns/op")
					b.ReportMetric(float64(len(batch)), "batch-bytes")
				})
			}
		}
	}
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
