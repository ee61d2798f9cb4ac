package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"runnel/io/disk"
	"runnel/loadgen"
)

// TargetDiskFloor is the latency floor scenarios' raw baseline, run in
// the harness process with no broker: the records of the scenario's load
// written with pwrite to a file and made durable with fdatasync, at the
// same rate, in the same run (measureDiskFloor).
const TargetDiskFloor = "disk-floor"

// measureDiskFloor is the disk's own latency for cfg's open-loop load:
// record i is due at start + i/Rate; when the loop gets to it, every record
// due by then is written with its own pwrite of RecordSize bytes at the end
// of a file preallocated with fallocate (as a segment is), then one
// fdatasync makes them durable. Each record's latency is from its due time
// to the fdatasync's return, so it includes waiting behind the previous
// fdatasync: this is a perfect group commit with no hop between threads,
// and at a rate below one record per fdatasync it is one 1 KiB pwrite and
// one fdatasync per record. Records due in the warm-up are not counted.
func measureDiskFloor(ctx context.Context, dir string, cfg loadgen.Config) (*loadgen.Result, *Stages, error) {
	if cfg.Rate <= 0 || cfg.Duration <= 0 {
		return nil, nil, fmt.Errorf("bench: the disk floor needs a rate and a duration")
	}
	total := int64(cfg.Rate * (cfg.Warmup + cfg.Duration).Seconds())
	size := int64(cfg.RecordSize)
	f, err := os.CreateTemp(dir, "disk-floor-*.dat")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := disk.Fallocate(f, 0, total*size); err != nil {
		return nil, nil, err
	}
	if err := disk.Fdatasync(f); err != nil {
		return nil, nil, err
	}
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = 'a' + byte(i%16)
	}
	fd := int(f.Fd())
	latency, sendDelay, syncTime := loadgen.NewHistogram(), loadgen.NewHistogram(), loadgen.NewHistogram()
	var syncs int64
	interval := float64(time.Second) / cfg.Rate
	start := time.Now()
	measureStart := start.Add(cfg.Warmup)
	due := func(i int64) time.Time { return start.Add(time.Duration(float64(i) * interval)) }
	var measured int64
	defer loadgen.PreciseThread()()
	for next := int64(0); next < total && ctx.Err() == nil; {
		loadgen.SleepUntil(due(next))
		now := time.Now()
		first := next
		for ; next < total && !due(next).After(now); next++ {
			if _, err := unix.Pwrite(fd, buf, next*size); err != nil {
				return nil, nil, fmt.Errorf("bench: pwrite: %w", err)
			}
		}
		synced := time.Now()
		if err := disk.Fdatasync(f); err != nil {
			return nil, nil, err
		}
		end := time.Now()
		if !due(first).Before(measureStart) {
			loadgen.RecordLatency(syncTime, end.Sub(synced))
			syncs++
		}
		for i := first; i < next; i++ {
			if d := due(i); !d.Before(measureStart) {
				loadgen.RecordLatency(latency, end.Sub(d))
				loadgen.RecordLatency(sendDelay, now.Sub(d))
				measured++
			}
		}
	}
	secs := cfg.Duration.Seconds()
	sync := loadgen.Summarize(syncTime)
	stages := &Stages{Syncs: float64(syncs), Sync: sync.Mean,
		Quantiles: []StageQuantiles{{Stage: "fsync", Count: float64(syncs), P50: sync.P50, P99: sync.P99}}}
	return &loadgen.Result{
		Config: cfg, Mode: "open-loop", Start: start, Seconds: secs,
		Produced:       loadgen.Throughput{Records: measured, Bytes: measured * size, RecordsPerSec: float64(measured) / secs, MBPerSec: float64(measured*size) / secs / 1e6},
		ProduceLatency: loadgen.Summarize(latency), SendDelay: loadgen.Summarize(sendDelay),
		Totals:      loadgen.Totals{Sent: total, Acked: total, AckedBytes: total * size},
		ProduceHist: latency, SendDelayHist: sendDelay,
	}, stages, nil
}
