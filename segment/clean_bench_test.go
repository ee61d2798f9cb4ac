package segment_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"runnel/io/disk"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

// BenchmarkClean measures the cleaner's throughput (bytes of log read per second) on a log of
// size=N bytes of 1 MiB segments holding 10-record batches of 100-byte values over 10000 keys,
// each key written many times, beside raw=true: reading the same segment files sequentially
// and writing their bytes to new files with one fdatasync per file, in the same run. Each
// iteration cleans a fresh copy of the log (the copy is not timed).
//
//	go test ./segment/ -run '^$' -bench BenchmarkClean -benchtime 5x
func BenchmarkClean(b *testing.B) {
	for _, size := range []int64{16 << 20} {
		template := b.TempDir()
		cfg := segment.DefaultConfig()
		cfg.SegmentBytes = 1 << 20
		cfg.PreallocateBytes = 1 << 20
		cfg.SegmentIndexBytes = 64 << 10
		cfg.Compact = true
		cfg.MinCleanableDirtyRatio = 0
		cfg.RetentionMs = -1
		l, err := segment.OpenLog(template, testTP, cfg, 0, true, quietLogger)
		if err != nil {
			b.Fatal(err)
		}
		value := make([]byte, 100)
		ts := time.Now().UnixMilli()
		for i := 0; l.Size() < size; i++ {
			records := make([]segmenttest.Record, 10)
			for j := range records {
				records[j] = segmenttest.Record{Key: fmt.Appendf(nil, "key-%05d", (i*10+j)%10000), Value: value}
			}
			if _, err := l.Append(segmenttest.Batch(records, segmenttest.Timestamp(ts)), segment.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		logs, _ := filepath.Glob(filepath.Join(template, "*.log"))
		var total int64
		for _, f := range logs[:len(logs)-1] { // the active segment is not cleaned
			info, _ := os.Stat(f)
			total += info.Size()
		}
		b.Run(fmt.Sprintf("size=%d/cleaner", size), func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			m := segment.NewOffsetMap(128 << 20)
			for range b.N {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), "log")
				copyDirB(b, template, dir)
				l, err := segment.OpenLog(dir, testTP, cfg, 0, true, quietLogger)
				if err != nil {
					b.Fatal(err)
				}
				l.SetHighWatermark(l.EndOffset())
				b.StartTimer()
				info := l.Cleanable(-1, l.HighWatermark())
				if _, err := l.Clean(info, segment.CleanOptions{Map: m}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				l.Close()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("size=%d/raw", size), func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			buf := make([]byte, 1<<20)
			for range b.N {
				dir := b.TempDir()
				for _, f := range logs[:len(logs)-1] {
					in, err := os.Open(f)
					if err != nil {
						b.Fatal(err)
					}
					out, err := os.Create(filepath.Join(dir, filepath.Base(f)))
					if err != nil {
						b.Fatal(err)
					}
					for off := int64(0); ; {
						n, _ := in.ReadAt(buf, off)
						if n == 0 {
							break
						}
						if _, err := out.WriteAt(buf[:n], off); err != nil {
							b.Fatal(err)
						}
						off += int64(n)
					}
					if err := disk.Fdatasync(out); err != nil {
						b.Fatal(err)
					}
					in.Close()
					out.Close()
				}
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
	}
}

// copyDirB is copyDir for benchmarks.
func copyDirB(b *testing.B, src, dst string) {
	b.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		b.Fatal(err)
	}
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}
