package segment_test

import (
	"bytes"
	"cmp"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"runnel/io/disk/faultfs"
	"runnel/segment"
)

// The faults and crashes of LogDir.Close's syncfs path (closeLogsUnsynced): each log closed
// without a sync of its own, one syncfs for the data, the deferred renames, a second syncfs,
// then the logs' ends published durable, the checkpoints and the clean-shutdown marker. The
// directory and its logs share a crashable faultfs, whose syncfs is the kernel's (so the path
// is taken where the kernel's syncfs reports writeback errors) and which records what each
// syncfs made durable.

// closeFaultLogs is how many logs the tests close; each has batches synced before the Close,
// then an unsynced tail in a new leader epoch that rolls a segment in half of them.
const closeFaultLogs = 6

// closeFaultDir is a LogDir through a crashable faultfs, with what was appended to its logs.
type closeFaultDir struct {
	root string
	fs   *faultfs.FS
	d    *segment.LogDir
	logs []*segment.Log
	// per log: every batch appended (by base offset, as stored), the end that was durable
	// before Close (Sync'ed: acknowledged), the end before Close, the epochs before Close
	appended []map[int64][]byte
	synced   []int64
	ends     []int64
	epochs   [][]segment.EpochEntry
}

// openCloseFaultDir opens a LogDir in a new directory through a crashable faultfs shared with
// its logs (or the logs use logFS, if not nil), fills closeFaultLogs logs and checks that
// Close can take the syncfs path.
func openCloseFaultDir(t *testing.T, seed int64, logFS *faultfs.FS) *closeFaultDir {
	t.Helper()
	root := filepath.Join(t.TempDir(), "data")
	fs := faultfs.NewCrashable(root)
	cfg := faultConfig(cmp.Or(logFS, fs))
	d, err := segment.OpenLogDir(root, func(string) segment.Config { return cfg }, quietLogger, segment.WithFS(fs))
	if err != nil {
		t.Fatal(err)
	}
	if !d.SyncAllReportsErrors() {
		d.Close()
		t.Skip("this kernel's syncfs reports no writeback errors: LogDir.Close syncs each log")
	}
	c := &closeFaultDir{root: root, fs: fs, d: d}
	rng := rand.New(rand.NewSource(seed))
	for i := range closeFaultLogs {
		l, err := d.Create(segment.TopicPartition{Topic: "t", Partition: int32(i)}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		appended := map[int64][]byte{}
		add := func(n, size int, epoch int32) {
			for range n {
				b := randomBatch(rng, size, 1)
				info, err := l.Append(b, segment.AppendOptions{LeaderEpoch: epoch})
				if err != nil {
					t.Fatal(err)
				}
				appended[info.FirstOffset] = b // stamped in place: the stored bytes
			}
		}
		add(20+i, 2000, 1)
		if _, err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		synced := l.FlushedOffset()
		if synced != l.EndOffset() {
			t.Fatalf("log %d: flushed %d after Sync, end %d", i, synced, l.EndOffset())
		}
		if i%2 == 0 {
			add(20, 60<<10, 2) // 1.2 MiB: past the 1 MiB segment, an unsynced roll
		} else {
			add(10, 3000, 2)
		}
		c.logs = append(c.logs, l)
		c.appended = append(c.appended, appended)
		c.synced = append(c.synced, synced)
		c.ends = append(c.ends, l.EndOffset())
		c.epochs = append(c.epochs, l.LeaderEpochs())
	}
	return c
}

// checkNotPublished checks what a Close that failed left: no log's flushed offset past what
// Sync made durable before it, no recovery point past it either, no clean-shutdown marker.
func (c *closeFaultDir) checkNotPublished(t *testing.T) {
	t.Helper()
	for i, l := range c.logs {
		if got := l.FlushedOffset(); got != c.synced[i] {
			t.Errorf("log %d: flushed offset %d after the failed Close, want %d (synced before it)", i, got, c.synced[i])
		}
	}
	points, err := segment.ReadOffsetCheckpoint(filepath.Join(c.root, "recovery-point-offset-checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	for tp, p := range points {
		if p > c.synced[tp.Partition] {
			t.Errorf("log %d: recovery point %d written, past the %d synced before the failed Close", tp.Partition, p, c.synced[tp.Partition])
		}
	}
	if _, err := os.Stat(filepath.Join(c.root, ".kafka_cleanshutdown")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("clean-shutdown marker after a failed Close (stat: %v)", err)
	}
}

// What a reopen after the Close should find of the batches appended before it.
type closeKept int

const (
	keptSynced     closeKept = iota // those synced before it, at least
	keptOnlySynced                  // exactly those: a power cut before any syncfs of the Close
	keptAll                         // all, and their epochs: the first syncfs passed
)

// reopenAndCheck opens dir (the directory, or what a crash left of it) with the OS's files and
// checks each log: every batch synced before Close is there byte for byte, every batch there
// is one that was appended, unaltered and in order, and the log ends where kept says. clean says whether the open
// should trust the files (the marker); otherwise it must have recovered every log, scanning
// its segments past the recovery point. No temporary file of the Close is left in a log's
// directory (with 10,000 logs, a crash leaves 10,000 new leader-epoch-checkpoints, each
// waiting for its rename: at every crash, 10,000 more files). The directory is closed cleanly and reopened, clean,
// with the same batches: the broker restarts on its own data.
func (c *closeFaultDir) reopenAndCheck(t *testing.T, dir string, kept closeKept, clean bool) {
	t.Helper()
	cfgFor := func(string) segment.Config { return faultConfig(nil) }
	logger, logs := captureLogger()
	d, err := segment.OpenLogDir(dir, cfgFor, logger)
	if err != nil {
		t.Fatalf("reopen %s: %v", dir, err)
	}
	if want := "clean=" + map[bool]string{true: "true", false: "false"}[clean]; !strings.Contains(logs.String(), want) {
		t.Fatalf("reopen %s: want %s\n%s", dir, want, logs)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*", "*.tmp")); len(tmps) > 0 {
		t.Errorf("reopen %s: temporary files of the Close left in the logs: %v", dir, tmps)
	}
	scanned := map[int32]int{}
	report := d.ScanReport()
	for _, s := range report.Logs {
		scanned[s.Partition.Partition] = s.Segments
		if len(s.Damage) > 0 {
			t.Errorf("reopen %s: log %d damaged: %v", dir, s.Partition.Partition, s.Damage)
		}
	}
	var batches [][][]byte
	for i := range c.logs {
		l := d.Logs()[segment.TopicPartition{Topic: "t", Partition: int32(i)}]
		if l == nil {
			t.Fatalf("reopen %s: log %d missing", dir, i)
		}
		if !clean && scanned[int32(i)] == 0 {
			t.Errorf("reopen %s: log %d not recovered (no segment scanned) after an unclean shutdown", dir, i)
		}
		batches = append(batches, c.checkLog(t, l, i, kept))
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close after the reopen of %s: %v", dir, err)
	}
	d, err = segment.OpenLogDir(dir, cfgFor, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := range c.logs {
		l := d.Logs()[segment.TopicPartition{Topic: "t", Partition: int32(i)}]
		equalBatches(t, readAllBatches(t, l, 0, false), batches[i])
		if got := l.FlushedOffset(); got != l.EndOffset() {
			t.Errorf("log %d: flushed %d, end %d after a clean close and reopen", i, got, l.EndOffset())
		}
	}
}

// checkLog checks log i as reopened (see reopenAndCheck) and returns its batches.
func (c *closeFaultDir) checkLog(t *testing.T, l *segment.Log, i int, kept closeKept) [][]byte {
	t.Helper()
	appended := c.appended[i]
	batches := readAllBatches(t, l, 0, false)
	next := int64(0)
	for _, b := range batches {
		h, err := segment.ValidateBatch(b)
		if err != nil || h.BaseOffset != next {
			t.Fatalf("log %d: batch at %d: %v (base %d)", i, next, err, h.BaseOffset)
		}
		if !bytes.Equal(b, appended[next]) {
			t.Fatalf("log %d: batch at %d is not the one appended there", i, next)
		}
		next = h.LastOffset() + 1
	}
	if next != l.EndOffset() {
		t.Fatalf("log %d: batches end at %d, EndOffset %d", i, next, l.EndOffset())
	}
	if next < c.synced[i] {
		t.Fatalf("log %d: ends at %d, before the %d synced before Close", i, next, c.synced[i])
	}
	if kept == keptOnlySynced && next != c.synced[i] {
		t.Fatalf("log %d: ends at %d, want %d: nothing past what was synced before Close was durable", i, next, c.synced[i])
	}
	if kept == keptAll {
		if next != c.ends[i] {
			t.Fatalf("log %d: ends at %d, want %d: the syncfs made all of it durable", i, next, c.ends[i])
		}
		if got := l.LeaderEpochs(); !slices.Equal(got, c.epochs[i]) {
			t.Fatalf("log %d: epochs %v, want %v", i, got, c.epochs[i])
		}
	}
	return batches
}

// TestLogDirCloseSyncFSFaults fails a step of the syncfs close: the first syncfs (nothing the
// Close wrote is durable, and Linux drops the writes it could not write back), the second (the
// data is durable, the renames are not), with EIO and with ENOSPC (which syncfs returns for a
// writeback that found no space: thin provisioning, NFS), and, with ENOSPC, the writes of the
// new leader-epoch-checkpoint and its deferred rename, which a full disk refuses. Close returns
// the error and publishes no log's end as durable (no syncfs failure publishes any; a log's
// own failure, that log's), writes no recovery point past what was synced and no
// clean-shutdown marker. Then a restart on the directory (the process died, the page cache
// lived) and a start on what a power cut right after the Close left both recover every log and
// serve every batch synced before the Close, and nothing altered.
func TestLogDirCloseSyncFSFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rule  faultfs.Rule
		errno syscall.Errno
		// failed: the log that the fault fails (-1: all, a syncfs); cut: what a power cut
		// right after the Close keeps
		failed int
		cut    closeKept
	}{
		{"syncfs1-EIO", faultfs.Rule{Op: faultfs.SyncFS, Nth: 1}, syscall.EIO, -1, keptOnlySynced},
		{"syncfs2-EIO", faultfs.Rule{Op: faultfs.SyncFS, Nth: 2}, syscall.EIO, -1, keptAll},
		{"syncfs1-ENOSPC", faultfs.Rule{Op: faultfs.SyncFS, Nth: 1, Errno: syscall.ENOSPC}, syscall.ENOSPC, -1, keptOnlySynced},
		{"syncfs2-ENOSPC", faultfs.Rule{Op: faultfs.SyncFS, Nth: 2, Errno: syscall.ENOSPC}, syscall.ENOSPC, -1, keptAll},
		{"epochs-write-ENOSPC", faultfs.Rule{Op: faultfs.Pwrite, Nth: 1, Errno: syscall.ENOSPC, PathContains: "t-3/leader-epoch-checkpoint"}, syscall.ENOSPC, 3, keptAll},
		{"epochs-rename-ENOSPC", faultfs.Rule{Op: faultfs.Rename, Nth: 1, Errno: syscall.ENOSPC, PathContains: "t-4/leader-epoch-checkpoint"}, syscall.ENOSPC, 4, keptAll},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openCloseFaultDir(t, int64(len(tc.name)), nil)
			syncfsBefore := c.fs.Calls(faultfs.SyncFS)
			c.fs.Inject(tc.rule)
			err := c.d.Close()
			if !errors.Is(err, tc.errno) {
				t.Fatalf("Close: %v, want %v", err, tc.errno)
			}
			if c.fs.Injected() != 1 {
				t.Fatalf("%d faults injected, want 1", c.fs.Injected())
			}
			if got := c.fs.Calls(faultfs.SyncFS) - syncfsBefore; got == 0 || got > 2 {
				t.Fatalf("Close made %d syncfs calls, want the syncfs path's 1 or 2", got)
			}
			if tc.failed < 0 {
				if !errors.Is(err, segment.ErrStorageFailed) || c.d.Failed() == nil {
					t.Fatalf("Close: %v, and Failed() = %v; want a failed syncfs to fail the directory", err, c.d.Failed())
				}
				c.checkNotPublished(t)
			} else {
				if errors.Is(err, segment.ErrStorageFailed) || c.d.Failed() != nil {
					t.Fatalf("Close: %v, and Failed() = %v; want a full disk not to fail the directory", err, c.d.Failed())
				}
				if !errors.Is(err, segment.ErrNoSpace) || !c.d.ShortOfSpace() {
					t.Errorf("Close: %v, short of space %v; want ErrNoSpace and the directory short of space", err, c.d.ShortOfSpace())
				}
				if got := c.logs[tc.failed].FlushedOffset(); got != c.synced[tc.failed] {
					t.Errorf("log %d, whose epochs the disk refused: flushed offset %d, want %d", tc.failed, got, c.synced[tc.failed])
				}
				if _, err := os.Stat(filepath.Join(c.root, ".kafka_cleanshutdown")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("clean-shutdown marker after a failed Close (stat: %v)", err)
				}
			}
			clone := filepath.Join(t.TempDir(), "clone")
			if err := c.fs.CrashClone(clone); err != nil {
				t.Fatal(err)
			}
			t.Run("restart", func(t *testing.T) { c.reopenAndCheck(t, c.root, keptAll, false) })
			t.Run("power-cut", func(t *testing.T) { c.reopenAndCheck(t, clone, tc.cut, false) })
		})
	}
}

// TestLogDirCloseSyncFSCrash cuts the power at each step of the syncfs close: before the first
// syncfs (the logs closed, trimmed and their new snapshot and epochs files written, nothing
// synced), before the first of the deferred renames, halfway through them, before the second
// syncfs, after it (before the checkpoints and the marker), and after Close returned. Each time
// the directory reopens with every batch synced before the Close began, nothing altered; from
// the first syncfs on, with every batch and its epochs; only after Close, cleanly.
func TestLogDirCloseSyncFSCrash(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule faultfs.Rule // Crash set by the test; zero: crash after Close
		kept closeKept
	}{
		{"before-syncfs1", faultfs.Rule{Op: faultfs.SyncFS, Nth: 1}, keptOnlySynced},
		{"before-renames", faultfs.Rule{Op: faultfs.Rename, Nth: 1}, keptAll},
		{"mid-renames", faultfs.Rule{Op: faultfs.Rename, Nth: closeFaultLogs}, keptAll},
		{"before-syncfs2", faultfs.Rule{Op: faultfs.SyncFS, Nth: 2}, keptAll},
		{"after-syncfs2", faultfs.Rule{Op: faultfs.SyncFS, Nth: 2, After: true}, keptAll},
		{"after-close", faultfs.Rule{}, keptAll},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openCloseFaultDir(t, int64(len(tc.name)), nil)
			clone := filepath.Join(t.TempDir(), "clone")
			if tc.rule == (faultfs.Rule{}) {
				if err := c.d.Close(); err != nil {
					t.Fatal(err)
				}
				if err := c.fs.CrashClone(clone); err != nil {
					t.Fatal(err)
				}
				c.reopenAndCheck(t, clone, keptAll, true)
				return
			}
			tc.rule.Crash = clone
			c.fs.Inject(tc.rule)
			err := c.d.Close()
			if dst, cerr := c.fs.Crashed(); dst != clone || cerr != nil {
				t.Fatalf("the crash at %s did not happen (%q, %v); Close: %v", tc.name, dst, cerr, err)
			}
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("Close on a crashed FS: %v, want EIO", err)
			}
			c.checkNotPublished(t)
			t.Run("power-cut", func(t *testing.T) { c.reopenAndCheck(t, clone, tc.kept, false) })
			// The process died there and the page cache lived: what the Close wrote is all there.
			t.Run("restart", func(t *testing.T) { c.reopenAndCheck(t, c.root, keptAll, false) })
		})
	}
}

// TestLogDirCloseAsksFS: Close takes the syncfs path only where the directory's FS says its
// syncfs reports writeback errors, and every log uses that FS; otherwise each log syncs its
// own files, and Close makes no syncfs call.
func TestLogDirCloseAsksFS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reports   bool
		logsOwnFS bool // the logs use another FS than the directory's
		want      bool
	}{
		{"reports", true, false, true},
		{"silent", false, false, false},
		{"logs-elsewhere", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logFS := faultfs.New()
			if !tc.logsOwnFS {
				logFS = nil
			}
			c := openCloseFaultDir(t, 7, logFS)
			logFS = cmp.Or(logFS, c.fs)
			c.fs.SetSyncFSReportsErrors(tc.reports)
			before, fdatasyncs := c.fs.Calls(faultfs.SyncFS), logFS.Calls(faultfs.Fdatasync)
			if err := c.d.Close(); err != nil {
				t.Fatal(err)
			}
			if got := c.fs.Calls(faultfs.SyncFS) - before; (got == 2) != tc.want || (got != 0 && got != 2) {
				t.Fatalf("Close made %d syncfs calls; want the syncfs path: %v", got, tc.want)
			}
			if got := logFS.Calls(faultfs.Fdatasync) - fdatasyncs; (got == 0) != tc.want {
				t.Fatalf("Close made %d fdatasyncs through the FS; want the syncfs path: %v", got, tc.want)
			}
			c.reopenAndCheck(t, c.root, keptAll, true)
		})
	}
}
