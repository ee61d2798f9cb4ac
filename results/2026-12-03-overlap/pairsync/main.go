//go:build ignore

// Command pairsync asks directly whether a second fdatasync of a file, started while the first
// runs, returns sooner than "after the first, plus a whole sync". Every -every, it writes one
// record at the file's next offset and fdatasyncs it (sync A); in alternate iterations a second
// thread, -delay after A started, writes the next record and fdatasyncs it too (sync B). It
// reports A's duration when alone, A's and B's when paired, and B's return after A's (the gap):
// serialized commits give a gap near a lone sync's duration, a shared commit a gap near zero.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"runnel/loadgen"
)

func main() {
	n := flag.Int("n", 1000, "iterations (half alone, half paired)")
	every := flag.Duration("every", 10*time.Millisecond, "interval between iterations")
	delay := flag.Duration("delay", 100*time.Microsecond, "B starts this long after A")
	mode := flag.String("file", "falloc", "append, falloc or zeroed")
	dir := flag.String("dir", "/tmp", "directory for the file")
	size := flag.Int("size", 1024, "record size")
	flag.Parse()
	sz := int64(*size)
	total := int64(2 * *n)
	f, err := os.CreateTemp(*dir, "pairsync-*.dat")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fd := int(f.Fd())
	switch *mode {
	case "append":
	case "falloc":
		if err := unix.Fallocate(fd, 0, 0, total*sz); err != nil {
			log.Fatal(err)
		}
	case "zeroed":
		if _, err := unix.Pwrite(fd, make([]byte, total*sz), 0); err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("unknown -file %q", *mode)
	}
	if err := unix.Fsync(fd); err != nil {
		log.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	buf := make([]byte, sz)
	for i := range buf {
		buf[i] = 'a' + byte(i%16)
	}
	lone, pa, pb, gap := loadgen.NewHistogram(), loadgen.NewHistogram(), loadgen.NewHistogram(), loadgen.NewHistogram()
	var bFirst int64
	type bres struct{ t0, t1 time.Time }
	bStart := make(chan time.Time)
	bDone := make(chan bres)
	var off int64
	go func() { // sync B's thread
		runtime.LockOSThread()
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
		for at := range bStart {
			loadgen.SleepUntil(at)
			if _, err := unix.Pwrite(fd, buf, (off+1)*sz); err != nil {
				log.Fatal(err)
			}
			t0 := time.Now()
			if err := unix.Fdatasync(fd); err != nil {
				log.Fatal(err)
			}
			bDone <- bres{t0, time.Now()}
		}
	}()
	defer loadgen.PreciseThread()()
	next := time.Now()
	for i := 0; i < *n; i++ {
		next = next.Add(*every)
		loadgen.SleepUntil(next)
		paired := i%2 == 1
		if _, err := unix.Pwrite(fd, buf, off*sz); err != nil {
			log.Fatal(err)
		}
		t0 := time.Now()
		if paired {
			bStart <- t0.Add(*delay)
		}
		if err := unix.Fdatasync(fd); err != nil {
			log.Fatal(err)
		}
		t1 := time.Now()
		if !paired {
			loadgen.RecordLatency(lone, t1.Sub(t0))
			off++
			continue
		}
		b := <-bDone
		off += 2
		loadgen.RecordLatency(pa, t1.Sub(t0))
		loadgen.RecordLatency(pb, b.t1.Sub(b.t0))
		if b.t1.After(t1) {
			loadgen.RecordLatency(gap, b.t1.Sub(t1))
		} else {
			bFirst++
		}
	}
	var si unix.Sysinfo_t
	_ = unix.Sysinfo(&si)
	out := map[string]any{"file": *mode, "delay_us": delay.Microseconds(),
		"lone": loadgen.Summarize(lone), "paired_a": loadgen.Summarize(pa), "paired_b": loadgen.Summarize(pb),
		"gap_b_after_a": loadgen.Summarize(gap), "b_returned_first": bFirst, "load1": float64(si.Loads[0]) / 65536}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
