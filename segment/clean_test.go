package segment_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"runnel/internal/wait"
	"runnel/io/disk/faultfs"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

// compactModel is what a compacted log must hold: every write (by offset) and, per key, the
// latest write; a tombstone also remembers when a clean first passed it (after which it may
// go once delete.retention.ms has passed).
type compactModel struct {
	writes   map[int64]segmenttest.Record // by offset
	latest   map[string]int64             // key -> offset of its latest write
	passedAt map[int64]time.Time          // tombstone offset -> the first clean that passed it
	codecs   map[int64]int                // offset -> the codec of the batch it was written in
}

func newCompactModel() *compactModel {
	return &compactModel{writes: map[int64]segmenttest.Record{}, latest: map[string]int64{}, passedAt: map[int64]time.Time{}, codecs: map[int64]int{}}
}

// cleaned notes a clean at now that mapped everything below end.
func (m *compactModel) cleaned(end int64, now time.Time) {
	for off, r := range m.writes {
		if r.Value == nil && off < end {
			if _, ok := m.passedAt[off]; !ok {
				m.passedAt[off] = now
			}
		}
	}
}

// check reads the whole log and compares it with the model at time now.
func (m *compactModel) check(t *testing.T, l *segment.Log, now time.Time, retention time.Duration) {
	t.Helper()
	last := map[string]int64{}
	prev := int64(-1)
	for _, b := range readAllBatches(t, l, l.StartOffset(), false) {
		records, err := segment.Records(b)
		if err != nil {
			t.Fatalf("batch: %v", err)
		}
		if h, _ := segment.ParseBatchHeader(b); len(records) > 0 && h.Codec() != m.codecs[records[0].Offset] {
			t.Fatalf("batch at %d has codec %d, written with %d", h.BaseOffset, h.Codec(), m.codecs[records[0].Offset])
		}
		for _, r := range records {
			if r.Offset <= prev {
				t.Fatalf("offset %d after %d", r.Offset, prev)
			}
			prev = r.Offset
			w, ok := m.writes[r.Offset]
			if !ok || !bytes.Equal(w.Key, r.Key) || !bytes.Equal(w.Value, r.Value) || (w.Value == nil) != (r.Value == nil) {
				t.Fatalf("offset %d holds %q=%q, the model %q=%q (known %v)", r.Offset, r.Key, r.Value, w.Key, w.Value, ok)
			}
			last[string(r.Key)] = r.Offset
		}
	}
	for key, off := range m.latest {
		got, ok := last[key]
		switch {
		case ok && got == off:
		case !ok && m.writes[off].Value == nil:
			passed, ok := m.passedAt[off]
			if !ok || now.Before(passed.Add(retention)) {
				t.Fatalf("tombstone of %q at %d gone at %v, passed by a clean at %v (%v)", key, off, now, passed, ok)
			}
		default:
			t.Fatalf("key %q: last record in the log at %d (present %v), the latest write at %d", key, got, ok, off)
		}
	}
}

// compactConfig is a compacted log's config with tiny segments.
func compactConfig(now *time.Time) segment.Config {
	cfg := smallConfig()
	cfg.SegmentBytes = 2048
	cfg.PreallocateBytes = 1024
	cfg.SegmentIndexBytes = 256
	cfg.IndexIntervalBytes = 256
	cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	cfg.Compact = true
	cfg.MinCleanableDirtyRatio = 0
	cfg.DeleteRetention = time.Minute
	cfg.Clock = func() time.Time { return *now }
	return cfg
}

// compactWorkload drives a compacted log with random appends (keyed records, tombstones,
// idempotent producer batches) and cleanings, checking it against the model.
type compactWorkload struct {
	rng        *rand.Rand
	model      *compactModel
	now        time.Time
	checkpoint int64
	seqs       map[int64]int32
	m          *segment.OffsetMap
}

func (w *compactWorkload) append(t *testing.T, l *segment.Log) {
	n := 1 + w.rng.Intn(4)
	records := make([]segmenttest.Record, n)
	for i := range records {
		records[i].Key = fmt.Appendf(nil, "k%02d", w.rng.Intn(24))
		if w.rng.Intn(6) > 0 {
			records[i].Value = fmt.Appendf(nil, "v%d-%d", w.rng.Int63(), i)
		}
		if w.rng.Intn(8) == 0 {
			records[i].Headers = []segment.RecordHeader{{Key: "h", Value: []byte("x")}}
		}
		records[i].TimestampDelta = int64(i)
	}
	opts := []segmenttest.Option{segmenttest.Timestamp(w.now.UnixMilli())}
	codec := w.rng.Intn(8)
	if codec > segment.CodecZstd {
		codec = segment.CodecNone
	}
	opts = append(opts, segmenttest.Compression(codec)) // rewritten batches keep their codec
	if w.rng.Intn(3) == 0 {
		pid := int64(1 + w.rng.Intn(2))
		opts = append(opts, segmenttest.Producer(pid, 0, w.seqs[pid]))
		w.seqs[pid] += int32(n)
	}
	info := mustAppend(t, l, segmenttest.Batch(records, opts...))
	for i, r := range records {
		off := info.FirstOffset + int64(i)
		w.model.writes[off] = r
		w.model.latest[string(r.Key)] = off
		w.model.codecs[off] = codec
	}
	// The high watermark follows the appends at a random distance, as a leader's does behind
	// slow followers; cleans must stop below it.
	if hw := l.HighWatermark(); w.rng.Intn(3) > 0 {
		l.SetHighWatermark(hw + w.rng.Int63n(l.EndOffset()-hw+1))
	}
}

// appendUnique appends one record of key, which the workload's keys never overwrite.
func (w *compactWorkload) appendUnique(t *testing.T, l *segment.Log, key string) {
	r := segmenttest.Record{Key: []byte(key), Value: []byte("only " + key)}
	info := mustAppend(t, l, segmenttest.Batch([]segmenttest.Record{r}, segmenttest.Timestamp(w.now.UnixMilli())))
	w.model.writes[info.FirstOffset] = r
	w.model.latest[key] = info.FirstOffset
	l.SetHighWatermark(l.EndOffset())
}

// clean cleans l if it is worth it, as the cleaner would.
func (w *compactWorkload) clean(t *testing.T, l *segment.Log) {
	info := l.Cleanable(w.checkpoint, l.HighWatermark())
	if !info.Worth {
		return
	}
	stats, err := l.Clean(info, segment.CleanOptions{Map: w.m})
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	w.checkpoint = stats.End
	w.model.cleaned(stats.End, w.now)
}

func newCompactWorkload(seed int64) *compactWorkload {
	rng := rand.New(rand.NewSource(seed))
	// A small map now and then, so that a clean stops where it fills up.
	memory := int64(1 << 20)
	if rng.Intn(2) == 0 {
		memory = 40 * segment.OffsetMapSlotBytes
	}
	return &compactWorkload{rng: rng, model: newCompactModel(), now: time.UnixMilli(1_700_000_000_000),
		seqs: map[int64]int32{}, m: segment.NewOffsetMap(memory)}
}

// TestCompactionProperty: for random appends, tombstones, idempotent batches, cleanings,
// clock steps and reopens (clean and after a crash of the process), the log holds the latest
// write of every key at the offset it was written at, in offset order, or, for a key deleted,
// nothing once delete.retention.ms has passed since a clean passed the tombstone.
func TestCompactionProperty(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			w := newCompactWorkload(seed)
			dir := t.TempDir()
			cfg := compactConfig(&w.now)
			l := openTestLog(t, dir, cfg, 0, false)
			for step := range propertySteps() {
				switch op := w.rng.Intn(100); {
				case op < 70:
					w.append(t, l)
				case op < 80:
					w.now = w.now.Add(time.Duration(w.rng.Intn(40)) * time.Second)
				case op < 93:
					w.clean(t, l)
					w.model.check(t, l, w.now, cfg.DeleteRetention)
				case op < 97:
					if err := l.Close(); err != nil {
						t.Fatal(err)
					}
					l = openTestLog(t, dir, cfg, 0, true)
				default:
					l.Abandon() // the page cache keeps everything: nothing is lost
					if w.rng.Intn(2) == 0 {
						// Without snapshots the producer state is replayed from the
						// first segment, through the cleaned ones: the last batch of
						// each producer must still be there for its next sequence.
						snaps, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
						for _, s := range snaps {
							os.Remove(s)
						}
					}
					l = openTestLog(t, dir, cfg, 0, false)
				}
				if t.Failed() {
					t.Fatalf("step %d", step)
				}
			}
			w.clean(t, l)
			w.model.check(t, l, w.now, cfg.DeleteRetention)
		})
	}
}

// TestCompactionCrash: a power cut at any point of a clean (an I/O call fails, then only what
// was synced survives) loses nothing: the reopened log passes the model's check.
func TestCompactionCrash(t *testing.T) {
	ops := []faultfs.Op{faultfs.OpenFile, faultfs.Pwrite, faultfs.Fdatasync, faultfs.Rename, faultfs.SyncDir, faultfs.Remove}
	for seed := int64(1); seed <= 24; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			w := newCompactWorkload(seed)
			root := t.TempDir()
			dir := filepath.Join(root, "t-0")
			fs := faultfs.NewCrashable(root)
			cfg := compactConfig(&w.now)
			cfg.FS = fs
			l := openTestLog(t, dir, cfg, 0, false)
			for range 40 + w.rng.Intn(200) {
				w.append(t, l)
				if w.rng.Intn(10) == 0 {
					w.clean(t, l)
				}
				if w.rng.Intn(10) == 0 {
					w.now = w.now.Add(30 * time.Second)
				}
			}
			for range w.rng.Intn(60) {
				w.append(t, l)
			}
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			fs.Inject(faultfs.Rule{Op: ops[w.rng.Intn(len(ops))], Nth: 1 + w.rng.Intn(8), PathContains: dir})
			info := l.Cleanable(w.checkpoint, l.HighWatermark())
			if _, err := l.Clean(info, segment.CleanOptions{Map: w.m}); err != nil {
				t.Logf("clean failed as injected: %v", err)
			}
			// The clean may have set delete horizons before the cut.
			w.model.cleaned(info.FirstUncleanable, w.now)
			clone := filepath.Join(t.TempDir(), "clone")
			if err := fs.CrashClone(clone); err != nil {
				t.Fatal(err)
			}
			l.Abandon()
			cfg.FS = nil
			reopened := openTestLog(t, filepath.Join(clone, "t-0"), cfg, 0, false)
			w.model.check(t, reopened, w.now, cfg.DeleteRetention)
			leftovers, _ := filepath.Glob(filepath.Join(clone, "t-0", "*.*.*"))
			for _, f := range leftovers {
				if filepath.Ext(f) == ".cleaned" || filepath.Ext(f) == ".swap" {
					t.Errorf("leftover %s", f)
				}
			}
			reopened.SetHighWatermark(reopened.EndOffset()) // no checkpoint was written: as a leader learns it again
			w.clean(t, reopened)
			w.model.check(t, reopened, w.now, cfg.DeleteRetention)
		})
	}
}

// TestCleanerCheckpoint: the cleaner goroutine cleans a compacted log of a LogDir and writes
// cleaner-offset-checkpoint in Kafka's format.
func TestCleanerCheckpoint(t *testing.T) {
	now := time.Now()
	cfg := compactConfig(&now)
	cfg.Clock = nil
	dirPath := t.TempDir()
	d, err := segment.OpenLogDir(dirPath, func(string) segment.Config { return cfg }, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l, err := d.Create(testTP, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		mustAppend(t, l, segmenttest.Batch([]segmenttest.Record{{Key: fmt.Appendf(nil, "k%d", i%5), Value: []byte("some value")}}))
	}
	l.SetHighWatermark(l.EndOffset())
	before := l.Size()
	c := segment.NewCleaner(segment.CleanerConfig{Threads: 1, DedupeBufferSize: 1 << 20, Backoff: time.Hour}, []*segment.LogDir{d}, quietLogger)
	cleaned, err := c.CleanOnce(segment.NewOffsetMap(1 << 20))
	if err != nil || !cleaned {
		t.Fatalf("CleanOnce: %v, %v", cleaned, err)
	}
	if l.Size() >= before/2 {
		t.Errorf("size %d after cleaning, %d before", l.Size(), before)
	}
	b, err := os.ReadFile(filepath.Join(dirPath, "cleaner-offset-checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	active := l.EndOffset() - 1 // the last batch is in the active segment
	var end int64
	if _, err := fmt.Sscanf(string(b), "0\n1\nt 0 %d\n", &end); err != nil || end > active || end <= 0 {
		t.Fatalf("checkpoint %q (%v), active segment holds %d", b, err, active)
	}
	if st := c.Stats(); st.BytesCleaned == 0 || st.LastClean.IsZero() {
		t.Errorf("stats %+v", st)
	}
}

// TestCleanerGoroutines: Start's goroutines clean every compacted log of several log
// directories, leave the others alone, and keep within log.cleaner.io.max.bytes.per.second.
func TestCleanerGoroutines(t *testing.T) {
	now := time.Now()
	cfg := compactConfig(&now)
	cfg.Clock = nil
	plain := cfg
	plain.Compact = false
	var dirs []*segment.LogDir
	var compacted, kept []*segment.Log
	for i := range 2 {
		d, err := segment.OpenLogDir(t.TempDir(), nil, quietLogger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		dirs = append(dirs, d)
		for p := range 3 {
			c := cfg
			if p == 2 {
				c = plain
			}
			l, err := d.Create(segment.TopicPartition{Topic: fmt.Sprint("t", i), Partition: int32(p)}, c)
			if err != nil {
				t.Fatal(err)
			}
			for j := range 150 {
				mustAppend(t, l, segmenttest.Batch([]segmenttest.Record{{Key: fmt.Appendf(nil, "k%d", j%5), Value: []byte("a value of some length")}}))
			}
			l.SetHighWatermark(l.EndOffset())
			if p == 2 {
				kept = append(kept, l)
			} else {
				compacted = append(compacted, l)
			}
		}
	}
	var total int64
	for _, l := range compacted {
		total += l.Size()
	}
	const rate = 64 << 10
	c := segment.NewCleaner(segment.CleanerConfig{Threads: 2, DedupeBufferSize: 1 << 20, IOMaxBytesPerSecond: rate, Backoff: 10 * time.Millisecond}, dirs, quietLogger)
	start := time.Now()
	c.Start()
	defer c.Close()
	sizes := map[*segment.Log]int64{}
	for _, l := range kept {
		sizes[l] = l.Size()
	}
	wait.Until(t, 30*time.Second, "every compacted log cleaned", func() bool {
		for _, l := range compacted {
			if l.Size() > 3<<10 {
				return false
			}
		}
		return true
	})
	// A clean reads every byte it cleans, so at the rate these took at least total/rate.
	if took, least := time.Since(start), time.Duration(float64(total)/rate*float64(time.Second)); took < least*9/10 {
		t.Errorf("cleaned %d bytes in %v, under %d bytes/s: at least %v", total, took, rate, least)
	}
	for l, size := range sizes {
		if l.Size() != size {
			t.Errorf("a log without cleanup.policy=compact went from %d to %d bytes", size, l.Size())
		}
	}
}

// TestCleanAbortedByRetentionAndDelete: a clean whose segments retention deletes meanwhile is
// thrown away (no swap, no leftover files), and one whose log is deleted is no error.
func TestCleanAbortedByRetentionAndDelete(t *testing.T) {
	now := time.Now()
	cfg := compactConfig(&now)
	cfg.Clock = nil
	dirPath := t.TempDir()
	d, err := segment.OpenLogDir(dirPath, nil, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, deleteLog := range []bool{false, true} {
		tp := segment.TopicPartition{Topic: fmt.Sprint("t", deleteLog), Partition: 0}
		l, err := d.Create(tp, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 300 {
			mustAppend(t, l, segmenttest.Batch([]segmenttest.Record{{Key: fmt.Appendf(nil, "k%d", j%5), Value: []byte("a value of some length")}}))
		}
		l.SetHighWatermark(l.EndOffset())
		started := make(chan struct{})
		var once sync.Once
		result := make(chan error, 1)
		go func() {
			info := l.Cleanable(-1, l.HighWatermark())
			_, err := l.Clean(info, segment.CleanOptions{Map: segment.NewOffsetMap(1 << 20), Throttle: func(int64) {
				once.Do(func() { close(started) })
				time.Sleep(time.Millisecond)
			}})
			result <- err
		}()
		<-started
		if deleteLog {
			if err := d.Delete(tp); err != nil {
				t.Fatal(err)
			}
		} else if _, err := l.DeleteRecordsBefore(l.EndOffset()); err != nil {
			t.Fatal(err)
		}
		err = <-result
		if err == nil {
			t.Fatalf("delete %v: the clean swapped in segments the log no longer had", deleteLog)
		}
		if !deleteLog {
			left, _ := filepath.Glob(filepath.Join(dirPath, tp.DirName(), "*.cleaned"))
			if len(left) > 0 || l.StartOffset() != l.EndOffset() {
				t.Fatalf("after an aborted clean: %v left, start %d end %d", left, l.StartOffset(), l.EndOffset())
			}
		}
	}
}

// TestTombstonesDueMakeALogCleanable: with no new writes (no dirty section), a log whose
// kept tombstones have passed their delete horizon is worth a clean, as in Kafka, and that
// clean removes them.
func TestTombstonesDueMakeALogCleanable(t *testing.T) {
	w := newCompactWorkload(1)
	cfg := compactConfig(&w.now)
	l := openTestLog(t, t.TempDir(), cfg, 0, true)
	for i := range 10 {
		w.appendUnique(t, l, fmt.Sprint("k", i))
	}
	for i := range 5 {
		r := segmenttest.Record{Key: fmt.Appendf(nil, "k%d", i)} // a tombstone
		info := mustAppend(t, l, segmenttest.Batch([]segmenttest.Record{r}, segmenttest.Timestamp(w.now.UnixMilli())))
		w.model.writes[info.FirstOffset] = r
		w.model.latest[string(r.Key)] = info.FirstOffset
	}
	for i := 0; l.Cleanable(w.checkpoint, l.HighWatermark()).FirstUncleanable < 15; i++ {
		w.appendUnique(t, l, fmt.Sprint("filler", i)) // until the tombstones are in a sealed segment
	}
	w.clean(t, l)
	w.model.check(t, l, w.now, cfg.DeleteRetention)
	if info := l.Cleanable(w.checkpoint, l.HighWatermark()); info.Worth || info.TombstonesDue {
		t.Fatalf("cleanable right after a clean, with tombstones not due: %+v", info)
	}
	w.now = w.now.Add(cfg.DeleteRetention + time.Second)
	info := l.Cleanable(w.checkpoint, l.HighWatermark())
	if !info.TombstonesDue || !info.Worth || info.DirtyBytes != 0 {
		t.Fatalf("tombstones due, no new writes: %+v", info)
	}
	w.clean(t, l)
	w.model.check(t, l, w.now, cfg.DeleteRetention)
	for _, b := range readAllBatches(t, l, l.StartOffset(), false) {
		records, _ := segment.Records(b)
		for _, r := range records {
			if r.Value == nil {
				t.Fatalf("tombstone of %q at %d still there", r.Key, r.Offset)
			}
		}
	}
	if info := l.Cleanable(w.checkpoint, l.HighWatermark()); info.Worth {
		t.Fatalf("cleanable after the tombstones went: %+v", info)
	}
}

// TestCleanStopsAtHighWatermark: records at or above the high watermark take no part in a
// clean, even in sealed segments, so that truncating them (a new leader without them) leaves
// each key's committed record, as Kafka's cleaner, which stops at the last stable offset.
func TestCleanStopsAtHighWatermark(t *testing.T) {
	w := newCompactWorkload(1)
	cfg := compactConfig(&w.now)
	dir := t.TempDir()
	l := openTestLog(t, dir, cfg, 0, true)
	for i := range 5 {
		w.appendUnique(t, l, fmt.Sprint("k", i)) // committed: appendUnique moves the high watermark
	}
	committed := l.EndOffset()
	for i := range 200 { // 2 KiB segments: many sealed ones above the high watermark
		r := segmenttest.Record{Key: fmt.Appendf(nil, "k%d", i%5), Value: fmt.Appendf(nil, "uncommitted %d", i)}
		mustAppend(t, l, segmenttest.Batch([]segmenttest.Record{r}, segmenttest.Timestamp(w.now.UnixMilli())))
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.log")); len(files) < 5 {
		t.Fatalf("%d segments", len(files))
	}
	if hw := l.HighWatermark(); hw != committed {
		t.Fatalf("high watermark %d, want %d", hw, committed)
	}
	info := l.Cleanable(w.checkpoint, l.HighWatermark())
	if info.FirstUncleanable > committed {
		t.Fatalf("cleanable up to %d, past the high watermark %d: %+v", info.FirstUncleanable, committed, info)
	}
	if info.Worth {
		if _, err := l.Clean(info, segment.CleanOptions{Map: w.m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateTo(committed); err != nil { // a new leader had none of them
		t.Fatal(err)
	}
	w.model.check(t, l, w.now, cfg.DeleteRetention)
}
