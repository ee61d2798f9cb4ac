// Package segmenttest builds Kafka RecordBatch v2 bytes for tests across the
// repository, the way clients build them: records encoded with zig-zag
// varints, compressed as a whole (gzip, snappy in Java's xerial framing or
// as a raw block, LZ4 frame, zstd), CRC-32C over attributes to the end.
//
//	b := segmenttest.Batch(segmenttest.Values("a", "b"),
//		segmenttest.Producer(7, 0, 0), segmenttest.Compression(segment.CodecZstd))
package segmenttest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"runnel/segment"
)

// Record is a record to put in a batch; its offset delta is its index.
type Record struct {
	Key, Value     []byte // nil encodes as null
	Headers        []segment.RecordHeader
	TimestampDelta int64 // milliseconds after the batch's base timestamp
}

// Values returns records with the given values, no key, no headers.
func Values(values ...string) []Record {
	records := make([]Record, len(values))
	for i, v := range values {
		records[i].Value = []byte(v)
	}
	return records
}

// Option changes how Batch builds a batch.
type Option func(*options)

type options struct {
	baseOffset    int64
	leaderEpoch   int32
	baseTimestamp int64
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	codec         int
	rawSnappy     bool
	attributes    int16
}

// BaseOffset sets the batch's base offset (default 0, as clients send it).
func BaseOffset(offset int64) Option { return func(o *options) { o.baseOffset = offset } }

// LeaderEpoch sets the partition leader epoch (default -1, as clients send it).
func LeaderEpoch(epoch int32) Option { return func(o *options) { o.leaderEpoch = epoch } }

// Timestamp sets the base timestamp in milliseconds (default: now).
func Timestamp(ms int64) Option { return func(o *options) { o.baseTimestamp = ms } }

// Producer makes the batch idempotent: producer id, epoch and the sequence
// of its first record (default: no producer id, epoch -1, sequence -1).
func Producer(id int64, epoch int16, baseSequence int32) Option {
	return func(o *options) { o.producerID, o.producerEpoch, o.baseSequence = id, epoch, baseSequence }
}

// Compression sets the codec, one of segment.CodecNone..CodecZstd. Snappy is
// framed as Java clients frame it (xerial) unless RawSnappy is given too.
func Compression(codec int) Option { return func(o *options) { o.codec = codec } }

// RawSnappy makes snappy compression a single raw snappy block, as
// librdkafka sends it.
func RawSnappy() Option { return func(o *options) { o.rawSnappy = true } }

// Attributes ORs bits into the attributes (e.g. 0x10 transactional, 0x20
// control, 0x08 LogAppendTime).
func Attributes(bits int16) Option { return func(o *options) { o.attributes |= bits } }

// Batch returns the bytes of one RecordBatch v2 holding records, with a
// valid CRC. With no records it returns the (invalid) batch of record count
// 0 and lastOffsetDelta -1.
func Batch(records []Record, opts ...Option) []byte {
	o := options{
		leaderEpoch:   -1,
		baseTimestamp: time.Now().UnixMilli(),
		producerID:    segment.NoProducerID,
		producerEpoch: -1,
		baseSequence:  -1,
	}
	for _, opt := range opts {
		opt(&o)
	}
	var raw []byte
	maxDelta := int64(0)
	for i, r := range records {
		raw = appendRecord(raw, i, r)
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	body := compress(o.codec, o.rawSnappy, raw)

	b := make([]byte, segment.BatchHeaderSize, segment.BatchHeaderSize+len(body))
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(o.baseOffset))
	be.PutUint32(b[8:], uint32(segment.BatchHeaderSize-12+len(body)))
	be.PutUint32(b[12:], uint32(o.leaderEpoch))
	b[16] = 2
	be.PutUint16(b[21:], uint16(int16(o.codec)|o.attributes))
	be.PutUint32(b[23:], uint32(len(records)-1))
	be.PutUint64(b[27:], uint64(o.baseTimestamp))
	be.PutUint64(b[35:], uint64(o.baseTimestamp+maxDelta))
	be.PutUint64(b[43:], uint64(o.producerID))
	be.PutUint16(b[51:], uint16(o.producerEpoch))
	be.PutUint32(b[53:], uint32(o.baseSequence))
	be.PutUint32(b[57:], uint32(len(records)))
	return FixCRC(append(b, body...))
}

// FixCRC recomputes the CRC-32C of the batch that is all of b, after a test
// changed bytes it covers (to reach the checks after the CRC), and returns b.
func FixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// appendRecord appends record r with offset delta i.
func appendRecord(dst []byte, i int, r Record) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, int64(i))
	body = appendNullableBytes(body, r.Key)
	body = appendNullableBytes(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = binary.AppendVarint(body, int64(len(h.Key)))
		body = append(body, h.Key...)
		body = appendNullableBytes(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendNullableBytes(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(v)))
	return append(dst, v...)
}

// xerialHeader is Java's SnappyOutputStream header: magic, version 1,
// minimum compatible version 1.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

// xerialBlockSize is the block size of Java's SnappyOutputStream.
const xerialBlockSize = 32 << 10

func compress(codec int, rawSnappy bool, src []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case segment.CodecNone:
		return src
	case segment.CodecGzip:
		w := gzip.NewWriter(&buf)
		must(w.Write(src))
		must(0, w.Close())
	case segment.CodecSnappy:
		if rawSnappy {
			return snappy.Encode(nil, src)
		}
		buf.Write(xerialHeader)
		for len(src) > 0 {
			n := min(len(src), xerialBlockSize)
			block := snappy.Encode(nil, src[:n])
			buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
			buf.Write(block)
			src = src[n:]
		}
	case segment.CodecLZ4:
		w := lz4.NewWriter(&buf)
		must(w.Write(src))
		must(0, w.Close())
	case segment.CodecZstd:
		enc, err := zstdEncoder()
		must(0, err)
		return enc.EncodeAll(src, nil)
	default:
		panic("segmenttest: unknown codec")
	}
	return buf.Bytes()
}

// zstdEncoder is made once: it is large, and EncodeAll is safe for
// concurrent use.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
})

// must panics on err: writes into a bytes.Buffer and encoder setup with
// valid options do not fail.
func must(_ int, err error) {
	if err != nil {
		panic(err)
	}
}
