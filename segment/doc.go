// Package segment stores a partition's log the way Apache Kafka does: record
// batches exactly as clients send them, in segment files named by base
// offset, with Kafka's checkpoint files beside them, so that an operator's
// Kafka knowledge and tools apply and directories can move between Kafka and
// Runnel.
//
// # Record batches
//
// The unit of storage is a Kafka RecordBatch v2 (magic 2). All integers are
// big-endian; the 61-byte header (BatchHeaderSize) is part of the format:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-------------------------------+-------------------------------+
//	|       baseOffset int64 (bytes 0-7)        stamped by broker   |
//	+-------------------------------+-------------------------------+
//	|  batchLength int32 (8-11)     |  partitionLeaderEpoch (12-15) |  stamped by broker
//	+---------------+---------------+---------------+---------------+
//	| magic=2 (16)  |            crc uint32 (17-20), CRC-32C        |
//	+---------------+---------------+---------------+---------------+
//	| attributes int16 (21-22)      | lastOffsetDelta int32 (23-26) |  <- CRC covers from byte 21
//	+-------------------------------+-------------------------------+
//	|  baseTimestamp int64 (27-34)  |  maxTimestamp int64 (35-42)   |  maxTimestamp stamped under LogAppendTime
//	+-------------------------------+-------------------------------+
//	|  producerId int64 (43-50)     | producerEpoch int16 (51-52)   |
//	+-------------------------------+-------------------------------+
//	|  baseSequence int32 (53-56)   |  recordCount int32 (57-60)    |
//	+-------------------------------+-------------------------------+
//	|  records (61 .. 12+batchLength), compressed as a whole when   |
//	|  the codec bits are set                                       |
//	+---------------------------------------------------------------+
//
// batchLength counts the bytes after itself, so a batch is batchLength+12
// bytes long (BatchHeader.Size) and batches follow each other with no
// padding. Attributes: bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4,
// 4 zstd), bit 3 timestamp type (1 = LogAppendTime), bit 4 transactional,
// bit 5 control, bit 6 delete horizon set.
//
// The CRC is CRC-32C (Castagnoli) of bytes 21 to the end of the batch. It
// does not cover baseOffset, batchLength, partitionLeaderEpoch or magic, so
// the broker assigns offsets and the leader epoch by overwriting bytes 0-15
// (StampBaseOffset) without recomputing it. A broker that timestamps batches
// itself (message.timestamp.type=LogAppendTime) sets the timestamp-type bit
// and maxTimestamp and must recompute the CRC (StampLogAppendTime). Nothing
// else in a batch is changed: it is stored, and later sent to consumers,
// byte for byte as the producer compressed it.
//
// On append, ValidateBatches checks every batch without decompressing it:
// exact lengths, magic 2 (older message sets are refused), the CRC, and
// recordCount == lastOffsetDelta+1. A record inside a batch (decoded only by
// Records, for tools and tests) is: length varint, attributes int8,
// timestampDelta varlong, offsetDelta varint, key and value (varint length,
// -1 = null, then bytes), header count varint, then per header a key string
// and a nullable value. Varints are zig-zag encoded.
//
// # Checkpoint files
//
// Kafka's small text files, in Kafka's formats (checkpoint.go), each
// replaced atomically (temporary file, fsync, rename, fsync of the
// directory). recovery-point-offset-checkpoint and
// log-start-offset-checkpoint in a log dir, and leader-epoch-checkpoint
// ("epoch startOffset" entries) in a partition dir:
//
//	0                  version, always 0
//	2                  number of entry lines that follow
//	orders 0 1234      topic partition offset (sorted when Runnel writes)
//	orders 1 1180
//
// partition.metadata in a partition dir holds "version: 0" and
// "topic_id: <id>", the id as Kafka's Uuid.toString writes it (16 bytes in
// base64url without padding, 22 characters). meta.properties in a log dir is
// a Java properties file. Partition directories are named
// "<topic>-<partition>" (TopicPartition.DirName).
package segment
