package index

import (
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// The fuzz targets' default run covers only the seeds below; try them by hand with e.g.
// go test ./index -run '^$' -fuzz FuzzOffsetIndexLookup -fuzztime 30s

// fuzzBase maps any int64 to a valid base offset, far enough below MaxInt64 that base plus any
// uint32 relative offset does not overflow.
func fuzzBase(base int64) int64 { return int64(uint64(base) % (1 << 62)) }

// fuzzGap returns byte i of gaps (cycled), or 1 when there are none.
func fuzzGap(gaps []byte, i int) int64 {
	if len(gaps) == 0 {
		return 1
	}
	return int64(gaps[i%len(gaps)])
}

// FuzzOffsetIndexLookup builds a valid index of up to 5000 entries whose gaps come from the
// input, and checks Lookup and TruncateTo against the linear model.
func FuzzOffsetIndexLookup(f *testing.F) {
	f.Add([]byte{1, 10}, uint16(3), int64(0), int64(2))
	f.Add([]byte{0, 0, 7, 200, 255, 0}, uint16(1030), int64(1<<40), int64(1<<40+1500))
	f.Add([]byte{3}, uint16(5000), int64(42), int64(9000))
	f.Add([]byte{}, uint16(0), int64(-5), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, gaps []byte, entries uint16, base, target int64) {
		base = fuzzBase(base)
		n := int(entries % 5001)
		es := make([]offsetEntry, n)
		offset, position := base-1, uint32(0)
		for i := range es {
			offset += 1 + fuzzGap(gaps, 2*i)
			position += uint32(fuzzGap(gaps, 2*i+1)) << 4
			es[i] = offsetEntry{offset, position}
		}
		x := openOffset(t, filepath.Join(t.TempDir(), "x.index"), base, max(n, 1)*OffsetEntrySize, true)
		appendOffsets(t, x, es)
		if err := x.SanityCheck(); err != nil {
			t.Fatalf("SanityCheck of appended entries: %v", err)
		}
		targets := []int64{target, base - 1, base, offset, offset + 1}
		for _, i := range []int{0, n / 2, n - 1, n - 1024, n - 1025} {
			if i >= 0 && i < n {
				targets = append(targets, es[i].offset-1, es[i].offset, es[i].offset+1)
			}
		}
		for _, target := range targets {
			wo, wp := modelOffsetLookup(es, base, target)
			if o, p := x.Lookup(target); o != wo || p != wp {
				t.Fatalf("Lookup(%d) = (%d, %d), want (%d, %d)", target, o, p, wo, wp)
			}
		}
		x.TruncateTo(target)
		kept := 0
		for kept < n && es[kept].offset < target {
			kept++
		}
		if x.Entries() != kept {
			t.Fatalf("TruncateTo(%d): %d entries, want %d", target, x.Entries(), kept)
		}
	})
}

// FuzzTimeIndexLookup is FuzzOffsetIndexLookup for the time index; offsets may repeat.
func FuzzTimeIndexLookup(f *testing.F) {
	f.Add([]byte{1, 1}, uint16(3), int64(0), int64(2))
	f.Add([]byte{0, 0, 7, 200, 255, 0}, uint16(700), int64(1<<40), int64(1_700_000_100_000))
	f.Add([]byte{3, 0}, uint16(5000), int64(42), int64(1_700_000_000_000))
	f.Add([]byte{}, uint16(0), int64(-5), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, gaps []byte, entries uint16, base, target int64) {
		base = fuzzBase(base)
		n := int(entries % 5001)
		es := make([]timeEntry, n)
		timestamp, offset := int64(1_700_000_000_000), base
		for i := range es {
			timestamp += 1 + fuzzGap(gaps, 2*i)<<8
			offset += fuzzGap(gaps, 2*i+1) % 4
			es[i] = timeEntry{timestamp, offset}
		}
		x := openTime(t, filepath.Join(t.TempDir(), "x.timeindex"), base, max(n, 1)*TimeEntrySize, true)
		appendTimes(t, x, es)
		if err := x.SanityCheck(); err != nil {
			t.Fatalf("SanityCheck of appended entries: %v", err)
		}
		targets := []int64{target, NoTimestamp, timestamp, timestamp + 1}
		for _, i := range []int{0, n / 2, n - 1, n - 682, n - 683} {
			if i >= 0 && i < n {
				targets = append(targets, es[i].timestamp-1, es[i].timestamp, es[i].timestamp+1)
			}
		}
		for _, target := range targets {
			wts, wo := modelTimeLookup(es, base, target)
			if ts, o := x.Lookup(target); ts != wts || o != wo {
				t.Fatalf("Lookup(%d) = (%d, %d), want (%d, %d)", target, ts, o, wts, wo)
			}
		}
		x.TruncateTo(offset - int64(target&3))
		kept := 0
		for kept < n && es[kept].offset < offset-int64(target&3) {
			kept++
		}
		if x.Entries() != kept {
			t.Fatalf("TruncateTo: %d entries, want %d", x.Entries(), kept)
		}
	})
}

// FuzzOpenCorruptIndex opens arbitrary bytes as an index file, read-only and writable, as
// recovery may find after a crash or bit rot. Nothing may panic; SanityCheck must flag exactly
// the files that break the format's rules (checked here by a separate parse); and lookups,
// truncation and appends must behave: exactly as the linear model on files that pass, returning
// an entry of the file (or the default) on files that do not.
func FuzzOpenCorruptIndex(f *testing.F) {
	f.Add(offsetFileBytes(0, 0, 3, 100, 9, 100), int64(100), int64(105))
	f.Add(append(offsetFileBytes(3, 0, 9, 100), make([]byte, 16)...), int64(0), int64(9))
	f.Add(timeFileBytes(10, 0, 20, 0, 30, 7), int64(7), int64(25))
	f.Add(append(timeFileBytes(10, 0, 20, 4), 1, 2, 3), int64(0), int64(15))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, int64(math.MaxInt64), int64(-1))
	f.Add([]byte{}, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, raw []byte, base, target int64) {
		base = fuzzBase(base)
		dir := t.TempDir()
		for _, writable := range []bool{false, true} {
			path := filepath.Join(dir, "x.index")
			writeFile(t, path, raw)
			checkCorruptOffsetIndex(t, openOffset(t, path, base, len(raw)+2*OffsetEntrySize, writable), raw, base, target)
			path = filepath.Join(dir, "x.timeindex")
			writeFile(t, path, raw)
			checkCorruptTimeIndex(t, openTime(t, path, base, len(raw)+2*TimeEntrySize, writable), raw, base, target)
		}
	})
}

func checkCorruptOffsetIndex(t *testing.T, x *OffsetIndex, raw []byte, base, target int64) {
	t.Helper()
	es := make([]offsetEntry, len(raw)/OffsetEntrySize)
	valid := len(raw)%OffsetEntrySize == 0
	for i := range es {
		rel := binary.BigEndian.Uint32(raw[i*8:])
		position := binary.BigEndian.Uint32(raw[i*8+4:])
		es[i] = offsetEntry{base + int64(rel), position}
		valid = valid && rel <= MaxRelativeOffset && position <= MaxPosition &&
			(i == 0 || (es[i].offset > es[i-1].offset && position >= es[i-1].position))
	}
	if x.Entries() != len(es) {
		t.Fatalf("Entries = %d, want %d", x.Entries(), len(es))
	}
	err := x.SanityCheck()
	if valid != (err == nil) || (err != nil && !errors.Is(err, ErrCorruptIndex)) {
		t.Fatalf("SanityCheck = %v, but the file is valid=%v", err, valid)
	}
	o, p := x.Lookup(target)
	if valid {
		if wo, wp := modelOffsetLookup(es, base, target); o != wo || p != wp {
			t.Fatalf("Lookup(%d) = (%d, %d), want (%d, %d)", target, o, p, wo, wp)
		}
	} else if (o != base || p != 0) && !slices.Contains(es, offsetEntry{o, p}) {
		t.Fatalf("Lookup(%d) = (%d, %d): not an entry of the file", target, o, p)
	}
	x.TruncateTo(target)
	if n := x.Entries(); n > len(es) || (valid && (n > 0 && es[n-1].offset >= target || n < len(es) && es[n].offset < target)) {
		t.Fatalf("TruncateTo(%d) left %d of %d entries", target, n, len(es))
	}
	// An append after the last entry works on a writable index, whatever came before.
	last, lastPosition, _ := x.LastEntry()
	if err := x.Append(last+1, lastPosition); err != nil && !errors.Is(err, ErrNotWritable) &&
		!errors.Is(err, ErrIndexFull) && !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("Append: %v", err)
	}
}

func checkCorruptTimeIndex(t *testing.T, x *TimeIndex, raw []byte, base, target int64) {
	t.Helper()
	es := make([]timeEntry, len(raw)/TimeEntrySize)
	valid := len(raw)%TimeEntrySize == 0
	for i := range es {
		timestamp := int64(binary.BigEndian.Uint64(raw[i*12:]))
		rel := binary.BigEndian.Uint32(raw[i*12+8:])
		es[i] = timeEntry{timestamp, base + int64(rel)}
		valid = valid && rel <= MaxRelativeOffset && timestamp > NoTimestamp &&
			(i == 0 || (timestamp > es[i-1].timestamp && es[i].offset >= es[i-1].offset))
	}
	if x.Entries() != len(es) {
		t.Fatalf("Entries = %d, want %d", x.Entries(), len(es))
	}
	err := x.SanityCheck()
	if valid != (err == nil) || (err != nil && !errors.Is(err, ErrCorruptIndex)) {
		t.Fatalf("SanityCheck = %v, but the file is valid=%v", err, valid)
	}
	ts, o := x.Lookup(target)
	if valid {
		if wts, wo := modelTimeLookup(es, base, target); ts != wts || o != wo {
			t.Fatalf("Lookup(%d) = (%d, %d), want (%d, %d)", target, ts, o, wts, wo)
		}
	} else if (ts != NoTimestamp || o != base) && !slices.Contains(es, timeEntry{ts, o}) {
		t.Fatalf("Lookup(%d) = (%d, %d): not an entry of the file", target, ts, o)
	}
	x.TruncateTo(target)
	if n := x.Entries(); n > len(es) || (valid && (n > 0 && es[n-1].offset >= target || n < len(es) && es[n].offset < target)) {
		t.Fatalf("TruncateTo(%d) left %d of %d entries", target, n, len(es))
	}
	last, lastOffset, _ := x.LastEntry()
	if err := x.MaybeAppend(max(last, 0)+1, lastOffset); err != nil && !errors.Is(err, ErrNotWritable) &&
		!errors.Is(err, ErrIndexFull) && !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("MaybeAppend: %v", err)
	}
}
