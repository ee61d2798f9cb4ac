package bench

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Baselines are the raw figures a broker's are divided by, measured in the
// same run on the same disk and loopback, in MB/s (10^6 bytes).
type Baselines struct {
	// PageCacheWrite is sequential 1 MiB pwrites without sync: the ceiling
	// of an acks=1 append path.
	PageCacheWrite float64 `json:"page_cache_write_mb_per_sec"`
	// DurableWrite is sequential 1 MiB pwrite + fdatasync: the ceiling of
	// an acks=all path that syncs every MiB.
	DurableWrite float64 `json:"durable_write_mb_per_sec"`
	// SustainedWrite is sequential 1 MiB pwrites with an fdatasync every
	// SustainedSyncBytes: the disk's sustained durable rate, what a perfect
	// group commit reaches, and the ceiling of acks=all throughput.
	SustainedWrite float64 `json:"sustained_write_mb_per_sec"`
	// Loopback is one TCP stream over 127.0.0.1 in 1 MiB writes.
	Loopback float64 `json:"loopback_tcp_mb_per_sec"`
	// Bytes is how much each disk figure wrote.
	Bytes int64 `json:"bytes"`
}

const baselineChunk = 1 << 20

// SustainedSyncBytes is how much SustainedWrite writes between fdatasyncs.
const SustainedSyncBytes = 16 << 20

// measureDisk writes total bytes sequentially in 1 MiB pwrites to a new
// file in dir, with an fdatasync after every syncEvery bytes (a multiple
// of the chunk; 0 for none) and after the last chunk.
func measureDisk(dir string, total, syncEvery int64) (float64, error) {
	f, err := os.CreateTemp(dir, "baseline-*.dat")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, baselineChunk)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	fd := int(f.Fd())
	start := time.Now()
	for off := int64(0); off < total; off += baselineChunk {
		if _, err := unix.Pwrite(fd, buf, off); err != nil {
			return 0, fmt.Errorf("bench: pwrite: %w", err)
		}
		if end := off + baselineChunk; syncEvery > 0 && (end%syncEvery == 0 || end >= total) {
			if err := unix.Fdatasync(fd); err != nil {
				return 0, fmt.Errorf("bench: fdatasync: %w", err)
			}
		}
	}
	return float64(total) / time.Since(start).Seconds() / 1e6, nil
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

// measureBaselines runs the four baselines, writing diskBytes in dir.
func measureBaselines(dir string, diskBytes int64, loopback time.Duration) (Baselines, error) {
	b := Baselines{Bytes: diskBytes}
	var err error
	if err = os.MkdirAll(filepath.Clean(dir), 0o755); err != nil {
		return b, err
	}
	if b.PageCacheWrite, err = measureDisk(dir, diskBytes, 0); err != nil {
		return b, err
	}
	if b.DurableWrite, err = measureDisk(dir, diskBytes, baselineChunk); err != nil {
		return b, err
	}
	if b.SustainedWrite, err = measureDisk(dir, diskBytes, SustainedSyncBytes); err != nil {
		return b, err
	}
	b.Loopback, err = measureLoopback(loopback)
	return b, err
}
