package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// BatchHeaderSize is the size of a RecordBatch v2 header; part of the format.
const BatchHeaderSize = 61

// Byte offsets of the header fields (see doc.go); part of the format.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21 // the CRC covers from here to the end of the batch
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
)

// batchLengthOverhead is the part of a batch its batchLength field does not
// count: the baseOffset and batchLength fields themselves.
const batchLengthOverhead = offLeaderEpoch

// batchMagic is the only magic (message format version) Runnel stores.
const batchMagic = 2

// Compression codecs, bits 0-2 of the attributes.
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLZ4    = 3
	CodecZstd   = 4
)

// Timestamp types, bit 3 of the attributes.
const (
	TimestampCreateTime    = 0
	TimestampLogAppendTime = 1
)

const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
	// attrDeleteHorizon: baseTimestamp holds the delete horizon the
	// cleaner set (KIP-534).
	attrDeleteHorizon = 0x40
)

// NoProducerID is the producer id of a batch from a producer that is
// neither idempotent nor transactional.
const NoProducerID = -1

// castagnoli is the CRC-32C table; crc32 uses the SSE4.2/ARMv8 instruction
// when it is available.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded 61-byte header of a RecordBatch v2.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the BatchLength field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the size of the whole batch in bytes, header included.
func (h BatchHeader) Size() int { return int(h.BatchLength) + batchLengthOverhead }

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the compression codec, one of the Codec constants (or an unknown
// value, which Records rejects).
func (h BatchHeader) Codec() int { return int(h.Attributes & attrCodecMask) }

// TimestampType is TimestampCreateTime or TimestampLogAppendTime.
func (h BatchHeader) TimestampType() int {
	if h.Attributes&attrLogAppendTime != 0 {
		return TimestampLogAppendTime
	}
	return TimestampCreateTime
}

// IsTransactional reports whether the batch belongs to a transaction.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports whether the batch holds a control record (transaction
// marker) rather than data.
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// DeleteHorizon is the time in Unix milliseconds after which the cleaner
// drops the batch's tombstones, set when it first cleaned them (KIP-534);
// ok is false for a batch it has not stamped.
func (h BatchHeader) DeleteHorizon() (ms int64, ok bool) {
	if h.Attributes&attrDeleteHorizon == 0 {
		return 0, false
	}
	return h.BaseTimestamp, true
}

// HasProducerID reports whether the batch comes from an idempotent or
// transactional producer, whose sequence numbers the log checks.
func (h BatchHeader) HasProducerID() bool { return h.ProducerID > NoProducerID }

// ParseBatchHeader decodes the header of the batch at the start of b. It
// checks the magic (ErrUnsupportedMagic, including for the magic 0 and 1
// message sets, whose magic sits at the same byte) and that the batch length
// covers at least the header (ErrInvalidBatch), but neither the CRC nor that
// b holds the whole batch: see ValidateBatch.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) > offMagic && b[offMagic] != batchMagic {
		return BatchHeader{}, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, int8(b[offMagic]))
	}
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrShortBatch, len(b), BatchHeaderSize)
	}
	be := binary.BigEndian
	h := BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(be.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		RecordCount:          int32(be.Uint32(b[offRecordCount:])),
	}
	if h.Size() < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: batch length %d is less than the header's %d", ErrInvalidBatch, h.BatchLength, BatchHeaderSize-batchLengthOverhead)
	}
	return h, nil
}

// ValidateBatch checks the one batch at the start of b, which may continue
// with more bytes: header (as ParseBatchHeader), that b holds all h.Size()
// bytes (ErrShortBatch), and the CRC-32C (ErrCorruptBatch). It does not
// compare the record count with lastOffsetDelta, since a batch rewritten by
// Kafka's log compaction legitimately has fewer records than its offset
// range; recovery of copied Kafka segments uses this. It allocates only to
// report an error.
func ValidateBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	size := h.Size()
	if size > len(b) {
		return BatchHeader{}, fmt.Errorf("%w: batch of %d bytes, %d available", ErrShortBatch, size, len(b))
	}
	if crc := crc32.Checksum(b[offAttributes:size], castagnoli); crc != h.CRC {
		return BatchHeader{}, fmt.Errorf("%w: stored %#08x, computed %#08x", ErrCorruptBatch, h.CRC, crc)
	}
	return h, nil
}

// BatchError is the error of ValidateBatches: Err (wrapping one of the
// batch sentinels) happened in the batch starting at byte Pos.
type BatchError struct {
	Pos int
	Err error
}

func (e *BatchError) Error() string { return fmt.Sprintf("batch at byte %d: %v", e.Pos, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// ValidateBatches checks every batch in b, batches back to back as in a
// produce request's records field or a segment: ValidateBatch for each,
// plus the rule for batches fresh from a client that recordCount ==
// lastOffsetDelta+1 >= 1 (ErrInvalidBatch); b must end exactly where its
// last batch ends. It never decompresses and allocates nothing unless it
// reports an error, which is a *BatchError naming the batch's position.
//
// each, if not nil, is called with the position and header of each batch
// after that batch passed; an error from each stops the walk and is
// returned as is. Batches before a failing one have been passed to each.
//
// An empty b holds no batches and is valid. Kafka's produce path
// additionally rejects records holding zero or more than one batch per
// partition ("Compressed outer record has more than one batch"), and
// batches with the control bit from clients; that is the caller's policy.
func ValidateBatches(b []byte, each func(pos int, h BatchHeader) error) error {
	return validateBatches(b, false, each)
}

// validateReplicatedBatches is ValidateBatches for batches a follower copies from its leader
// (AppendAsFollower): a batch the leader's cleaner rewrote keeps its lastOffsetDelta with
// fewer records, down to none (doc.go, "Compaction"), so the rule is only 0 <= recordCount <=
// lastOffsetDelta+1.
func validateReplicatedBatches(b []byte, each func(pos int, h BatchHeader) error) error {
	return validateBatches(b, true, each)
}

func validateBatches(b []byte, compacted bool, each func(pos int, h BatchHeader) error) error {
	for pos := 0; pos < len(b); {
		h, err := ValidateBatch(b[pos:])
		if err != nil {
			return &BatchError{Pos: pos, Err: err}
		}
		fresh := h.RecordCount >= 1 && h.LastOffsetDelta == h.RecordCount-1
		stored := h.RecordCount >= 0 && h.LastOffsetDelta >= 0 && int64(h.RecordCount) <= int64(h.LastOffsetDelta)+1
		if !fresh && !(compacted && stored) {
			return &BatchError{Pos: pos, Err: fmt.Errorf("%w: %d records but lastOffsetDelta %d", ErrInvalidBatch, h.RecordCount, h.LastOffsetDelta)}
		}
		if each != nil {
			if err := each(pos, h); err != nil {
				return err
			}
		}
		pos += h.Size()
	}
	return nil
}

// StampBaseOffset writes the base offset and partition leader epoch into
// the header of the batch at the start of b, as the broker does on append.
// The CRC does not cover these bytes, so it stays valid. b must hold at
// least a header (ValidateBatches has checked it).
func StampBaseOffset(b []byte, baseOffset int64, leaderEpoch int32) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(baseOffset))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(leaderEpoch))
}

// StampLogAppendTime marks the batch at the start of b as timestamped by the
// broker (topic message.timestamp.type=LogAppendTime): it sets the
// timestamp-type attribute, writes ts (milliseconds) as the max timestamp and
// recomputes the CRC. Readers then take ts as every record's timestamp. b
// must hold the whole batch (ValidateBatches has checked it).
func StampLogAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	size := int(int32(be.Uint32(b[offBatchLength:]))) + batchLengthOverhead
	be.PutUint16(b[offAttributes:], be.Uint16(b[offAttributes:])|attrLogAppendTime)
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:size], castagnoli))
}

// Record is one record of a batch as Records decodes it. Key and Value are
// nil for a null key or value; they alias the batch (or its decompressed
// copy), so they are valid as long as that is.
type Record struct {
	Offset    int64
	Timestamp int64 // milliseconds; the batch's max timestamp under LogAppendTime
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// RecordHeader is a record header: a string key and a nullable value.
type RecordHeader struct {
	Key   string
	Value []byte
}

// minRecordSize is the smallest encoding of a record: one byte each for
// length, attributes, timestamp delta, offset delta, key length, value length
// and header count.
const minRecordSize = 7

// Records validates the single batch that is all of batch (ValidateBatch,
// and no bytes after it), decompresses its records and decodes them. It
// checks that the number of records decoded is the header's record count,
// and the records' own lengths (as ValidateProducerBatch, except that offset
// deltas may have gaps, as in a compacted batch). It is for tools and tests,
// not the append or fetch path: it allocates the decompressed records (at
// most 64 MiB a batch) and a Record each.
func Records(batch []byte) ([]Record, error) {
	return appendRecords(nil, batch)
}

// appendRecords is Records appending to dst, for callers that reuse one slice (the cleaner).
func appendRecords(dst []Record, batch []byte) ([]Record, error) {
	h, err := ValidateBatch(batch)
	if err != nil {
		return nil, err
	}
	if h.Size() != len(batch) {
		return nil, fmt.Errorf("%w: %d bytes after the batch", ErrInvalidBatch, len(batch)-h.Size())
	}
	data, err := decompress(h.Codec(), batch[BatchHeaderSize:])
	if err != nil {
		return nil, err
	}
	if h.RecordCount < 0 {
		return nil, fmt.Errorf("%w: record count %d", ErrInvalidBatch, h.RecordCount)
	}
	records := dst[:0]
	if dst == nil {
		// The count is untrusted: do not allocate more than the bytes can hold.
		records = make([]Record, 0, min(int(h.RecordCount), len(data)/minRecordSize))
	}
	s := recordScanner{win: data}
	if err := s.scan(h, false, &records); err != nil {
		return nil, err
	}
	return records, nil
}

// maxDecompressedSize bounds what one batch may decompress to, so that a
// small hostile batch cannot make Records allocate without limit. It is far
// above message.max.bytes (1 MiB) times any real compression ratio.
const maxDecompressedSize = 64 << 20

// errDecompressedTooLarge is wrapped in ErrInvalidBatch.
var errDecompressedTooLarge = fmt.Errorf("decompresses to more than %d bytes", maxDecompressedSize)

// decompress returns the records of a batch compressed with codec, whole
// (see decoder.open for the codecs).
func decompress(codec int, src []byte) ([]byte, error) {
	if codec == CodecNone {
		return src, nil
	}
	d := decoders.Get().(*decoder)
	defer decoders.Put(d)
	r, err := d.open(codec, src)
	if err != nil {
		return nil, err
	}
	out, err := readAllBounded(r)
	if err != nil {
		return nil, fmt.Errorf("%w: codec %d: %w", ErrInvalidBatch, codec, err)
	}
	return out, nil
}

func readAllBounded(r io.Reader) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressedSize+1))
	if err == nil && len(out) > maxDecompressedSize {
		err = errDecompressedTooLarge
	}
	return out, err
}
