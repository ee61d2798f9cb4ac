package index

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkAppendManyAfterWriteback appends one entry to each of many offset indexes in turn
// (one round), as a broker's appends to many partitions do (issue 16), with the rounds
// separated by a syncfs of the indexes' file system or not. syncfs writes the dirty index
// pages back and write-protects them, so that the next store into each takes a page fault
// (ext4's page_mkwrite: a journal handle and the file's mtime): at 1,000 partitions synced by
// syncfs groups every few appends, nearly every index store. Only the appends are timed.
func BenchmarkAppendManyAfterWriteback(b *testing.B) {
	for _, n := range []int{8, 1000} {
		for _, clean := range []string{"none", "syncfs"} {
			b.Run("indexes="+strconv.Itoa(n)+"/writeback="+clean, func(b *testing.B) {
				dir := b.TempDir()
				xs := make([]*OffsetIndex, n)
				for i := range xs {
					xs[i] = openOffset(b, filepath.Join(dir, strconv.Itoa(i)+".index"), 0, 1<<20, true)
				}
				d, err := os.Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				defer d.Close()
				b.SetBytes(OffsetEntrySize)
				b.ReportAllocs()
				next := int64(0)
				for b.Loop() {
					for _, x := range xs {
						if x.IsFull() {
							x.Reset()
						}
						if err := x.Append(next, uint32(next)); err != nil {
							b.Fatal(err)
						}
					}
					next++
					if clean == "syncfs" {
						b.StopTimer()
						if err := unix.Syncfs(int(d.Fd())); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/append")
			})
		}
	}
}
