package index

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

func TestTimeIndexLookup(t *testing.T) {
	const base = 1000
	es := []timeEntry{{100, 1003}, {200, 1003}, {300, 1010}}
	tests := []struct {
		name          string
		entries       []timeEntry
		target        int64
		wantTimestamp int64
		wantOffset    int64
	}{
		{"empty index", nil, 500, NoTimestamp, base},
		{"min int64", es, math.MinInt64, NoTimestamp, base},
		{"NoTimestamp", es, NoTimestamp, NoTimestamp, base},
		{"before first entry", es, 99, NoTimestamp, base},
		{"first entry", es, 100, 100, 1003},
		{"between entries", es, 199, 100, 1003},
		{"second entry, same offset", es, 200, 200, 1003},
		{"last entry", es, 300, 300, 1010},
		{"max int64", es, math.MaxInt64, 300, 1010},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := openTime(t, timeIndexPath(t.TempDir(), base), base, 1200, true)
			appendTimes(t, x, tt.entries)
			timestamp, offset := x.Lookup(tt.target)
			if timestamp != tt.wantTimestamp || offset != tt.wantOffset {
				t.Errorf("Lookup(%d) = (%d, %d), want (%d, %d)", tt.target, timestamp, offset, tt.wantTimestamp, tt.wantOffset)
			}
		})
	}
}

func TestTimeIndexFileFormat(t *testing.T) {
	const base = 368769
	kafka := []byte{
		0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x00, 0x03, // 1700000000000 ms, rel 3
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x7f, 0xff, 0xff, 0xff, // rel 2^31-1
	}
	dir := t.TempDir()

	path := timeIndexPath(dir, base)
	x := openTime(t, path, base, 10<<20, true)
	appendTimes(t, x, []timeEntry{{1_700_000_000_000, base + 3}, {0x0102030405060708, base + math.MaxInt32}})
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

	other := timeIndexPath(dir, base+1)
	writeFile(t, other, kafka)
	y := openTime(t, other, base, 0, false)
	if err := y.SanityCheck(); err != nil {
		t.Fatal(err)
	}
	if ts, offset := y.Lookup(1_700_000_000_001); ts != 1_700_000_000_000 || offset != base+3 {
		t.Errorf("Lookup = (%d, %d)", ts, offset)
	}
}

func TestTimeIndexMaybeAppend(t *testing.T) {
	const base = 1000
	prior := []timeEntry{{500, 1005}}
	tests := []struct {
		name        string
		maxBytes    int
		prior       []timeEntry
		readOnly    bool
		timestamp   int64
		offset      int64
		want        error
		wantEntries int
	}{
		{name: "first entry", timestamp: 0, offset: base, wantEntries: 1},
		{name: "NoTimestamp into an empty index is skipped", timestamp: NoTimestamp, offset: base, wantEntries: 0},
		{name: "negative timestamp into an empty index is skipped", timestamp: -7, offset: base, wantEntries: 0},
		{name: "greater timestamp, same offset", prior: prior, timestamp: 501, offset: 1005, wantEntries: 2},
		{name: "greater timestamp, greater offset", prior: prior, timestamp: 501, offset: 1006, wantEntries: 2},
		{name: "equal timestamp is skipped", prior: prior, timestamp: 500, offset: 1006, wantEntries: 1},
		{name: "smaller timestamp is skipped", prior: prior, timestamp: 499, offset: 1006, wantEntries: 1},
		{name: "offset below last", prior: prior, timestamp: 501, offset: 1004, want: ErrInvalidEntry, wantEntries: 1},
		{name: "offset below last, smaller timestamp", prior: prior, timestamp: 1, offset: 1004, want: ErrInvalidEntry, wantEntries: 1},
		{name: "offset below base", timestamp: 5, offset: base - 1, want: ErrInvalidEntry},
		{name: "relative offset beyond int32", timestamp: 5, offset: base + MaxRelativeOffset + 1, want: ErrInvalidEntry},
		{name: "full", maxBytes: 2 * TimeEntrySize, prior: []timeEntry{{1, base}, {2, base}}, timestamp: 3, offset: base, want: ErrIndexFull, wantEntries: 2},
		{name: "full, smaller timestamp is still skipped", maxBytes: TimeEntrySize, prior: []timeEntry{{5, base}}, timestamp: 3, offset: base, wantEntries: 1},
		{name: "read-only", prior: prior, readOnly: true, timestamp: 501, offset: 1006, want: ErrNotWritable, wantEntries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxBytes := tt.maxBytes
			if maxBytes == 0 {
				maxBytes = 1200
			}
			path := timeIndexPath(t.TempDir(), base)
			x := openTime(t, path, base, maxBytes, true)
			appendTimes(t, x, tt.prior)
			if tt.readOnly {
				if err := x.Close(); err != nil {
					t.Fatal(err)
				}
				x = openTime(t, path, base, maxBytes, false)
			}
			err := x.MaybeAppend(tt.timestamp, tt.offset)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("MaybeAppend(%d, %d) = %v, want %v", tt.timestamp, tt.offset, err, tt.want)
			}
			if x.Entries() != tt.wantEntries {
				t.Errorf("Entries = %d, want %d", x.Entries(), tt.wantEntries)
			}
		})
	}
}

// TestTimeIndexKeepsRollSlot: like Kafka's, the time index reports full one slot early so the
// log can still write the roll entry.
func TestTimeIndexKeepsRollSlot(t *testing.T) {
	x := openTime(t, timeIndexPath(t.TempDir(), 0), 0, 3*TimeEntrySize, true)
	appendTimes(t, x, []timeEntry{{1, 1}})
	if x.IsFull() {
		t.Fatal("IsFull with two free slots")
	}
	appendTimes(t, x, []timeEntry{{2, 2}})
	if !x.IsFull() {
		t.Fatal("not IsFull with only the roll slot left")
	}
	appendTimes(t, x, []timeEntry{{3, 3}}) // the roll entry
	if err := x.MaybeAppend(4, 4); !errors.Is(err, ErrIndexFull) {
		t.Fatalf("MaybeAppend into a full index = %v, want ErrIndexFull", err)
	}
}

func TestTimeIndexTruncateTo(t *testing.T) {
	const base = 1000
	es := []timeEntry{{100, 1003}, {200, 1003}, {300, 1010}}
	tests := []struct {
		offset int64
		want   int
	}{
		{math.MinInt64, 0}, {base, 0}, {1003, 0}, {1004, 2}, {1010, 2}, {1011, 3}, {math.MaxInt64, 3},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			x := openTime(t, timeIndexPath(t.TempDir(), base), base, 1200, true)
			appendTimes(t, x, es)
			x.TruncateTo(tt.offset)
			if x.Entries() != tt.want {
				t.Fatalf("TruncateTo(%d): %d entries, want %d", tt.offset, x.Entries(), tt.want)
			}
			kept := es[:tt.want]
			wantTS, wantOffset := int64(NoTimestamp), int64(base)
			if len(kept) > 0 {
				wantTS, wantOffset = kept[len(kept)-1].timestamp, kept[len(kept)-1].offset
			}
			if ts, offset, ok := x.LastEntry(); ts != wantTS || offset != wantOffset || ok != (len(kept) > 0) {
				t.Errorf("LastEntry = (%d, %d, %v), want (%d, %d)", ts, offset, ok, wantTS, wantOffset)
			}
			for target := int64(0); target < 400; target++ {
				wts, wo := modelTimeLookup(kept, base, target)
				if ts, o := x.Lookup(target); ts != wts || o != wo {
					t.Errorf("Lookup(%d) = (%d, %d), want (%d, %d)", target, ts, o, wts, wo)
				}
			}
		})
	}
}

func TestTimeIndexMatchesModel(t *testing.T) {
	warm := warmBytes / TimeEntrySize
	for _, n := range []int{0, 1, 2, warm - 1, warm, warm + 1, warm + 2, 2*warm + 5, 4000} {
		t.Run("", func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(n), 2))
			base := r.Int64N(1 << 40)
			x := openTime(t, timeIndexPath(t.TempDir(), base), base, (n+20)*TimeEntrySize, true)
			es := randomTimeEntries(r, base, n)
			appendTimes(t, x, es)
			checkTimeLookups(t, r, x, es, base)

			cut := base + r.Int64N(int64(n)*15+2)
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
			more := randomTimeEntries(r, max(cut, base), 10)
			if len(kept) > 0 {
				for i := range more {
					more[i].timestamp += kept[len(kept)-1].timestamp
				}
			}
			appendTimes(t, x, more)
			kept = append(kept, more...)
			checkTimeLookups(t, r, x, kept, base)
			if err := x.SanityCheck(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func checkTimeLookups(t *testing.T, r *rand.Rand, x *TimeIndex, es []timeEntry, base int64) {
	t.Helper()
	if x.Entries() != len(es) {
		t.Fatalf("Entries = %d, want %d", x.Entries(), len(es))
	}
	targets := []int64{NoTimestamp, 0, math.MaxInt64, math.MinInt64}
	for _, e := range es {
		targets = append(targets, e.timestamp-1, e.timestamp, e.timestamp+1)
	}
	lo, hi := int64(1_700_000_000_000), int64(1_700_000_000_000)+int64(len(es))*1000+2000
	for range 1000 {
		targets = append(targets, lo+r.Int64N(hi-lo))
	}
	for _, target := range targets {
		wts, wo := modelTimeLookup(es, base, target)
		if ts, o := x.Lookup(target); ts != wts || o != wo {
			t.Fatalf("Lookup(%d) = (%d, %d), want (%d, %d)", target, ts, o, wts, wo)
		}
	}
}
