package segment_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"runnel/segment"
)

// fuzzTemplate is a valid log written once per process: several small segments.
var fuzzTemplate = sync.OnceValues(func() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "fuzzrecover")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg := fuzzConfig()
	l, err := segment.OpenLog(dir, testTP, cfg, 0, true, quietLogger)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewSource(1))
	for i := range 40 {
		if _, err := l.Append(randomBatch(rng, 1+rng.Intn(700), int64(i)), segment.AppendOptions{}); err != nil {
			return nil, err
		}
	}
	if err := l.Close(); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = b
	}
	return files, nil
})

func fuzzConfig() segment.Config {
	c := smallConfig()
	c.SegmentBytes = 4 << 10
	c.PreallocateBytes = 1 << 10
	c.IndexIntervalBytes = 300
	return c
}

// FuzzRecover damages a valid log's files as the input says (truncation, zeroed or garbage
// ranges, flipped bytes, zero or garbage tails, lost or spoiled index files), reopens it as
// after a crash and checks: no panic; every batch that lies wholly before the first damaged
// byte (in offset order) is there with its exact bytes; the log reads cleanly from start to
// end; appends continue at EndOffset.
//
// Each 8 bytes of input are one change: kind, file, position (uint32), parameter (uint16).
func FuzzRecover(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 2, 0, 0, 1, 0, 0, 0})                               // truncate the third segment
	f.Add([]byte{1, 1, 0, 0, 0, 100, 0, 200})                           // zero a range
	f.Add([]byte{2, 0, 0, 0, 2, 0, 0, 1})                               // flip a byte
	f.Add([]byte{3, 3, 0, 0, 0, 30, 0, 40, 6, 3, 0, 0, 0, 0, 16, 0})    // garbage, then a zero tail
	f.Add([]byte{4, 0, 0, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0, 8, 0, 9})       // lose one index, spoil another
	f.Add([]byte{7, 4, 0, 0, 0, 0, 0, 99, 2, 4, 0, 0, 0, 0, 0, 3})      // garbage tail, flipped offset
	f.Add([]byte{2, 2, 0, 0, 0, 3, 0, 0x40, 2, 3, 0, 0, 0, 5, 0, 0x10}) // offsets out of order
	f.Fuzz(func(t *testing.T, input []byte) {
		template, err := fuzzTemplate()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		var logs []string
		for name, b := range template {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
			if filepath.Ext(name) == segment.LogSuffix {
				logs = append(logs, name)
			}
		}
		sort.Strings(logs)
		var stored []storedBatch // in offset order
		for fi, name := range logs {
			pos := int64(0)
			for _, b := range splitBatches(template[name]) {
				stored = append(stored, storedBatch{file: logs[fi], pos: pos, bytes: b})
				pos += int64(len(b))
			}
		}
		// firstDamage[i] is the first changed byte of logs[i] (MaxInt64: none).
		firstDamage := make([]int64, len(logs))
		for i := range logs {
			firstDamage[i] = math.MaxInt64
		}
		for len(input) >= 8 && len(logs) > 0 {
			op := input[:8]
			input = input[8:]
			fi := int(op[1]) % len(logs)
			path := filepath.Join(dir, logs[fi])
			b, _ := os.ReadFile(path)
			pos := int64(binary.BigEndian.Uint32(op[2:])) % int64(len(b)+1)
			param := int(binary.BigEndian.Uint16(op[6:]))
			damage := func(at int64, changed []byte) {
				if at < int64(len(b)) && !bytes.Equal(changed, b[at:at+int64(len(changed))]) {
					firstDamage[fi] = min(firstDamage[fi], at)
				}
			}
			switch op[0] % 8 {
			case 0: // truncate
				if pos < int64(len(b)) {
					firstDamage[fi] = min(firstDamage[fi], pos)
				}
				b = b[:pos]
			case 1: // zero a range
				end := min(int64(len(b)), pos+int64(param%4096))
				damage(pos, make([]byte, end-pos))
				clear(b[pos:end])
			case 2: // flip bits of one byte
				if pos < int64(len(b)) {
					firstDamage[fi] = min(firstDamage[fi], pos)
					b[pos] ^= byte(param) | 1
				}
			case 3: // garbage over a range
				end := min(int64(len(b)), pos+int64(param%64))
				garbage := make([]byte, end-pos)
				rand.New(rand.NewSource(int64(param))).Read(garbage)
				damage(pos, garbage)
				copy(b[pos:], garbage)
			case 4: // lose an index file
				os.Remove(path[:len(path)-len(segment.LogSuffix)] + []string{segment.OffsetIndexSuffix, segment.TimeIndexSuffix}[param%2])
				continue
			case 5: // spoil an index file
				ip := path[:len(path)-len(segment.LogSuffix)] + []string{segment.OffsetIndexSuffix, segment.TimeIndexSuffix}[param%2]
				ib, _ := os.ReadFile(ip)
				if len(ib) > 0 {
					ib[int(pos)%len(ib)] ^= byte(param>>8) | 1
				}
				os.WriteFile(ip, ib, 0o644)
				continue
			case 6: // zero tail, as preallocation leaves
				b = append(b, make([]byte, param%8192)...)
			case 7: // garbage tail
				garbage := make([]byte, param%512)
				rand.New(rand.NewSource(int64(param))).Read(garbage)
				if !bytes.Equal(garbage, make([]byte, len(garbage))) {
					firstDamage[fi] = min(firstDamage[fi], int64(len(b)))
				}
				b = append(b, garbage...)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		l, err := segment.OpenLog(dir, testTP, fuzzConfig(), 0, false, quietLogger)
		if err != nil {
			t.Fatalf("OpenLog after damage: %v", err)
		}
		defer l.Close()
		// The batches before the first damage, in offset order, survive exactly.
		var want [][]byte
	survivors:
		for _, s := range stored {
			for fi, name := range logs {
				if name == s.file {
					if s.pos+int64(len(s.bytes)) > firstDamage[fi] {
						break survivors
					}
					break
				}
				if firstDamage[fi] != math.MaxInt64 {
					break survivors
				}
			}
			want = append(want, s.bytes)
		}
		got := readAllBatches(t, l, l.StartOffset(), false)
		if len(got) < len(want) {
			t.Fatalf("%d batches survive, %d were undamaged", len(got), len(want))
		}
		equalBatches(t, got[:len(want)], want)
		next := int64(-1)
		for _, b := range got {
			h, err := segment.ValidateBatch(b)
			if err != nil || h.BaseOffset < next {
				t.Fatalf("batch at %d after recovery: %v (after %d)", h.BaseOffset, err, next)
			}
			next = h.LastOffset() + 1
		}
		if len(got) > 0 && next != l.EndOffset() {
			t.Fatalf("batches end at %d, EndOffset %d", next, l.EndOffset())
		}
		end := l.EndOffset()
		b := randomBatch(rand.New(rand.NewSource(2)), 100, 1)
		info, err := l.Append(b, segment.AppendOptions{})
		if err != nil || info.FirstOffset != end {
			t.Fatalf("append after recovery: %+v, %v; want offset %d", info, err, end)
		}
		rr, err := l.Read(end, 1, segment.ReadOptions{MinOneBatch: true})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rangeBytes(t, &rr), b) {
			t.Fatal("appended batch reads back different")
		}
	})
}
