package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// ValidateProducerBatch checks the one batch that is all of batch as Kafka's
// LogValidator checks a producer's batch before appending it: the header and
// CRC (ValidateBatch, whose errors it returns as they are), the producer's
// header rules (recordCount == lastOffsetDelta+1 >= 1, a base sequence >= 0
// when there is a producer id), and every record inside: record lengths and
// varints consistent with the batch, offset deltas 0, 1, ... in order, key,
// value and header lengths within their record, non-null header keys,
// exactly recordCount records and no bytes after them. A compressed batch
// is decompressed as a stream through a pooled decoder and a 32 KiB window,
// to its end (so that gzip, lz4 and zstd check their own checksums), and
// refused if it decompresses to more than 64 MiB. (The zstd decoder
// allocates the window a frame declares, up to that bound, and keeps it in
// the pool.) Record errors wrap
// ErrInvalidBatch (Kafka's INVALID_RECORD), an unknown codec
// ErrUnsupportedCodec.
//
// It reads and never changes batch: the batch is stored byte for byte as
// sent. For an uncompressed batch it allocates nothing unless it reports an
// error. Timestamps are not compared with the topic's limits
// (message.timestamp.*): Runnel has none.
//
// The broker calls it for every batch a client produces; Log.Append does
// not, since a replica appends its leader's batches unchanged.
func ValidateProducerBatch(batch []byte) (BatchHeader, error) {
	return validateProducerBatch(batch, false)
}

// ValidateCompactedProducerBatch is ValidateProducerBatch for a compacted
// topic, which also refuses a record without a key, as Kafka's
// LogValidator does: the cleaner could only drop it.
func ValidateCompactedProducerBatch(batch []byte) (BatchHeader, error) {
	return validateProducerBatch(batch, true)
}

func validateProducerBatch(batch []byte, requireKeys bool) (BatchHeader, error) {
	h, err := ValidateBatch(batch)
	switch {
	case err != nil:
		return BatchHeader{}, err
	case h.Size() != len(batch):
		return BatchHeader{}, fmt.Errorf("%w: %d bytes after the batch", ErrInvalidBatch, len(batch)-h.Size())
	case h.RecordCount < 1 || h.LastOffsetDelta != h.RecordCount-1:
		return BatchHeader{}, fmt.Errorf("%w: %d records but lastOffsetDelta %d", ErrInvalidBatch, h.RecordCount, h.LastOffsetDelta)
	case h.HasProducerID() && h.BaseSequence < 0:
		return BatchHeader{}, fmt.Errorf("%w: base sequence %d of producer %d", ErrInvalidBatch, h.BaseSequence, h.ProducerID)
	}
	if err := scanProducerRecords(h, batch[BatchHeaderSize:], requireKeys); err != nil {
		return BatchHeader{}, err
	}
	return h, nil
}

// scanProducerRecords reads the records section body of the producer's
// batch h: in place when it is uncompressed, else streamed from a pooled
// decoder.
func scanProducerRecords(h BatchHeader, body []byte, requireKeys bool) error {
	if h.Codec() == CodecNone {
		s := recordScanner{win: body, requireKeys: requireKeys}
		return s.scan(h, true, nil)
	}
	d := decoders.Get().(*decoder)
	defer decoders.Put(d)
	src, err := d.open(h.Codec(), body)
	if err != nil {
		return err
	}
	s := recordScanner{src: src, buf: d.window(), requireKeys: requireKeys}
	return s.scan(h, true, nil)
}

// recordScanner reads the records section of a batch: from win alone (an
// uncompressed batch, or one decompressed whole) or, streaming, from win
// refilled out of src (a decompressor) into buf. Inside a record, win never
// extends past the record's end (begin and end), so the reads need no other
// bound.
type recordScanner struct {
	win  []byte    // bytes available and not yet read (inside a record: of that record)
	rest []byte    // inside a record: bytes available after its end
	left int       // inside a record: its bytes still in src
	in   bool      // inside a record (between begin and end)
	src  io.Reader // where more bytes come from; nil once it has ended, or when win is all
	buf  []byte    // the storage src refills win into
	read int       // bytes src has produced
	err  error     // why src failed, if it did
	// requireKeys refuses a record whose key is null (a compacted topic's).
	requireKeys bool
}

// fill refills win from src, no further than the current record's end; it
// reports false at that end, or at the end of the records (src ended, or
// failed: err says why).
func (s *recordScanner) fill() bool {
	for !(s.in && s.left == 0) && s.src != nil && s.err == nil {
		n, err := s.src.Read(s.buf)
		s.read += n
		switch {
		case s.read > maxDecompressedSize:
			s.err = errDecompressedTooLarge
			return false
		case err == io.EOF:
			s.src = nil
		case err != nil:
			s.err = err
		}
		if n > 0 {
			s.win = s.buf[:n]
			if s.in {
				k := min(n, s.left)
				s.win, s.rest = s.buf[:k], s.buf[k:n]
				s.left -= k
			}
			return true
		}
	}
	return false
}

// more reports whether bytes are left (outside a record); at the end of a
// stream it has read the stream to its end, which checks the codec's own
// checksum.
func (s *recordScanner) more() bool { return len(s.win) > 0 || s.fill() }

// begin starts a record of n bytes: reads stop at its end.
func (s *recordScanner) begin(n int) {
	s.in = true
	if n <= len(s.win) {
		s.win, s.rest, s.left = s.win[:n], s.win[n:], 0
		return
	}
	s.rest, s.left = nil, n-len(s.win)
}

// end reports whether the record was read to exactly its end, and lifts
// the bound for the next one.
func (s *recordScanner) end() bool {
	ok := len(s.win) == 0 && s.left == 0
	s.win, s.rest, s.left, s.in = s.rest, nil, 0, false
	return ok
}

// remaining is the number of bytes of the current record not yet read.
func (s *recordScanner) remaining() int { return len(s.win) + s.left }

// readByte reads one byte; the common case is inlined, a refill is not.
func (s *recordScanner) readByte() (byte, bool) {
	if w := s.win; len(w) > 0 {
		s.win = w[1:]
		return w[0], true
	}
	return s.readByteFill()
}

func (s *recordScanner) readByteFill() (byte, bool) {
	if !s.fill() {
		return 0, false
	}
	return s.readByte()
}

// uvarint reads an unsigned varint of at most maxLen bytes: in place when
// the window holds maxLen bytes, else a byte at a time across refills.
// varint and varlong read a one-byte varint (the common case: small lengths
// and deltas) themselves.
func (s *recordScanner) uvarint(maxLen int) (uint64, bool) {
	if len(s.win) >= maxLen {
		u, n := binary.Uvarint(s.win[:maxLen])
		if n <= 0 {
			return 0, false
		}
		s.win = s.win[n:]
		return u, true
	}
	var buf [binary.MaxVarintLen64]byte
	for i := range maxLen {
		c, ok := s.readByte()
		if !ok {
			return 0, false
		}
		buf[i] = c
		if c < 0x80 {
			u, n := binary.Uvarint(buf[:i+1])
			return u, n > 0
		}
	}
	return 0, false
}

// varint reads a zig-zag varint of up to 32 bits (at most 5 bytes).
func (s *recordScanner) varint() (int32, bool) {
	if w := s.win; len(w) > 0 && w[0] < 0x80 {
		s.win = w[1:]
		return int32(w[0]>>1) ^ -int32(w[0]&1), true
	}
	u, ok := s.uvarint(5)
	if !ok || u > math.MaxUint32 {
		return 0, false
	}
	return int32(u>>1) ^ -int32(u&1), true
}

// varlong reads a zig-zag varint of up to 64 bits (at most 10 bytes).
func (s *recordScanner) varlong() (int64, bool) {
	if w := s.win; len(w) > 0 && w[0] < 0x80 {
		s.win = w[1:]
		return int64(w[0]>>1) ^ -int64(w[0]&1), true
	}
	u, ok := s.uvarint(binary.MaxVarintLen64)
	if !ok {
		return 0, false
	}
	return int64(u>>1) ^ -int64(u&1), true
}

// skip reads past n bytes.
func (s *recordScanner) skip(n int) bool {
	for n > len(s.win) {
		n -= len(s.win)
		s.win = nil
		if !s.fill() {
			return false
		}
	}
	s.win = s.win[n:]
	return true
}

// field reads a varint length and that many bytes (skipped, or returned
// when keep is set, which needs win to hold all the records); length -1 is
// null (nil, unless nullable is false: then it fails).
func (s *recordScanner) field(nullable, keep bool) (v []byte, ok bool) {
	n, ok := s.varint()
	switch {
	case !ok:
		return nil, false
	case n == -1:
		return nil, nullable
	case n < 0 || !keep:
		return nil, n >= 0 && s.skip(int(n))
	case int(n) > len(s.win):
		return nil, false
	}
	v = s.win[:n:n]
	s.win = s.win[n:]
	return v, true
}

// record reads the record of index i in batch h; strict requires its
// offset delta to be i (a producer's batch; a compacted batch has gaps).
// With rec it decodes the record into rec (win must hold all the records).
// It returns what failed, or "".
func (s *recordScanner) record(h BatchHeader, i int32, strict bool, rec *Record) string {
	length, ok := s.varint()
	if !ok || length < 0 {
		return "record length"
	}
	s.begin(int(length))
	if _, ok := s.readByte(); !ok { // attributes: unused
		return "record attributes"
	}
	tsDelta, ok := s.varlong()
	if !ok {
		return "timestamp delta"
	}
	offsetDelta, ok := s.varint()
	if !ok || strict && offsetDelta != i {
		return "offset delta"
	}
	key, ok := s.field(!s.requireKeys, rec != nil)
	if !ok {
		if s.requireKeys {
			return "key (a compacted topic takes only records with a key)"
		}
		return "key"
	}
	value, ok := s.field(true, rec != nil)
	if !ok {
		return "value"
	}
	count, ok := s.varint()
	if !ok || count < 0 || int(count) > s.remaining()/2 { // a header takes at least two bytes
		return "header count"
	}
	var headers []RecordHeader
	if rec != nil && count > 0 {
		headers = make([]RecordHeader, 0, count)
	}
	for range count {
		hk, ok := s.field(false, rec != nil)
		if !ok {
			return "header key"
		}
		hv, ok := s.field(true, rec != nil)
		if !ok {
			return "header value"
		}
		if rec != nil {
			headers = append(headers, RecordHeader{Key: string(hk), Value: hv})
		}
	}
	if !s.end() {
		return "record length (its fields end before it)"
	}
	if rec != nil {
		*rec = Record{Offset: h.BaseOffset + int64(offsetDelta), Timestamp: h.BaseTimestamp + tsDelta, Key: key, Value: value, Headers: headers}
		if h.TimestampType() == TimestampLogAppendTime {
			rec.Timestamp = h.MaxTimestamp
		}
	}
	return ""
}

// scan reads all the records of batch h, which must be exactly
// h.RecordCount of them with nothing after, and appends them to records
// if it is not nil (see record for strict).
func (s *recordScanner) scan(h BatchHeader, strict bool, records *[]Record) error {
	var rec *Record
	for i := int32(0); i < h.RecordCount; i++ {
		if !s.more() {
			if s.err != nil {
				return s.failed(i, "record")
			}
			return fmt.Errorf("%w: header announces %d records, batch holds %d", ErrInvalidBatch, h.RecordCount, i)
		}
		if records != nil {
			*records = append(*records, Record{})
			rec = &(*records)[len(*records)-1]
		}
		if what := s.record(h, i, strict, rec); what != "" {
			return s.failed(i, what)
		}
	}
	if s.more() {
		return fmt.Errorf("%w: bytes after the %d records the header announces", ErrInvalidBatch, h.RecordCount)
	}
	if s.err != nil {
		return fmt.Errorf("%w: end of the compressed records: %w", ErrInvalidBatch, s.err)
	}
	return nil
}

// failed is the error of record i, whose field what did not decode.
func (s *recordScanner) failed(i int32, what string) error {
	if s.err != nil {
		return fmt.Errorf("%w: record %d: bad %s: %w", ErrInvalidBatch, i, what, s.err)
	}
	return fmt.Errorf("%w: record %d: bad %s", ErrInvalidBatch, i, what)
}

// decoder holds one of each decompressor and the window a scan reads
// through; it is pooled (decoders) and decodes one batch at a time.
type decoder struct {
	src    bytes.Reader
	gzip   *gzip.Reader
	lz4    *lz4.Reader
	zstd   *zstd.Decoder
	snappy snappyReader
	win    []byte
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// windowSize is the size of a scan's window into decompressed records.
const windowSize = 32 << 10

func (d *decoder) window() []byte {
	if d.win == nil {
		d.win = make([]byte, windowSize)
	}
	return d.win
}

// open returns a reader of the records compressed with codec in src, valid
// until d is used again. Kafka compresses the records as a whole: gzip (RFC
// 1952), snappy (the xerial framing of Java clients, or a raw snappy block
// as librdkafka and franz-go may send), lz4 (the LZ4 frame format) or zstd
// (frames).
func (d *decoder) open(codec int, src []byte) (io.Reader, error) {
	var err error
	d.src.Reset(src)
	switch codec {
	case CodecGzip:
		if d.gzip == nil {
			d.gzip, err = gzip.NewReader(&d.src)
		} else {
			err = d.gzip.Reset(&d.src)
		}
		if err == nil {
			return d.gzip, nil
		}
	case CodecSnappy:
		if err = d.snappy.reset(src); err == nil {
			return &d.snappy, nil
		}
	case CodecLZ4:
		if d.lz4 == nil {
			d.lz4 = lz4.NewReader(&d.src)
		} else {
			d.lz4.Reset(&d.src)
		}
		return d.lz4, nil
	case CodecZstd:
		if d.zstd == nil {
			// Synchronous with a concurrency of 1 (no goroutines to
			// close); the window a frame declares is at most the bound.
			d.zstd, err = zstd.NewReader(&d.src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressedSize))
		} else {
			err = d.zstd.Reset(&d.src)
		}
		if err == nil {
			return d.zstd, nil
		}
	default:
		return nil, fmt.Errorf("%w: codec %d", ErrUnsupportedCodec, codec)
	}
	return nil, fmt.Errorf("%w: codec %d: %w", ErrInvalidBatch, codec, err)
}

// snappyReader reads snappy-compressed records: one raw snappy block, or
// the xerial framing (Java's SnappyOutputStream): an 8-byte magic, a
// version and a minimum compatible version (int32 each), then blocks, each
// an int32 length and a raw snappy block. It decodes one block at a time
// into buf, which is reused.
type snappyReader struct {
	src    []byte // blocks not yet decoded
	xerial bool
	out    []byte // decoded and not yet read
	buf    []byte
}

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

var errBadXerial = errors.New("malformed xerial snappy framing")

// maxSnappyRatio bounds what a raw snappy block can decode to per byte: its
// best element, a 3-byte copy, yields 64 bytes. A block claiming more is
// refused before anything is allocated for it.
const maxSnappyRatio = 22

func (r *snappyReader) reset(src []byte) error {
	r.out = nil
	r.xerial = bytes.HasPrefix(src, xerialMagic)
	r.src = src
	if r.xerial {
		if len(src) < xerialHeaderSize {
			return errBadXerial
		}
		r.src = src[xerialHeaderSize:]
	}
	return nil
}

func (r *snappyReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.src == nil || r.xerial && len(r.src) == 0 {
			return 0, io.EOF
		}
		block := r.src
		r.src = nil // a raw block is all there is
		if r.xerial {
			if len(block) < 4 {
				return 0, errBadXerial
			}
			n := int(int32(uint32(block[0])<<24 | uint32(block[1])<<16 | uint32(block[2])<<8 | uint32(block[3])))
			if n < 0 || n > len(block)-4 {
				return 0, errBadXerial
			}
			block, r.src = block[4:4+n], block[4+n:]
		}
		n, err := snappy.DecodedLen(block)
		if err != nil {
			return 0, err
		}
		if n > maxDecompressedSize || n > maxSnappyRatio*len(block) {
			return 0, errDecompressedTooLarge
		}
		r.buf = slices.Grow(r.buf[:0], n)[:n]
		if r.out, err = snappy.Decode(r.buf, block); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}
