package segment_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"runnel/segment"
)

// BenchmarkAppendManyLogs appends 1 KiB batches round-robin to 1,000 logs of one directory with
// 4 KiB preallocation (pre-faulting on) and reports the disk each log's .log files reserve at
// the end: the pre-fault window, and the fallocation that follows it, per log.
func BenchmarkAppendManyLogs(b *testing.B) {
	const logs = 1000
	cfg := benchConfig(true)
	cfg.PreallocateBytes = 4 << 10
	cfg.SegmentIndexBytes = 64 << 10
	path := b.TempDir()
	d, err := segment.OpenLogDir(path, func(string) segment.Config { return cfg }, quietLogger)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	all := make([]*segment.Log, logs)
	for p := range all {
		if all[p], err = d.Create(segment.TopicPartition{Topic: "t", Partition: int32(p)}, cfg); err != nil {
			b.Fatal(err)
		}
	}
	batch := logBenchBatch(1 << 10)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := all[i%logs].Append(batch, segment.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	var reserved int64
	err = filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".log") {
			return err
		}
		info, err := e.Info()
		if err == nil {
			reserved += info.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(reserved)/logs/1024, "reserved-KiB/log")
	b.ReportMetric(float64(i)*float64(len(batch))/logs/1024, "held-KiB/log")
}
