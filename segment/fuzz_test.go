package segment_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"runnel/segment"
	"runnel/segment/segmenttest"
)

// seedBatches are valid batches of every codec, for the fuzz seeds.
func seedBatches() [][]byte {
	var seeds [][]byte
	for _, c := range codecs {
		seeds = append(seeds, segmenttest.Batch(segmenttest.Values("a", "bb", ""), c.opts...))
	}
	records := []segmenttest.Record{{Key: []byte("k"), Value: nil, Headers: []segment.RecordHeader{{Key: "h", Value: []byte("v")}}}}
	return append(seeds, segmenttest.Batch(records, segmenttest.Producer(5, 1, 9)))
}

var batchSentinels = []error{segment.ErrShortBatch, segment.ErrCorruptBatch, segment.ErrInvalidBatch, segment.ErrUnsupportedMagic}

// FuzzValidateBatches checks that ValidateBatches never panics, that what
// it accepts is batches whose sizes add up exactly to the input, that what it
// refuses it refuses with a *BatchError wrapping one of the batch sentinels,
// and that flipping any one bit from the CRC field to the end of an accepted
// batch makes it refuse with ErrCorruptBatch.
func FuzzValidateBatches(f *testing.F) {
	seeds := seedBatches()
	for i, s := range seeds {
		f.Add(s, uint32(i*977))
		f.Add(s[:len(s)-1], uint32(0))
	}
	f.Add(slices.Concat(seeds...), uint32(12345))
	f.Add([]byte{}, uint32(0))
	f.Add(make([]byte, 80), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, flip uint32) {
		var positions []int
		end := 0
		err := segment.ValidateBatches(data, func(pos int, h segment.BatchHeader) error {
			if pos != end {
				t.Fatalf("batch at %d, previous ended at %d", pos, end)
			}
			if again, err := segment.ValidateBatch(data[pos:]); err != nil || again != h {
				t.Fatalf("batch at %d: ValidateBatch says %+v, %v; ValidateBatches said %+v", pos, again, err, h)
			}
			positions = append(positions, pos)
			end = pos + h.Size()
			return nil
		})
		if err != nil {
			var be *segment.BatchError
			if !errors.As(err, &be) || be.Pos != end || !slices.ContainsFunc(batchSentinels, func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("refused with %v after accepting up to byte %d", err, end)
			}
			return
		}
		if end != len(data) {
			t.Fatalf("accepted batches cover %d of %d bytes", end, len(data))
		}
		if len(positions) == 0 {
			return
		}
		pos := positions[int(flip%uint32(len(positions)))]
		h, _ := segment.ParseBatchHeader(data[pos:])
		const crcStart = 17 // the CRC field, then the bytes it covers
		bit := crcStart*8 + int(flip/uint32(len(positions)))%((h.Size()-crcStart)*8)
		flipped := slices.Clone(data)
		flipped[pos+bit/8] ^= 1 << (bit % 8)
		err = segment.ValidateBatches(flipped, nil)
		var be *segment.BatchError
		if !errors.Is(err, segment.ErrCorruptBatch) || !errors.As(err, &be) || be.Pos != pos {
			t.Fatalf("bit %d of the batch at %d flipped: %v, want ErrCorruptBatch at %d", bit, pos, err, pos)
		}
	})
}

// FuzzRecords checks that Records never panics on any batch and that what it
// accepts has the header's record count. The fuzzer cannot forge CRCs, so
// the input's magic, batch length and CRC are set to valid values first:
// the fuzzing reaches the decompressors and the record decoder.
func FuzzRecords(f *testing.F) {
	for _, s := range seedBatches() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= segment.BatchHeaderSize {
			data = slices.Clone(data)
			data[16] = 2
			binary.BigEndian.PutUint32(data[8:], uint32(len(data)-12))
			binary.BigEndian.PutUint32(data[17:], crc32.Checksum(data[21:], crc32.MakeTable(crc32.Castagnoli)))
		}
		records, err := segment.Records(data)
		if err != nil {
			return
		}
		h, _ := segment.ParseBatchHeader(data)
		if len(records) != int(h.RecordCount) {
			t.Fatalf("accepted %d records, header says %d", len(records), h.RecordCount)
		}
	})
}

// FuzzValidateProducerBatch checks that ValidateProducerBatch never panics,
// and that it agrees with Records, which decompresses whole where the
// validator streams: what the validator accepts Records decodes into
// exactly the header's record count at offsets base..last; what Records
// decodes so, in a batch that keeps the producer's header rules, the
// validator accepts. As in FuzzRecords, magic, batch length and CRC are
// made valid first, and lastOffsetDelta is set from the record count.
func FuzzValidateProducerBatch(f *testing.F) {
	for _, s := range seedBatches() {
		f.Add(s)
	}
	for _, c := range codecs {
		f.Add(segmenttest.Batch(sampleRecords()[:4], c.opts...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= segment.BatchHeaderSize {
			data = slices.Clone(data)
			data[16] = 2
			binary.BigEndian.PutUint32(data[8:], uint32(len(data)-12))
			binary.BigEndian.PutUint32(data[23:], binary.BigEndian.Uint32(data[57:])-1)
			binary.BigEndian.PutUint32(data[17:], crc32.Checksum(data[21:], crc32.MakeTable(crc32.Castagnoli)))
		}
		h, err := segment.ValidateProducerBatch(data)
		records, rerr := segment.Records(data)
		if err != nil {
			if !slices.ContainsFunc(append(batchSentinels, segment.ErrUnsupportedCodec), func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("refused with %v, not a batch sentinel", err)
			}
			if rerr != nil || len(records) == 0 || h.HasProducerID() && h.BaseSequence < 0 {
				return
			}
			for i, r := range records {
				if r.Offset != records[0].Offset+int64(i) || records[0].Offset != 0 {
					return // gaps or a shifted start: only Records allows them
				}
			}
			hh, _ := segment.ParseBatchHeader(data)
			if hh.HasProducerID() && hh.BaseSequence < 0 {
				return
			}
			t.Fatalf("validator refused (%v) what Records decodes as %d records in order", err, len(records))
		}
		if rerr != nil {
			t.Fatalf("validator accepted, Records refused: %v", rerr)
		}
		if len(records) != int(h.RecordCount) {
			t.Fatalf("validator accepted %d records, Records decoded %d", h.RecordCount, len(records))
		}
		for i, r := range records {
			if r.Offset != h.BaseOffset+int64(i) {
				t.Fatalf("record %d at offset %d, want %d", i, r.Offset, h.BaseOffset+int64(i))
			}
		}
		if records[len(records)-1].Offset != h.LastOffset() {
			t.Fatalf("last record at %d, header's last offset %d", records[len(records)-1].Offset, h.LastOffset())
		}
	})
}

// FuzzReadOffsetCheckpoint checks that reading never panics and that what it
// accepts is written back and read again to the same offsets.
func FuzzReadOffsetCheckpoint(f *testing.F) {
	f.Add([]byte("0\n2\norders 0 1234\norders 1 1180\n"))
	f.Add([]byte("0\n0\n"))
	f.Add([]byte("0\r\n1\r\nt  0\t-5\r\n"))
	f.Add([]byte("0\n1\nt 0 1\nextra\n"))
	dir := f.TempDir() // one per fuzzing process, whose calls are sequential
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "checkpoint")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := segment.ReadOffsetCheckpoint(path)
		if err != nil {
			if !errors.Is(err, segment.ErrMalformedCheckpoint) {
				t.Fatalf("refused with %v, want ErrMalformedCheckpoint", err)
			}
			return
		}
		rewritten := filepath.Join(dir, "rewritten")
		if err := segment.WriteOffsetCheckpoint(rewritten, m); err != nil {
			t.Fatalf("cannot write back what was read: %v", err)
		}
		again, err := segment.ReadOffsetCheckpoint(rewritten)
		if err != nil || !maps.Equal(again, m) {
			t.Fatalf("round trip: %v, %v; want %v", again, err, m)
		}
	})
}
