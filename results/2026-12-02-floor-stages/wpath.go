//go:build ignore

// Command wpath: one 1 KiB record per fdatasync at a fixed rate, written four ways, in turn:
// pwrite or a copy through a MAP_SHARED mapping (pre-faulted with MADV_POPULATE_READ, as the
// segment does), into a fallocated (unwritten-extent) file or one written with zeros first.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
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
	return fmt.Sprintf("p50 %4.0f p90 %5.0f p99 %5.0f", float64(x[n/2].Microseconds()), float64(x[n*9/10].Microseconds()), float64(x[n*99/100].Microseconds()))
}

func run(dir string, mmapped, prewritten bool, n int, rate float64) (w, s []time.Duration) {
	f, _ := os.CreateTemp(dir, "wp-*")
	defer os.Remove(f.Name())
	defer f.Close()
	size := int64(64 << 20)
	fd := int(f.Fd())
	if prewritten {
		z := make([]byte, 1<<20)
		for off := int64(0); off < size; off += 1 << 20 {
			unix.Pwrite(fd, z, off)
		}
	} else {
		unix.Fallocate(fd, 0, 0, size)
	}
	unix.Fdatasync(fd)
	var m []byte
	if mmapped {
		m, _ = unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		defer unix.Munmap(m)
		unix.Madvise(m[:8<<20], unix.MADV_POPULATE_READ)
	}
	buf := make([]byte, rec)
	for i := range buf {
		buf[i] = byte('a' + i%16)
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; i < n; i++ {
		sleepUntil(start.Add(time.Duration(i) * interval))
		t0 := time.Now()
		off := int64(i) * rec
		if mmapped {
			copy(m[off:], buf)
		} else {
			unix.Pwrite(fd, buf, off)
		}
		t1 := time.Now()
		unix.Fdatasync(fd)
		t2 := time.Now()
		w = append(w, t1.Sub(t0))
		s = append(s, t2.Sub(t1))
	}
	return
}

func main() {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	dir := os.Args[1]
	type v struct {
		name    string
		mm, pre bool
	}
	vs := []v{{"pwrite/fallocated (floor)", false, false}, {"mmap/fallocated (segment)", true, false}, {"pwrite/prewritten", false, true}, {"mmap/prewritten", true, true}}
	all := map[string][2][]time.Duration{}
	for round := 0; round < 4; round++ {
		for _, x := range vs {
			w, s := run(dir, x.mm, x.pre, 3000, 1000)
			a := all[x.name]
			a[0] = append(a[0], w...)
			a[1] = append(a[1], s...)
			all[x.name] = a
			fmt.Printf("round %d %-28s write %s | fdatasync %s\n", round, x.name, q(append([]time.Duration(nil), w...)), q(append([]time.Duration(nil), s...)))
		}
	}
	for _, x := range vs {
		a := all[x.name]
		fmt.Printf("ALL %-28s write us %s | fdatasync us %s\n", x.name, q(a[0]), q(a[1]))
	}
}
