package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
	"runnel/segment/segmenttest"
)

// rawRecord encodes one record as a client does (kmsg), with the given
// offset delta.
func rawRecord(offsetDelta int32, key, value []byte, headers ...kmsg.Header) []byte {
	rec := kmsg.Record{OffsetDelta: offsetDelta, Key: key, Value: value, Headers: headers}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // minus the one byte of varint(0)
	return rec.AppendTo(nil)
}

// forgeBatch builds a batch around the records section raw (compressed
// with codec first), with recordCount count, lastOffsetDelta count-1 and a
// valid CRC, so that only the records inside can be wrong. attrs are ORed
// into the attributes (e.g. a codec without compressing: a false label).
func forgeBatch(t testing.TB, raw []byte, count int32, codec kgo.CompressionCodec, attrs int16) []byte {
	t.Helper()
	if comp, err := kgo.DefaultCompressor(codec); err != nil {
		t.Fatal(err)
	} else if comp != nil {
		var used kgo.CompressionCodecType
		raw, used = comp.Compress(new(bytes.Buffer), raw)
		raw = slices.Clone(raw)
		attrs |= int16(used)
	}
	kb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: attrs, LastOffsetDelta: count - 1,
		FirstTimestamp: 1000, MaxTimestamp: 1000,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: count,
		Length: int32(49 + len(raw)), Records: raw,
	}
	return segmenttest.FixCRC(kb.AppendTo(nil))
}

// withBody replaces the records section of batch (a segmenttest batch)
// with body and fixes the length and CRC: a compressed stream cut short.
func withBody(batch, body []byte) []byte {
	b := append(slices.Clone(batch[:segment.BatchHeaderSize]), body...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	return segmenttest.FixCRC(b)
}

// TestValidateProducerBatchRefuses: batches that pass today's header and
// CRC check (ValidateBatch) but whose records are broken are refused.
func TestValidateProducerBatchRefuses(t *testing.T) {
	none := kgo.NoCompression()
	a, b := rawRecord(0, nil, []byte("a")), rawRecord(1, []byte("k"), []byte("b"))
	two := slices.Concat(a, b)
	compressed := func(c int, opts ...segmenttest.Option) []byte {
		return segmenttest.Batch(sampleRecords(), append(opts, segmenttest.Compression(c))...)
	}
	// cut removes the last n bytes of the compressed records; half of them
	// when n is 0.
	cut := func(batch []byte, n int) []byte {
		body := batch[segment.BatchHeaderSize:]
		if n == 0 {
			n = len(body) / 2
		}
		return withBody(batch, body[:len(body)-n])
	}
	tests := []struct {
		name  string
		batch []byte
		want  error
	}{
		{"record length past the end", forgeBatch(t, slices.Concat(a, []byte{0x7e, 0, 0, 2, 1, 1, 0}), 2, none, 0), segment.ErrInvalidBatch},
		{"record length longer than its fields", forgeBatch(t, slices.Concat([]byte{0x10, 0, 0, 0, 1, 1, 0, 0, 0, 0}), 1, none, 0), segment.ErrInvalidBatch},
		{"record length shorter than its fields", forgeBatch(t, slices.Concat([]byte{0x08, 0, 0, 0, 1, 2, 'x', 'y', 0}), 1, none, 0), segment.ErrInvalidBatch},
		{"record length negative", forgeBatch(t, []byte{0x03, 0, 0, 0, 1, 1, 0}, 1, none, 0), segment.ErrInvalidBatch},
		{"varint of more than 5 bytes", forgeBatch(t, []byte{0x16, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 1, 0}, 1, none, 0), segment.ErrInvalidBatch},
		{"varint running past the record", forgeBatch(t, slices.Concat([]byte{0x06, 0, 0, 0, 1, 1, 0x80}, a), 2, none, 0), segment.ErrInvalidBatch},
		{"varint cut at the end", forgeBatch(t, slices.Concat(a, []byte{0x80}), 2, none, 0), segment.ErrInvalidBatch},
		{"count above the records", forgeBatch(t, two, 3, none, 0), segment.ErrInvalidBatch},
		{"count below the records", forgeBatch(t, two, 1, none, 0), segment.ErrInvalidBatch},
		{"offset deltas out of order", forgeBatch(t, slices.Concat(rawRecord(1, nil, nil), rawRecord(0, nil, nil)), 2, none, 0), segment.ErrInvalidBatch},
		{"offset delta gap", forgeBatch(t, slices.Concat(a, rawRecord(2, nil, nil)), 2, none, 0), segment.ErrInvalidBatch},
		{"offset delta gap, lz4", forgeBatch(t, slices.Concat(a, rawRecord(2, nil, nil)), 2, kgo.Lz4Compression(), 0), segment.ErrInvalidBatch},
		{"key length -2", forgeBatch(t, []byte{0x0c, 0, 0, 0, 3, 1, 0}, 1, none, 0), segment.ErrInvalidBatch},
		{"key past the record", forgeBatch(t, []byte{0x0c, 0, 0, 0, 0x10, 1, 0}, 1, none, 0), segment.ErrInvalidBatch},
		{"header count negative", forgeBatch(t, []byte{0x0c, 0, 0, 0, 1, 1, 3}, 1, none, 0), segment.ErrInvalidBatch},
		{"header count beyond the record", forgeBatch(t, []byte{0x0c, 0, 0, 0, 1, 1, 0x7e}, 1, none, 0), segment.ErrInvalidBatch},
		{"null header key", forgeBatch(t, []byte{0x10, 0, 0, 0, 1, 1, 2, 1, 0}, 1, none, 0), segment.ErrInvalidBatch},
		{"header value past the record", forgeBatch(t, []byte{0x10, 0, 0, 0, 1, 1, 2, 0, 0x10}, 1, none, 0), segment.ErrInvalidBatch},
		{"trailing garbage after the records", forgeBatch(t, slices.Concat(two, []byte{0, 0, 0}), 2, none, 0), segment.ErrInvalidBatch},
		{"trailing garbage, zstd", forgeBatch(t, slices.Concat(two, []byte{0, 0, 0}), 2, kgo.ZstdCompression(), 0), segment.ErrInvalidBatch},
		{"falsely marked gzip", forgeBatch(t, two, 2, none, segment.CodecGzip), segment.ErrInvalidBatch},
		{"falsely marked snappy", forgeBatch(t, two, 2, none, segment.CodecSnappy), segment.ErrInvalidBatch},
		{"falsely marked lz4", forgeBatch(t, two, 2, none, segment.CodecLZ4), segment.ErrInvalidBatch},
		{"falsely marked zstd", forgeBatch(t, two, 2, none, segment.CodecZstd), segment.ErrInvalidBatch},
		{"codec 5", forgeBatch(t, two, 2, none, 5), segment.ErrUnsupportedCodec},
		{"gzip cut short", cut(compressed(segment.CodecGzip), 1), segment.ErrInvalidBatch},
		{"gzip without its size", cut(compressed(segment.CodecGzip), 4), segment.ErrInvalidBatch},
		{"gzip records cut", cut(compressed(segment.CodecGzip), 0), segment.ErrInvalidBatch},
		{"snappy-xerial cut short", cut(compressed(segment.CodecSnappy), 1), segment.ErrInvalidBatch},
		{"snappy-raw cut short", cut(compressed(segment.CodecSnappy, segmenttest.RawSnappy()), 1), segment.ErrInvalidBatch},
		{"lz4 cut short", cut(compressed(segment.CodecLZ4), 1), segment.ErrInvalidBatch},
		{"lz4 records cut", cut(compressed(segment.CodecLZ4), 0), segment.ErrInvalidBatch},
		{"zstd cut short", cut(compressed(segment.CodecZstd), 1), segment.ErrInvalidBatch},
		{"zstd records cut", cut(compressed(segment.CodecZstd), 0), segment.ErrInvalidBatch},
		{"negative base sequence", segmenttest.Batch(segmenttest.Values("a"), segmenttest.Producer(7, 0, -5)), segment.ErrInvalidBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := segment.ValidateBatch(tt.batch); err != nil {
				t.Fatalf("test batch does not pass the header and CRC check: %v", err)
			}
			h, err := segment.ValidateProducerBatch(tt.batch)
			t.Log(err)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if h != (segment.BatchHeader{}) {
				t.Fatalf("header %+v returned with the error", h)
			}
		})
	}
}

// TestValidateProducerBatchAccepts: batches as clients build them, every
// codec (ours and franz-go's compressors), pass, and are left unchanged.
func TestValidateProducerBatchAccepts(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			b := segmenttest.Batch(sampleRecords(), append(c.opts, segmenttest.Producer(3, 1, 0))...)
			before := slices.Clone(b)
			h, err := segment.ValidateProducerBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.RecordCount != int32(len(sampleRecords())) || !bytes.Equal(b, before) {
				t.Fatalf("header %+v; batch changed: %v", h, !bytes.Equal(b, before))
			}
		})
	}
	// Many records of every small size: across 32 KiB windows, record
	// lengths and varints are split between refills somewhere.
	var many []segmenttest.Record
	for i := range 2000 {
		many = append(many, segmenttest.Record{Key: bytes.Repeat([]byte("k"), i%7), Value: bytes.Repeat([]byte{byte(i)}, i%300), TimestampDelta: int64(i) << (i % 40)})
	}
	for _, c := range codecs {
		if _, err := segment.ValidateProducerBatch(segmenttest.Batch(many, c.opts...)); err != nil {
			t.Errorf("%s, 2000 records: %v", c.name, err)
		}
	}
	for _, codec := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		b := kmsgBatch(t, sampleRecords(), codec, 1000)
		if _, err := segment.ValidateProducerBatch(b); err != nil {
			t.Errorf("kgo %v: %v", codec, err)
		}
	}
}

// TestValidateProducerBatchBound: a small batch that decompresses to more
// than 64 MiB is refused, and checking it allocates far less than that
// (Records, which decompresses whole, allocates up to the bound).
func TestValidateProducerBatchBound(t *testing.T) {
	huge := []segmenttest.Record{{Value: make([]byte, 65<<20)}}
	for _, c := range codecs[1:] {
		t.Run(c.name, func(t *testing.T) {
			b := segmenttest.Batch(huge, c.opts...)
			segment.ValidateProducerBatch(b) // warm the pooled decoder
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := segment.ValidateProducerBatch(b)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, segment.ErrInvalidBatch) || !strings.Contains(err.Error(), "more than") {
				t.Fatalf("err = %v, want the decompression bound", err)
			}
			// lz4 may take two buffers of its largest block size (4 MiB,
			// pooled by lz4 but dropped by a GC); no codec comes near
			// the 64 MiB the batch decompresses to.
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Fatalf("allocated %d bytes to refuse it", n)
			}
		})
	}
}

// TestValidateProducerBatchAllocs: an uncompressed batch is checked without
// allocating.
func TestValidateProducerBatchAllocs(t *testing.T) {
	b := segmenttest.Batch(sampleRecords())
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := segment.ValidateProducerBatch(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per call, want 0", allocs)
	}
}

// TestValidateCompactedProducerBatch: a compacted topic's batch is refused
// when one record, compressed or not, has a null key (an empty key is a
// key), and accepted otherwise.
func TestValidateCompactedProducerBatch(t *testing.T) {
	keyed := []segmenttest.Record{{Key: []byte("k"), Value: []byte("v")}, {Key: []byte{}, Value: nil}}
	keyless := append(keyed[:1:1], segmenttest.Record{Value: []byte("no key")})
	for _, c := range codecs {
		if _, err := segment.ValidateCompactedProducerBatch(segmenttest.Batch(keyed, c.opts...)); err != nil {
			t.Errorf("%s, keyed records: %v", c.name, err)
		}
		b := segmenttest.Batch(keyless, c.opts...)
		if _, err := segment.ValidateCompactedProducerBatch(b); !errors.Is(err, segment.ErrInvalidBatch) || !strings.Contains(err.Error(), "record 1") {
			t.Errorf("%s, a record without a key: %v, want ErrInvalidBatch for record 1", c.name, err)
		}
		if _, err := segment.ValidateProducerBatch(b); err != nil {
			t.Errorf("%s, a record without a key outside a compacted topic: %v", c.name, err)
		}
	}
}
