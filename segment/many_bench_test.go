package segment_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"runnel/segment"
)

// BenchmarkAppendManyLogsSyncfs is the acks=1 append path at many partitions (issue 16): one
// 16 KiB batch appended to each of n logs in turn (one round), with a syncfs of their file
// system after every 4 rounds, as syncfs groups sync 1,000 partitions every few appends each.
// Only the appends are measured: thread-ns/append is the appending thread's CPU time
// (RUSAGE_THREAD: the pwrite, the index stores and the page faults they take), ns/append its
// wall time, both outside the syncfs; faults/append the thread's page faults (minor, major).
func BenchmarkAppendManyLogsSyncfs(b *testing.B) {
	batch := logBenchBatch(16 << 10)
	for _, n := range []int{8, 1000} {
		b.Run("logs="+strconv.Itoa(n), func(b *testing.B) {
			dir := b.TempDir()
			cfg := benchConfig()
			cfg.PreallocateBytes = 1 << 20
			cfg.SegmentIndexBytes = 64 << 10
			cfg.DropBehind = false
			logs := make([]*segment.Log, n)
			for i := range logs {
				l, err := segment.OpenLog(filepath.Join(dir, "t-"+strconv.Itoa(i)), testTP, cfg, 0, true, quietLogger)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				logs[i] = l
			}
			d, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.SetBytes(int64(len(batch) * n)) // an op is a round
			b.ReportAllocs()
			var cpu time.Duration
			var faults int64
			rounds := 0
			for b.Loop() {
				t0, f0 := threadCPU(b), threadFaults(b)
				for _, l := range logs {
					if _, err := l.Append(batch, segment.AppendOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				cpu += threadCPU(b) - t0
				faults += threadFaults(b) - f0
				if rounds++; rounds%4 == 0 {
					b.StopTimer()
					if err := unix.Syncfs(int(d.Fd())); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "thread-ns/append")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/append")
			b.ReportMetric(float64(faults)/float64(b.N*n), "faults/append")
		})
	}
}

// threadFaults is the calling thread's page faults so far (minor and major).
func threadFaults(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Minflt + ru.Majflt
}
