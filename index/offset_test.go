package index

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

func TestOffsetIndexLookup(t *testing.T) {
	const base = 1000
	es := []offsetEntry{{1003, 0}, {1010, 4096}, {1020, 8200}}
	tests := []struct {
		name         string
		entries      []offsetEntry
		target       int64
		wantOffset   int64
		wantPosition uint32
	}{
		{"empty index", nil, 5000, base, 0},
		{"below base", es, 999, base, 0},
		{"min int64", es, math.MinInt64, base, 0},
		{"base, before first entry", es, base, base, 0},
		{"just before first entry", es, 1002, base, 0},
		{"first entry", es, 1003, 1003, 0},
		{"between entries", es, 1009, 1003, 0},
		{"second entry", es, 1010, 1010, 4096},
		{"just before last", es, 1019, 1010, 4096},
		{"last entry", es, 1020, 1020, 8200},
		{"past last entry", es, 1021, 1020, 8200},
		{"beyond relative range", es, base + math.MaxUint32 + 10, 1020, 8200},
		{"max int64", es, math.MaxInt64, 1020, 8200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := openOffset(t, indexPath(t.TempDir(), base), base, 1024, true)
			appendOffsets(t, x, tt.entries)
			offset, position := x.Lookup(tt.target)
			if offset != tt.wantOffset || position != tt.wantPosition {
				t.Errorf("Lookup(%d) = (%d, %d), want (%d, %d)", tt.target, offset, position, tt.wantOffset, tt.wantPosition)
			}
		})
	}
}

// TestOffsetIndexFileFormat pins the bytes to Kafka's format in both directions: what Append
// writes, and what a Kafka-written file reads as.
func TestOffsetIndexFileFormat(t *testing.T) {
	const base = 368769
	kafka := []byte{
		0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04, // rel 3, position 0x01020304
		0x00, 0x00, 0x01, 0x0a, 0x7f, 0xff, 0xff, 0xff, // rel 266, position 2^31-1
	}
	dir := t.TempDir()

	path := indexPath(dir, base)
	x := openOffset(t, path, base, 10<<20, true)
	appendOffsets(t, x, []offsetEntry{{base + 3, 0x01020304}, {base + 266, math.MaxInt32}})
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, kafka) {
		t.Errorf("file after Close:\n got % x\nwant % x", got, kafka)
	}

	other := indexPath(dir, base+1)
	writeFile(t, other, kafka)
	y := openOffset(t, other, base, 0, false)
	if err := y.SanityCheck(); err != nil {
		t.Fatal(err)
	}
	if offset, position := y.Lookup(base + 100); offset != base+3 || position != 0x01020304 {
		t.Errorf("Lookup = (%d, %#x), want (%d, 0x01020304)", offset, position, base+3)
	}
	if offset, position, ok := y.LastEntry(); !ok || offset != base+266 || position != math.MaxInt32 {
		t.Errorf("LastEntry = (%d, %d, %v)", offset, position, ok)
	}
}

func TestOffsetIndexAppendErrors(t *testing.T) {
	const base = 1000
	prior := []offsetEntry{{1005, 10}}
	seal := func(x *OffsetIndex) error { return x.Seal() }
	closeIndex := func(x *OffsetIndex) error { return x.Close() }
	tests := []struct {
		name     string
		maxBytes int
		prior    []offsetEntry
		readOnly bool
		before   func(*OffsetIndex) error
		offset   int64
		position uint32
		want     error
	}{
		{name: "first entry at base", offset: base, want: nil},
		{name: "offset below base", offset: base - 1, want: ErrInvalidEntry},
		{name: "largest relative offset", offset: base + MaxRelativeOffset, want: nil},
		{name: "relative offset beyond int32", offset: base + MaxRelativeOffset + 1, want: ErrInvalidEntry},
		{name: "largest position", offset: base + 1, position: MaxPosition, want: nil},
		{name: "position beyond int32", offset: base + 1, position: MaxPosition + 1, want: ErrInvalidEntry},
		{name: "offset equal to last", prior: prior, offset: 1005, position: 20, want: ErrInvalidEntry},
		{name: "offset below last", prior: prior, offset: 1004, position: 20, want: ErrInvalidEntry},
		{name: "position below last", prior: prior, offset: 1006, position: 9, want: ErrInvalidEntry},
		{name: "position equal to last", prior: prior, offset: 1006, position: 10, want: nil},
		{name: "full", maxBytes: 2 * OffsetEntrySize, prior: []offsetEntry{{1001, 0}, {1002, 1}}, offset: 1003, position: 2, want: ErrIndexFull},
		{name: "read-only", prior: prior, readOnly: true, offset: 1006, position: 20, want: ErrNotWritable},
		{name: "sealed", prior: prior, before: seal, offset: 1006, position: 20, want: ErrNotWritable},
		{name: "closed", prior: prior, before: closeIndex, offset: 1006, position: 20, want: ErrNotWritable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxBytes := tt.maxBytes
			if maxBytes == 0 {
				maxBytes = 1024
			}
			path := indexPath(t.TempDir(), base)
			x := openOffset(t, path, base, maxBytes, true)
			appendOffsets(t, x, tt.prior)
			if tt.readOnly {
				if err := x.Close(); err != nil {
					t.Fatal(err)
				}
				x = openOffset(t, path, base, maxBytes, false)
			}
			if tt.before != nil {
				if err := tt.before(x); err != nil {
					t.Fatal(err)
				}
			}
			entries := x.Entries()
			err := x.Append(tt.offset, tt.position)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Append(%d, %d) = %v, want %v", tt.offset, tt.position, err, tt.want)
			}
			if err != nil && x.Entries() != entries {
				t.Errorf("failed Append changed Entries from %d to %d", entries, x.Entries())
			}
			if err == nil {
				if offset, position, ok := x.LastEntry(); !ok || offset != tt.offset || position != tt.position {
					t.Errorf("LastEntry = (%d, %d, %v), want (%d, %d, true)", offset, position, ok, tt.offset, tt.position)
				}
			}
		})
	}
}

func TestOffsetIndexTruncateTo(t *testing.T) {
	const base = 1000
	es := []offsetEntry{{1003, 0}, {1010, 4096}, {1020, 8200}}
	tests := []struct {
		offset int64
		want   int
	}{
		{math.MinInt64, 0}, {0, 0}, {base, 0}, {1003, 0}, {1004, 1}, {1010, 1}, {1011, 2},
		{1020, 2}, {1021, 3}, {base + math.MaxUint32 + 1, 3}, {math.MaxInt64, 3},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			x := openOffset(t, indexPath(t.TempDir(), base), base, 1024, true)
			appendOffsets(t, x, es)
			x.TruncateTo(tt.offset)
			if x.Entries() != tt.want {
				t.Fatalf("TruncateTo(%d): %d entries, want %d", tt.offset, x.Entries(), tt.want)
			}
			kept := es[:tt.want]
			if offset, position, ok := x.LastEntry(); ok != (len(kept) > 0) ||
				(ok && (offset != kept[len(kept)-1].offset || position != kept[len(kept)-1].position)) {
				t.Errorf("LastEntry = (%d, %d, %v) after TruncateTo(%d)", offset, position, ok, tt.offset)
			}
			// The dropped slots are reused: the log re-appends from the truncation point.
			next := offsetEntry{max(tt.offset, base+1), 9000}
			if len(kept) > 0 {
				next.offset = max(next.offset, kept[len(kept)-1].offset+1)
			}
			if next.offset-base <= MaxRelativeOffset {
				appendOffsets(t, x, []offsetEntry{next})
				kept = append(kept[:len(kept):len(kept)], next)
			}
			for target := int64(base - 1); target < 1025; target++ {
				wo, wp := modelOffsetLookup(kept, base, target)
				if o, p := x.Lookup(target); o != wo || p != wp {
					t.Errorf("Lookup(%d) = (%d, %d), want (%d, %d)", target, o, p, wo, wp)
				}
			}
		})
	}
}

// TestOffsetIndexMatchesModel runs random appends, truncations and lookups against a linear
// search over a slice, at sizes around the warm tail's edge.
func TestOffsetIndexMatchesModel(t *testing.T) {
	warm := warmBytes / OffsetEntrySize
	for _, n := range []int{0, 1, 2, 3, warm - 1, warm, warm + 1, warm + 2, 2*warm + 7, 5000} {
		t.Run("", func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(n), 1))
			base := r.Int64N(1 << 40)
			x := openOffset(t, indexPath(t.TempDir(), base), base, (n+10)*OffsetEntrySize, true)
			es := randomOffsetEntries(r, base, n)
			appendOffsets(t, x, es)
			checkOffsetLookups(t, r, x, es, base)

			// Truncate somewhere, append new entries, check again.
			cut := base + r.Int64N(int64(n)*50+2)
			x.TruncateTo(cut)
			kept := es[:0]
			for _, e := range es {
				if e.offset < cut {
					kept = append(kept, e)
				}
			}
			if x.Entries() != len(kept) {
				t.Fatalf("TruncateTo(%d): %d entries, want %d", cut, x.Entries(), len(kept))
			}
			more := randomOffsetEntries(r, max(cut, base), 10)
			if len(kept) > 0 {
				shift := kept[len(kept)-1].position
				for i := range more {
					more[i].position += shift
				}
			}
			appendOffsets(t, x, more)
			kept = append(kept, more...)
			checkOffsetLookups(t, r, x, kept, base)
			if err := x.SanityCheck(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func checkOffsetLookups(t *testing.T, r *rand.Rand, x *OffsetIndex, es []offsetEntry, base int64) {
	t.Helper()
	if x.Entries() != len(es) {
		t.Fatalf("Entries = %d, want %d", x.Entries(), len(es))
	}
	targets := []int64{base - 1, base, math.MaxInt64, math.MinInt64}
	for _, e := range es {
		targets = append(targets, e.offset-1, e.offset, e.offset+1)
	}
	for range 1000 {
		targets = append(targets, base+r.Int64N(int64(len(es))*50+2))
	}
	for _, target := range targets {
		wo, wp := modelOffsetLookup(es, base, target)
		if o, p := x.Lookup(target); o != wo || p != wp {
			t.Fatalf("Lookup(%d) = (%d, %d), want (%d, %d)", target, o, p, wo, wp)
		}
	}
}

func TestOffsetIndexOpen(t *testing.T) {
	t.Run("capacity rounds down to whole entries", func(t *testing.T) {
		path := indexPath(t.TempDir(), 0)
		x := openOffset(t, path, 0, 3*OffsetEntrySize+5, true)
		if got := fileSize(t, path); got != 3*OffsetEntrySize {
			t.Errorf("preallocated size %d, want %d", got, 3*OffsetEntrySize)
		}
		appendOffsets(t, x, []offsetEntry{{1, 1}, {2, 2}})
		if x.IsFull() {
			t.Fatal("IsFull with a free slot")
		}
		appendOffsets(t, x, []offsetEntry{{3, 3}})
		if !x.IsFull() {
			t.Fatal("not IsFull after filling every slot")
		}
	})
	t.Run("maxBytes below one entry", func(t *testing.T) {
		path := indexPath(t.TempDir(), 0)
		x := openOffset(t, path, 0, OffsetEntrySize-1, true)
		if !x.IsFull() {
			t.Fatal("an index with no slot is not IsFull")
		}
		if err := x.Append(1, 1); !errors.Is(err, ErrIndexFull) {
			t.Fatalf("Append to an index with no slot: %v, want ErrIndexFull", err)
		}
		if _, pos := x.Lookup(5); pos != 0 {
			t.Fatalf("Lookup in an empty index: position %d, want 0", pos)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, path); got != 0 {
			t.Fatalf("file of %d bytes, want none reserved", got)
		}
	})
	t.Run("negative base offset", func(t *testing.T) {
		if _, err := OpenOffsetIndex(indexPath(t.TempDir(), 0), -1, 1024, true); err == nil {
			t.Fatal("opened an index with a negative base offset")
		}
	})
	t.Run("read-only missing file", func(t *testing.T) {
		_, err := OpenOffsetIndex(indexPath(t.TempDir(), 0), 0, 1024, false)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("writable in a missing directory", func(t *testing.T) {
		_, err := OpenOffsetIndex(indexPath(t.TempDir()+"/missing", 0), 0, 1024, true)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("read-only empty file", func(t *testing.T) {
		path := indexPath(t.TempDir(), 7)
		writeFile(t, path, nil)
		x := openOffset(t, path, 7, 1024, false)
		if x.Entries() != 0 || !x.IsFull() {
			t.Errorf("Entries = %d, IsFull = %v", x.Entries(), x.IsFull())
		}
		if o, p := x.Lookup(100); o != 7 || p != 0 {
			t.Errorf("Lookup = (%d, %d), want (7, 0)", o, p)
		}
		if err := x.SanityCheck(); err != nil {
			t.Error(err)
		}
	})
	t.Run("writable reopen of a file larger than maxBytes keeps its entries", func(t *testing.T) {
		path := indexPath(t.TempDir(), 0)
		x := openOffset(t, path, 0, 1024, true)
		es := randomOffsetEntries(rand.New(rand.NewPCG(1, 2)), 0, 10)
		appendOffsets(t, x, es)
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		y := openOffset(t, path, 0, 4*OffsetEntrySize, true)
		if y.Entries() != 10 || !y.IsFull() {
			t.Fatalf("Entries = %d, IsFull = %v; want 10, true", y.Entries(), y.IsFull())
		}
		if o, p, _ := y.LastEntry(); o != es[9].offset || p != es[9].position {
			t.Errorf("LastEntry = (%d, %d), want %v", o, p, es[9])
		}
	})
}
