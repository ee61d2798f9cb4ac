package segment_test

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"runnel/segment"
)

// storedBatch is a batch as it lies in a segment file.
type storedBatch struct {
	file  string
	pos   int64
	bytes []byte
}

// writeTestLog writes n random batches in small segments, closes the log cleanly and returns
// the batches where they landed.
func writeTestLog(t *testing.T, dir string, cfg segment.Config, n int, seed int64) []storedBatch {
	t.Helper()
	l, err := segment.OpenLog(dir, testTP, cfg, 0, true, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	for i := range n {
		mustAppend(t, l, randomBatch(rng, 1+rng.Intn(1500), int64(1000+i)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return storedBatches(t, dir)
}

// storedBatches lists the batches of every .log file in dir, in offset order.
func storedBatches(t *testing.T, dir string) []storedBatch {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(files)
	var out []storedBatch
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pos := int64(0)
		for _, batch := range splitBatches(b) {
			out = append(out, storedBatch{file: f, pos: pos, bytes: batch})
			pos += int64(len(batch))
		}
	}
	return out
}

func batchBytes(stored []storedBatch) [][]byte {
	out := make([][]byte, len(stored))
	for i, s := range stored {
		out[i] = s.bytes
	}
	return out
}

// captureLogger returns a logger writing into the returned buffer.
func captureLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func TestRecovery(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage changes the files and returns how many of the batches must survive.
		damage        func(t *testing.T, batches []storedBatch) int
		recoveryPoint func(batches []storedBatch) int64
		wantLog       string // in the log output
	}{
		{
			name: "torn tail",
			damage: func(t *testing.T, batches []storedBatch) int {
				last := batches[len(batches)-1]
				truncate(t, last.file, last.pos+int64(len(last.bytes))/2)
				return len(batches) - 1
			},
			wantLog: "short batch",
		},
		{
			name: "torn header",
			damage: func(t *testing.T, batches []storedBatch) int {
				last := batches[len(batches)-1]
				truncate(t, last.file, last.pos+20)
				return len(batches) - 1
			},
			wantLog: "short batch",
		},
		{
			name: "zeroed tail",
			damage: func(t *testing.T, batches []storedBatch) int {
				last := batches[len(batches)-1]
				info, _ := os.Stat(last.file)
				truncate(t, last.file, info.Size()+1<<20)
				return len(batches)
			},
			wantLog: "zeroed tail",
		},
		{
			name: "zeroed last batch",
			damage: func(t *testing.T, batches []storedBatch) int {
				last := batches[len(batches)-1]
				writeAt(t, last.file, last.pos, make([]byte, len(last.bytes)))
				return len(batches) - 1
			},
			wantLog: "zeroed tail",
		},
		{
			name: "bit flip in the middle",
			damage: func(t *testing.T, batches []storedBatch) int {
				i := len(batches) / 2
				flipBit(t, batches[i].file, batches[i].pos+int64(len(batches[i].bytes))-3)
				return i
			},
			wantLog: "CRC",
		},
		{
			name: "bit flip in a length",
			damage: func(t *testing.T, batches []storedBatch) int {
				i := len(batches) / 3
				flipBit(t, batches[i].file, batches[i].pos+10)
				return i
			},
			wantLog: "truncated",
		},
		{
			// Either batch's base offset may be the damaged one (the CRC covers neither):
			// both go.
			name: "offsets going backwards",
			damage: func(t *testing.T, batches []storedBatch) int {
				i := len(batches) - 2
				writeAt(t, batches[i+1].file, batches[i+1].pos, batches[i].bytes[:8])
				return i
			},
			wantLog: "does not follow",
		},
		{
			name: "base offset raised in the middle",
			damage: func(t *testing.T, batches []storedBatch) int {
				i := len(batches) / 2
				b := bytes.Clone(batches[i].bytes[:8])
				binary.BigEndian.PutUint64(b, binary.BigEndian.Uint64(b)+2)
				writeAt(t, batches[i].file, batches[i].pos, b)
				return i
			},
			wantLog: "does not follow",
		},
		{
			name: "huge length in the middle",
			damage: func(t *testing.T, batches []storedBatch) int {
				i := len(batches) / 2
				writeAt(t, batches[i].file, batches[i].pos+8, []byte{0x7f, 0xff, 0, 0})
				return i
			},
			wantLog: "left in the segment",
		},
		{
			name: "bit flip before the recovery point is trusted",
			damage: func(t *testing.T, batches []storedBatch) int {
				flipBit(t, batches[1].file, batches[1].pos+int64(len(batches[1].bytes))-3)
				batches[1].bytes[len(batches[1].bytes)-3] ^= 1
				return len(batches)
			},
			recoveryPoint: func(batches []storedBatch) int64 {
				h, _ := segment.ParseBatchHeader(batches[len(batches)-1].bytes)
				return h.LastOffset() + 1
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			batches := writeTestLog(t, dir, cfg, 300, 7)
			if files, _ := filepath.Glob(filepath.Join(dir, "*.log")); len(files) < 3 {
				t.Fatalf("only %d segments", len(files))
			}
			keep := tc.damage(t, batches)
			recoveryPoint := int64(0)
			if tc.recoveryPoint != nil {
				recoveryPoint = tc.recoveryPoint(batches)
			}
			logger, logs := captureLogger()
			l, err := segment.OpenLog(dir, testTP, cfg, recoveryPoint, false, logger)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log output lacks %q:\n%s", tc.wantLog, logs.String())
			}
			want := batchBytes(batches[:keep])
			equalBatches(t, readAllBatches(t, l, 0, false), want)
			wantEnd := int64(0)
			if keep > 0 {
				h, _ := segment.ParseBatchHeader(want[keep-1])
				wantEnd = h.LastOffset() + 1
			}
			if l.EndOffset() != wantEnd {
				t.Fatalf("EndOffset = %d, want %d", l.EndOffset(), wantEnd)
			}
			// The log goes on from there, and a clean reopen agrees.
			b := randomBatch(rand.New(rand.NewSource(8)), 700, 5000)
			if info := mustAppend(t, l, b); info.FirstOffset != wantEnd {
				t.Fatalf("append after recovery at %d, want %d", info.FirstOffset, wantEnd)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openTestLog(t, dir, cfg, 0, true)
			equalBatches(t, readAllBatches(t, l2, 0, false), append(want, b))
		})
	}
}

// TestRecoveryRebuildsIndexes removes or spoils index files; reopening rebuilds them, and
// lookups by offset and by time find the right batches.
func TestRecoveryRebuildsIndexes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		clean  bool
		damage func(t *testing.T, path string)
	}{
		{"missing, clean open", true, func(t *testing.T, p string) { os.Remove(p) }},
		{"missing, unclean open", false, func(t *testing.T, p string) { os.Remove(p) }},
		{"garbage, clean open", true, func(t *testing.T, p string) {
			b := bytes.Repeat([]byte{0xff, 0, 0x12, 0x34}, 24)
			os.WriteFile(p, b, 0o644)
		}},
		{"odd size, unclean open", false, func(t *testing.T, p string) {
			os.WriteFile(p, []byte{1, 2, 3}, 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			batches := writeTestLog(t, dir, cfg, 300, 9)
			for _, pattern := range []string{"*.index", "*.timeindex"} {
				files, _ := filepath.Glob(filepath.Join(dir, pattern))
				for _, f := range files {
					tc.damage(t, f)
				}
			}
			last, _ := segment.ParseBatchHeader(batches[len(batches)-1].bytes)
			l := openTestLog(t, dir, cfg, last.LastOffset()+1, tc.clean)
			equalBatches(t, readAllBatches(t, l, 0, false), batchBytes(batches))
			for i, b := range batches {
				h, _ := segment.ParseBatchHeader(b.bytes)
				rr, err := l.Read(h.LastOffset(), 1, segment.ReadOptions{MinOneBatch: true})
				if err != nil {
					t.Fatal(err)
				}
				if got := rangeBytes(t, &rr); !bytes.Equal(got, b.bytes) {
					t.Fatalf("Read(%d) is not batch %d", h.LastOffset(), i)
				}
				// Timestamps increase with the batches (writeTestLog), so the first batch
				// at or after this one's max timestamp is this one.
				off, ts, ok, err := l.OffsetForTimestamp(h.MaxTimestamp)
				if err != nil || !ok || off != h.BaseOffset || ts != h.MaxTimestamp {
					t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d", h.MaxTimestamp, off, ts, ok, h.BaseOffset)
				}
			}
			for _, pattern := range []string{"*.index", "*.timeindex"} {
				files, _ := filepath.Glob(filepath.Join(dir, pattern))
				logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
				if len(files) != len(logs) {
					t.Fatalf("%d %s files for %d segments", len(files), pattern, len(logs))
				}
			}
		})
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func writeAt(t *testing.T, path string, pos int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

func flipBit(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}
