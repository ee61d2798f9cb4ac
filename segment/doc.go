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
// recordCount == lastOffsetDelta+1. Before that, the broker checks the
// records inside every batch a client produces (ValidateProducerBatch, as
// Kafka's LogValidator; a compressed batch is decompressed as a stream to
// check them); Records decodes them for tools and tests. A record is: length varint, attributes int8,
// timestampDelta varlong, offsetDelta varint, key and value (varint length,
// -1 = null, then bytes), header count varint, then per header a key string
// and a nullable value. Varints are zig-zag encoded.
//
// # Checkpoint files
//
// Kafka's small text files, in Kafka's formats (checkpoint.go), each
// replaced atomically (temporary file, fsync, rename, fsync of the
// directory). recovery-point-offset-checkpoint, log-start-offset-checkpoint
// and replication-offset-checkpoint (each log's high watermark) in a log
// dir, and leader-epoch-checkpoint ("epoch startOffset" entries) in a
// partition dir:
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
//
// # Segment files
//
// A partition directory holds its log as segments, each a trio of files named
// by the segment's base offset (the offset of its first batch) zero-padded to
// 20 digits, so that names sort as offsets do (part of the format, Kafka's):
//
//	00000000000000000000.log        batches back to back, nothing else
//	00000000000000000000.index      offset index: (relative offset uint32, position uint32)
//	00000000000000000000.timeindex  time index: (max timestamp int64, relative offset uint32)
//	00000000000000052117.log        the next segment starts at offset 52117
//	leader-epoch-checkpoint         "0", count, then "epoch startOffset" lines
//	00000000000000052117.snapshot   idempotent producer state at offset 52117 (below)
//
// Positions are byte offsets in a .log; offsets are Kafka record offsets.
// Index entries are sparse: when more than index.interval.bytes of log went by
// since the last entry, the next batch adds (its last offset, its position)
// to the offset index and (the segment's max timestamp so far, the offset of
// the batch that carried it) to the time index. A lookup takes the greatest
// entry at or below the target and scans batch headers forward from its
// position. Relative offsets must fit an int32, so a segment rolls before one
// would not. On sealing, the time index gets a last entry with the segment's
// max timestamp, which retention and a reopen read back. Files being deleted
// are first renamed to *.deleted and removed once no reader holds them; a
// deleted partition directory is renamed to "<dir>.<32 hex digits>-delete"
// before removal, the topic part cut short so that the name stays within 255
// bytes as Kafka cuts it (a topic name may have 249 characters; a partition
// directory's own name fits for partitions below 100,000, which the broker
// enforces). The log directory holds Kafka's
// recovery-point-offset-checkpoint and log-start-offset-checkpoint (one that
// cannot be read costs a full recovery, as in Kafka, not a failed open), the
// file .lock that the process using the directory holds an flock on, and,
// after a clean shutdown only, the empty file .kafka_cleanshutdown; each is
// replaced atomically, and the temporary file a crash leaves of one
// ("<file>.<random>.tmp") is removed at the next open. LogDir.Close
// writes it only once everything it vouches for is durable: each log's trimmed
// segment and indexes, producer snapshot, leader-epoch-checkpoint and
// directory, and then the checkpoints. Where syncfs reports writeback errors
// (the directory's io/disk.FS says so, and every log uses that FS), the logs
// close without syncing and two syncfs calls stand in for their fdatasyncs and
// directory fsyncs: the first makes the data durable (the new snapshot and
// epochs files still under their temporary names), the renames follow, and the
// second makes those durable. A crash or a failed syncfs before the renames
// leaves those temporary files in every log; the next open removes them.
//
// A segment rolls before an append would take it past segment.bytes, when an index is full,
// and segment.ms after its first append; for an active segment that already held batches when
// the log was opened, segment.ms counts from its first batch's max timestamp (Kafka's
// rollingBasedTimestamp), so that restarts do not postpone the roll. Time retention
// (retention.go) deletes whole segments whose newest timestamp is older than retention.ms;
// when that is every segment, the active one included, it rolls the active segment first, as
// Kafka does, so that expired records do not outlive retention.ms in a quiet partition.
//
// # The active segment: preallocation, pwrite and pread
//
// Only the last segment takes appends. It grows to segment.bytes at most,
// and the file is fallocated ahead of the write position in chunks of
// runnel.segment.preallocate.bytes (0: the whole segment at once). Nothing is
// written past the fallocated size, so running out of disk space shows as
// ENOSPC from fallocate before any byte is copied, and the log is unchanged.
// A failed fallocate is undone (ext4 keeps the blocks it got and the larger
// size); the segment then asks for 64 KiB, then for exactly what the append
// needs, and keeps to small steps until two chunks are free again. An append
// that gets no room fails with ErrNoSpace and leaves the log usable: the next
// one succeeds once space is freed. Index files fall back the same way, down
// to reserving nothing, so a log opens on a full disk (see space.go).
// An append stamps base offset and leader epoch into the client's batch bytes
// and copies them once into the file's page cache with pwrite into the
// fallocated range, whatever their size: pwrite marks dirty only the blocks it
// wrote, where a store through a mapping of the file would dirty its whole
// folio (ext4 makes large folios, up to 2 MiB, since Linux 6.16), which each
// sync then wrote back, zeros and all. Readers read batch headers with pread,
// not through a mapping, whose pages each tailing read mapped into the process
// (resident, and unmapped after each sync with a TLB shootdown: at 10,000
// partitions 930 MiB and 9% of the broker's CPU); truncation zeroes the
// removed bytes with pwrite.
// Fallocated space reads as zeros but its extents are unwritten: the first
// write into a block converts its extent, and the fdatasync that makes that
// write durable writes the extent change too (on ext4 the inode's block). A log
// whose last fdatasync covered less than 16 KiB therefore has its appends keep
// 64-128 KiB of written zeros ahead of the log's end (segment.zeroAhead): a
// sync of a few KiB is then a data write and a cache flush, not also a
// metadata write, for a second write of each byte. Group syncs (syncfs) do not
// turn it on. Sealing a segment (a roll) cuts the file to its used size and
// seals both indexes. Readers get file ranges for pread or sendfile below the
// size, so shrinking a file cannot cut a read short.
// A clean close cuts the active segment and its indexes the same way; after a
// crash the active .log may end in preallocated zeros.
//
// # Durability
//
// Log.Sync fdatasyncs the segments sealed since the last Sync, then the
// active one, then the directory if a segment file was created, and only then
// publishes the new flushed offset (the recovery point, written to
// recovery-point-offset-checkpoint by LogDir). A sealed segment counts as
// unsynced until its cut to size is durable, so that no acknowledged batch can
// follow a zeroed tail. Truncation zeroes the removed bytes and syncs them,
// and the directory when it deleted later segments, so that recovery cannot
// bring stale batches back. When hundreds of logs are due at
// once, the flusher syncs them as a group instead: Log.PrepareSync notes what
// each covers, one LogDir.SyncAll (syncfs of the file system) makes all of it
// durable, and each log's finish publishes its flushed offset. After either,
// with drop-behind (Config.DropBehind), the synced pages more than the log's
// keep window behind its flushed end are dropped from the page cache
// (dropSynced: POSIX_FADV_DONTNEED), so that the next appends reuse their
// memory instead of growing the page cache. The .log is never mapped (only
// the indexes are), so its pages never count in the process's resident set.
// The window is the log directory's keep budget (Config.CacheKeepBytes)
// divided among the logs that appended lately, 64 KiB to 64 MiB each, and spans a
// roll: the sealed segment's last pages leave once the active segment holds a
// window of its own. A consumer lagging by less than the window reads from the
// page cache, one further behind from disk.
//
// # What a reader checks
//
// The CRC covers neither baseOffset nor batchLength, so a reader that trusted them could skip
// records (a length that jumps past batches or past the segment) or serve them at the wrong
// offsets (a changed baseOffset). Every reader of a segment (Read, TruncateTo, recovery, index
// rebuilds, the startup scan) walks batches with the same checks (check.go, batchWalk):
//
//   - the header is whole, magic 2, batchLength covers at least the header and the batch ends
//     within the segment's valid bytes;
//   - base offsets increase: each batch starts after the previous one's last offset, the first
//     at or after the segment's base offset, and every last offset lies below the next
//     segment's base offset and within the segment's relative range;
//   - a walk that starts at an offset index entry's position finds there a batch that starts
//     at or below the entry's offset, and reaches that offset without a gap (Kafka indexes an
//     append's first position with its last offset, which may lie in a later batch of it);
//   - recovery and the startup scan check the CRC-32C of every batch as well.
//
// When two batches are out of order either base offset may be the damaged one, so neither is
// trusted: a batch is vouched for by the batch after it (or the next segment's base offset).
// Read serves a range of whole batches by sendfile: the batch holding the offset asked for, and
// every whole batch after it in the range, must be vouched for; a range is cut before the first
// one that is not, and a read whose first batch is not fails with a *DamageError wrapping
// ErrCorruptLog (file, position, offset, reason), counted (Log.DamageFound, LogDir.DamageFound)
// and logged at most once a minute per log. The broker answers it CORRUPT_MESSAGE, as Kafka
// answers a CorruptRecordException on fetch. Each segment remembers how far its batches have
// been checked (segment.checked): everything, for segments this process wrote, recovered or
// scanned, so reads there walk only from the index entry to the offset asked for, as before,
// or not at all for a batch among the last few appended (segment.recent, kept by the appender);
// for segments trusted at open, reads walk their range (in 64 KiB preads) and move the mark
// forward when they start within it, and the first such read starts a background walk of the
// whole segment's headers, after which reads there cost what they did. Reads do not check CRCs: that needs every byte in user
// space, and clients check them (franz-go, Java's check.crcs); what clients cannot check is
// what reads check.
//
// A failed pwrite, truncate, rename, fdatasync, syncfs or directory fsync is a
// storage failure, sticky as Kafka treats a failing log directory: the log
// and its whole LogDir go offline (LogDir.Failed), every log of the directory
// refuses Append, Sync and Read with ErrStorageFailed wrapping the first
// failure (file and errno), and nothing is retried. Linux reports a writeback
// error once and may then mark the unwritten pages clean, so a later
// fdatasync can succeed without the data on disk (PostgreSQL's "fsyncgate");
// the flushed offset therefore never moves past the last successful Sync, and
// a restart recovers from that recovery point. A failed fallocate for
// preallocation (ENOSPC) is not a storage failure: the append is refused and
// the log stays as it was. All these operations go through Config.FS
// (io/disk.FS), so tests can fail them (io/disk/faultfs).
//
// # Recovery: where the valid log ends
//
// After a clean shutdown the files are trusted. Otherwise every segment that
// may hold bytes past the recovery point (its next segment starts at or after
// it) and always the last segment are read from position 0, batch by batch,
// with the checks above:
//
//   - a batch whose base offset and length fields are zero, or the end of the
//     file, ends the segment (preallocated space never written: expected);
//   - fewer bytes than the header or than the batch length claims: a torn
//     write; a bad magic, length or CRC-32C: corruption;
//   - a base offset at or below the previous batch's last offset (the cut is
//     then made before the previous batch too), or a last offset at or past
//     the next segment's base offset: corruption.
//
// The file is cut at the first batch that fails (logged with file, position
// and size; quietly for zeros) and synced. Bytes after a torn or corrupt batch
// were never synced, so never acknowledged, and a cut anywhere but in
// preallocated zeros that end exactly at the next segment's base offset also
// removes every later segment. Both indexes of a recovered segment are
// rebuilt; an index of a trusted segment that is missing or fails its sanity
// check is rebuilt from the .log. Leader epochs newer than
// leader-epoch-checkpoint's last found on recovered batches are added to it at
// their batches' base offsets (as Kafka's segment recovery does), and epochs
// starting at or past the new log end are dropped. So Sync leaves the file
// alone, which kept every new leader's first sync out of the syncfs groups:
// Log.WriteEpochs makes new epochs durable, and LogDir.WriteCheckpoints calls
// it before it writes recovery points that would let recovery skip the
// batches an epoch starts in. The idempotent producer state is then loaded
// from the latest producer-state snapshot and the batch headers after it
// (below). An I/O error while reading fails the open rather than cutting.
//
// # Producer-state snapshots
//
// The idempotent producer table (producers.go: per producer id the epoch
// and its last batches, to answer retries and refuse sequence gaps) is
// saved as Kafka saves it, in "<offset>.snapshot" files in the partition
// directory, named by the log end offset they cover (20 digits, as segment
// files). Version 1, all integers big-endian:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-------------------------------+-------------------------------+
//	| version int16 = 1 (bytes 0-1) |  crc uint32 (2-5), CRC-32C of |
//	+-------------------------------+-------------------------------+
//	|  bytes 6 to the end           | entry count int32 (6-9)       |
//	+-------------------------------+-------------------------------+
//	then count entries of 46 bytes each:
//	+-------------------------------+-------------------------------+
//	|  producerId int64 (0-7)                                       |
//	+-------------------------------+-------------------------------+
//	|  epoch int16 (8-9)            | lastSequence int32 (10-13)    |
//	+-------------------------------+-------------------------------+
//	|  lastOffset int64 (14-21), -1 when no batch is kept           |
//	+-------------------------------+-------------------------------+
//	|  offsetDelta int32 (22-25)    |  timestamp int64 (26-33)      |
//	+-------------------------------+-------------------------------+
//	|  coordinatorEpoch int32 (34-37), -1 without transactions      |
//	+-------------------------------+-------------------------------+
//	|  currentTxnFirstOffset int64 (38-45), -1 without transactions |
//	+---------------------------------------------------------------+
//
// Each entry is the producer's last batch: its last sequence and last
// offset, offsetDelta = its last offset - its first offset (the first
// sequence is lastSequence - offsetDelta, wrapping), and its max timestamp.
// A snapshot therefore restores only the last batch of each producer for
// duplicate detection, as in Kafka; batches replayed after it add to it.
//
// A snapshot is written at each segment roll (at the new segment's base
// offset) and at a clean close (at the log end), atomically: a temporary
// "<name>.<random>.tmp", fdatasync, rename, fsync of the directory, all
// through Config.FS. The latest two are kept and older ones deleted. A
// snapshot that fails to be written is logged and skipped: it costs only a
// longer replay. Producers idle for producer.id.expiration.ms
// (Config.ProducerIDExpiration, 1 day; measured from their last batch's max
// timestamp by the log's clock) are dropped when a snapshot is taken, when
// one is loaded, and by Log.ExpireProducers, which the broker calls from its
// retention loop.
//
// Opening a log, after recovery has fixed where it ends, deletes the
// snapshots past the log end and leftover temporary files, loads the latest
// snapshot that parses and passes its CRC (one that does not is logged,
// deleted, and the next older one tried) and replays the batch headers from
// its offset to the log end. Without a usable snapshot the replay starts at
// the first segment, so the state is as complete as the log (Kafka does the
// same from the log start offset); after a clean close the latest snapshot
// is at the log end and nothing is replayed. TruncateTo deletes the
// snapshots past the new end and reloads the same way; emptying the log
// deletes them all.
//
// # Compaction
//
// A log whose Config.Compact is set (cleanup.policy=compact, or compact,delete) is compacted
// by the Cleaner (cleaner.go) as Kafka's LogCleaner does: the log's bytes below the clean
// checkpoint are its clean section, those from it to the first uncleanable offset its dirty
// section. The first uncleanable offset is the active segment's base, or the base of the first
// segment holding records younger than min.compaction.lag.ms or not committed (at or above the
// high watermark; Kafka stops at the last stable offset, below it): the active segment is never
// cleaned, and no record a truncation or a crash could take away removes a committed one. A log is worth cleaning when dirty bytes / (clean + dirty bytes) reaches
// min.cleanable.dirty.ratio, when its dirty section's first batch is older than
// max.compaction.lag.ms, or when a tombstone its last clean kept has passed its delete
// horizon (below), dirty section or not; the cleaner goroutines (log.cleaner.threads) take the most urgent,
// then the dirtiest, one log at a time, and sleep log.cleaner.backoff.ms when none is.
//
// A clean (clean.go, Log.Clean) first maps each key of the dirty section to its latest
// offset in an OffsetMap: 128-bit hashes of the keys, not the keys, in slots of 24 bytes
// filled to 90%, all the threads' maps within log.cleaner.dedupe.buffer.size (Kafka's
// SkimpyOffsetMap). When the map fills up the clean maps no further: the dirty section cleaned
// ends there, at a batch boundary. Then every segment below that end is rewritten, in groups
// of consecutive segments whose sizes before cleaning fit one segment (segment.bytes, and
// segment.index.bytes for either index, and offsets within 32 bits of the first base), each
// group into one new segment named by the group's first base offset. A record is kept when it
// has a key and no later offset for its key is mapped; a tombstone (null value) only until its
// batch's delete horizon (KIP-534): the first clean that keeps a tombstone rewrites its batch
// with attribute bit 6 set and baseTimestamp = the clean's time + delete.retention.ms (record
// timestamps stay the same: their deltas are relative to baseTimestamp), and a later clean
// after that time drops it. A batch whose records all stay is copied byte for byte. Otherwise
// it is rewritten, uncompressed, with the records kept: base offset, last offset delta,
// leader epoch, producer id, epoch and base sequence, and every kept record's offset and
// timestamp, are the original batch's, so offsets have gaps as in Kafka, and consumers skip
// them. A batch none of whose records stays is dropped, except the last batch of a producer
// the log still remembers, which stays as a header without records (Kafka's empty batch), so
// that the producer's sequence survives the clean. Control batches stay. The end of what was
// mapped becomes the log's entry in the log directory's cleaner-offset-checkpoint (Kafka's
// format, as recovery-point-offset-checkpoint). Reads and writes of all the threads together
// are held under log.cleaner.io.max.bytes.per.second.
//
// Each group is swapped in by a protocol that a crash at any step leaves recoverable:
//
//  1. the new segment is written to <base>.log.cleaned, <base>.index.cleaned and
//     <base>.timeindex.cleaned, and fdatasync'd (the indexes with their seal);
//  2. under the append lock, and only if the group's segments are still the log's (retention
//     or a truncation may have removed them; the clean is then discarded),
//     <base>.log.cleaned is renamed to <base>.log.swap and the directory synced: from here on
//     the swap happens;
//  3. the old segments' files are renamed to *.deleted (readers holding them keep them until
//     they release them), the new indexes and then <base>.log.swap get their final names, and
//     the directory is synced.
//
// If the group's output would be empty, its last batch stays as a header without records, so
// that every swapped-in segment holds the last offset of the range it replaces. Opening a
// log first removes every *.cleaned file (a clean that had not committed), then completes each
// <base>.log.swap: every segment file (log and indexes) whose base offset lies between base and
// the swap's last offset belongs to a segment it replaces and is removed, the swap is renamed
// to <base>.log and the directory synced; the new segment's indexes, if missing, are rebuilt as
// any index is.
//
// # Replication
//
// A follower appends the leader's batches with AppendAsFollower (follower.go), byte for byte
// as the leader stored them: same base offsets, leader epochs and timestamps, so that the
// replicas' segments are equal. The batches are validated as Append validates them, except
// that a batch rewritten by the leader's cleaner may hold fewer records than its offset range;
// they must start at or after the log end and follow each other (gaps allowed), else
// ErrUnexpectedOffset. Each batch's newer leader epoch is recorded at its base offset, and
// the idempotent producer state is updated from the batches unchecked, so that a follower
// that becomes leader answers a producer's retry of its last batches as a duplicate. A
// follower that diverged truncates (TruncateTo) to the end of the last epoch it shares with
// the leader and appends from there.
//
// The log owns its high watermark (highwatermark.go, Kafka's highWatermarkMetadata): an
// offset within [log start, log end] with the position of the batch it starts (or lies in),
// computed once per SetHighWatermark, so that reads with ReadOptions.UpToHighWatermark stop
// there without a lookup. Truncation lowers it, a log start moved above it raises it, a clean
// that rewrites its segment moves its position. LogDir.WriteCheckpoints and Close save every
// log's in replication-offset-checkpoint; an open restores it clamped to the log's range, or
// starts it at the log start offset (no entry, or an unreadable file, which is logged).
//
// # The full startup scan
//
// Kafka reads only what lies past the recovery point. With ScanFull (the
// broker's runnel.log.recovery.scan=full) opening a log directory also reads
// every other segment, after a clean shutdown too, with the same checks and
// CRCs, and reports per log the segments and batches scanned and each damage
// (file, position, the offset expected there, reason), then a summary line
// (LogDir.ScanReport). Damage below the recovery point is kept, not cut: those
// batches were synced, so acknowledged, and a cut would also drop every
// undamaged batch after it, which may be the only copy; Kafka never cuts below
// the recovery point either. The segment is left as it is, reads at the
// damaged batch fail with ErrCorruptLog (the scan records it on the segment,
// so a CRC mismatch is refused too), and the batches after it stay readable
// through the offset index. The last segment is the exception: it must end
// where its batches end to take appends, so it is cut as in recovery, and the
// loss is reported (Damage.Cut).
package segment
