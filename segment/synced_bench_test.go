package segment_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"runnel/segment"
)

// syncedEvery is how many bytes BenchmarkAppendSynced appends between syncs: the disk sustained
// rate baseline's (bench.SustainedSyncBytes).
const syncedEvery = 16 << 20

// BenchmarkAppendSynced is the acks=all write path at the disk sustained rate's pattern: 64 KiB
// batches (the harness's acks=all batches, written with pwrite) appended to one log with a Sync
// every 16 MiB, against the baseline of the same bytes in pwrites to files of the segments'
// size with an fdatasync every 16 MiB. Nothing is deleted while it runs, so the page cache
// grows as a broker's does; run it with a fixed count (-benchtime=16384x: 1 GiB) so that both
// write the same amount. cpu-ns/op is the process's CPU time per append.
func BenchmarkAppendSynced(b *testing.B) {
	const size = 64 << 10
	batch := logBenchBatch(size)
	b.Run("log", func(b *testing.B) {
		l, err := segment.OpenLog(b.TempDir(), testTP, benchConfig(), 0, true, quietLogger)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		var unsynced int
		cpu := startCPU(b)
		for b.Loop() {
			if _, err := l.Append(batch, segment.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
			if unsynced += len(batch); unsynced >= syncedEvery {
				if _, err := l.Sync(); err != nil {
					b.Fatal(err)
				}
				unsynced = 0
			}
		}
		cpu()
	})
	b.Run("pwrite+fdatasync", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		var f *os.File
		var pos int64
		var unsynced int
		cpu := startCPU(b)
		for i := 0; b.Loop(); i++ {
			if f == nil || pos+int64(len(batch)) > benchSegmentBytes {
				if f != nil {
					f.Close()
				}
				var err error
				if f, err = os.Create(filepath.Join(dir, fmt.Sprintf("%020d.log", i))); err != nil {
					b.Fatal(err)
				}
				pos = 0
			}
			if _, err := unix.Pwrite(int(f.Fd()), batch, pos); err != nil {
				b.Fatal(err)
			}
			pos += int64(len(batch))
			if unsynced += len(batch); unsynced >= syncedEvery {
				if err := unix.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
				unsynced = 0
			}
		}
		cpu()
		f.Close()
	})
}

// BenchmarkAppendSyncedSmall is the acks=all write path of a low-rate producer: each op is one
// 1 KiB batch appended and synced (Log.Sync), against the disk floor's pattern, 1 KiB pwrite
// into a fallocated file and fdatasync (bench/floor.go). dirtied-B/op is the process's
// write_bytes (/proc/self/io) per op: page cache bytes it turned dirty, counted by whole folio,
// so an upper bound of what a sync writes back; the block layer's bytes need a tracer
// (perf record -e block:block_bio_queue). cpu-ns/op is the process's CPU time per op.
func BenchmarkAppendSyncedSmall(b *testing.B) {
	// One segment for b.N up to 65,536 and beyond: a roll's new files would count in the ops.
	const smallSyncedSegmentBytes = 256 << 20
	const size = 1 << 10
	batch := logBenchBatch(size)
	b.Run("log", func(b *testing.B) {
		cfg := benchConfig()
		cfg.SegmentBytes = smallSyncedSegmentBytes
		l, err := segment.OpenLog(b.TempDir(), testTP, cfg, 0, true, quietLogger)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.SetBytes(int64(len(batch)))
		var appended int64
		dirtied := startDirtied(b)
		cpu := startCPU(b)
		for b.Loop() {
			if _, err := l.Append(batch, segment.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
			if _, err := l.Sync(); err != nil {
				b.Fatal(err)
			}
			appended += int64(len(batch))
			trimLog(b, l, &appended)
		}
		cpu()
		dirtied()
	})
	b.Run("pwrite+fdatasync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := unix.Fallocate(int(f.Fd()), 0, 0, benchSegmentBytes); err != nil {
			b.Skipf("fallocate: %v", err)
		}
		b.SetBytes(int64(len(batch)))
		var pos int64
		dirtied := startDirtied(b)
		cpu := startCPU(b)
		for b.Loop() {
			if pos+int64(len(batch)) > benchSegmentBytes {
				pos = 0
			}
			if _, err := unix.Pwrite(int(f.Fd()), batch, pos); err != nil {
				b.Fatal(err)
			}
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
			pos += int64(len(batch))
		}
		cpu()
		dirtied()
	})
}

// startDirtied notes the process's write_bytes; the function it returns reports the bytes
// dirtied since then per op, as dirtied-B/op.
func startDirtied(b *testing.B) func() {
	before := ioWriteBytes(b)
	return func() { b.ReportMetric(float64(ioWriteBytes(b)-before)/float64(b.N), "dirtied-B/op") }
}

// ioWriteBytes is the process's write_bytes from /proc/self/io: page cache bytes it dirtied,
// counted by folio when the folio turns dirty.
func ioWriteBytes(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no write_bytes in /proc/self/io")
	return 0
}
