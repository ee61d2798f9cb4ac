package flush

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
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
	// writing is held shared by each append's reservation and pwrite, and briefly by Sync
	// alone, so that the end Sync reports has every byte below it written (as segment.Log's
	// lock does): the Flusher tells every waiter within that end.
	writing sync.RWMutex
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
	l.writing.RLock()
	defer l.writing.RUnlock()
	end := l.end.Add(int64(len(p)))
	_, err := l.f.WriteAt(p, (end-int64(len(p)))%l.ring)
	return end, err
}

// Sync makes every append completed before it durable and returns their end.
func (l *benchLog) Sync() (int64, error) {
	l.writing.Lock()
	end := l.end.Load()
	l.writing.Unlock()
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
					benchDurableAppend(b, size, appenders, 1, impl == "flusher", 0, false)
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
			benchDurableAppend(b, size, appenders, partitions, true, concurrency, false)
		})
	}
	b.Run("impl=raw", func(b *testing.B) {
		benchDurableAppend(b, size, appenders, partitions, false, 0, false)
	})
}

// BenchmarkDurableAppendManyPartitions is one appender per partition, each appending 1 KiB and
// waiting until it is durable, over 100 and 1,000 files: the many-partitions load, where each
// sync covers an append or two. impl=fdatasync syncs each due file on its own (16 at once);
// impl=syncfs syncs them in groups (Config.SyncAll, one syncfs of the file system; GroupMin 64).
// cpu-µs/op is this process's CPU (getrusage) per append: syncfs's writeback runs in kernel
// flusher threads, which it does not count.
//
//	go test -run '^$' -bench BenchmarkDurableAppendManyPartitions -benchtime 20000x -count 5 ./io/flush
func BenchmarkDurableAppendManyPartitions(b *testing.B) {
	for _, partitions := range []int{100, 1000} {
		for _, impl := range []string{"fdatasync", "syncfs"} {
			b.Run(fmt.Sprintf("partitions=%d/impl=%s", partitions, impl), func(b *testing.B) {
				benchDurableAppend(b, 1<<10, partitions, partitions, true, 0, impl == "syncfs")
			})
		}
	}
}

// groupBenchLog is a benchLog that a flusher may sync in a group.
type groupBenchLog struct{ *benchLog }

func (l groupBenchLog) PrepareSync() (func(error) (int64, error), error) {
	end := l.end.Load()
	return func(err error) (int64, error) { return end, err }, nil
}

// benchDurableAppend runs b.N durable appends of size bytes from appenders goroutines, spread
// round-robin over partitions files; with syncfs the flusher syncs 64 or more due files at
// once with one syncfs.
func benchDurableAppend(b *testing.B, size, appenders, partitions int, useFlusher bool, concurrency int, syncfs bool) {
	logs := make([]*benchLog, partitions)
	for i := range logs {
		logs[i] = newBenchLog(b, max(16<<20/int64(partitions), int64(size)))
	}
	var syncs, syncAlls atomic.Int64
	var f *Flusher
	if useFlusher {
		cfg := Config{
			SyncConcurrency: concurrency,
			OnSync:          func(Target, time.Duration, int, error) { syncs.Add(1) },
		}
		if syncfs {
			cfg.SyncAll = func() error { syncAlls.Add(1); return disk.SyncFS(logs[0].f) }
		}
		f = New(cfg)
		defer f.Close()
	}
	targets := make([]Target, partitions)
	for i, l := range logs {
		targets[i] = l
		if syncfs {
			targets[i] = groupBenchLog{l}
		}
	}
	var remaining atomic.Int64
	remaining.Store(int64(b.N))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range appenders {
		log, target := logs[i%partitions], targets[i%partitions]
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
					f.Wait(target, end, done)
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
	cpu := processCPU(b)
	b.ResetTimer()
	close(start)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(syncs.Load())/float64(b.N), "syncs/op") // of a target, alone or in a group
	if syncfs {
		b.ReportMetric(float64(syncAlls.Load())/float64(b.N), "syncfs/op")
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timedLog is a benchLog whose Sync records when it started and returned, to split a durable
// append's latency into stages.
type timedLog struct {
	*benchLog
	syncStart, syncEnd time.Time
}

func (l *timedLog) Sync() (int64, error) {
	l.syncStart = time.Now()
	end, err := l.benchLog.Sync()
	l.syncEnd = time.Now()
	return end, err
}

// BenchmarkDurableAppendStages is one appender that appends 1 KiB and waits until it is durable,
// again and again: the latency floor of acks=all with one producer, where no append shares a
// sync. impl=flusher splits each append's time into stages, in µs per append:
//
//   - queue-µs: from Wait to the start of the Sync that covers it (waking the flusher goroutine,
//     which hands the sync to a worker);
//   - sync-µs: the Sync itself (fdatasync);
//   - notify-µs: from the Sync's return to the done function (the worker hands the result back
//     to the flusher goroutine, which tells the waiter);
//   - resume-µs: from done to the appender running again (a channel hand-off).
//
// impl=raw is the baseline: pwrite then fdatasync inline. p50-µs and p99-µs are of the whole.
//
//	go test -run '^$' -bench BenchmarkDurableAppendStages -count 5 ./io/flush
func BenchmarkDurableAppendStages(b *testing.B) {
	for _, impl := range []string{"flusher", "raw"} {
		b.Run("impl="+impl, func(b *testing.B) {
			log := &timedLog{benchLog: newBenchLog(b, 16<<20)}
			f := New(Config{})
			defer f.Close()
			buf := make([]byte, 1<<10)
			var doneAt time.Time
			told := make(chan error, 1)
			done := func(err error) { doneAt = time.Now(); told <- err }
			var queue, syncing, notify, resume time.Duration
			total := make([]time.Duration, 0, b.N)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				end, err := log.append(buf)
				if err != nil {
					b.Fatal(err)
				}
				if impl == "raw" {
					err = disk.Fdatasync(log.f)
				} else {
					waited := time.Now()
					f.Wait(log, end, done)
					err = <-told
					resumed := time.Now()
					queue += log.syncStart.Sub(waited)
					syncing += log.syncEnd.Sub(log.syncStart)
					notify += doneAt.Sub(log.syncEnd)
					resume += resumed.Sub(doneAt)
				}
				if err != nil {
					b.Fatal(err)
				}
				total = append(total, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(total)
			us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
			b.ReportMetric(us(total[len(total)/2]), "p50-µs")
			b.ReportMetric(us(total[len(total)*99/100]), "p99-µs")
			if impl == "flusher" {
				n := time.Duration(b.N)
				b.ReportMetric(us(queue/n), "queue-µs")
				b.ReportMetric(us(syncing/n), "sync-µs")
				b.ReportMetric(us(notify/n), "notify-µs")
				b.ReportMetric(us(resume/n), "resume-µs")
			}
		})
	}
}

// BenchmarkDurableAppendOpenLoop is the latency floor of acks=all with one producer at a fixed
// rate (bench's latency-floor scenarios without the broker): record i of 1 KiB is due at
// start + i/rate, appended when due and waited for without blocking the producer, so records
// that come while a sync runs queue for the next one. impl=raw is the same load as bench's disk
// floor: when records are due, one goroutine pwrites each and calls fdatasync (a perfect group
// commit with no hand-off). p50-µs and p99-µs are from a record's due time to its done
// function; gap-µs is the mean time from a sync's return to the next sync's start, over the
// syncs that had records waiting when the last one returned (the disk idle while the flusher
// hands the work around).
//
//	go test -run '^$' -bench BenchmarkDurableAppendOpenLoop -count 5 ./io/flush
func BenchmarkDurableAppendOpenLoop(b *testing.B) {
	for _, rate := range []int{1000, 10000} {
		for _, impl := range []string{"flusher", "raw"} {
			b.Run(fmt.Sprintf("rate=%d/impl=%s", rate, impl), func(b *testing.B) {
				benchOpenLoop(b, float64(rate), impl == "raw")
			})
		}
	}
}

func benchOpenLoop(b *testing.B, rate float64, raw bool) {
	log := &gapLog{benchLog: newBenchLog(b, 16<<20)}
	f := New(Config{})
	defer f.Close()
	buf := make([]byte, 1<<10)
	latency := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	wg.Add(b.N)
	interval := float64(time.Second) / rate
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	start := time.Now()
	due := func(i int) time.Time { return start.Add(time.Duration(float64(i) * interval)) }
	for next := 0; next < b.N; {
		if wait := time.Until(due(next)); wait > 0 {
			time.Sleep(wait)
		}
		now := time.Now()
		first := next
		for ; next < b.N && !due(next).After(now); next++ {
			end, err := log.append(buf)
			if err != nil {
				b.Fatal(err)
			}
			if raw {
				continue
			}
			log.queued(end)
			i := next
			f.Wait(log, end, func(err error) {
				if err != nil {
					b.Error(err)
				}
				latency[i] = time.Since(due(i))
				wg.Done()
			})
		}
		if raw {
			if err := disk.Fdatasync(log.f); err != nil {
				b.Fatal(err)
			}
			for i := first; i < next; i++ {
				latency[i] = time.Since(due(i))
				wg.Done()
			}
		}
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(latency)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(latency[len(latency)/2]), "p50-µs")
	b.ReportMetric(us(latency[len(latency)*99/100]), "p99-µs")
	if !raw {
		log.mu.Lock()
		defer log.mu.Unlock()
		if log.gaps > 0 {
			b.ReportMetric(us(log.gapSum/time.Duration(log.gaps)), "gap-µs")
		}
		b.ReportMetric(float64(log.syncs)/float64(b.N), "syncs/op")
	}
}

// gapLog is a benchLog that measures how long the disk stays idle between a sync's return and
// the next sync's start while appends wait.
type gapLog struct {
	*benchLog
	mu      sync.Mutex
	waiting int64     // the end of the last append queued for a sync
	lastEnd time.Time // when the last sync returned, if appends beyond it were waiting then
	gapSum  time.Duration
	gaps    int
	syncs   int
}

// queued notes that an append ending at end waits for a sync.
func (l *gapLog) queued(end int64) {
	l.mu.Lock()
	l.waiting = max(l.waiting, end)
	l.mu.Unlock()
}

func (l *gapLog) Sync() (int64, error) {
	start := time.Now()
	end, err := l.benchLog.Sync()
	returned := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncs++
	if !l.lastEnd.IsZero() {
		l.gapSum += start.Sub(l.lastEnd)
		l.gaps++
	}
	l.lastEnd = time.Time{}
	if l.waiting > end {
		l.lastEnd = returned
	}
	return end, err
}

// BenchmarkNoWaitManyPartitions is acks=1 under the durable policy as the broker's event loop
// does it: one goroutine appends 16 KiB to each of the partitions in turn and asks for a flush
// without waiting for it (Wait with a done function that does nothing), as a produce request
// does for its consumers' sake. kicks/op counts the wake-ups of the flusher goroutine that the
// appends ask for; with syncfs (GroupMin 64) the due partitions are synced in groups;
// impl=none is the same pwrites with no flusher at all, the appends' own cost.
//
//	go test -run '^$' -bench BenchmarkNoWaitManyPartitions -benchtime 20000x -count 5 ./io/flush
func BenchmarkNoWaitManyPartitions(b *testing.B) {
	for _, partitions := range []int{8, 1000} {
		for _, impl := range []string{"fdatasync", "syncfs", "none"} {
			b.Run(fmt.Sprintf("partitions=%d/impl=%s", partitions, impl), func(b *testing.B) {
				logs := make([]*benchLog, partitions)
				targets := make([]Target, partitions)
				for i := range logs {
					logs[i] = newBenchLog(b, max(64<<20/int64(partitions), 1<<20))
					targets[i] = logs[i]
					if impl == "syncfs" {
						targets[i] = groupBenchLog{logs[i]}
					}
				}
				cfg := Config{}
				if impl == "syncfs" {
					cfg.SyncAll = func() error { return disk.SyncFS(logs[0].f) }
				}
				f := New(cfg)
				defer f.Close()
				buf := make([]byte, 16<<10)
				ignore := func(error) {}
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				kicks := f.kicks.Load()
				b.ResetTimer()
				for i := range b.N {
					end, err := logs[i%partitions].append(buf)
					if err != nil {
						b.Fatal(err)
					}
					if impl != "none" {
						f.Wait(targets[i%partitions], end, ignore)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(f.kicks.Load()-kicks)/float64(b.N), "kicks/op")
			})
		}
	}
}
