package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
)

// Lookup benchmarks: entries=N up to a full 10 MiB index (segment.index.bytes), each with
// "warm" targets (offsets in the last 8 KiB of entries: consumers that keep up) and "cold"
// targets (uniform over the whole index), each beside its baseline: sort.Search over an
// in-memory slice of the same keys with the same targets. Offset lookups also run over a heap
// copy of the index bytes, to tell the mapping's cost from the format's (8- and 12-byte entries
// spread the keys over 2-3x the cache lines of a []uint32). Lookups move no bytes, so these
// report ns/op and allocs/op but no bytes/s.
//
//	go test ./index -run '^$' -bench . -benchtime 1s -count 10 | benchstat -

// sink keeps lookup results alive so the compiler cannot drop the calls.
var sink int64

// lookupTargets returns 4096 targets drawn from keys: uniform (cold) or from the keys in the
// last warmBytes of entries (warm), each plus 0 or 1 so that both exact hits and misses occur.
func lookupTargets(r *rand.Rand, keys []int64, entrySize int, warm bool) []int64 {
	lo := 0
	if warm {
		lo = max(0, len(keys)-warmBytes/entrySize)
	}
	targets := make([]int64, 4096)
	for i := range targets {
		targets[i] = keys[lo+r.IntN(len(keys)-lo)] + r.Int64N(2)
	}
	return targets
}

func BenchmarkOffsetLookup(b *testing.B) {
	for _, n := range []int{1000, 100_000, 10 << 20 / OffsetEntrySize} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			const base = 1 << 32
			x := openOffset(b, filepath.Join(b.TempDir(), "x.index"), base, n*OffsetEntrySize, true)
			r := rand.New(rand.NewPCG(1, 1))
			keys := make([]int64, n) // absolute offsets
			rels := make([]uint32, n)
			for i := range n {
				rels[i] = uint32(3*i + r.IntN(3))
				keys[i] = base + int64(rels[i])
				if err := x.Append(keys[i], uint32(i)*1000); err != nil {
					b.Fatal(err)
				}
			}
			// The same bytes searched by the same code, but in the Go heap: what the mapping
			// itself costs (page faults are gone after the first pass; TLB misses are not).
			heap := &file{base: base, entrySize: OffsetEntrySize, warmEntries: x.x.warmEntries, b: bytes.Clone(x.x.b), capacity: n}
			heap.count.Store(int64(n))
			inHeap := &OffsetIndex{x: heap}
			for _, temp := range []string{"warm", "cold"} {
				targets := lookupTargets(r, keys, OffsetEntrySize, temp == "warm")
				for _, v := range []struct {
					name string
					x    *OffsetIndex
				}{{"index", x}, {"index-in-heap", inHeap}} {
					b.Run(temp+"/"+v.name, func(b *testing.B) {
						b.ReportAllocs()
						for i := 0; b.Loop(); i++ {
							offset, _ := v.x.Lookup(targets[i&4095])
							sink += offset
						}
					})
				}
				b.Run(temp+"/sort.Search", func(b *testing.B) {
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						rel := uint32(targets[i&4095] - base)
						j := sort.Search(len(rels), func(j int) bool { return rels[j] > rel }) - 1
						sink += int64(j)
					}
				})
			}
		})
	}
}

func BenchmarkTimeLookup(b *testing.B) {
	for _, n := range []int{1000, 100_000, 10 << 20 / TimeEntrySize} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			const base = 1 << 32
			x := openTime(b, filepath.Join(b.TempDir(), "x.timeindex"), base, n*TimeEntrySize, true)
			r := rand.New(rand.NewPCG(1, 2))
			keys := make([]int64, n) // timestamps
			timestamp := int64(1_700_000_000_000)
			for i := range n {
				timestamp += 1 + r.Int64N(100)
				keys[i] = timestamp
				if err := x.MaybeAppend(timestamp, base+int64(i)*3); err != nil {
					b.Fatal(err)
				}
			}
			for _, temp := range []string{"warm", "cold"} {
				targets := lookupTargets(r, keys, TimeEntrySize, temp == "warm")
				b.Run(temp+"/index", func(b *testing.B) {
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						ts, _ := x.Lookup(targets[i&4095])
						sink += ts
					}
				})
				b.Run(temp+"/sort.Search", func(b *testing.B) {
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						target := targets[i&4095]
						j := sort.Search(len(keys), func(j int) bool { return keys[j] > target }) - 1
						sink += int64(j)
					}
				})
			}
		})
	}
}

// BenchmarkAppend appends to a 10 MiB index, resetting it when full, beside the raw baseline:
// the same big-endian stores into a heap slice.
func BenchmarkAppend(b *testing.B) {
	const maxBytes = 10 << 20
	b.Run("offset/index", func(b *testing.B) {
		x := openOffset(b, filepath.Join(b.TempDir(), "x.index"), 0, maxBytes, true)
		b.SetBytes(OffsetEntrySize)
		b.ReportAllocs()
		for i := int64(0); b.Loop(); i++ {
			if x.IsFull() {
				x.Reset()
				i = 0
			}
			if err := x.Append(i, uint32(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("time/index", func(b *testing.B) {
		x := openTime(b, filepath.Join(b.TempDir(), "x.timeindex"), 0, maxBytes, true)
		b.SetBytes(TimeEntrySize)
		b.ReportAllocs()
		for i := int64(0); b.Loop(); i++ {
			if x.IsFull() {
				x.Reset()
				i = 0
			}
			if err := x.MaybeAppend(i, i); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("offset/slice", func(b *testing.B) {
		buf := make([]byte, maxBytes)
		b.SetBytes(OffsetEntrySize)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p := i % (maxBytes / OffsetEntrySize) * OffsetEntrySize
			binary.BigEndian.PutUint32(buf[p:p+4], uint32(i))
			binary.BigEndian.PutUint32(buf[p+4:p+8], uint32(i))
		}
		sink += int64(buf[0])
	})
}
