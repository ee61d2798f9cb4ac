package loadgen

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestSuffixCRCMatchesChecksum compares suffixCRC with crc32.Checksum over
// the whole, for heads that differ as an idempotent batch's do.
func TestSuffixCRCMatchesChecksum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 61, 4096, 1 << 20} {
		suffix := make([]byte, n)
		for i := range suffix {
			suffix[i] = byte(rng.Uint32())
		}
		x := newSuffixCRC(suffix)
		head := make([]byte, batchHeaderSize-batchCRCFrom)
		for range 50 {
			for i := range head {
				head[i] = byte(rng.Uint32())
			}
			whole := append(append([]byte(nil), head...), suffix...)
			if got, want := x.checksum(head), crc32.Checksum(whole, castagnoli); got != want {
				t.Fatalf("suffix of %d bytes: %08x, want %08x", n, got, want)
			}
		}
	}
}

func BenchmarkBatchCRC(b *testing.B) {
	batch := make([]byte, 1<<20)
	b.Run("whole", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		for b.Loop() {
			crc32.Checksum(batch[batchCRCFrom:], castagnoli)
		}
	})
	b.Run("suffix", func(b *testing.B) {
		x := newSuffixCRC(batch[batchHeaderSize:])
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		for b.Loop() {
			x.checksum(batch[batchCRCFrom:batchHeaderSize])
		}
	})
}
