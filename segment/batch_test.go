package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
	"runnel/segment/segmenttest"
)

// codecs is every way a client may compress a batch.
var codecs = []struct {
	name  string
	codec int
	opts  []segmenttest.Option
}{
	{"none", segment.CodecNone, nil},
	{"gzip", segment.CodecGzip, []segmenttest.Option{segmenttest.Compression(segment.CodecGzip)}},
	{"snappy-xerial", segment.CodecSnappy, []segmenttest.Option{segmenttest.Compression(segment.CodecSnappy)}},
	{"snappy-raw", segment.CodecSnappy, []segmenttest.Option{segmenttest.Compression(segment.CodecSnappy), segmenttest.RawSnappy()}},
	{"lz4", segment.CodecLZ4, []segmenttest.Option{segmenttest.Compression(segment.CodecLZ4)}},
	{"zstd", segment.CodecZstd, []segmenttest.Option{segmenttest.Compression(segment.CodecZstd)}},
}

// sampleRecords covers null and empty keys and values, headers, and a value
// larger than one xerial snappy block.
func sampleRecords() []segmenttest.Record {
	return []segmenttest.Record{
		{Value: []byte("v0")},
		{Key: []byte("k1"), Value: nil, TimestampDelta: 5},
		{Key: []byte{}, Value: []byte{}, TimestampDelta: 3},
		{Key: []byte("k3"), Value: []byte("v3"), Headers: []segment.RecordHeader{{Key: "h", Value: []byte("x")}, {Key: "", Value: nil}}},
		{Value: bytes.Repeat([]byte("0123456789"), 10_000), TimestampDelta: 1 << 40},
	}
}

func TestParseBatchHeader(t *testing.T) {
	b := segmenttest.Batch(segmenttest.Values("a", "b", "c"),
		segmenttest.BaseOffset(100), segmenttest.LeaderEpoch(7), segmenttest.Timestamp(1_700_000_000_000),
		segmenttest.Producer(42, 3, 17), segmenttest.Compression(segment.CodecLZ4), segmenttest.Attributes(0x10))
	h, err := segment.ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := segment.BatchHeader{
		BaseOffset: 100, BatchLength: int32(len(b) - 12), PartitionLeaderEpoch: 7, Magic: 2,
		CRC: crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)), Attributes: 0x10 | segment.CodecLZ4,
		LastOffsetDelta: 2, BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000,
		ProducerID: 42, ProducerEpoch: 3, BaseSequence: 17, RecordCount: 3,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Size() != len(b) || h.LastOffset() != 102 || h.Codec() != segment.CodecLZ4 ||
		!h.IsTransactional() || h.IsControl() || h.TimestampType() != segment.TimestampCreateTime || !h.HasProducerID() {
		t.Fatalf("accessors wrong for %+v", h)
	}
	if _, err := segment.ParseBatchHeader(b[:60]); !errors.Is(err, segment.ErrShortBatch) {
		t.Fatalf("60 bytes: %v, want ErrShortBatch", err)
	}
}

// mutate returns a copy of b changed by f.
func mutate(b []byte, f func(b []byte) []byte) []byte { return f(slices.Clone(b)) }

func TestValidateBatches(t *testing.T) {
	one := segmenttest.Batch(segmenttest.Values("a", "b"))
	two := segmenttest.Batch(sampleRecords(), segmenttest.Compression(segment.CodecZstd))
	legacy := make([]byte, 80) // a magic 0/1 message set: offset, size, crc, magic at byte 16
	binary.BigEndian.PutUint32(legacy[8:], 68)
	tests := []struct {
		name    string
		b       []byte
		want    error // nil: valid
		wantPos int   // position of the failing batch
	}{
		{"empty", nil, nil, 0},
		{"one", one, nil, 0},
		{"three", slices.Concat(one, two, one), nil, 0},
		{"trailing byte", append(slices.Clone(one), 0), segment.ErrShortBatch, len(one)},
		{"second batch cut", slices.Concat(one, two[:len(two)-1]), segment.ErrShortBatch, len(one)},
		{"header cut", one[:40], segment.ErrShortBatch, 0},
		{"magic 0", legacy, segment.ErrUnsupportedMagic, 0},
		{"magic 1", mutate(legacy, func(b []byte) []byte { b[16] = 1; return b }), segment.ErrUnsupportedMagic, 0},
		{"magic 1 short", mutate(legacy[:20], func(b []byte) []byte { b[16] = 1; return b }), segment.ErrUnsupportedMagic, 0},
		{"magic 3", slices.Concat(one, mutate(one, func(b []byte) []byte { b[16] = 3; return b })), segment.ErrUnsupportedMagic, len(one)},
		{"crc", mutate(one, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), segment.ErrCorruptBatch, 0},
		{"crc field", mutate(one, func(b []byte) []byte { b[17] ^= 0x80; return b }), segment.ErrCorruptBatch, 0},
		{"length negative", mutate(one, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 0xfffffff4); return b }), segment.ErrInvalidBatch, 0},
		{"length below header", mutate(one, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 48); return b }), segment.ErrInvalidBatch, 0},
		{"length beyond buffer", mutate(one, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 0x7fffffff); return b }), segment.ErrShortBatch, 0},
		{"length short by one", mutate(one, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], uint32(len(b)-13)); return b }), segment.ErrCorruptBatch, 0},
		{"count above delta", mutate(one, func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], 3); return segmenttest.FixCRC(b) }), segment.ErrInvalidBatch, 0},
		{"count below delta (compacted)", mutate(one, func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], 1); return segmenttest.FixCRC(b) }), segment.ErrInvalidBatch, 0},
		{"no records", segmenttest.Batch(nil), segment.ErrInvalidBatch, 0},
		{"count negative", mutate(one, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[57:], 0x80000000)
			binary.BigEndian.PutUint32(b[23:], 0x7fffffff)
			return segmenttest.FixCRC(b)
		}), segment.ErrInvalidBatch, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []int
			end := 0
			err := segment.ValidateBatches(tt.b, func(pos int, h segment.BatchHeader) error {
				if pos != end {
					t.Errorf("batch at %d, previous ended at %d", pos, end)
				}
				seen = append(seen, pos)
				end = pos + h.Size()
				return nil
			})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if end != len(tt.b) {
					t.Fatalf("batches cover %d of %d bytes", end, len(tt.b))
				}
				return
			}
			var be *segment.BatchError
			if !errors.Is(err, tt.want) || !errors.As(err, &be) || be.Pos != tt.wantPos {
				t.Fatalf("err = %v, want %v at byte %d", err, tt.want, tt.wantPos)
			}
			if end != tt.wantPos {
				t.Fatalf("batches before the bad one end at %d, want %d (seen %v)", end, tt.wantPos, seen)
			}
		})
	}
}

func TestValidateBatchesCallbackError(t *testing.T) {
	b := slices.Concat(segmenttest.Batch(segmenttest.Values("a")), segmenttest.Batch(segmenttest.Values("b")))
	stop := errors.New("stop")
	calls := 0
	err := segment.ValidateBatches(b, func(int, segment.BatchHeader) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("err = %v after %d calls, want the callback's error after 1", err, calls)
	}
}

// TestValidateBatchAcceptsCompacted: ValidateBatch (recovery of copied Kafka
// segments) accepts a batch with fewer records than its offset range.
func TestValidateBatchAcceptsCompacted(t *testing.T) {
	b := segmenttest.Batch(segmenttest.Values("a", "b", "c"))
	binary.BigEndian.PutUint32(b[57:], 2)
	segmenttest.FixCRC(b)
	if _, err := segment.ValidateBatch(b); err != nil {
		t.Fatal(err)
	}
}

func TestValidateBatchesEveryTruncation(t *testing.T) {
	first := segmenttest.Batch(segmenttest.Values("a"))
	b := slices.Concat(first, segmenttest.Batch(sampleRecords()))
	for n := 1; n < len(b); n++ {
		if n == len(first) {
			continue // a whole first batch
		}
		if err := segment.ValidateBatches(b[:n], nil); !errors.Is(err, segment.ErrShortBatch) {
			t.Fatalf("cut at %d: %v, want ErrShortBatch", n, err)
		}
	}
}

func TestValidateBatchesAllocs(t *testing.T) {
	b := slices.Concat(segmenttest.Batch(sampleRecords()), segmenttest.Batch(segmenttest.Values("x")))
	var count int
	each := func(int, segment.BatchHeader) error { count++; return nil }
	allocs := testing.AllocsPerRun(100, func() {
		if err := segment.ValidateBatches(b, each); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per call, want 0", allocs)
	}
}

func TestStampBaseOffset(t *testing.T) {
	b := segmenttest.Batch(segmenttest.Values("a", "b", "c"))
	segment.StampBaseOffset(b, 1<<40, 9)
	h, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatalf("stamping offsets broke the batch: %v", err)
	}
	if h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 9 || h.LastOffset() != 1<<40+2 {
		t.Fatalf("stamped header %+v", h)
	}
	recs, err := segment.Records(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Offset != 1<<40+int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
}

func TestStampLogAppendTime(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			b := segmenttest.Batch(sampleRecords(), append(c.opts, segmenttest.Timestamp(1000))...)
			segment.StampLogAppendTime(b, 5555)
			h, err := segment.ValidateBatch(b)
			if err != nil {
				t.Fatalf("stamped batch invalid: %v", err)
			}
			if h.TimestampType() != segment.TimestampLogAppendTime || h.MaxTimestamp != 5555 || h.BaseTimestamp != 1000 {
				t.Fatalf("stamped header %+v", h)
			}
			if h.Codec() != c.codec {
				t.Fatalf("codec changed to %d", h.Codec())
			}
			recs, err := segment.Records(b)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range recs {
				if r.Timestamp != 5555 {
					t.Fatalf("record %d timestamp %d, want the append time", i, r.Timestamp)
				}
			}
		})
	}
}

// checkRecords compares decoded records with the records they were built from.
func checkRecords(t *testing.T, got []segment.Record, want []segmenttest.Record, baseOffset, baseTimestamp int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Offset != baseOffset+int64(i) || g.Timestamp != baseTimestamp+w.TimestampDelta {
			t.Errorf("record %d: offset %d timestamp %d", i, g.Offset, g.Timestamp)
		}
		if !sameBytes(g.Key, w.Key) || !sameBytes(g.Value, w.Value) {
			t.Errorf("record %d: key %q value %.20q, want %q %.20q", i, g.Key, g.Value, w.Key, w.Value)
		}
		if len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || !sameBytes(g.Headers[j].Value, w.Headers[j].Value) {
				t.Errorf("record %d header %d: %+v, want %+v", i, j, g.Headers[j], w.Headers[j])
			}
		}
	}
}

// sameBytes compares byte slices telling null (nil) from empty apart.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestRecords(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			want := sampleRecords()
			b := segmenttest.Batch(want, append(c.opts, segmenttest.BaseOffset(10), segmenttest.Timestamp(1000))...)
			got, err := segment.Records(b)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, got, want, 10, 1000)
		})
	}
}

func TestRecordsErrors(t *testing.T) {
	valid := segmenttest.Batch(segmenttest.Values("a", "b"))
	// uncompressed: replace the records section and fix lengths and CRC.
	withRecords := func(records []byte, count int32) []byte {
		b := append(slices.Clone(valid[:61]), records...)
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		binary.BigEndian.PutUint32(b[23:], uint32(count-1))
		binary.BigEndian.PutUint32(b[57:], uint32(count))
		return segmenttest.FixCRC(b)
	}
	withCodec := func(codec int16, body []byte) []byte {
		b := withRecords(body, 1)
		binary.BigEndian.PutUint16(b[21:], uint16(codec))
		return segmenttest.FixCRC(b)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"trailing bytes", append(slices.Clone(valid), 0, 0), segment.ErrInvalidBatch},
		{"crc", mutate(valid, func(b []byte) []byte { b[70] ^= 4; return b }), segment.ErrCorruptBatch},
		{"count above records", withRecords(valid[61:], 3), segment.ErrInvalidBatch},
		{"count below records", withRecords(valid[61:], 1), segment.ErrInvalidBatch},
		{"record length past end", withRecords([]byte{0x7e, 0, 0, 0, 1, 1, 0}, 1), segment.ErrInvalidBatch},
		{"record length too long", withRecords([]byte{0x10, 0, 0, 0, 1, 1, 0, 0, 0, 0}, 1), segment.ErrInvalidBatch},
		{"record length negative", withRecords([]byte{0x03, 0, 0, 0, 1, 1, 0}, 1), segment.ErrInvalidBatch},
		{"key past record", withRecords([]byte{0x0c, 0, 0, 0, 0x10, 1, 0}, 1), segment.ErrInvalidBatch},
		{"null header key", withRecords([]byte{0x10, 0, 0, 0, 1, 1, 2, 1, 0}, 1), segment.ErrInvalidBatch},
		{"header count negative", withRecords([]byte{0x0c, 0, 0, 0, 1, 1, 3}, 1), segment.ErrInvalidBatch},
		{"varint too long", withRecords([]byte{0x16, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 1, 0}, 1), segment.ErrInvalidBatch},
		{"codec 5", withCodec(5, nil), segment.ErrUnsupportedCodec},
		{"codec 7", withCodec(7, nil), segment.ErrUnsupportedCodec},
		{"gzip garbage", withCodec(segment.CodecGzip, []byte("garbage")), segment.ErrInvalidBatch},
		{"snappy garbage", withCodec(segment.CodecSnappy, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0}), segment.ErrInvalidBatch},
		{"xerial truncated block", withCodec(segment.CodecSnappy, append([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}, 0, 0, 0, 9, 1)), segment.ErrInvalidBatch},
		{"lz4 garbage", withCodec(segment.CodecLZ4, []byte("garbage")), segment.ErrInvalidBatch},
		{"zstd garbage", withCodec(segment.CodecZstd, []byte("garbage")), segment.ErrInvalidBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := segment.Records(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRecordsDecompressionBound: a small batch that decompresses to more
// than the bound is refused rather than allocated.
func TestRecordsDecompressionBound(t *testing.T) {
	huge := segmenttest.Record{Value: make([]byte, 65<<20)}
	for _, c := range codecs[1:] {
		t.Run(c.name, func(t *testing.T) {
			b := segmenttest.Batch([]segmenttest.Record{huge}, c.opts...)
			if _, err := segment.Records(b); !errors.Is(err, segment.ErrInvalidBatch) || !strings.Contains(err.Error(), "more than") {
				t.Fatalf("err = %v, want the decompression bound", err)
			}
		})
	}
}

// kmsgBatch builds a batch with franz-go's kmsg (records) and kgo (the
// compressor clients use), as a client would send it.
func kmsgBatch(t *testing.T, records []segmenttest.Record, codec kgo.CompressionCodec, baseTimestamp int64) []byte {
	t.Helper()
	var raw []byte
	maxDelta := int64(0)
	for i, r := range records {
		rec := kmsg.Record{TimestampDelta64: r.TimestampDelta, OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			rec.Headers = append(rec.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // minus the one byte of varint(0)
		raw = rec.AppendTo(raw)
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	var attrs int16
	if comp, err := kgo.DefaultCompressor(codec); err != nil {
		t.Fatal(err)
	} else if comp != nil {
		var used kgo.CompressionCodecType
		raw, used = comp.Compress(new(bytes.Buffer), raw)
		raw = slices.Clone(raw)
		attrs = int16(used)
	}
	kb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: attrs, LastOffsetDelta: int32(len(records) - 1),
		FirstTimestamp: baseTimestamp, MaxTimestamp: baseTimestamp + maxDelta,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(records)),
		Length: int32(49 + len(raw)), Records: raw,
	}
	b := kb.AppendTo(nil)
	kb.CRC = int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return kb.AppendTo(nil)
}

// TestCrossCheckFranzGo checks segmenttest and Records against franz-go:
// uncompressed batches are byte-identical; compressed ones built by kgo's
// compressor decode with Records, and kgo's decompressor reads ours.
func TestCrossCheckFranzGo(t *testing.T) {
	kgoCodecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy-xerial": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	records := sampleRecords()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			ours := segmenttest.Batch(records, append(c.opts, segmenttest.Timestamp(1000))...)
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(ours); err != nil {
				t.Fatalf("kmsg cannot read our batch: %v", err)
			}
			h, _ := segment.ParseBatchHeader(ours)
			if kb.NumRecords != h.RecordCount || kb.Length != h.BatchLength || uint32(kb.CRC) != h.CRC || kb.Attributes != h.Attributes {
				t.Fatalf("kmsg reads %+v, we %+v", kb, h)
			}
			// kgo's decompressor must read our compressed records as
			// kmsg encodes them.
			raw, err := kgo.DefaultDecompressor().Decompress(kb.Records, kgo.CompressionCodecType(h.Codec()))
			if err != nil {
				t.Fatalf("kgo cannot decompress our batch: %v", err)
			}
			if want := kmsgBatch(t, records, kgo.NoCompression(), 1000); !bytes.Equal(raw, want[61:]) {
				t.Fatalf("decompressed records differ from kmsg's encoding")
			}
			kc, ok := kgoCodecs[c.name]
			if !ok {
				return
			}
			theirs := kmsgBatch(t, records, kc, 1000)
			if c.name == "none" && !bytes.Equal(ours, theirs) {
				t.Fatalf("uncompressed batch differs from kmsg's:\n ours %x\ntheirs %x", ours[:80], theirs[:80])
			}
			if err := segment.ValidateBatches(theirs, nil); err != nil {
				t.Fatal(err)
			}
			got, err := segment.Records(theirs)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, got, records, 0, 1000)
		})
	}
}

func ExampleValidateBatches() {
	records := slices.Concat(segmenttest.Batch(segmenttest.Values("a", "b")), segmenttest.Batch(segmenttest.Values("c")))
	next := int64(100) // the log end offset
	err := segment.ValidateBatches(records, func(pos int, h segment.BatchHeader) error {
		segment.StampBaseOffset(records[pos:], next, 0)
		next += int64(h.LastOffsetDelta) + 1
		return nil
	})
	fmt.Println(err, next)
	// Output: <nil> 103
}
