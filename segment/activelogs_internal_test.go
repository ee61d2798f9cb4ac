package segment

import (
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fixedClock returns a clock that tells *now.
func fixedClock(now *time.Time) func() time.Time { return func() time.Time { return *now } }

// TestActiveLogsCountsEpochs: the logs that appended in this or the last epoch count, each
// once however often it appends; before any has joined, every open log does; a log alone again
// counts alone once the epoch that saw the others has passed, and after a pause the epoch's
// own joins count.
func TestActiveLogsCountsEpochs(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newActiveLogs()
	a.now = fixedClock(&now)
	for range 1000 {
		a.open()
	}
	if n := a.active(); n != 1000 {
		t.Fatalf("no log joined yet: %d active, want the 1,000 open", n)
	}
	joined := make([]int64, 1000)
	a.join(&joined[0])
	a.join(&joined[0])
	if n := a.active(); n != 1 {
		t.Fatalf("one log joined twice: %d active, want 1", n)
	}
	for i := range joined {
		a.join(&joined[i])
	}
	if n := a.active(); n != 1000 {
		t.Fatalf("1,000 logs joined: %d active, want 1,000", n)
	}
	now = now.Add(activeEpoch)
	a.join(&joined[0])
	if n := a.active(); n != 1000 {
		t.Fatalf("next epoch, 1,000 logs active in the last: %d active, want 1,000", n)
	}
	now = now.Add(activeEpoch)
	a.join(&joined[0])
	if n := a.active(); n != 1 {
		t.Fatalf("one log active in the last epoch: %d active, want 1", n)
	}
	now = now.Add(10 * activeEpoch) // a pause: the previous epoch saw no append
	for i := range 3 {
		a.join(&joined[i])
	}
	if n := a.active(); n != 3 {
		t.Fatalf("after a pause, 3 logs joined: %d active, want 3", n)
	}
	for range 1000 {
		a.close()
	}
	if n := a.opened.Load(); n != 0 {
		t.Fatalf("all closed: %d open", n)
	}
}

// TestDropChunkFollowsActiveLogs: the step a log drops synced pages in shrinks with its share
// of dropChunkTotal, in whole 64 KiB, from 1 MiB (up to 256 active logs) to 64 KiB; the keep
// window shrinks with the same count.
func TestDropChunkFollowsActiveLogs(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newActiveLogs()
	a.now = fixedClock(&now)
	joined := make([]int64, 10000)
	a.join(&joined[0])
	if c := a.dropChunk(); c != maxDropChunk {
		t.Fatalf("one active log: chunk %d, want %d", c, maxDropChunk)
	}
	if w, want := a.keepWindow(DefaultCacheKeep), min(int64(DefaultCacheKeep), keepCap(), maxKeepWindow); w != want {
		t.Fatalf("one active log: keep window %d, want %d", w, want)
	}
	for i := range 1000 {
		a.join(&joined[i])
	}
	if c, want := a.dropChunk(), int64(dropChunkTotal)/1000/minDropChunk*minDropChunk; c != want {
		t.Fatalf("1,000 active logs: chunk %d, want %d", c, want)
	}
	if w, want := a.keepWindow(DefaultCacheKeep), max(min(int64(DefaultCacheKeep), keepCap())/1000, minKeepWindow); w != want {
		t.Fatalf("1,000 active logs: keep window %d, want %d", w, want)
	}
	for i := range joined {
		a.join(&joined[i])
	}
	if c := a.dropChunk(); c != minDropChunk {
		t.Fatalf("10,000 active logs: chunk %d, want %d", c, minDropChunk)
	}
	// Their windows add up to the total, not to 10,000 floors.
	if w, want := a.keepWindow(DefaultCacheKeep), max(min(int64(DefaultCacheKeep), keepCap())/10000, minKeepWindow); w != want {
		t.Fatalf("10,000 active logs: keep window %d, want %d", w, want)
	}
	more := make([]int64, 20000)
	for i := range more {
		a.join(&more[i])
	}
	if w := a.keepWindow(DefaultCacheKeep); w != minKeepWindow {
		t.Fatalf("30,000 active logs: keep window %d, want %d", w, minKeepWindow)
	}
}

// TestManyLogsReserveWhatTheyHold: 1,000 logs of a directory with 4 KiB preallocation, each
// holding one small batch, fallocate at most a chunk ahead of what they hold.
func TestManyLogsReserveWhatTheyHold(t *testing.T) {
	const logs = 1000
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	cfg.PreallocateBytes = 4 << 10
	cfg.SegmentIndexBytes = 4 << 10
	path := t.TempDir()
	d, err := OpenLogDir(path, func(string) Config { return cfg }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for p := range logs {
		if _, err := d.Create(TopicPartition{Topic: "t", Partition: int32(p)}, cfg); err != nil {
			t.Fatal(err)
		}
	}
	for tp, l := range d.Logs() {
		batch := BuildBatch(nil, 0, []KeyValue{{Value: []byte(strings.Repeat("v", 1000))}})
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			t.Fatalf("%v: %v", tp, err)
		}
	}
	var held, reserved int64
	err = filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, logSuffix) {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		reserved += info.Sys().(*syscall.Stat_t).Blocks * 512
		for _, l := range d.Logs() {
			if filepath.Dir(p) == l.dir {
				held += l.mu.active.size.Load()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if limit := held + logs*cfg.PreallocateBytes; reserved > limit {
		t.Fatalf("%d logs holding %d bytes reserve %s, over %s (a chunk each ahead)", logs, held, mib(reserved), mib(limit))
	}
	t.Logf("%d logs hold %s and reserve %s", logs, mib(held), mib(reserved))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
