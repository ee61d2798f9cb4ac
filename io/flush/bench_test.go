package flush

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"runnel/io/disk"
)

// benchLog appends by pwrite to a real file, wrapping around a region preallocated and written
// once (so that syncs do not also journal block allocation). Offsets are logical, like a log's.
type benchLog struct {
	f    *os.File
	ring int64
	end  atomic.Int64 // logical end reserved by appenders
}

func newBenchLog(b *testing.B, ring int64) *benchLog {
	b.Helper()
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "bench.log"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if _, err := f.Write(make([]byte, ring)); err != nil {
		b.Fatal(err)
	}
	if err := disk.Fdatasync(f); err != nil {
		b.Fatal(err)
	}
	return &benchLog{f: f, ring: ring}
}

// append writes p and returns the logical end of the log after it.
func (l *benchLog) append(p []byte) (int64, error) {
	end := l.end.Add(int64(len(p)))
	_, err := l.f.WriteAt(p, (end-int64(len(p)))%l.ring)
	return end, err
}

// Sync makes every completed append durable: their ends are at most the reserved end.
func (l *benchLog) Sync() (int64, error) {
	end := l.end.Load()
	return end, disk.Fdatasync(l.f)
}

// BenchmarkDurableAppend measures appends that each wait until their bytes are durable, from
// several goroutines at once to one file:
//
//   - impl=flusher: pwrite, then Wait on a Flusher whose target's Sync is fdatasync
//     (group commit);
//   - impl=raw: the baseline, pwrite then fdatasync by each goroutine itself (appenders=1 is
//     the plain serial pwrite+fdatasync loop).
//
// syncs/op shows how many appends shared each fdatasync.
//
//	go test -run '^$' -bench BenchmarkDurableAppend -count 5 ./io/flush
func BenchmarkDurableAppend(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10} {
		for _, appenders := range []int{1, 8, 64} {
			for _, impl := range []string{"flusher", "raw"} {
				name := fmt.Sprintf("size=%d/appenders=%d/impl=%s", size, appenders, impl)
				b.Run(name, func(b *testing.B) {
					benchDurableAppend(b, size, appenders, 1, impl == "flusher", 0)
				})
			}
		}
	}
}

// BenchmarkDurableAppendPartitions is BenchmarkDurableAppend with 64 appenders spread over 16
// files (partitions), where a flusher round syncs several targets: one at a time
// (impl=flusher/concurrency=1), overlapping (the default, 8), or the raw baseline.
//
//	go test -run '^$' -bench BenchmarkDurableAppendPartitions -count 5 ./io/flush
func BenchmarkDurableAppendPartitions(b *testing.B) {
	const size, appenders, partitions = 1 << 10, 64, 16
	for _, concurrency := range []int{1, 8, 16, 64} {
		b.Run(fmt.Sprintf("impl=flusher/concurrency=%d", concurrency), func(b *testing.B) {
			benchDurableAppend(b, size, appenders, partitions, true, concurrency)
		})
	}
	b.Run("impl=raw", func(b *testing.B) {
		benchDurableAppend(b, size, appenders, partitions, false, 0)
	})
}

// benchDurableAppend runs b.N durable appends of size bytes from appenders goroutines, spread
// round-robin over partitions files.
func benchDurableAppend(b *testing.B, size, appenders, partitions int, useFlusher bool, concurrency int) {
	logs := make([]*benchLog, partitions)
	for i := range logs {
		logs[i] = newBenchLog(b, 16<<20/int64(partitions))
	}
	var syncs atomic.Int64
	var f *Flusher
	if useFlusher {
		f = New(Config{
			SyncConcurrency: concurrency,
			OnSync:          func(Target, time.Duration, int, error) { syncs.Add(1) },
		})
		defer f.Close()
	}
	var remaining atomic.Int64
	remaining.Store(int64(b.N))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range appenders {
		log := logs[i%partitions]
		buf := make([]byte, size)
		told := make(chan error, 1)
		done := func(err error) { told <- err }
		wg.Go(func() {
			<-start
			for remaining.Add(-1) >= 0 {
				end, err := log.append(buf)
				if err != nil {
					b.Error(err)
					return
				}
				if useFlusher {
					f.Wait(log, end, done)
					err = <-told
				} else {
					syncs.Add(1)
					err = disk.Fdatasync(log.f)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ResetTimer()
	close(start)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(syncs.Load())/float64(b.N), "syncs/op")
}
