package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DiskState is what the runs before leave to the next one on the work
// directory's disk: pages not yet written back, writes and discards still
// in the device, and the space left.
type DiskState struct {
	DirtyKiB     int64 `json:"dirty_kib"`     // /proc/meminfo Dirty
	WritebackKiB int64 `json:"writeback_kib"` // /proc/meminfo Writeback
	// InFlight are the device's requests in flight; DiscardSectors and
	// DiscardMillis its cumulative discards (512-byte sectors) and the
	// time spent on them (/sys/dev/block/M:m/stat; -1 when unreadable).
	InFlight       int64 `json:"in_flight"`
	DiscardSectors int64 `json:"discard_sectors"`
	DiscardMillis  int64 `json:"discard_ms"`
	FreeBytes      int64 `json:"free_bytes"`
}

// Settle is how a run's start was brought to the same state as any
// other's: the previous target stopped and its data directory removed,
// then the file system synced (syncfs) and the device waited for until
// its writes and discards were done.
type Settle struct {
	Before DiskState `json:"before"`
	After  DiskState `json:"after"`
	// SyncSeconds is the syncfs; WaitSeconds the wait for the device's
	// queue to empty and its discard counter to stop moving after it.
	SyncSeconds float64 `json:"sync_seconds"`
	WaitSeconds float64 `json:"wait_seconds"`
	// Skipped: RUNNEL_BENCH_SETTLE=0 asked for no settling (Before and
	// After are then the same reading).
	Skipped bool `json:"skipped,omitempty"`
	// During is the device's discards and the dirty pages' peak over the
	// run, from the state after settling to the state at its end.
	DiscardMiBDuring float64 `json:"discard_mib_during"`
}

// settleTimeout bounds the wait for the device: a disk that never goes
// idle (another process writing) must not stop the matrix.
const settleTimeout = 20 * time.Second

// readDiskState reads the state of the disk under dir.
func readDiskState(dir string) DiskState {
	s := DiskState{InFlight: -1, DiscardSectors: -1, DiscardMillis: -1}
	s.DirtyKiB, s.WritebackKiB = meminfoKiB("Dirty"), meminfoKiB("Writeback")
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) == nil {
		s.FreeBytes = int64(st.Bavail) * st.Bsize
	}
	if f := deviceStat(dir); len(f) >= 11 {
		s.InFlight = f[8]
		if len(f) >= 15 {
			s.DiscardSectors, s.DiscardMillis = f[13], f[14]
		}
	}
	return s
}

// meminfoKiB is a /proc/meminfo field in KiB (-1 when absent).
func meminfoKiB(key string) int64 {
	var v int64 = -1
	fmt.Sscanf(procField("/proc/meminfo", key), "%d", &v)
	return v
}

// deviceStat are the fields of /sys/dev/block/M:m/stat for the device of
// dir (nil when unreadable: not Linux, or a device without one).
func deviceStat(dir string) []int64 {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/sys/dev/block/%d:%d/stat", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return nil
	}
	var out []int64
	for _, w := range strings.Fields(sc.Text()) {
		n, err := strconv.ParseInt(w, 10, 64)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

// settleDisk syncs the file system of dir and waits until no page is under
// writeback and the device has issued no discard for quiet (not for its
// queue to empty: other processes may share the disk), so that a run
// does not pay for the writeback and the discards of the data the runs
// before it wrote and removed. RUNNEL_BENCH_SETTLE=0 skips it (to measure
// what it changes).
func settleDisk(dir string) Settle {
	const quiet = 500 * time.Millisecond
	s := Settle{Before: readDiskState(dir)}
	if os.Getenv("RUNNEL_BENCH_SETTLE") == "0" {
		s.After, s.Skipped = s.Before, true
		return s
	}
	start := time.Now()
	if fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
		_ = unix.Syncfs(fd)
		unix.Close(fd)
	}
	s.SyncSeconds = time.Since(start).Seconds()
	waitFrom := time.Now()
	last, lastChange := readDiskState(dir), time.Now()
	for time.Since(waitFrom) < settleTimeout {
		time.Sleep(50 * time.Millisecond)
		cur := readDiskState(dir)
		if cur.DiscardSectors != last.DiscardSectors || cur.WritebackKiB > 0 {
			lastChange = time.Now()
		}
		last = cur
		if time.Since(lastChange) >= quiet {
			break
		}
	}
	s.WaitSeconds = time.Since(waitFrom).Seconds()
	s.After = last
	return s
}

// finish records the discards issued between the settled start and end.
func (s *Settle) finish(end DiskState) {
	if end.DiscardSectors >= 0 && s.After.DiscardSectors >= 0 {
		s.DiscardMiBDuring = float64(end.DiscardSectors-s.After.DiscardSectors) * 512 / (1 << 20)
	}
}

// String is the settle's line in the harness's log.
func (s Settle) String() string {
	b, a := s.Before, s.After
	return fmt.Sprintf("settle: before dirty %d KiB, writeback %d KiB, in flight %d; syncfs %.2f s, device wait %.2f s (skipped %v); after dirty %d KiB, writeback %d KiB; free %.1f GiB",
		b.DirtyKiB, b.WritebackKiB, b.InFlight, s.SyncSeconds, s.WaitSeconds, s.Skipped, a.DirtyKiB, a.WritebackKiB, float64(a.FreeBytes)/(1<<30))
}
