//go:build ignore

// Command overlapsync measures whether fdatasyncs of one file that overlap in time finish sooner
// than one after the other: the latency floor scenarios' disk floor (1 KiB pwrite + fdatasync at
// a fixed rate, open loop, latency from each record's due time to the return of a sync that
// started after its write), with up to k syncs of the file in flight at once.
//
// Policies: -k 1 is Runnel's group commit (a record written during a sync waits for it, then the
// next sync covers every record waiting); -k 2 and -k 4 start another sync at once when a record
// is written while fewer than k run; a sync covers every record written before it started, and a
// record is acknowledged when such a sync returns (the durable end only moves up). -k 0 is the
// harness's own disk floor loop (bench/floor.go): write what is due, fdatasync inline.
//
// Files: append (a new file grown by each write), falloc (fallocate(2) of the whole run first,
// as Runnel's segments and the harness floor: unwritten extents, converted by each sync's
// journal commit), zeroed (the whole run written with zeros and synced first: overwrites, no
// metadata for fdatasync to commit).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"runnel/loadgen"
)

type result struct {
	Policy      string              `json:"policy"`
	File        string              `json:"file"`
	Rate        float64             `json:"rate"`
	Seconds     float64             `json:"seconds"`
	Records     int64               `json:"records"`
	Latency     loadgen.Percentiles `json:"latency"`
	SyncsPerSec float64             `json:"syncs_per_sec"`
	PerSync     float64             `json:"records_per_sync"`
	CPUPerRec   float64             `json:"cpu_us_per_record"`
	SyncLone    loadgen.Percentiles `json:"sync_lone"`    // syncs started with none in flight
	SyncOver    loadgen.Percentiles `json:"sync_overlap"` // syncs started while another ran
	OverGap     loadgen.Percentiles `json:"overlap_gap"`  // an overlapped sync's return after the previous return
	OverFrac    float64             `json:"overlap_frac"` // share of syncs started while another ran
	OutOfOrder  int64               `json:"out_of_order"` // syncs that returned after a later-started one
	Load1       float64             `json:"load1"`
}

func main() {
	rate := flag.Float64("rate", 10000, "records per second")
	dur := flag.Duration("dur", 10*time.Second, "measured duration")
	warm := flag.Duration("warmup", time.Second, "warm-up, not counted")
	k := flag.Int("k", 1, "syncs in flight per file (0: the harness's inline floor loop)")
	mode := flag.String("file", "falloc", "append, falloc or zeroed")
	dir := flag.String("dir", "/tmp", "directory for the file")
	size := flag.Int("size", 1024, "record size")
	flag.Parse()

	total := int64(*rate * (*warm + *dur).Seconds())
	sz := int64(*size)
	f, err := os.CreateTemp(*dir, "overlapsync-*.dat")
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
		zero := make([]byte, 1<<20)
		for off := int64(0); off < total*sz; off += int64(len(zero)) {
			if _, err := unix.Pwrite(fd, zero, off); err != nil {
				log.Fatal(err)
			}
		}
	default:
		log.Fatalf("unknown -file %q", *mode)
	}
	if err := unix.Fdatasync(fd); err != nil {
		log.Fatal(err)
	}
	_ = unix.Fsync(fd)
	time.Sleep(500 * time.Millisecond) // let the preparation's writeback and commit settle

	buf := make([]byte, sz)
	for i := range buf {
		buf[i] = 'a' + byte(i%16)
	}
	interval := float64(time.Second) / *rate
	start := time.Now()
	measureStart := start.Add(*warm)
	due := func(i int64) time.Time { return start.Add(time.Duration(float64(i) * interval)) }

	var (
		mu                        sync.Mutex
		written, started, durable int64
		inflight                  int
		lastReturn                time.Time
		syncs, overlapped, ooo    int64
		measured                  int64
		latency                   = loadgen.NewHistogram()
		lone, over, gap           = loadgen.NewHistogram(), loadgen.NewHistogram(), loadgen.NewHistogram()
		wg                        sync.WaitGroup
		ru0                       unix.Rusage
		ruTaken                   bool
	)
	takeRusage := func() {
		if !ruTaken && !time.Now().Before(measureStart) {
			_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
			ruTaken = true
		}
	}
	ack := func(from, to int64, end time.Time) { // under mu
		for i := from; i < to; i++ {
			if d := due(i); !d.Before(measureStart) {
				loadgen.RecordLatency(latency, end.Sub(d))
				measured++
			}
		}
	}
	type job struct {
		cover   int64
		t0      time.Time
		overlap bool
		seq     int64
	}
	work := make(chan job, 8)
	var startSeq, returnedSeq int64
	var maybeStart func()
	maybeStart = func() { // under mu
		if inflight < *k && written > started {
			started = written
			ov := inflight > 0
			inflight++
			startSeq++
			wg.Add(1)
			work <- job{cover: written, t0: time.Now(), overlap: ov, seq: startSeq}
		}
	}
	for w := 0; w < *k; w++ {
		go func() {
			for j := range work {
				t0 := time.Now()
				if err := unix.Fdatasync(fd); err != nil {
					log.Fatal(err)
				}
				t1 := time.Now()
				mu.Lock()
				inflight--
				if !j.t0.Before(measureStart) {
					syncs++
					if j.overlap {
						overlapped++
						loadgen.RecordLatency(over, t1.Sub(t0))
						if lastReturn.After(t0) {
							loadgen.RecordLatency(gap, t1.Sub(lastReturn))
						}
					} else {
						loadgen.RecordLatency(lone, t1.Sub(t0))
					}
				}
				if j.seq < returnedSeq {
					ooo++
				}
				returnedSeq = max(returnedSeq, j.seq)
				lastReturn = t1
				if j.cover > durable {
					ack(durable, j.cover, t1)
					durable = j.cover
				}
				maybeStart()
				mu.Unlock()
				wg.Done()
			}
		}()
	}

	unlock := loadgen.PreciseThread()
	for next := int64(0); next < total; {
		loadgen.SleepUntil(due(next))
		now := time.Now()
		first := next
		for ; next < total && !due(next).After(now); next++ {
			if _, err := unix.Pwrite(fd, buf, next*sz); err != nil {
				log.Fatal(err)
			}
		}
		if *k == 0 {
			if !ruTaken {
				takeRusage()
			}
			t0 := time.Now()
			if err := unix.Fdatasync(fd); err != nil {
				log.Fatal(err)
			}
			t1 := time.Now()
			if !due(first).Before(measureStart) {
				syncs++
				loadgen.RecordLatency(lone, t1.Sub(t0))
			}
			ack(first, next, t1)
			continue
		}
		mu.Lock()
		takeRusage()
		written = next
		maybeStart()
		mu.Unlock()
	}
	unlock()
	wg.Wait()
	close(work)
	var ru1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())

	var si unix.Sysinfo_t
	_ = unix.Sysinfo(&si)
	pol := fmt.Sprintf("k%d", *k)
	if *k == 0 {
		pol = "inline"
	}
	r := result{Policy: pol, File: *mode, Rate: *rate, Seconds: dur.Seconds(), Records: measured,
		Latency: loadgen.Summarize(latency), SyncsPerSec: float64(syncs) / dur.Seconds(),
		CPUPerRec: float64(cpu.Microseconds()) / float64(measured),
		SyncLone:  loadgen.Summarize(lone), SyncOver: loadgen.Summarize(over), OverGap: loadgen.Summarize(gap),
		OutOfOrder: ooo, Load1: float64(si.Loads[0]) / 65536}
	if syncs > 0 {
		r.PerSync = float64(measured) / float64(syncs)
		r.OverFrac = float64(overlapped) / float64(syncs)
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}
