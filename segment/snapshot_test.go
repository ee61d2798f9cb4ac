package segment_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"runnel/io/disk/faultfs"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

// TestProducerSnapshotFormat checks the encoding against bytes worked out by hand from Kafka's
// schema (ProducerStateManager: version int16 1, crc uint32 = CRC-32C of everything after it,
// an int32 count, then the 46-byte entries, big-endian); the CRC was computed apart from the
// Go code (a bitwise CRC-32C, polynomial 0x82F63B78).
func TestProducerSnapshotFormat(t *testing.T) {
	entry := segment.ProducerSnapshotEntry{ProducerID: 1, Epoch: 2, LastSequence: 9, LastOffset: 100, OffsetDelta: 4,
		Timestamp: 1700000000000, CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1}
	want, _ := hex.DecodeString("0001" + "727844fa" + "00000001" +
		"0000000000000001" + "0002" + "00000009" + "0000000000000064" + "00000004" +
		"0000018bcfe56800" + "ffffffff" + "ffffffffffffffff")
	got := segment.AppendProducerSnapshot(nil, []segment.ProducerSnapshotEntry{entry})
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	entries, err := segment.ParseProducerSnapshot(want)
	if err != nil || len(entries) != 1 || entries[0] != entry {
		t.Fatalf("ParseProducerSnapshot = %+v, %v; want [%+v]", entries, err, entry)
	}
	empty := segment.AppendProducerSnapshot(nil, nil)
	if e, err := segment.ParseProducerSnapshot(empty); err != nil || len(e) != 0 {
		t.Fatalf("empty snapshot: %v, %v", e, err)
	}
	for name, b := range map[string][]byte{
		"flipped bit":   append(want[:20:20], append([]byte{want[20] ^ 1}, want[21:]...)...),
		"version 2":     append([]byte{0, 2}, want[2:]...),
		"cut short":     want[:len(want)-1],
		"header only":   want[:6],
		"count too big": segment.AppendProducerSnapshot(nil, nil)[:6],
	} {
		if _, err := segment.ParseProducerSnapshot(b); !errors.Is(err, segment.ErrCorruptSnapshot) {
			t.Errorf("%s: err = %v, want ErrCorruptSnapshot", name, err)
		}
	}
}

// idempotent is a batch of two records from producer 7, epoch 0, starting at seq.
func idempotent(seq int32) []byte {
	return segmenttest.Batch(segmenttest.Values("a", "b"), segmenttest.Producer(7, 0, seq))
}

// fillPastRoll appends plain batches until the log has rolled n more times.
func fillPastRoll(t *testing.T, l *segment.Log, dir string, n int) {
	t.Helper()
	want := len(segmentFiles(t, dir)) + n
	for len(segmentFiles(t, dir)) < want {
		mustAppend(t, l, segmenttest.Batch([]segmenttest.Record{{Value: make([]byte, 8<<10)}}))
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segment.LogSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func snapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segment.SnapshotSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// wantDuplicate appends a retry of the batch that got first and checks that it is answered
// as a duplicate with the same offsets.
func wantDuplicate(t *testing.T, l *segment.Log, retry []byte, first segment.AppendInfo) {
	t.Helper()
	end := l.EndOffset()
	info, err := l.Append(retry, segment.AppendOptions{})
	if err != nil {
		t.Fatalf("retry: %v, want a duplicate of [%d, %d]", err, first.FirstOffset, first.LastOffset)
	}
	if !info.Duplicate || info.FirstOffset != first.FirstOffset || info.LastOffset != first.LastOffset || l.EndOffset() != end {
		t.Fatalf("retry = %+v (end %d -> %d), want a duplicate of [%d, %d]", info, end, l.EndOffset(), first.FirstOffset, first.LastOffset)
	}
}

// TestProducerDedupAfterRestart: a producer whose last batch sits in an older segment keeps its
// deduplication and sequence after a restart: clean (snapshot at close), after a crash (the
// snapshot taken at the roll, then a replay), and with no snapshot at all (a replay from the
// log start).
func TestProducerDedupAfterRestart(t *testing.T) {
	for _, tc := range []string{"clean", "crash", "no snapshot"} {
		t.Run(tc, func(t *testing.T) {
			dir := t.TempDir()
			l, err := segment.OpenLog(dir, testTP, smallConfig(), 0, false, quietLogger)
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, l, idempotent(0))
			first := mustAppend(t, l, idempotent(2))
			fillPastRoll(t, l, dir, 2)
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			recoveryPoint, clean := l.FlushedOffset(), true
			switch tc {
			case "clean":
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			case "crash":
				l.Abandon()
				clean = false
			case "no snapshot":
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				for _, f := range snapshotFiles(t, dir) {
					os.Remove(f)
				}
			}
			l = openTestLog(t, dir, smallConfig(), recoveryPoint, clean)
			wantDuplicate(t, l, idempotent(2), first)
			if _, err := l.Append(idempotent(5), segment.AppendOptions{}); !errors.Is(err, segment.ErrOutOfOrderSequence) {
				t.Fatalf("gap after restart: %v, want ErrOutOfOrderSequence", err)
			}
			mustAppend(t, l, idempotent(4))
		})
	}
}

// TestProducerSnapshotsKept: a roll and a clean close write <log end>.snapshot; the latest two
// are kept.
func TestProducerSnapshotsKept(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, smallConfig(), 0, false)
	mustAppend(t, l, idempotent(0))
	fillPastRoll(t, l, dir, 4)
	segs := segmentFiles(t, dir)
	slices.Sort(segs)
	var want []string
	for _, s := range segs[len(segs)-2:] {
		want = append(want, strings.TrimSuffix(s, segment.LogSuffix)+segment.SnapshotSuffix)
	}
	if got := snapshotFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("snapshots %v, want %v", got, want)
	}
	end := l.EndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := snapshotFiles(t, dir)
	if len(got) != 2 || filepath.Base(got[1]) != segmentName(end, segment.SnapshotSuffix) {
		t.Fatalf("after close: snapshots %v, want the latest at %d", got, end)
	}
}

// segmentName is the 20-digit file name of offset with suffix.
func segmentName(offset int64, suffix string) string {
	s := []byte("00000000000000000000")
	for i, o := len(s)-1, offset; o > 0; i, o = i-1, o/10 {
		s[i] = byte('0' + o%10)
	}
	return string(s) + suffix
}

// TestProducerSnapshotTruncate: truncation deletes the snapshots past the new end and rebuilds
// the state from the one left, so that a producer whose batches lie below the cut keeps them.
func TestProducerSnapshotTruncate(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, smallConfig(), 0, false)
	first := mustAppend(t, l, idempotent(0))
	fillPastRoll(t, l, dir, 1)
	cut := l.EndOffset() - 1 // where the roll happened: the last filler batch has one record
	mustAppend(t, l, idempotent(2))
	fillPastRoll(t, l, dir, 1)
	if n := len(snapshotFiles(t, dir)); n != 2 {
		t.Fatalf("%d snapshots before truncation, want 2", n)
	}
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	got := snapshotFiles(t, dir)
	if len(got) != 1 || filepath.Base(got[0]) != segmentName(cut, segment.SnapshotSuffix) {
		t.Fatalf("snapshots after truncation to %d: %v", cut, got)
	}
	// The batch at seq 2 is gone: the producer continues from seq 0's batch.
	wantDuplicate(t, l, idempotent(0), first)
	mustAppend(t, l, idempotent(2))
}

// TestProducerSnapshotCorrupt: a latest snapshot that fails its CRC is ignored with a warning
// and deleted; the older one and a replay give the same state.
func TestProducerSnapshotCorrupt(t *testing.T) {
	dir := t.TempDir()
	l, err := segment.OpenLog(dir, testTP, smallConfig(), 0, false, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, idempotent(0))
	fillPastRoll(t, l, dir, 1)
	first := mustAppend(t, l, idempotent(2))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snaps := snapshotFiles(t, dir)
	latest := snaps[len(snaps)-1]
	b, err := os.ReadFile(latest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x40
	if err := os.WriteFile(latest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	l2, err := segment.OpenLog(dir, testTP, smallConfig(), 0, true, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close() })
	if !strings.Contains(logs.String(), "snapshot ignored") || !strings.Contains(logs.String(), "CRC") {
		t.Fatalf("no warning about the corrupt snapshot in:\n%s", logs.String())
	}
	if _, err := os.Stat(latest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("corrupt snapshot %s still there: %v", latest, err)
	}
	wantDuplicate(t, l2, idempotent(2), first)
}

// TestProducerSnapshotLoaded shows that open takes the state from the snapshot (a producer
// that only the snapshot knows continues its sequence) and leaves out producers idle for
// producer.id.expiration.ms by the log's clock.
func TestProducerSnapshotLoaded(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cfg := smallConfig()
	cfg.Clock = func() time.Time { return now }
	l := openTestLog(t, dir, cfg, 0, false)
	mustAppend(t, l, segmenttest.Batch(segmenttest.Values("x")))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, segmentName(1, segment.SnapshotSuffix))
	entries := []segment.ProducerSnapshotEntry{
		{ProducerID: 99, LastSequence: 4, LastOffset: 0, Timestamp: now.UnixMilli(), CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1},
		{ProducerID: 98, LastSequence: 4, LastOffset: 0, Timestamp: now.Add(-25 * time.Hour).UnixMilli(), CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1},
	}
	if err := os.WriteFile(snap, segment.AppendProducerSnapshot(nil, entries), 0o644); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, cfg, 0, true)
	mustAppend(t, l, segmenttest.Batch(segmenttest.Values("y"), segmenttest.Producer(99, 0, 5)))
	if _, err := l.Append(segmenttest.Batch(segmenttest.Values("y"), segmenttest.Producer(98, 0, 5)), segment.AppendOptions{}); !errors.Is(err, segment.ErrOutOfOrderSequence) {
		t.Fatalf("expired producer continued its sequence: %v", err)
	}
}

// TestProducerExpiration: ExpireProducers forgets a producer idle for producer.id.expiration.ms
// by the log's clock, and only then.
func TestProducerExpiration(t *testing.T) {
	now := time.Now()
	cfg := smallConfig()
	cfg.Clock = func() time.Time { return now }
	l := openTestLog(t, t.TempDir(), cfg, 0, false)
	mustAppend(t, l, idempotent(0))
	now = now.Add(cfg.ProducerIDExpiration - time.Minute)
	if n := l.ExpireProducers(); n != 0 {
		t.Fatalf("expired %d producers before producer.id.expiration.ms", n)
	}
	now = now.Add(2 * time.Minute)
	if n := l.ExpireProducers(); n != 1 {
		t.Fatalf("expired %d producers, want 1", n)
	}
	if _, err := l.Append(idempotent(2), segment.AppendOptions{}); !errors.Is(err, segment.ErrOutOfOrderSequence) {
		t.Fatalf("expired producer continued its sequence: %v", err)
	}
}

// TestProducerSnapshotCrash: a power cut between writing a snapshot's temporary file and its
// rename (here the rename fails and the temporary file stays, made durable by a later directory
// fsync) leaves a log that opens, removes the temporary file and still deduplicates.
func TestProducerSnapshotCrash(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "t-0")
	fs := faultfs.NewCrashable(root)
	fs.Inject(faultfs.Rule{Op: faultfs.Rename, Every: 1, PathContains: segment.SnapshotSuffix})
	fs.Inject(faultfs.Rule{Op: faultfs.Remove, Every: 1, PathContains: segment.SnapshotSuffix})
	cfg := smallConfig()
	cfg.FS = fs
	l, err := segment.OpenLog(dir, testTP, cfg, 0, false, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, idempotent(0))
	first := mustAppend(t, l, idempotent(2))
	fillPastRoll(t, l, dir, 2)
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	recoveryPoint := l.FlushedOffset()
	clone := filepath.Join(t.TempDir(), "clone")
	if err := fs.CrashClone(clone); err != nil {
		t.Fatal(err)
	}
	l.Abandon()
	cdir := filepath.Join(clone, "t-0")
	if tmps, _ := filepath.Glob(filepath.Join(cdir, "*.snapshot.*.tmp")); len(tmps) == 0 {
		t.Fatal("the crash left no temporary snapshot file: the test does not test what it says")
	}
	l = openTestLog(t, cdir, smallConfig(), recoveryPoint, false)
	if tmps, _ := filepath.Glob(filepath.Join(cdir, "*.tmp")); len(tmps) != 0 {
		t.Fatalf("temporary files left after open: %v", tmps)
	}
	wantDuplicate(t, l, idempotent(2), first)
}

// TestProducerExpirationLogAppendTime: under LogAppendTime a producer's last write is the time
// the broker stamped, not the client's CreateTime, so an old CreateTime does not expire it.
func TestProducerExpirationLogAppendTime(t *testing.T) {
	dir := t.TempDir()
	l, err := segment.OpenLog(dir, testTP, smallConfig(), 0, false, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	old := func() []byte {
		return segmenttest.Batch(segmenttest.Values("a"), segmenttest.Producer(7, 0, 0), segmenttest.Timestamp(1000))
	}
	first, err := l.Append(old(), segment.AppendOptions{LogAppendTime: time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, smallConfig(), 0, true)
	info, err := l.Append(old(), segment.AppendOptions{LogAppendTime: time.Now().UnixMilli()})
	if err != nil || !info.Duplicate || info.FirstOffset != first.FirstOffset {
		t.Fatalf("retry after restart = %+v, %v; want a duplicate of offset %d", info, err, first.FirstOffset)
	}
}

// TestProducerSnapshotTruncateDurable: the snapshots a truncation deletes stay deleted after a
// power cut, so that none can stand for the batches appended since at the same offsets.
func TestProducerSnapshotTruncateDurable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "t-0")
	fs := faultfs.NewCrashable(root)
	cfg := smallConfig()
	cfg.FS = fs
	l, err := segment.OpenLog(dir, testTP, cfg, 0, false, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, idempotent(0))
	fillPastRoll(t, l, dir, 1)
	cut := l.EndOffset() - 1 // the first roll's offset
	fillPastRoll(t, l, dir, 1)
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if err := fs.CrashClone(clone); err != nil {
		t.Fatal(err)
	}
	l.Abandon()
	got := snapshotFiles(t, filepath.Join(clone, "t-0"))
	if len(got) != 1 || filepath.Base(got[0]) != segmentName(cut, segment.SnapshotSuffix) {
		t.Fatalf("snapshots after truncation to %d and a crash: %v", cut, got)
	}
}
