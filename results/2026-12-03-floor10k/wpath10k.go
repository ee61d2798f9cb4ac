//go:build ignore

// Command wpath10k: the disk floor's loop (bench/floor.go: every record due gets its own 1 KiB
// write, then one fdatasync) at a fixed rate, for several ways a log can lay out its file, in
// turn, and the fdatasync's latency of each (µs). Usage: go run wpath10k.go DIR RATE SECONDS ROUNDS [burn]
// With "burn", two goroutines spin on other threads for the whole run (a broker's CPU).
package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const rec = 1024

func sleepUntil(t time.Time) {
	for {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		if d > 2*time.Millisecond {
			time.Sleep(d - 2*time.Millisecond)
			continue
		}
		ts := unix.NsecToTimespec(int64(d))
		unix.Nanosleep(&ts, nil)
	}
}

func q(x []time.Duration) string {
	sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
	n := len(x)
	if n == 0 {
		return "-"
	}
	var sum time.Duration
	for _, d := range x {
		sum += d
	}
	return fmt.Sprintf("n %6d mean %5.0f p50 %5.0f p90 %5.0f p99 %6.0f", n, float64(sum.Microseconds())/float64(n), float64(x[n/2].Microseconds()), float64(x[n*9/10].Microseconds()), float64(x[n*99/100].Microseconds()))
}

type layout struct {
	name string
	mm   bool
	prep string // fallocate, keepsize, none, zeros
	rnd  bool   // MADV_RANDOM on the mapping before the pre-fault: no readahead, page-sized folios
	all  bool   // pre-fault the whole file (as the segment's pre-fault goroutine gets to), not 8 MiB
}

// writeBytes is this process's write_bytes from /proc/self/io: bytes it caused to be sent to
// the storage layer (dirtied page cache, counted when dirtied, by folio).
func writeBytes() int64 {
	b, _ := os.ReadFile("/proc/self/io")
	var v int64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "write_bytes: ") {
			v, _ = strconv.ParseInt(strings.TrimPrefix(line, "write_bytes: "), 10, 64)
		}
	}
	return v
}

func run(dir string, l layout, rate float64, secs float64) (s []time.Duration, recsPerSync, amp float64) {
	f, _ := os.CreateTemp(dir, "wp-*")
	defer os.Remove(f.Name())
	defer f.Close()
	total := int64(rate * secs)
	size := (total*rec + 1<<20) &^ (1<<20 - 1)
	fd := int(f.Fd())
	switch l.prep {
	case "fallocate":
		unix.Fallocate(fd, 0, 0, size)
	case "keepsize":
		unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 0, size)
	case "zeros":
		z := make([]byte, 1<<20)
		for off := int64(0); off < size; off += 1 << 20 {
			unix.Pwrite(fd, z, off)
		}
	case "none":
	}
	unix.Fdatasync(fd)
	if l.prep == "zeros" && l.rnd {
		// drop the zeros' large folios, so that the mapping's faults make page-sized ones
		unix.Fadvise(fd, 0, size, unix.FADV_DONTNEED)
	}
	var m []byte
	if l.mm {
		m, _ = unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		defer unix.Munmap(m)
		if l.rnd {
			unix.Madvise(m, unix.MADV_RANDOM)
		}
		if l.all {
			unix.Madvise(m, unix.MADV_POPULATE_READ)
		} else {
			unix.Madvise(m[:min(int(size), 8<<20)], unix.MADV_POPULATE_READ)
		}
	}
	buf := make([]byte, rec)
	for i := range buf {
		buf[i] = byte('a' + i%16)
	}
	interval := float64(time.Second) / rate
	wb0 := writeBytes()
	start := time.Now()
	due := func(i int64) time.Time { return start.Add(time.Duration(float64(i) * interval)) }
	var syncs int64
	for next := int64(0); next < total; {
		sleepUntil(due(next))
		now := time.Now()
		for ; next < total && !due(next).After(now); next++ {
			off := next * rec
			if l.mm {
				copy(m[off:], buf)
			} else {
				unix.Pwrite(fd, buf, off)
			}
		}
		t1 := time.Now()
		unix.Fdatasync(fd)
		s = append(s, time.Since(t1))
		syncs++
	}
	return s, float64(total) / float64(syncs), float64(writeBytes()-wb0) / float64(total*rec)
}

func main() {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	dir := os.Args[1]
	rate, _ := strconv.ParseFloat(os.Args[2], 64)
	secs, _ := strconv.ParseFloat(os.Args[3], 64)
	rounds, _ := strconv.Atoi(os.Args[4])
	if len(os.Args) > 5 && os.Args[5] == "burn" {
		for i := 0; i < 2; i++ {
			go func() {
				runtime.LockOSThread()
				x := 0
				for {
					x++
					if x%1000000 == 0 {
						runtime.Gosched()
					}
				}
			}()
		}
	}
	vs := []layout{
		{"pwrite/fallocated (floor)", false, "fallocate", false, false},
		{"mmap/fallocated/8MiB", true, "fallocate", false, false},
		{"mmap/fallocated/8MiB/MADV_RANDOM", true, "fallocate", true, false},
		{"mmap/fallocated/all (segment)", true, "fallocate", false, true},
		{"mmap/fallocated/all/RANDOM (fix)", true, "fallocate", true, true},
		{"pwrite/keepsize", false, "keepsize", false, false},
		{"pwrite/extending", false, "none", false, false},
		{"pwrite/zeros-written", false, "zeros", false, false},
		{"mmap/zeros-written", true, "zeros", false, false},
		{"mmap/zeros-written/all/RANDOM", true, "zeros", true, true},
	}
	all := map[string][]time.Duration{}
	for round := 0; round < rounds; round++ {
		for _, x := range vs {
			if only := os.Getenv("ONLY"); only != "" && !slices.ContainsFunc(strings.Split(only, "|"), func(o string) bool { return strings.Contains(x.name, o) }) {
				continue
			}
			s, per, amp := run(dir, x, rate, secs)
			all[x.name] = append(all[x.name], s...)
			fmt.Printf("round %d %-32s rec/sync %4.2f written/appended %5.2f fdatasync %s\n", round, x.name, per, amp, q(append([]time.Duration(nil), s...)))
		}
	}
	for _, x := range vs {
		fmt.Printf("ALL %-32s fdatasync us %s\n", x.name, q(all[x.name]))
	}
}
