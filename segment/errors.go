package segment

import "errors"

// The package's sentinel errors, in one place. Functions wrap them with %w
// and context (file, line, offset), so test with errors.Is.
//
// Append new sentinels at the end of the list that fits; do not rename.

// Record batch errors (batch.go).
var (
	// ErrShortBatch: fewer bytes than a batch header, or than the batch's
	// own length field claims. At the end of a segment this is a torn write.
	ErrShortBatch = errors.New("segment: short batch (truncated)")
	// ErrCorruptBatch: the CRC-32C stored in the header does not match the
	// bytes it covers (attributes to the end of the batch).
	ErrCorruptBatch = errors.New("segment: corrupt batch (CRC mismatch)")
	// ErrInvalidBatch: the header is self-inconsistent (batch length too
	// small, record count against lastOffsetDelta) or a record inside a
	// batch does not decode.
	ErrInvalidBatch = errors.New("segment: invalid batch")
	// ErrUnsupportedMagic: a message set of magic 0 or 1, or an unknown
	// magic; only RecordBatch v2 is stored.
	ErrUnsupportedMagic = errors.New("segment: unsupported record batch magic (want 2)")
	// ErrUnsupportedCodec: the attributes name a compression codec other
	// than none, gzip, snappy, lz4 and zstd.
	ErrUnsupportedCodec = errors.New("segment: unsupported compression codec")
)

// Idempotent producer errors (producers.go). They map onto Kafka's
// OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH.
var (
	// ErrOutOfOrderSequence: a batch's base sequence is not the one after
	// the producer's last, or an unknown producer starts at a non-zero
	// sequence.
	ErrOutOfOrderSequence = errors.New("segment: out of order sequence number")
	// ErrInvalidProducerEpoch: the batch carries an epoch older than the
	// producer's current one (the producer has been fenced).
	ErrInvalidProducerEpoch = errors.New("segment: invalid producer epoch")
	// ErrCorruptSnapshot: a producer-state snapshot has an unknown version,
	// a wrong CRC or a length that does not match its entries (snapshot.go);
	// opening a log ignores it and falls back to an older one.
	ErrCorruptSnapshot = errors.New("segment: corrupt producer state snapshot")
)

// Checkpoint file errors (checkpoint.go).
var (
	// ErrMalformedCheckpoint: a checkpoint, partition.metadata or
	// meta.properties file does not parse; the error names file and line.
	ErrMalformedCheckpoint = errors.New("segment: malformed checkpoint file")
)

// Partition log errors (segment.go, log.go, logdir.go).
var (
	// ErrOffsetOutOfRange: a read asked for an offset below the log start offset or past the
	// log end offset (Kafka's OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("segment: offset out of range")
	// ErrRecordTooLarge: an append is larger than segment.bytes, so no segment could hold it
	// (Kafka's RECORD_BATCH_TOO_LARGE).
	ErrRecordTooLarge = errors.New("segment: records larger than segment.bytes")
	// ErrClosed: the log (or log directory) has been closed or deleted.
	ErrClosed = errors.New("segment: log closed")
	// ErrInvalidConfig: a Config value is out of range; the error names it.
	ErrInvalidConfig = errors.New("segment: invalid log config")
	// ErrDirInUse: another LogDir (in this or another process) holds the data directory.
	ErrDirInUse = errors.New("segment: log directory in use")
	// ErrStorageFailed: a write, fallocate or sync of the log's files failed, so the log (and
	// its whole log directory) is offline until a restart recovers it from its last recovery
	// point; nothing appended after the last successful sync is ever reported durable
	// (Kafka's KAFKA_STORAGE_ERROR). The error wraps the first failure, with file and errno.
	ErrStorageFailed = errors.New("segment: log directory failed")
	// ErrCorruptLog: a segment file does not hold what the format promises where a read or a
	// scan looked (a batch length past the segment, offsets out of order, an index entry that
	// names another batch, a bad magic or CRC-32C). Reads answer it rather than serve skipped
	// or shifted records (Kafka's CORRUPT_MESSAGE). The error is a *DamageError naming the
	// file, position and offset.
	ErrCorruptLog = errors.New("segment: damaged log")
	// ErrZeroedTail: a segment's batches end where zeros start: preallocated space never
	// written, or written and never synced. After a crash that is the expected end of the
	// active segment, not damage (Scan, recovery); within the bytes a log says it holds, a
	// reader reports it as damage.
	ErrZeroedTail = errors.New("segment: zeroed tail")
	// ErrNoSpace: the file system has no room for what an append needs (ENOSPC, EDQUOT).
	// Nothing was written and the log is not failed: the append succeeds once space is freed
	// (Kafka's KAFKA_STORAGE_ERROR, which clients retry). The error wraps the errno.
	ErrNoSpace = errors.New("segment: no space left for the log")
	// ErrUnexpectedOffset: a follower's append (AppendAsFollower) starts below the log end
	// offset, or one of its batches does not start after the previous one's last offset
	// (Kafka's UnexpectedAppendOffsetException); nothing was written.
	ErrUnexpectedOffset = errors.New("segment: unexpected offset in a follower's append")
)
