package segment

import (
	"encoding/binary"
	"hash/crc32"
)

// KeyValue is one record for BuildBatch: a key and a value, either of
// which may be nil (a nil value is a tombstone).
type KeyValue struct {
	Key, Value []byte
}

// BuildBatch appends to dst one uncompressed RecordBatch v2 holding
// records, all with timestamp ts (milliseconds), base offset 0 (the log
// stamps the real one), no producer id and a valid CRC-32C, and returns the
// extended slice. It is for the broker's own records (the group
// coordinator's __consumer_offsets entries), not for client data. records
// must not be empty.
func BuildBatch(dst []byte, ts int64, records []KeyValue) []byte {
	start := len(dst)
	var header [BatchHeaderSize]byte
	be := binary.BigEndian
	be.PutUint32(header[offLeaderEpoch:], 0xffffffff) // -1: stamped on append
	header[offMagic] = batchMagic
	be.PutUint32(header[offLastOffsetDelta:], uint32(len(records)-1))
	be.PutUint64(header[offBaseTimestamp:], uint64(ts))
	be.PutUint64(header[offMaxTimestamp:], uint64(ts))
	be.PutUint64(header[offProducerID:], 0xffffffffffffffff) // NoProducerID
	be.PutUint16(header[offProducerEpoch:], 0xffff)
	be.PutUint32(header[offBaseSequence:], 0xffffffff)
	be.PutUint32(header[offRecordCount:], uint32(len(records)))
	dst = append(dst, header[:]...)
	for i, r := range records {
		// attributes, timestamp delta, offset delta, key, value, headers
		size := 1 + varintLen(0) + varintLen(int64(i)) + bytesLen(r.Key) + bytesLen(r.Value) + varintLen(0)
		dst = binary.AppendVarint(dst, int64(size))
		dst = append(dst, 0)
		dst = binary.AppendVarint(dst, 0)
		dst = binary.AppendVarint(dst, int64(i))
		dst = appendVarBytes(dst, r.Key)
		dst = appendVarBytes(dst, r.Value)
		dst = binary.AppendVarint(dst, 0)
	}
	batch := dst[start:]
	be.PutUint32(batch[offBatchLength:], uint32(len(batch)-batchLengthOverhead))
	be.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], castagnoli))
	return dst
}

func varintLen(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], v)
}

func bytesLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
