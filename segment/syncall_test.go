package segment_test

import (
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"runnel/io/disk/faultfs"
	"runnel/io/flush"
	"runnel/segment"
)

// groupSyncFlusher is a durable flusher that syncs d's logs only through d.SyncAll (GroupMin 1).
func groupSyncFlusher(d *segment.LogDir) *flush.Flusher {
	return flush.New(flush.Config{Policy: flush.Durable, SyncAll: d.SyncAll, GroupMin: 1})
}

// createSyncedLogs creates n logs "t-<i>" in d, each with a first batch synced by Log.Sync.
func createSyncedLogs(t *testing.T, d *segment.LogDir, cfg segment.Config, n int) []*segment.Log {
	t.Helper()
	rng := rand.New(rand.NewSource(int64(n)))
	var logs []*segment.Log
	for i := range n {
		l, err := d.Create(segment.TopicPartition{Topic: "t", Partition: int32(i)}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, randomBatch(rng, 100, 1))
		if _, err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	return logs
}

// openCrashableLogDir opens a LogDir in a new directory through a crashable faultfs, with
// faultConfig for every log.
func openCrashableLogDir(t *testing.T) (*faultfs.FS, segment.Config, *segment.LogDir) {
	t.Helper()
	root := t.TempDir()
	fs := faultfs.NewCrashable(root)
	cfg := faultConfig(fs)
	d, err := segment.OpenLogDir(root, func(string) segment.Config { return cfg }, quietLogger, segment.WithFS(fs))
	if err != nil {
		t.Fatal(err)
	}
	return fs, cfg, d
}

// TestSyncAllCrash runs acks=all load on several logs of a LogDir whose flusher makes them
// durable only with SyncAll (syncfs), with every k-th syncfs failing (0: none), then cuts the
// power: every batch acknowledged durable is there after the crash. A failed syncfs fails its
// waiters with ErrStorageFailed wrapping the errno and takes the directory offline.
func TestSyncAllCrash(t *testing.T) {
	for _, k := range []int{0, 1, 4} {
		t.Run(fmt.Sprint("fail-every=", k), func(t *testing.T) {
			fs, cfg, d := openCrashableLogDir(t)
			f := groupSyncFlusher(d)
			const logs = 4
			created := createSyncedLogs(t, d, cfg, logs)
			// An fdatasync of a segment file fails the test's load: every sync is the flusher's SyncAll.
			fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Every: 1, PathContains: segment.LogSuffix})
			if k > 0 {
				fs.Inject(faultfs.Rule{Op: faultfs.SyncFS, Every: k})
			}
			loads := make([]*faultLoad, logs)
			var wg sync.WaitGroup
			for i, l := range created {
				loads[i] = &faultLoad{acked: map[int64][]byte{}}
				wg.Go(func() { runFaultLoad(t, l, f, int64(k*logs+i), 16, 40, nil, loads[i]) })
			}
			wg.Wait()
			if got := fs.Calls(faultfs.SyncFS); got == 0 {
				t.Fatal("no syncfs")
			}
			acked := 0
			for _, ld := range loads {
				acked += len(ld.acked)
				for _, err := range append(ld.syncErrs, ld.appendErrs...) {
					if k == 0 || !errors.Is(err, segment.ErrStorageFailed) || !errors.Is(err, syscall.EIO) {
						t.Fatalf("error %v (fail-every=%d), want none or ErrStorageFailed wrapping EIO", err, k)
					}
				}
			}
			if k == 1 && acked > 0 {
				t.Fatalf("%d batches acknowledged though every syncfs failed", acked)
			}
			if (k > 0) != (d.Failed() != nil) {
				t.Fatalf("LogDir.Failed() = %v with fail-every=%d", d.Failed(), k)
			}
			clone := filepath.Join(t.TempDir(), "clone")
			if err := fs.CrashClone(clone); err != nil {
				t.Fatal(err)
			}
			f.Close()
			d.Close()

			reopened, err := segment.OpenLogDir(clone, func(string) segment.Config { return faultConfig(nil) }, quietLogger)
			if err != nil {
				t.Fatal(err)
			}
			defer reopened.Close()
			for i, ld := range loads {
				l := reopened.Logs()[segment.TopicPartition{Topic: "t", Partition: int32(i)}]
				if l == nil {
					if len(ld.acked) > 0 {
						t.Fatalf("log %d with %d acknowledged batches gone after the crash", i, len(ld.acked))
					}
					continue
				}
				checkAckedIn(t, l, ld.acked)
			}
		})
	}
}

// TestSyncAllFailureIsSticky: once a syncfs failed, the directory is offline: SyncAll fails
// without calling syncfs again (the kernel reports a writeback error once, so a later syncfs
// could succeed over lost data), and so does every later sync of its logs, flushed offsets
// staying where they were; a log that had nothing to sync keeps what was durable before.
func TestSyncAllFailureIsSticky(t *testing.T) {
	fs := faultfs.New()
	cfg := faultConfig(fs)
	d, err := segment.OpenLogDir(t.TempDir(), func(string) segment.Config { return cfg }, quietLogger, segment.WithFS(fs))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f := groupSyncFlusher(d)
	defer f.Close()
	rng := rand.New(rand.NewSource(5))
	logs := createSyncedLogs(t, d, cfg, 3)
	wait := func(l *segment.Log) error {
		done := make(chan error, 1)
		f.Wait(l, l.EndOffset(), func(err error) { done <- err })
		return <-done
	}
	mustAppend(t, logs[0], randomBatch(rng, 100, 1))
	if err := wait(logs[0]); err != nil {
		t.Fatal(err)
	}
	var flushed []int64
	for _, l := range logs {
		flushed = append(flushed, l.FlushedOffset())
	}

	fs.Inject(faultfs.Rule{Op: faultfs.SyncFS, Nth: 1})
	for _, l := range logs[1:] {
		mustAppend(t, l, randomBatch(rng, 100, 1))
	}
	if err := wait(logs[1]); !errors.Is(err, segment.ErrStorageFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("waiter of the failed syncfs: %v, want ErrStorageFailed wrapping EIO", err)
	}
	first := d.Failed()
	if first == nil {
		t.Fatal("LogDir.Failed() = nil after a failed syncfs")
	}
	calls := fs.Calls(faultfs.SyncFS)
	if err := d.SyncAll(); err != first {
		t.Fatalf("SyncAll after the failure: %v, want %v", err, first)
	}
	if got := fs.Calls(faultfs.SyncFS); got != calls {
		t.Fatal("SyncAll called syncfs again after a failure")
	}
	for i, l := range logs {
		if err := wait(l); err != first {
			t.Fatalf("log %d: waiter after the failure got %v, want %v", i, err, first)
		}
		if _, err := l.Sync(); err != first {
			t.Fatalf("log %d: Sync after the failure: %v, want %v", i, err, first)
		}
	}
	for i, l := range logs {
		if got := l.FlushedOffset(); got != flushed[i] {
			t.Fatalf("log %d: flushed offset moved from %d to %d after the failed syncfs", i, flushed[i], got)
		}
	}
}

// TestEpochsAfterCrash: Sync does not write leader-epoch-checkpoint, WriteCheckpoints makes it
// durable before the recovery points. A power cut at any of these points leaves logs whose
// epochs, after recovery, are those recorded before the cut: before any checkpoint (recovery
// rebuilds them from the batches), after one whose recovery points pass sealed segments that
// recovery then does not read (the epochs file has them), after one that could not write an
// epochs file (the recovery points stay behind), and after a LogDir.Close that could not (it
// writes the recovery points, but not past them): closing each log with its fdatasyncs (a
// kernel whose syncfs reports no writeback error), or all with syncfs, which fails.
func TestEpochsAfterCrash(t *testing.T) {
	for _, stage := range []string{"no-checkpoint", "checkpoint", "epochs-failed", "close-failed", "close-syncfs-failed"} {
		t.Run(stage, func(t *testing.T) {
			fs, cfg, d := openCrashableLogDir(t)
			defer d.Close()
			f := groupSyncFlusher(d)
			defer f.Close()
			rng := rand.New(rand.NewSource(int64(len(stage))))
			const logs = 3
			var created []*segment.Log
			// appendEpoch appends about 1.5 segments of epoch's batches to every log, so that
			// each epoch starts in a segment that a later one seals, and waits for the flusher.
			appendEpoch := func(epoch int32) {
				for _, l := range created {
					for range 24 {
						mustAppendEpoch(t, l, randomBatch(rng, 64<<10, 1), epoch)
					}
					done := make(chan error, 1)
					f.Wait(l, l.EndOffset(), func(err error) { done <- err })
					if err := <-done; err != nil {
						t.Fatal(err)
					}
				}
			}
			for i := range logs {
				l, err := d.Create(segment.TopicPartition{Topic: "t", Partition: int32(i)}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				created = append(created, l)
			}
			appendEpoch(1)
			appendEpoch(3)
			switch stage {
			case "checkpoint":
				if err := d.WriteCheckpoints(); err != nil {
					t.Fatal(err)
				}
			case "epochs-failed":
				fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Every: 1, PathContains: "leader-epoch-checkpoint", Errno: syscall.ENOSPC})
				if err := d.WriteCheckpoints(); !errors.Is(err, segment.ErrNoSpace) {
					t.Fatalf("WriteCheckpoints with no space for the epochs: %v, want ErrNoSpace", err)
				}
				fs.Clear()
			}
			appendEpoch(5)
			want := make([][]segment.EpochEntry, logs)
			for i, l := range created {
				want[i] = l.LeaderEpochs()
				if len(want[i]) != 3 {
					t.Fatalf("log %d: epochs %v before the crash, want 3", i, want[i])
				}
			}
			switch stage {
			case "close-failed":
				fs.SetSyncFSReportsErrors(false)
				fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Every: 1, PathContains: "leader-epoch-checkpoint"})
				f.Close()
				if err := d.Close(); !errors.Is(err, syscall.EIO) {
					t.Fatalf("LogDir.Close that cannot write the epochs: %v, want EIO", err)
				}
			case "close-syncfs-failed":
				if !d.SyncAllReportsErrors() {
					t.Skip("syncfs reports no writeback errors here: LogDir.Close syncs each log")
				}
				fs.Inject(faultfs.Rule{Op: faultfs.SyncFS, Nth: 1})
				f.Close()
				if err := d.Close(); !errors.Is(err, syscall.EIO) {
					t.Fatalf("LogDir.Close whose syncfs fails: %v, want EIO", err)
				}
			}
			clone := filepath.Join(t.TempDir(), "clone")
			if err := fs.CrashClone(clone); err != nil {
				t.Fatal(err)
			}

			reopened, err := segment.OpenLogDir(clone, func(string) segment.Config { return faultConfig(nil) }, quietLogger)
			if err != nil {
				t.Fatal(err)
			}
			defer reopened.Close()
			for i := range logs {
				l := reopened.Logs()[segment.TopicPartition{Topic: "t", Partition: int32(i)}]
				if got := l.LeaderEpochs(); !slices.Equal(got, want[i]) {
					t.Fatalf("log %d: epochs %v after the crash, want %v", i, got, want[i])
				}
				if got := l.EndOffset(); got != created[i].EndOffset() {
					t.Fatalf("log %d: end %d after the crash, want %d", i, got, created[i].EndOffset())
				}
			}
		})
	}
}
