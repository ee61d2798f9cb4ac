//go:build ignore

// Command syncpattern times fdatasync(2) alone for the write patterns of the
// latency floor: the disk floor's (1 KiB pwrites at 1 KiB-aligned offsets) and
// the broker's (one pwrite per produce request, ~1.1 KiB batches at unaligned
// offsets), with the same bytes per sync or the broker's, into a fallocated
// (unwritten-extent) file or one written beforehand. Patterns run in
// alternating rounds so that the machine's load falls on each alike.
//
//	go run results/2026-12-03-floor/syncpattern.go -dir /tmp/x -rounds 10 -syncs 300
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

type pattern struct {
	name    string
	size    int  // bytes per pwrite
	perSync int  // pwrites per fdatasync
	written bool // the range was written and synced beforehand (no unwritten extents)
	gap     time.Duration
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the file system to test")
	rounds := flag.Int("rounds", 10, "rounds (each runs every pattern once)")
	syncs := flag.Int("syncs", 300, "fdatasyncs per pattern per round")
	flag.Parse()
	pats := []pattern{
		{"floor: 2x1024 B aligned", 1024, 2, false, 0},
		{"broker: 2x1100 B unaligned", 1100, 2, false, 0},
		{"broker: 3x1100 B unaligned", 1100, 3, false, 0},
		{"floor: 2x1024 B aligned, prewritten", 1024, 2, true, 0},
		{"broker: 2x1100 B unaligned, prewritten", 1100, 2, true, 0},
	}
	runtime.LockOSThread()
	res := make([][]time.Duration, len(pats))
	for r := 0; r < *rounds; r++ {
		for i, p := range pats {
			res[i] = append(res[i], run(*dir, p, *syncs)...)
		}
	}
	fmt.Printf("| pattern | syncs | p50 (ms) | p90 (ms) | p99 (ms) | mean (ms) |\n|---|---:|---:|---:|---:|---:|\n")
	for i, p := range pats {
		d := res[i]
		slices.Sort(d)
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		q := func(f float64) float64 { return float64(d[int(f*float64(len(d)-1))]) / 1e6 }
		fmt.Printf("| %s | %d | %.3f | %.3f | %.3f | %.3f |\n", p.name, len(d), q(.5), q(.9), q(.99), float64(sum)/float64(len(d))/1e6)
	}
}

func run(dir string, p pattern, syncs int) []time.Duration {
	total := int64(p.size*p.perSync*syncs) + 1<<20
	f, err := os.CreateTemp(dir, "syncpattern-*")
	check(err)
	defer os.Remove(filepath.Clean(f.Name()))
	defer f.Close()
	fd := int(f.Fd())
	check(unix.Fallocate(fd, 0, 0, total))
	if p.written {
		zero := make([]byte, 1<<20)
		for off := int64(0); off < total; off += int64(len(zero)) {
			_, err := unix.Pwrite(fd, zero, off)
			check(err)
		}
	}
	check(unix.Fdatasync(fd))
	buf := make([]byte, p.size)
	for i := range buf {
		buf[i] = 'a' + byte(i%16)
	}
	out := make([]time.Duration, 0, syncs)
	off := int64(0)
	for range syncs {
		for range p.perSync {
			_, err := unix.Pwrite(fd, buf, off)
			check(err)
			off += int64(p.size)
		}
		t := time.Now()
		check(unix.Fdatasync(fd))
		out = append(out, time.Since(t))
		time.Sleep(100 * time.Microsecond)
	}
	return out
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
