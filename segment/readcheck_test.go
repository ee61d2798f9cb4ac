package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"runnel/segment"
)

// TestReadDamage damages one batch header in the middle of a sealed segment on disk (the bytes
// the CRC does not cover, or the whole header), reopens the log as after a clean shutdown, so
// that recovery trusts the files, and reads at every offset: each read either fails with
// ErrCorruptLog or serves batches byte for byte as they were written, starting with the one
// that holds the offset asked for. Never another offset's data, never skipped records.
func TestReadDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) // the batch's bytes, changed in place
	}{
		{"huge length", func(b []byte) { binary.BigEndian.PutUint32(b[8:], 0x7fff0000) }},
		{"length one batch too long", func(b []byte) { binary.BigEndian.PutUint32(b[8:], binary.BigEndian.Uint32(b[8:])+100) }},
		{"length below the header", func(b []byte) { binary.BigEndian.PutUint32(b[8:], 20) }},
		{"base offset raised", func(b []byte) { binary.BigEndian.PutUint64(b, binary.BigEndian.Uint64(b)+520) }},
		{"base offset raised by one", func(b []byte) { binary.BigEndian.PutUint64(b, binary.BigEndian.Uint64(b)+1) }},
		{"base offset lowered", func(b []byte) { binary.BigEndian.PutUint64(b, binary.BigEndian.Uint64(b)-3) }},
		{"zeroed header", func(b []byte) { clear(b[:segment.BatchHeaderSize]) }},
		{"magic", func(b []byte) { b[16] = 1 }},
	} {
		// Damage each of a few consecutive batches in turn, so that some are at an index
		// entry's position and some between entries.
		for k := range 4 {
			t.Run(tc.name+"/"+string(rune('a'+k)), func(t *testing.T) {
				dir := t.TempDir()
				cfg := smallConfig()
				batches := writeTestLog(t, dir, cfg, 300, 11)
				files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
				if len(files) < 4 {
					t.Fatalf("only %d segments", len(files))
				}
				// A batch in the middle of the second segment.
				var inSecond []int
				for i, b := range batches {
					if b.file == files[1] {
						inSecond = append(inSecond, i)
					}
				}
				victim := inSecond[len(inSecond)/2+k]
				damaged := bytes.Clone(batches[victim].bytes)
				tc.damage(damaged)
				writeAt(t, batches[victim].file, batches[victim].pos, damaged[:segment.BatchHeaderSize])

				l := openTestLog(t, dir, cfg, 0, true)
				failed := checkReads(t, l, batches)
				if !failed[victim] {
					t.Errorf("reads at the damaged batch %d succeeded", victim)
				}
				for i := range batches {
					if failed[i] && (i < victim-1 || i > victim+1 && batches[i].file != files[1]) {
						t.Errorf("read at undamaged batch %d (damaged %d) failed", i, victim)
					}
				}
				if l.DamageFound() == 0 {
					t.Errorf("DamageFound = 0 after reads of a damaged segment")
				}
			})
		}
	}
}

// checkReads reads at every offset of batches (as written) and checks that each read either
// fails with ErrCorruptLog or serves only batches identical to written ones, the first holding
// the offset asked for, the others following it. It returns which batches' offsets failed.
func checkReads(t *testing.T, l *segment.Log, batches []storedBatch) map[int]bool {
	t.Helper()
	byBase := map[int64][]byte{}
	failed := map[int]bool{}
	for _, b := range batches {
		h, _ := segment.ParseBatchHeader(b.bytes)
		byBase[h.BaseOffset] = b.bytes
	}
	for i, b := range batches {
		h, _ := segment.ParseBatchHeader(b.bytes)
		for offset := h.BaseOffset; offset <= h.LastOffset(); offset++ {
			rr, err := l.Read(offset, 4<<10, segment.ReadOptions{MinOneBatch: true})
			if err != nil {
				if !errors.Is(err, segment.ErrCorruptLog) {
					t.Fatalf("Read(%d): %v, want ErrCorruptLog", offset, err)
				}
				var de *segment.DamageError
				if !errors.As(err, &de) || !strings.HasSuffix(de.File, ".log") {
					t.Fatalf("Read(%d): %v is not a DamageError naming the file", offset, err)
				}
				failed[i] = true
				continue
			}
			served := splitBatches(rangeBytes(t, &rr))
			if len(served) == 0 {
				t.Fatalf("Read(%d) served nothing", offset)
			}
			next := h.BaseOffset
			for j, s := range served {
				want, ok := byBase[next]
				if !ok || !bytes.Equal(s, want) {
					sh, _ := segment.ParseBatchHeader(s)
					t.Fatalf("Read(%d): batch %d served (base offset %d, %d bytes) is not the one written at offset %d", offset, j, sh.BaseOffset, len(s), next)
				}
				wh, _ := segment.ParseBatchHeader(want)
				next = wh.LastOffset() + 1
			}
		}
	}
	return failed
}
