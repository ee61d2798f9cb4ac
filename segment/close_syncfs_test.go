package segment_test

import (
	"io/fs"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"runnel/segment"
)

// TestLogDirCloseUnsynced: a LogDir on the OS's files closes its logs without syncing each
// (two syncfs calls where the kernel reports writeback errors through them): every log's end
// is published durable before the checkpoints, the snapshot and leader-epoch-checkpoint are in
// place under their names with no temporary file left, and the next open is clean and finds
// every record.
func TestLogDirCloseUnsynced(t *testing.T) {
	root := t.TempDir()
	d, err := segment.OpenLogDir(root, nil, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	cfg := segment.DefaultConfig()
	cfg.PreallocateBytes = 64 << 10
	ends := map[int32]int64{}
	var logs []*segment.Log
	for i := range 40 {
		l, err := d.Create(segment.TopicPartition{Topic: "t", Partition: int32(i)}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for range i%5 + 1 {
			mustAppendEpoch(t, l, randomBatch(rng, 200, 1), int32(i%3+1))
		}
		ends[int32(i)] = l.EndOffset()
		logs = append(logs, l)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for i, l := range logs {
		if got := l.FlushedOffset(); got != ends[int32(i)] {
			t.Errorf("log %d: flushed offset %d after Close, want its end %d", i, got, ends[int32(i)])
		}
	}
	snapshots, epochFiles := 0, 0
	filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".tmp") {
			t.Errorf("temporary file left: %s", path)
		}
		if strings.HasSuffix(path, segment.SnapshotSuffix) {
			snapshots++
		}
		if filepath.Base(path) == "leader-epoch-checkpoint" {
			epochFiles++
		}
		return nil
	})
	if snapshots < len(logs) || epochFiles != len(logs) {
		t.Errorf("%d snapshots and %d leader-epoch-checkpoint files for %d logs", snapshots, epochFiles, len(logs))
	}
	d, err = segment.OpenLogDir(root, nil, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := d.Logs()
	for i, end := range ends {
		l := got[segment.TopicPartition{Topic: "t", Partition: i}]
		if l == nil {
			t.Fatalf("log %d missing after reopen", i)
		}
		if l.EndOffset() != end || l.FlushedOffset() != end {
			t.Errorf("log %d reopened at end %d, flushed %d; want %d", i, l.EndOffset(), l.FlushedOffset(), end)
		}
		if _, off := l.EndOffsetForEpoch(int32(i%3 + 1)); off != end {
			t.Errorf("log %d: epoch %d ends at %d after reopen, want %d", i, i%3+1, off, end)
		}
	}
}
