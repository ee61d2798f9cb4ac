package index

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// offsetEntry and timeEntry are the models' entries, with absolute offsets.
type offsetEntry struct {
	offset   int64
	position uint32
}

type timeEntry struct {
	timestamp, offset int64
}

func indexPath(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.index", base))
}

func timeIndexPath(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.timeindex", base))
}

// openOffset opens an offset index and closes it when the test ends.
func openOffset(t testing.TB, path string, base int64, maxBytes int, writable bool) *OffsetIndex {
	t.Helper()
	x, err := OpenOffsetIndex(path, base, maxBytes, writable)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// openTime opens a time index and closes it when the test ends.
func openTime(t testing.TB, path string, base int64, maxBytes int, writable bool) *TimeIndex {
	t.Helper()
	x, err := OpenTimeIndex(path, base, maxBytes, writable)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func appendOffsets(t testing.TB, x *OffsetIndex, es []offsetEntry) {
	t.Helper()
	for _, e := range es {
		if err := x.Append(e.offset, e.position); err != nil {
			t.Fatalf("Append(%d, %d): %v", e.offset, e.position, err)
		}
	}
}

func appendTimes(t testing.TB, x *TimeIndex, es []timeEntry) {
	t.Helper()
	for _, e := range es {
		if err := x.MaybeAppend(e.timestamp, e.offset); err != nil {
			t.Fatalf("MaybeAppend(%d, %d): %v", e.timestamp, e.offset, err)
		}
	}
}

// modelOffsetLookup is OffsetIndex.Lookup by linear search.
func modelOffsetLookup(es []offsetEntry, base, target int64) (int64, uint32) {
	offset, position := base, uint32(0)
	for _, e := range es {
		if e.offset <= target {
			offset, position = e.offset, e.position
		}
	}
	return offset, position
}

// modelTimeLookup is TimeIndex.Lookup by linear search.
func modelTimeLookup(es []timeEntry, base, target int64) (int64, int64) {
	timestamp, offset := int64(NoTimestamp), base
	for _, e := range es {
		if e.timestamp <= target {
			timestamp, offset = e.timestamp, e.offset
		}
	}
	return timestamp, offset
}

// randomOffsetEntries returns n valid entries starting after base.
func randomOffsetEntries(r *rand.Rand, base int64, n int) []offsetEntry {
	es := make([]offsetEntry, n)
	offset, position := base-1, uint32(0)
	for i := range es {
		offset += 1 + r.Int64N(50)
		position += uint32(r.IntN(5000))
		es[i] = offsetEntry{offset, position}
	}
	return es
}

// randomTimeEntries returns n valid entries: strictly increasing timestamps, non-decreasing
// offsets from base on.
func randomTimeEntries(r *rand.Rand, base int64, n int) []timeEntry {
	es := make([]timeEntry, n)
	timestamp, offset := int64(1_700_000_000_000)+r.Int64N(1000), base
	for i := range es {
		timestamp += 1 + r.Int64N(1000)
		offset += r.Int64N(30)
		es[i] = timeEntry{timestamp, offset}
	}
	return es
}

// offsetFileBytes encodes entries (relative offset, position) as a .index file.
func offsetFileBytes(rels ...uint32) []byte {
	var b []byte
	for _, v := range rels {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// timeFileBytes encodes (timestamp, relative offset) pairs as a .timeindex file.
func timeFileBytes(pairs ...int64) []byte {
	var b []byte
	for i := 0; i+1 < len(pairs); i += 2 {
		b = binary.BigEndian.AppendUint64(b, uint64(pairs[i]))
		b = binary.BigEndian.AppendUint32(b, uint32(pairs[i+1]))
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
