package bench

import (
	"encoding/binary"
	"io"
	"net"
	"syscall"
)

// The sink reads a Produce request without copying its record bytes to
// user space: it parses the request's framing as it arrives (scanProduce),
// reads each record batch's 61-byte header for its record count, and
// discards the rest of the batch in the kernel (sinkReader.skip, recv with
// MSG_TRUNC on Linux). A broker must copy, check and store those bytes; the
// generator's ceiling must not, or it measures the sink's memory bandwidth
// beside the generator's. Every other request is read whole and decoded by
// kmsg (Sink.handle), and every response is encoded by kmsg.
//
// The framing parsed here is Produce v0–v12's (v13 names topics by id,
// which the sink does not list): the request header's client id and, from
// v9 (flexible), its tagged fields; then the transactional id (v3+), acks,
// timeout, and the topics, each a name and partitions, each a partition
// and its records (nullable bytes), with tagged fields after each
// partition, each topic and the request in flexible versions.
// TestScanProduceMatchesKmsg and FuzzScanProduce check it against kmsg's
// encoder and decoder.

// sinkMaxNext is the most the sink parses at once (a topic name is at
// most 32,767 bytes).
const sinkMaxNext = 64 << 10

// A read asks for up to the reader's read-ahead beyond what the parser
// needs, and a skip of up to the read-ahead is read into the buffer too
// (a longer one is discarded in the kernel). After a large request
// (sinkLargeFrame and up) the read-ahead is small, enough for the next
// request's framing up to its first batch header, with little of the
// record bytes behind it; after a smaller one it is large, so that one
// read brings several pipelined requests: there a syscall per request
// costs more than copying its records (the many-partitions scenarios send
// requests of 16 KiB).
const (
	sinkLargeFrame     = 64 << 10
	sinkSmallReadAhead = 4 << 10
	sinkLargeReadAhead = 64 << 10
	sinkReadBuffer     = sinkMaxNext + sinkLargeReadAhead
)

// sinkReadAhead is the read-ahead after a request of n bytes.
func sinkReadAhead(n int) int {
	if n >= sinkLargeFrame {
		return sinkSmallReadAhead
	}
	return sinkLargeReadAhead
}

// sinkSource is where scanProduce reads: next returns the next n bytes
// (valid until the next call), skip drops n bytes unread.
type sinkSource interface {
	next(n int) ([]byte, error)
	skip(n int) error
}

// sinkReader is a sink connection's sinkSource.
type sinkReader struct {
	conn  net.Conn
	rc    syscall.RawConn // for discard; nil: skip reads into buf
	buf   []byte
	r, w  int  // buf[r:w] is read and not yet consumed
	ahead int  // read-ahead (sinkReadAhead of the last request's size)
	trunc bool // discard works (it fell back to reads if not)
}

func newSinkReader(conn net.Conn) *sinkReader {
	r := &sinkReader{conn: conn, buf: make([]byte, sinkReadBuffer), ahead: sinkLargeReadAhead}
	if sc, ok := conn.(syscall.Conn); ok && discardSupported {
		if rc, err := sc.SyscallConn(); err == nil {
			r.rc, r.trunc = rc, true
		}
	}
	return r
}

// buffered is how many bytes were read and not consumed.
func (r *sinkReader) buffered() int { return r.w - r.r }

func (r *sinkReader) next(n int) ([]byte, error) {
	if n < 0 || n > sinkMaxNext {
		return nil, errSinkRequest
	}
	if r.w-r.r < n {
		if err := r.fill(n); err != nil {
			return nil, err
		}
	}
	b := r.buf[r.r : r.r+n]
	r.r += n
	return b, nil
}

// fill reads until n bytes are buffered, asking for up to the read-ahead
// beyond.
func (r *sinkReader) fill(n int) error {
	want := max(n, r.ahead)
	if len(r.buf)-r.r < want {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	end := min(len(r.buf), r.r+want)
	for r.w-r.r < n {
		m, err := r.conn.Read(r.buf[r.w:end])
		r.w += m
		if err != nil {
			if r.w-r.r >= n {
				return nil
			}
			if err == io.EOF && r.w > r.r {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

func (r *sinkReader) skip(n int) error {
	if n < 0 {
		return errSinkRequest
	}
	k := min(n, r.w-r.r)
	r.r += k
	n -= k
	if r.r == r.w {
		r.r, r.w = 0, 0
	}
	for n > 0 {
		if n <= r.ahead || !r.trunc {
			m := min(n, sinkMaxNext)
			if _, err := r.next(m); err != nil {
				return err
			}
			n -= m
			continue
		}
		m, err := discard(r.rc, n)
		if err == errDiscardUnsupported {
			r.trunc = false
			continue
		}
		if err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// bytesSource is a sinkSource over a slice, for tests.
type bytesSource struct{ b []byte }

func (s *bytesSource) next(n int) ([]byte, error) {
	if n < 0 || n > len(s.b) {
		return nil, io.ErrUnexpectedEOF
	}
	b := s.b[:n]
	s.b = s.b[n:]
	return b, nil
}

func (s *bytesSource) skip(n int) error {
	_, err := s.next(n)
	return err
}

// sinkFrame reads one request's bytes from src: reading past its end
// (left bytes) is an error, so a bad length cannot run into the next
// request.
type sinkFrame struct {
	src  sinkSource
	left int
}

func (f *sinkFrame) next(n int) ([]byte, error) {
	if n < 0 || n > f.left {
		return nil, errSinkRequest
	}
	f.left -= n
	return f.src.next(n)
}

func (f *sinkFrame) skip(n int) error {
	if n < 0 || n > f.left {
		return errSinkRequest
	}
	f.left -= n
	return f.src.skip(n)
}

func (f *sinkFrame) int16() (int16, error) {
	b, err := f.next(2)
	if err != nil {
		return 0, err
	}
	return int16(binary.BigEndian.Uint16(b)), nil
}

func (f *sinkFrame) int32() (int32, error) {
	b, err := f.next(4)
	if err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

// uvarint reads an unsigned varint of at most 32 bits (Kafka's lengths
// and counts).
func (f *sinkFrame) uvarint() (int, error) {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		b, err := f.next(1)
		if err != nil {
			return 0, err
		}
		v |= uint64(b[0]&0x7f) << shift
		if b[0] < 0x80 {
			if v > 1<<32-1 {
				return 0, errSinkRequest
			}
			return int(v), nil
		}
	}
	return 0, errSinkRequest
}

// length reads a length or count: an int32 (-1 for null), or in a
// flexible version a uvarint of length+1 (0 for null). Null is -1.
func (f *sinkFrame) length(flexible bool) (int, error) {
	if flexible {
		n, err := f.uvarint()
		return n - 1, err
	}
	n, err := f.int32()
	return int(n), err
}

// str reads a string (nullable or not): its length as an int16, or in a
// flexible version as length's uvarint. A null string is "".
func (f *sinkFrame) str(flexible bool) (string, error) {
	var n int
	if flexible {
		v, err := f.length(true)
		if err != nil {
			return "", err
		}
		n = v
	} else {
		v, err := f.int16()
		if err != nil {
			return "", err
		}
		n = int(v)
	}
	if n <= 0 {
		return "", nil
	}
	b, err := f.next(n)
	return string(b), err
}

// skipTags skips a tagged-field section.
func (f *sinkFrame) skipTags() error {
	count, err := f.uvarint()
	if err != nil {
		return err
	}
	for range count {
		if _, err := f.uvarint(); err != nil { // tag
			return err
		}
		size, err := f.uvarint()
		if err != nil {
			return err
		}
		if err := f.skip(size); err != nil {
			return err
		}
	}
	return nil
}

// sinkProduce is what the sink needs of a Produce request to answer it.
type sinkProduce struct {
	acks   int16
	topics []sinkProduceTopic
}

type sinkProduceTopic struct {
	name       string
	partitions []sinkProducePartition
}

// sinkProducePartition is a partition's records: how many, or !ok when
// they are not well-formed v2 record batches.
type sinkProducePartition struct {
	partition int32
	records   int64
	ok        bool
}

// produceFlexible is the first flexible version of Produce.
const produceFlexible = 9

// scanProduce reads a Produce request of version (0 to 12) from f, from
// just past the correlation id to the request's end.
func scanProduce(f *sinkFrame, version int16) (sinkProduce, error) {
	if idLen, err := f.int16(); err != nil { // client id, never compact
		return sinkProduce{}, err
	} else if err := f.skip(max(0, int(idLen))); err != nil {
		return sinkProduce{}, err
	}
	if version >= produceFlexible {
		if err := f.skipTags(); err != nil {
			return sinkProduce{}, err
		}
	}
	return scanProduceBody(f, version)
}

// scanProduceBody reads a Produce request's body (what kmsg's
// ProduceRequest.ReadFrom reads).
func scanProduceBody(f *sinkFrame, version int16) (sinkProduce, error) {
	var req sinkProduce
	flexible := version >= produceFlexible
	if version >= 3 {
		if _, err := f.str(flexible); err != nil { // transactional id
			return req, err
		}
	}
	var err error
	if req.acks, err = f.int16(); err != nil {
		return req, err
	}
	if _, err := f.int32(); err != nil { // timeout
		return req, err
	}
	topics, err := f.length(flexible)
	if err != nil {
		return req, err
	}
	for range max(0, topics) {
		var t sinkProduceTopic
		if t.name, err = f.str(flexible); err != nil {
			return req, err
		}
		partitions, err := f.length(flexible)
		if err != nil {
			return req, err
		}
		for range max(0, partitions) {
			var p sinkProducePartition
			if p.partition, err = f.int32(); err != nil {
				return req, err
			}
			size, err := f.length(flexible) // negative: null, as kmsg reads it
			if err != nil {
				return req, err
			}
			if p.records, p.ok, err = scanRecords(f, max(0, size)); err != nil {
				return req, err
			}
			if flexible {
				if err := f.skipTags(); err != nil {
					return req, err
				}
			}
			t.partitions = append(t.partitions, p)
		}
		if flexible {
			if err := f.skipTags(); err != nil {
				return req, err
			}
		}
		req.topics = append(req.topics, t)
	}
	if flexible {
		if err := f.skipTags(); err != nil {
			return req, err
		}
	}
	return req, nil
}

// Offsets into a RecordBatch v2's header.
const (
	batchLengthAt     = 8
	batchMagicAt      = 16
	batchRecordsAt    = 57
	batchHeaderLength = 61
)

// scanRecords reads size bytes of record batches from f and sums their
// record counts, reading each batch's header and skipping the rest; ok is
// false (and the rest of the bytes skipped) when they are not a sequence
// of whole v2 batches.
func scanRecords(f *sinkFrame, size int) (n int64, ok bool, err error) {
	for size > 0 {
		if size < batchHeaderLength {
			return 0, false, f.skip(size)
		}
		h, err := f.next(batchHeaderLength)
		if err != nil {
			return 0, false, err
		}
		size -= batchHeaderLength
		body := 12 + int(int32(binary.BigEndian.Uint32(h[batchLengthAt:]))) - batchHeaderLength
		count := int32(binary.BigEndian.Uint32(h[batchRecordsAt:]))
		if body < 0 || body > size || h[batchMagicAt] != 2 || count < 0 {
			return 0, false, f.skip(size)
		}
		n += int64(count)
		if err := f.skip(body); err != nil {
			return 0, false, err
		}
		size -= body
	}
	return n, true, nil
}
