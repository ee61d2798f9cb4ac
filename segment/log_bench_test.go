package segment_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"runnel/io/disk"
	"runnel/io/flush"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

// benchSegmentBytes is the segment size of the benchmarks' logs and the size at which the
// pwrite baseline starts a new file, so that both pay for new files at the same rate.
const benchSegmentBytes = 64 << 20

// benchKeepBytes bounds the disk space a benchmark uses: past it, old segments (or baseline
// files) are deleted, outside the timer.
const benchKeepBytes = 256 << 20

func benchConfig() segment.Config {
	c := segment.DefaultConfig()
	c.SegmentBytes = benchSegmentBytes
	c.PreallocateBytes = 16 << 20
	c.RetentionMs = -1
	return c
}

// logBenchBatch returns one valid batch of about size bytes.
func logBenchBatch(size int) []byte {
	value := make([]byte, max(size-segment.BatchHeaderSize-16, 1))
	rand.New(rand.NewSource(1)).Read(value)
	return segmenttest.Batch([]segmenttest.Record{{Value: value}}, segmenttest.Timestamp(1))
}

// trimLog deletes all but the active segment once the log holds more than benchKeepBytes.
func trimLog(b *testing.B, l *segment.Log, appended *int64) {
	if *appended < benchKeepBytes {
		return
	}
	b.StopTimer()
	if _, err := l.DeleteRecordsBefore(l.EndOffset()); err != nil {
		b.Fatal(err)
	}
	*appended = 0
	b.StartTimer()
}

// BenchmarkAppend compares Log.Append (validate, stamp, one pwrite; index entries) against
// pwrite of the same bytes to a file at increasing offsets. No syncs: this is the page cache
// path. cpu-ns/op is the process's CPU time per append.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10, 64 << 10, 1 << 20} {
		batch := logBenchBatch(size)
		b.Run(fmt.Sprintf("size=%d/log", size), func(b *testing.B) {
			l, err := segment.OpenLog(b.TempDir(), testTP, benchConfig(), 0, true, quietLogger)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			var appended int64
			cpu := startCPU(b)
			for b.Loop() {
				if _, err := l.Append(batch, segment.AppendOptions{}); err != nil {
					b.Fatal(err)
				}
				appended += int64(len(batch))
				trimLog(b, l, &appended)
			}
			cpu()
		})
		b.Run(fmt.Sprintf("size=%d/pwrite", size), func(b *testing.B) {
			w := newPwriter(b)
			defer w.close()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			cpu := startCPU(b)
			for b.Loop() {
				w.write(b, batch)
			}
			cpu()
		})
	}
}

// startCPU notes the process's CPU time (user and system, all threads); the function it
// returns reports the CPU time since then per op, as cpu-ns/op.
func startCPU(b *testing.B) func() {
	before := processCPU(b)
	return func() { b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op") }
}

// processCPU is the process's user and system CPU time.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pwriter is the baseline: pwrite at increasing offsets, a new file every benchSegmentBytes,
// old files removed (outside the timer) past benchKeepBytes.
type pwriter struct {
	dir   string
	f     *os.File
	pos   int64
	files []string
}

func newPwriter(b *testing.B) *pwriter {
	w := &pwriter{dir: b.TempDir()}
	w.next(b)
	return w
}

func (w *pwriter) next(b *testing.B) {
	if w.f != nil {
		w.f.Close()
	}
	name := filepath.Join(w.dir, fmt.Sprintf("%020d.log", len(w.files)))
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	w.f, w.pos, w.files = f, 0, append(w.files, name)
	if len(w.files)*benchSegmentBytes > benchKeepBytes {
		b.StopTimer()
		os.Remove(w.files[0])
		w.files = w.files[1:]
		b.StartTimer()
	}
}

func (w *pwriter) write(b *testing.B, p []byte) {
	if w.pos+int64(len(p)) > benchSegmentBytes {
		w.next(b)
	}
	if _, err := unix.Pwrite(int(w.f.Fd()), p, w.pos); err != nil {
		b.Fatal(err)
	}
	w.pos += int64(len(p))
}

func (w *pwriter) close() { w.f.Close() }

// BenchmarkAppendDurable has n goroutines each append a batch and wait until it is durable
// (acks=all under the durable policy) through one io/flush Flusher, which group-commits their
// syncs; the baseline has the same goroutines pwrite the same bytes to one file and fdatasync
// it themselves.
func BenchmarkAppendDurable(b *testing.B) {
	const size = 4 << 10
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("appenders=%d/log+flusher", n), func(b *testing.B) {
			benchDurableLog(b, n, size)
		})
		b.Run(fmt.Sprintf("appenders=%d/pwrite+fdatasync", n), func(b *testing.B) {

			file, err := os.Create(filepath.Join(b.TempDir(), "baseline"))
			if err != nil {
				b.Fatal(err)
			}
			defer file.Close()
			var pos atomic.Int64
			runAppenders(b, n, size, func(batch []byte, _ chan error, _ func(error)) error {
				at := pos.Add(int64(len(batch))) - int64(len(batch))
				if at > benchKeepBytes { // reuse the file's space rather than grow forever
					at %= benchKeepBytes
				}
				if _, err := unix.Pwrite(int(file.Fd()), batch, at); err != nil {
					return err
				}
				return disk.Fdatasync(file)
			})
		})
	}
}

// benchDurableLog is BenchmarkAppendDurable's log side.
func benchDurableLog(b *testing.B, n, size int) {
	l, err := segment.OpenLog(b.TempDir(), testTP, benchConfig(), 0, true, quietLogger)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	f := flush.New(flush.Config{Policy: flush.Durable})
	defer f.Close()
	var trim sync.Mutex
	var appended int64
	runAppenders(b, n, size, func(batch []byte, done chan error, notify func(error)) error {
		info, err := l.Append(batch, segment.AppendOptions{})
		if err != nil {
			return err
		}
		f.Wait(l, info.LastOffset+1, notify)
		if err := <-done; err != nil {
			return err
		}
		trim.Lock()
		appended += int64(len(batch))
		if appended > benchKeepBytes {
			l.DeleteRecordsBefore(l.EndOffset())
			appended = 0
		}
		trim.Unlock()
		return nil
	})
}

// runAppenders runs b.N calls of op spread over n goroutines, each with its own batch and a
// done channel that notify sends to.
func runAppenders(b *testing.B, n, size int, op func(batch []byte, done chan error, notify func(error)) error) {
	b.SetBytes(int64(len(logBenchBatch(size))))
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	b.ResetTimer()
	for range n {
		batch := logBenchBatch(size)
		done := make(chan error, 1)
		notify := func(err error) { done <- err }
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(batch, done, notify); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkRead measures Read of 1 MiB ranges at random offsets: find the segment, index
// lookup, scan of batch headers to the offset, and the checks that vouch for the batches of the
// range (by pread). Segments this
// process wrote, or recovered, were checked already ("sealed", "active"); after a clean reopen
// the sealed ones are trusted unchecked, so reads walk their range until the background check
// of each segment that a read starts has run ("sealed-reopened": the first run includes that).
// SetBytes counts the bytes a fetch would then send.
func BenchmarkRead(b *testing.B) {
	for _, batchSize := range []int{1 << 10, 16 << 10} {
		cfg := benchConfig()
		cfg.SegmentBytes = 8 << 20
		dir := b.TempDir()
		l, err := segment.OpenLog(dir, testTP, cfg, 0, true, quietLogger)
		if err != nil {
			b.Fatal(err)
		}
		batch := logBenchBatch(batchSize)
		for range (64 << 20) / len(batch) { // 64 MiB: 8 segments
			if _, err := l.Append(batch, segment.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		end := l.EndOffset()
		for _, where := range []struct {
			name     string
			from, to int64
			reopen   bool
		}{
			{"sealed", 0, end / 2, false},
			{"active", end - end/16, end, false},
			{"sealed-reopened", 0, end / 2, true},
		} {
			if where.reopen {
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				if l, err = segment.OpenLog(dir, testTP, cfg, end, true, quietLogger); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("batch=%dKiB/%s", batchSize>>10, where.name), func(b *testing.B) {
				rng := rand.New(rand.NewSource(1))
				b.SetBytes(1 << 20)
				b.ReportAllocs()
				for b.Loop() {
					rr, err := l.Read(where.from+rng.Int63n(where.to-where.from), 1<<20, segment.ReadOptions{MinOneBatch: true})
					if err != nil || rr.Range.Size == 0 {
						b.Fatal(err)
					}
					rr.Release()
				}
			})
		}
		l.Close()
	}
}

// BenchmarkTailRead reads one 16 KiB batch where a consumer at the log end reads: among the
// last few batches appended, which the appender's record of recent batches finds, and beside
// it, as the baseline, batches just older than that record holds, which the walk from the
// offset index finds (with one or two preads of headers), as every tail read did before.
func BenchmarkTailRead(b *testing.B) {
	l, err := segment.OpenLog(b.TempDir(), testTP, benchConfig(), 0, true, quietLogger)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := logBenchBatch(16 << 10)
	var bases []int64
	for range 64 {
		info, err := l.Append(batch, segment.AppendOptions{})
		if err != nil {
			b.Fatal(err)
		}
		bases = append(bases, info.FirstOffset)
	}
	for _, where := range []struct {
		name string
		back int // the batches read are the back-th to the (back+3)-th from the end
	}{{"recent", 1}, {"older", 13}} {
		b.Run(where.name, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				rr, err := l.Read(bases[len(bases)-where.back-i%4], len(batch), segment.ReadOptions{MinOneBatch: true})
				if err != nil || rr.Range.Size != int64(len(batch)) {
					b.Fatal(rr.Range.Size, err)
				}
				rr.Release()
				i++
			}
		})
	}
}
