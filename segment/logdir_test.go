package segment_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"runnel/segment"
)

func logDirConfig(string) segment.Config { return smallConfig() }

func openTestLogDir(t *testing.T, path string) *segment.LogDir {
	t.Helper()
	d, err := segment.OpenLogDir(path, logDirConfig, quietLogger)
	if err != nil {
		t.Fatalf("OpenLogDir: %v", err)
	}
	return d
}

func TestLogDir(t *testing.T) {
	path := t.TempDir()
	d := openTestLogDir(t, path)
	tps := []segment.TopicPartition{{Topic: "a", Partition: 0}, {Topic: "a", Partition: 1}, {Topic: "b-c", Partition: 7}}
	want := map[segment.TopicPartition][][]byte{}
	for i, tp := range tps {
		l, err := d.Create(tp, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := d.Create(tp, smallConfig()); again != l {
			t.Fatal("Create of an open log made another")
		}
		want[tp] = fillLog(t, l, 100, int64(i))
	}
	// Not partition directories: ignored, or (an interrupted delete) removed.
	os.Mkdir(filepath.Join(path, "not a partition"), 0o755)
	os.Mkdir(filepath.Join(path, "a-3.0123456789abcdef0123456789abcdef-delete"), 0o755)
	cut := header(want[tps[1]][50]).BaseOffset
	if _, err := d.Logs()[tps[1]].DeleteRecordsBefore(cut); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".kafka_cleanshutdown", "recovery-point-offset-checkpoint", "log-start-offset-checkpoint"} {
		if _, err := os.Stat(filepath.Join(path, name)); err != nil {
			t.Fatalf("after Close: %v", err)
		}
	}
	checkpoint, _ := segment.ReadOffsetCheckpoint(filepath.Join(path, "recovery-point-offset-checkpoint"))
	for _, tp := range tps {
		if end := header(want[tp][len(want[tp])-1]).LastOffset() + 1; checkpoint[tp] != end {
			t.Fatalf("recovery point of %v = %d, want %d", tp, checkpoint[tp], end)
		}
	}

	d = openTestLogDir(t, path)
	if _, err := os.Stat(filepath.Join(path, ".kafka_cleanshutdown")); !os.IsNotExist(err) {
		t.Fatalf("clean shutdown marker still there after open: %v", err)
	}
	if _, err := os.Stat(filepath.Join(path, "a-3.0123456789abcdef0123456789abcdef-delete")); !os.IsNotExist(err) {
		t.Fatalf("interrupted delete left: %v", err)
	}
	logs := d.Logs()
	if len(logs) != len(tps) {
		t.Fatalf("%d logs reopened, want %d", len(logs), len(tps))
	}
	if start := logs[tps[1]].StartOffset(); start != cut {
		t.Fatalf("start offset after reopen = %d, want %d", start, cut)
	}
	for _, tp := range tps {
		l := logs[tp]
		equalBatches(t, readAllBatches(t, l, l.StartOffset(), false), want[tp][index(want[tp], l.StartOffset()):])
	}
	if err := d.Delete(tps[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(path, tps[0].DirName())); !os.IsNotExist(err) {
		t.Fatalf("deleted log's directory: %v", err)
	}
	if err := d.Delete(tps[0]); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	// A crash: the logs are dropped without a clean close; the next open recovers.
	more := fillLog(t, logs[tps[2]], 20, 99)
	if _, err := segment.OpenLogDir(path, logDirConfig, quietLogger); !errors.Is(err, segment.ErrDirInUse) {
		t.Fatalf("second OpenLogDir of an open directory: %v", err)
	}
	d.Abandon()
	d = openTestLogDir(t, path)
	defer d.Close()
	l := d.Logs()[tps[2]]
	equalBatches(t, readAllBatches(t, l, 0, false), append(append([][]byte{}, want[tps[2]]...), more...))
	if _, ok := d.Logs()[tps[0]]; ok {
		t.Fatal("deleted log came back")
	}
}

// index returns the position of the first batch ending at or after offset.
func index(batches [][]byte, offset int64) int {
	for i, b := range batches {
		if header(b).LastOffset() >= offset {
			return i
		}
	}
	return len(batches)
}

// TestLogDirThousandLogs keeps 1000 logs open in one process: create, append and read each,
// close, reopen (in parallel), read again.
func TestLogDirThousandLogs(t *testing.T) {
	const n = 1000
	path := t.TempDir()
	cfg := smallConfig()
	cfg.PreallocateBytes = 4 << 10
	d, err := segment.OpenLogDir(path, func(string) segment.Config { return cfg }, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	want := make([][]byte, n)
	begin := time.Now()
	for i := range n {
		l, err := d.Create(segment.TopicPartition{Topic: fmt.Sprintf("topic%03d", i/10), Partition: int32(i % 10)}, cfg)
		if err != nil {
			t.Fatalf("log %d: %v", i, err)
		}
		want[i] = randomBatch(rng, 200, int64(i))
		mustAppend(t, l, want[i])
	}
	created := time.Since(begin)
	check := func(d *segment.LogDir) {
		t.Helper()
		logs := d.Logs()
		if len(logs) != n {
			t.Fatalf("%d logs open, want %d", len(logs), n)
		}
		for i := range n {
			l := logs[segment.TopicPartition{Topic: fmt.Sprintf("topic%03d", i/10), Partition: int32(i % 10)}]
			rr, err := l.Read(0, 1<<20, segment.ReadOptions{MinOneBatch: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := rangeBytes(t, &rr); !bytes.Equal(got, want[i]) {
				t.Fatalf("log %d: read %d bytes, want %d", i, len(got), len(want[i]))
			}
		}
	}
	check(d)
	begin = time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Since(begin)
	begin = time.Now()
	d = openTestLogDir(t, path)
	opened := time.Since(begin)
	defer d.Close()
	check(d)
	t.Logf("%d logs: create+append %v, close %v, reopen %v", n, created, closed, opened)
}

// TestLogDirConcurrentCreate creates partitions from many goroutines at once, several of them
// the same partition: each partition gets exactly one log.
func TestLogDirConcurrentCreate(t *testing.T) {
	d := openTestLogDir(t, t.TempDir())
	defer d.Close()
	const partitions, callers = 20, 4
	got := make([][callers]*segment.Log, partitions)
	var wg sync.WaitGroup
	for p := range partitions {
		for c := range callers {
			wg.Go(func() {
				l, err := d.Create(segment.TopicPartition{Topic: "c", Partition: int32(p)}, smallConfig())
				if err != nil {
					t.Error(err)
				}
				got[p][c] = l
			})
		}
	}
	wg.Wait()
	for p := range partitions {
		for c := 1; c < callers; c++ {
			if got[p][c] != got[p][0] || got[p][0] == nil {
				t.Fatalf("partition %d: Create returned different logs", p)
			}
		}
	}
	if n := len(d.Logs()); n != partitions {
		t.Fatalf("%d logs, want %d", n, partitions)
	}
}

// TestLogDirLongestTopicName: a 249-character topic (the longest Kafka allows) is created,
// deleted and reopened. Its deletion directory name is cut to 255 bytes as Kafka cuts it
// (renaming to the full "<dir>.<uuid>-delete" fails with ENAMETOOLONG), and such a leftover
// of an interrupted delete is removed by the next open.
func TestLogDirLongestTopicName(t *testing.T) {
	path := t.TempDir()
	d := openTestLogDir(t, path)
	topic := strings.Repeat("x", 249)
	// Partition 99999 is the highest whose directory name fits in 255 bytes.
	tps := []segment.TopicPartition{{Topic: topic, Partition: 0}, {Topic: topic, Partition: 99999}}
	for i, tp := range tps {
		l, err := d.Create(tp, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		fillLog(t, l, 10, int64(i))
	}
	for _, tp := range tps {
		if err := d.Delete(tp); err != nil {
			t.Fatalf("Delete %d: %v", tp.Partition, err)
		}
	}
	if entries, _ := filepath.Glob(filepath.Join(path, "xxx*")); len(entries) != 0 {
		t.Fatalf("left after Delete: %v", entries)
	}
	// A delete interrupted after its rename: the longest name Kafka or Runnel makes.
	leftover := topic[:255-len("-99999.0123456789abcdef0123456789abcdef-delete")] + "-99999.0123456789abcdef0123456789abcdef-delete"
	if err := os.Mkdir(filepath.Join(path, leftover), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, leftover, "00000000000000000000.log"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openTestLogDir(t, path)
	defer d.Close()
	if _, err := os.Stat(filepath.Join(path, leftover)); !os.IsNotExist(err) {
		t.Fatalf("leftover of an interrupted delete: %v", err)
	}
	if len(d.Logs()) != 0 {
		t.Fatalf("logs after reopen: %v", d.Logs())
	}
}

// closedLogDir makes a log directory with one log of n batches, closes it cleanly and returns
// its path, the log's partition and its batches.
func closedLogDir(t *testing.T, n int) (string, segment.TopicPartition, [][]byte) {
	t.Helper()
	path := t.TempDir()
	d := openTestLogDir(t, path)
	tp := segment.TopicPartition{Topic: "a", Partition: 0}
	l, err := d.Create(tp, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := fillLog(t, l, n, 1)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return path, tp, want
}

// TestLogDirBrokenCheckpoints: garbage in the recovery-point or log-start-offset checkpoint
// is a warning and a full recovery, as in Kafka's LogManager, not a failed open: the log
// serves what it held, takes appends, and its start comes from the segments.
func TestLogDirBrokenCheckpoints(t *testing.T) {
	for _, file := range []string{"recovery-point-offset-checkpoint", "log-start-offset-checkpoint"} {
		t.Run(file, func(t *testing.T) {
			path, tp, want := closedLogDir(t, 100)
			if err := os.WriteFile(filepath.Join(path, file), []byte("\x00garbage\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := segment.OpenLogDir(path, logDirConfig, quietLogger)
			if err != nil {
				t.Fatalf("OpenLogDir with a broken %s: %v", file, err)
			}
			defer d.Close()
			l := d.Logs()[tp]
			if l.StartOffset() != 0 {
				t.Fatalf("start offset %d, want 0 (the first segment's)", l.StartOffset())
			}
			want = append(want, fillLog(t, l, 1, 2)...)
			equalBatches(t, readAllBatches(t, l, 0, false), want)
		})
	}
}

// TestLogDirRemovesTemporaryCheckpoints: the temporary files that a crash in the middle of
// replacing the directory's checkpoints or marker leaves ("<file>.<random>.tmp", as
// io/disk names them) are removed at open; others' files, and a log's, are left alone.
func TestLogDirRemovesTemporaryCheckpoints(t *testing.T) {
	path, tp, want := closedLogDir(t, 10)
	stray := []string{"recovery-point-offset-checkpoint.3k9x.tmp", "log-start-offset-checkpoint.z1.tmp",
		"replication-offset-checkpoint.q.tmp", ".kafka_cleanshutdown.7.tmp", "cleaner-offset-checkpoint.a8.tmp"}
	kept := []string{"meta.properties.4f.tmp", "notes.tmp", "recovery-point-offset-checkpoint.tmp"}
	for _, name := range append(stray, kept...) {
		if err := os.WriteFile(filepath.Join(path, name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := openTestLogDir(t, path)
	defer d.Close()
	for _, name := range stray {
		if _, err := os.Stat(filepath.Join(path, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after open (stat: %v)", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(path, name)); err != nil {
			t.Errorf("%s, not the directory's, removed: %v", name, err)
		}
	}
	equalBatches(t, readAllBatches(t, d.Logs()[tp], 0, false), want)
}
