// Command madvcost measures what segment.releaseSynced costs: one MADV_DONTNEED of 1 MiB of
// synced pages of a MAP_SHARED file mapping.
package main

import (
	"fmt"
	"os"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// main maps a 256 MiB file, writes and fdatasyncs it, then times MADV_DONTNEED of each 1 MiB chunk.
func main() {
	const size, chunk = 256 << 20, 1 << 20
	f, err := os.CreateTemp("", "madvcost")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		panic(err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = byte(i)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		panic(err)
	}
	var d []time.Duration
	for off := 0; off < size; off += chunk {
		t := time.Now()
		if err := unix.Madvise(b[off:off+chunk], unix.MADV_DONTNEED); err != nil {
			panic(err)
		}
		d = append(d, time.Since(t))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	fmt.Printf("MADV_DONTNEED of 1 MiB of synced shared-mapping pages: n=%d median %v p90 %v max %v\n", len(d), d[len(d)/2], d[len(d)*9/10], d[len(d)-1])
}
