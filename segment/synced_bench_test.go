package segment_test

import (
	"fmt"
	"os"
	"path/filepath"
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
		l, err := segment.OpenLog(b.TempDir(), testTP, benchConfig(true), 0, true, quietLogger)
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
