package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"runnel/loadgen"
)

// Baselines are the raw figures a broker's are divided by, measured in the
// same run on the same disk and loopback, in MB/s (10^6 bytes). Beside each
// disk figure is the CPU it took: the harness process's user + system CPU
// seconds (getrusage, every thread) per GiB (2^30 bytes) written, which
// says whether the baseline was waiting for the disk or for the CPU.
type Baselines struct {
	// PageCacheWrite is sequential 1 MiB pwrites without sync: the ceiling
	// of an acks=1 append path.
	PageCacheWrite float64 `json:"page_cache_write_mb_per_sec"`
	PageCacheCPU   float64 `json:"page_cache_write_cpu_s_per_gib"`
	// DurableWrite is sequential 1 MiB pwrite + fdatasync: the ceiling of
	// an acks=all path that syncs every MiB.
	DurableWrite float64 `json:"durable_write_mb_per_sec"`
	DurableCPU   float64 `json:"durable_write_cpu_s_per_gib"`
	// SustainedWrite is sequential 1 MiB pwrites with an fdatasync every
	// SustainedSyncBytes: the disk's sustained durable rate, what a perfect
	// group commit reaches, and the ceiling of acks=all throughput.
	SustainedWrite float64 `json:"sustained_write_mb_per_sec"`
	SustainedCPU   float64 `json:"sustained_write_cpu_s_per_gib"`
	// SustainedOnCPU and SustainedQueued are the shares of SustainedWrite's
	// time its thread ran on a CPU and waited in the run queue for one
	// (other work on the cores); the rest it waited for the disk.
	SustainedOnCPU  float64 `json:"sustained_write_on_cpu_share"`
	SustainedQueued float64 `json:"sustained_write_run_queue_share"`
	// DirectWrite is SustainedWrite's writes and syncs through O_DIRECT: the
	// disk without the page cache's copy and allocation, so what the disk
	// itself gives. 0 where the file system refuses O_DIRECT (tmpfs).
	DirectWrite float64 `json:"direct_write_mb_per_sec"`
	DirectCPU   float64 `json:"direct_write_cpu_s_per_gib"`
	// Ingest is the ingest ceiling: a sender streams 1 MiB writes over one
	// loopback TCP connection to a receiver that does SustainedWrite's
	// writes and syncs with what it reads, and nothing else, each sync
	// running while the next 16 MiB are read and written (a group commit's
	// overlap). Both run in the harness process on the same cores: the most
	// a broker could take durably with its client on this machine.
	// IngestCPU counts both.
	Ingest    float64 `json:"ingest_ceiling_mb_per_sec"`
	IngestCPU float64 `json:"ingest_ceiling_cpu_s_per_gib"`
	// SustainedKept and IngestKept are SustainedWrite and Ingest with their
	// files kept until all the baselines are done, run first, before any
	// baseline has deleted a file: their page cache grows into free memory
	// as a broker's does (it keeps what it writes), where the others write
	// into pages the baseline before them has just freed. On a VM whose
	// balloon reports free memory to the host (Firecracker's), a page taken
	// from free memory costs a host fault on first touch and the reused ones
	// do not. A broker that keeps what it writes cached grows its page cache
	// as these do; Runnel drops synced pages and reuses them, as the others
	// do (likeForLike). MemFree is what /proc/meminfo had free before the
	// baselines: with less than the kept files' bytes, they would grow the
	// page cache by reclaiming pages, not into free memory. (MemFree falls
	// by the bytes written in the reusing runs too: the file before them
	// gave its pages back to free memory when it was deleted.)
	SustainedKept    float64 `json:"sustained_write_kept_mb_per_sec"`
	SustainedKeptCPU float64 `json:"sustained_write_kept_cpu_s_per_gib"`
	IngestKept       float64 `json:"ingest_ceiling_kept_mb_per_sec"`
	IngestKeptCPU    float64 `json:"ingest_ceiling_kept_cpu_s_per_gib"`
	MemFree          int64   `json:"mem_free_bytes"`
	// Loopback is one TCP stream over 127.0.0.1 in 1 MiB writes.
	Loopback float64 `json:"loopback_tcp_mb_per_sec"`
	// Bytes is how much each disk figure wrote.
	Bytes int64 `json:"bytes"`
}

const baselineChunk = 1 << 20

// SustainedSyncBytes is how much SustainedWrite writes between fdatasyncs.
const SustainedSyncBytes = 16 << 20

// rate is one baseline's MB/s and the process's CPU seconds per GiB, and
// the shares of its time the writing thread spent on a CPU and waiting in
// the run queue for one (the rest it slept: on the disk, or the network).
type rate struct{ mbps, cpuPerGiB, onCPU, queued float64 }

// memFree is MemFree of /proc/meminfo in bytes, 0 where there is none.
func memFree() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kib int64
		if _, err := fmt.Sscanf(line, "MemFree: %d kB", &kib); err == nil {
			return kib << 10
		}
	}
	return 0
}

// threadSched returns the calling thread's time on a CPU, from
// CLOCK_THREAD_CPUTIME_ID, and in the run queue, from
// /proc/thread-self/schedstat (0 where the kernel has none). Schedstat's own
// on-CPU field moves only on a scheduler tick or a switch, so a loop that
// never blocks on a tickless CPU showed none there (CI saw 0.00 on CPU for
// the baseline without syncs); the clock brings the running time up to date.
func threadSched() (run, wait time.Duration) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err == nil {
		run = time.Duration(ts.Nano())
	}
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return run, 0
	}
	var onCPU time.Duration
	if _, err := fmt.Sscan(string(b), &onCPU, &wait); err != nil {
		return run, 0
	}
	return run, wait
}

// diskRun is one disk baseline's pattern: total bytes written sequentially
// in 1 MiB pwrites to a new file, with an fdatasync after every syncEvery
// bytes (a multiple of the chunk; 0 for none) and after the last chunk.
type diskRun struct {
	total, syncEvery int64
	flags            int                // extra open flags (O_DIRECT)
	fill             func([]byte) error // fills each chunk before its pwrite, in the time; nil: the same bytes
	// syncBehind runs each fdatasync in the background while the next
	// chunks are filled and written, waiting only for the one before it, as
	// a group commit's flusher does beside its network loop.
	syncBehind bool
	// keep leaves the file in dir for the caller to delete, so that its
	// pages stay in the page cache (Baselines.SustainedKept); otherwise it
	// is deleted when the run ends, and the next run reuses its pages.
	keep bool
}

// write runs r in a new file in dir. The chunk is page-aligned, as O_DIRECT
// needs.
func (r diskRun) write(dir string) (rate, error) {
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("baseline-%d.dat", time.Now().UnixNano())), os.O_RDWR|os.O_CREATE|os.O_EXCL|r.flags, 0o644)
	if err != nil {
		return rate{}, err
	}
	if !r.keep {
		defer os.Remove(f.Name())
	}
	defer f.Close()
	buf, err := unix.Mmap(-1, 0, baselineChunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return rate{}, fmt.Errorf("bench: %w", err)
	}
	defer unix.Munmap(buf)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	fd := int(f.Fd())
	runtime.LockOSThread() // so that the thread's schedstat is the loop's
	defer runtime.UnlockOSThread()
	synced := make(chan error, 1)
	synced <- nil // no sync running
	startSync := func() error {
		if err := <-synced; err != nil {
			return fmt.Errorf("bench: fdatasync: %w", err)
		}
		if !r.syncBehind {
			synced <- unix.Fdatasync(fd)
			return nil
		}
		go func() { synced <- unix.Fdatasync(fd) }()
		return nil
	}
	cpu, err := loadgen.ProcessCPU()
	if err != nil {
		return rate{}, err
	}
	start := time.Now() // before the schedstat reads and after, so that their interval is inside it
	run, wait := threadSched()
	for off := int64(0); off < r.total; off += baselineChunk {
		if r.fill != nil {
			if err := r.fill(buf); err != nil {
				return rate{}, errors.Join(err, <-synced)
			}
		}
		if _, err := unix.Pwrite(fd, buf, off); err != nil {
			return rate{}, errors.Join(fmt.Errorf("bench: pwrite: %w", err), <-synced)
		}
		if end := off + baselineChunk; r.syncEvery > 0 && (end%r.syncEvery == 0 || end >= r.total) {
			if err := startSync(); err != nil {
				return rate{}, err
			}
		}
	}
	if err := <-synced; err != nil {
		return rate{}, fmt.Errorf("bench: fdatasync: %w", err)
	}
	run2, wait2 := threadSched()
	elapsed := time.Since(start)
	end, err := loadgen.ProcessCPU()
	return rate{
		mbps:      float64(r.total) / elapsed.Seconds() / 1e6,
		cpuPerGiB: (end - cpu).Seconds() / (float64(r.total) / (1 << 30)),
		onCPU:     float64(run2-run) / float64(elapsed),
		queued:    float64(wait2-wait) / float64(elapsed),
	}, err
}

// measureDisk is a diskRun with no other source of the bytes.
func measureDisk(dir string, total, syncEvery int64, flags int, keep bool) (rate, error) {
	return diskRun{total: total, syncEvery: syncEvery, flags: flags, keep: keep}.write(dir)
}

// measureIngest is the ingest ceiling (Baselines.Ingest): total bytes sent
// in 1 MiB writes over one loopback TCP connection, read in whole chunks and
// written to a file in dir with an fdatasync every SustainedSyncBytes, each
// running behind the next chunks' reads and writes; keep as diskRun's.
func measureIngest(dir string, total int64, keep bool) (rate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return rate{}, err
	}
	defer ln.Close()
	sent := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		buf := make([]byte, baselineChunk)
		for off := int64(0); off < total; off += baselineChunk {
			if _, err := c.Write(buf); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	c, err := ln.Accept()
	if err != nil {
		return rate{}, errors.Join(err, <-sent)
	}
	r, err := diskRun{total: total, syncEvery: SustainedSyncBytes, syncBehind: true, keep: keep, fill: func(b []byte) error {
		_, err := io.ReadFull(c, b)
		return err
	}}.write(dir)
	c.Close() // unblocks the sender if the receiver failed
	return r, errors.Join(err, <-sent)
}

// measureLoopback streams for d over one loopback TCP connection.
func measureLoopback(d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- 0
			return
		}
		defer c.Close()
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, baselineChunk))
		received <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, baselineChunk)
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	n := <-received
	return float64(n) / time.Since(start).Seconds() / 1e6, nil
}

// measureBaselines runs the baselines, writing diskBytes in dir for each
// disk figure. The kept ones run first, while no baseline has freed pages
// to reuse, and their files go when all are done.
func measureBaselines(dir string, diskBytes int64, loopback time.Duration) (Baselines, error) {
	b := Baselines{Bytes: diskBytes, MemFree: memFree()}
	kept := filepath.Join(dir, "kept")
	if err := os.MkdirAll(kept, 0o755); err != nil {
		return b, err
	}
	defer os.RemoveAll(kept)
	for _, m := range []struct {
		mbps, cpu *float64
		run       func() (rate, error)
	}{
		{&b.SustainedKept, &b.SustainedKeptCPU, func() (rate, error) {
			return measureDisk(kept, diskBytes, SustainedSyncBytes, 0, true)
		}},
		{&b.IngestKept, &b.IngestKeptCPU, func() (rate, error) { return measureIngest(kept, diskBytes, true) }},
		{&b.PageCacheWrite, &b.PageCacheCPU, func() (rate, error) { return measureDisk(dir, diskBytes, 0, 0, false) }},
		{&b.DurableWrite, &b.DurableCPU, func() (rate, error) { return measureDisk(dir, diskBytes, baselineChunk, 0, false) }},
		{&b.SustainedWrite, &b.SustainedCPU, func() (rate, error) {
			r, err := measureDisk(dir, diskBytes, SustainedSyncBytes, 0, false)
			b.SustainedOnCPU, b.SustainedQueued = r.onCPU, r.queued
			return r, err
		}},
		{&b.DirectWrite, &b.DirectCPU, func() (rate, error) {
			r, err := measureDisk(dir, diskBytes, SustainedSyncBytes, unix.O_DIRECT, false)
			if errors.Is(err, unix.EINVAL) {
				return rate{}, nil // the file system has no O_DIRECT
			}
			return r, err
		}},
		{&b.Ingest, &b.IngestCPU, func() (rate, error) { return measureIngest(dir, diskBytes, false) }},
	} {
		r, err := m.run()
		if err != nil {
			return b, err
		}
		*m.mbps, *m.cpu = r.mbps, r.cpuPerGiB
	}
	var err error
	b.Loopback, err = measureLoopback(loopback)
	return b, err
}

// cpuBoundShare is the share of its time the sustained baseline's thread
// must spend on a CPU for the CPU to count as what bound it.
const cpuBoundShare = 0.8

// coresBusy is how many cores' worth of CPU a baseline used: its CPU
// seconds per GiB times the GiB it moved per second.
func coresBusy(mbps, cpuPerGiB float64) float64 {
	return cpuPerGiB * mbps * 1e6 / (1 << 30)
}

// sustainedLimit says in one sentence what bound the disk sustained rate,
// from where its thread spent its time: the CPU when it ran at least
// cpuBoundShare of it (the page cache's copy set the pace), other work on
// the cores when it waited longer in the run queue than for the disk, else
// the disk; with the O_DIRECT figure beside it when there is one.
func sustainedLimit(b Baselines) string {
	slept := max(1-b.SustainedOnCPU-b.SustainedQueued, 0)
	s := fmt.Sprintf("The disk sustained rate's thread ran on a CPU %.0f%% of its time, waited for one %.0f%% and for the disk %.0f%% (%.2f CPU s/GiB)",
		100*b.SustainedOnCPU, 100*b.SustainedQueued, 100*slept, b.SustainedCPU)
	if b.DirectWrite > 0 {
		s += fmt.Sprintf("; the same writes with O_DIRECT, no page cache, reached %.0f MB/s (%.2f× of it) at %.2f CPU s/GiB",
			b.DirectWrite, b.DirectWrite/b.SustainedWrite, b.DirectCPU)
	}
	switch {
	case b.SustainedOnCPU >= cpuBoundShare:
		return s + ". **CPU binds it**: the buffered write into the page cache, not the disk, sets the pace."
	case b.SustainedQueued > slept:
		return s + ". **Other work on these cores binds it**: the thread waited for a CPU more than for the disk, so the figure is not the disk's."
	}
	return s + ". **The disk binds it**: the thread spent most of its time waiting for writes and syncs."
}

// likeForLike says which sustained baseline an acks=all figure is to be
// read against, and why, with what the two cost per GiB: the reusing one,
// since Runnel by default drops the pages it has synced from the page cache
// once they are a keep window behind (segment.dropSynced) and its next
// writes reuse them; the kept one is what a writer whose page cache grows
// pays on this machine (Runnel with runnel.segment.drop.behind=false).
func likeForLike(b Baselines) string {
	s := fmt.Sprintf("acks=all is divided by both sustained rates. **The like-for-like one is the reusing one** (%.0f MB/s at %.2f CPU s/GiB): "+
		"it writes into the pages that the baseline before it has just freed by deleting its file, as Runnel's appends do by default (runnel.segment.drop.behind=true drops synced pages a keep window behind its writes). "+
		"The kept one (%.0f MB/s at %.2f CPU s/GiB; %d MiB were free before the baselines) grows its page cache into free memory, "+
		"as Runnel's does with runnel.segment.drop.behind=false (Kafka's way)",
		b.SustainedWrite, b.SustainedCPU, b.SustainedKept, b.SustainedKeptCPU, b.MemFree>>20)
	if b.SustainedCPU > 0 && b.SustainedKeptCPU > 0 {
		s += fmt.Sprintf(". The kept write cost %.2f× the reusing one's CPU per GiB", b.SustainedKeptCPU/b.SustainedCPU)
	}
	s += ". On a VM whose balloon reports free memory to the host, each page taken from memory free for more than a moment can cost a host fault on first touch; pages just freed do not, " +
		"and when other work has just freed memory the kept write gets such pages too."
	if b.MemFree < 2*b.Bytes {
		s += fmt.Sprintf(" **Memory was short** (%d MiB free for %d MiB kept): the kept writes reclaimed pages rather than growing into free memory.", b.MemFree>>20, 2*b.Bytes>>20)
	}
	return s
}
