// Package index implements Kafka's two per-segment indexes, byte for byte as Apache Kafka
// writes them: the sparse offset index (.index) and the time index (.timeindex).
//
// # Files
//
// A segment whose first offset (base offset) is B has three files, named by B in 20 zero-padded
// decimal digits so that names sort as offsets do:
//
//	00000000000000368769.log         the record batches (package segment)
//	00000000000000368769.index       offset index
//	00000000000000368769.timeindex   time index
//
// (fmt: "%020d.index", "%020d.timeindex"). Both index files are arrays of fixed-size entries
// with no header, no checksum and no padding; every integer is big-endian. Offsets are stored
// relative to B (relative offset = offset - B), so they fit 4 bytes. Kafka reads every 4-byte
// field as a signed int32, so relative offsets and positions stay within MaxRelativeOffset and
// MaxPosition (2^31-1), and the log rolls a segment before an offset would exceed it.
//
// Offset index entry, OffsetEntrySize = 8 bytes:
//
//	 0               4               8
//	+---------------+---------------+
//	| rel. offset   | position      |
//	| uint32 BE     | uint32 BE     |
//	+---------------+---------------+
//
// "The batch that starts at byte position of the .log file holds offset B+rel" (Kafka indexes
// a batch by its last offset), so every later offset lives in a batch at or after position.
// The log adds an entry every index.interval.bytes (4096) of log, so the index is sparse.
// Relative offsets strictly increase, positions never decrease.
//
// Time index entry, TimeEntrySize = 12 bytes:
//
//	 0                               8               12
//	+-------------------------------+---------------+
//	| timestamp                     | rel. offset   |
//	| int64 BE (ms since epoch)     | uint32 BE     |
//	+-------------------------------+---------------+
//
// "The greatest timestamp in the log before offset B+rel is timestamp": every record with a
// greater timestamp comes at or after that offset. Timestamps strictly increase (and are above
// NoTimestamp, -1), relative offsets never decrease.
//
// # Lookups
//
// OffsetIndex.Lookup(o) returns the entry with the greatest offset <= o, or (B, 0) when there
// is none: the log reads from that position and scans forward to o. TimeIndex.Lookup(t)
// returns the entry with the greatest timestamp <= t, or (NoTimestamp, B): the log then finds
// that entry's position in the offset index and scans forward for the first batch whose max
// timestamp is >= t.
//
// Both search the warm tail first, as Kafka does: one probe at the first entry of the last
// 8 KiB of entries decides whether to binary-search that tail or the cold part before it. The
// tail is where the appender writes and where caught-up consumers look, so its pages are
// resident; a plain binary search would start in the middle of a 10 MiB file and touch pages
// nobody else uses. Either way a lookup is O(log n) and allocates nothing.
//
// # Lifecycle
//
// Open, writable (the active segment): the file is created if missing, preallocated with
// fallocate to maxBytes (segment.index.bytes, 10 MiB) rounded down to whole entries, mapped
// whole, shared and writable, and its descriptor closed: the mapping outlives it, and 10,000
// active segments holding two index descriptors each would need 20,000. Preallocation means
// stores into the mapping never hit an unallocated block (which would be SIGBUS on a full disk
// rather than an error). An existing file's entries are its whole entries, fileSize / entrySize.
// With maxBytes 0 (the log's fallback on a full disk) a new index reserves and maps nothing and
// is full from the start.
//
// Open, read-only (sealed segments): the file is mapped read-only at its size (an empty file is
// not mapped) and its descriptor closed; the entries are again fileSize / entrySize.
//
// Append: one writer (the log's appender) stores the entry's bytes in the index's tail, a
// 1 KiB heap buffer of its latest entries, then publishes the new count with an atomic store;
// a full tail is copied into the mapping and replaced (Sync, Seal and Close copy it too), so
// that the mapped pages take one store per 1 KiB of entries: a store into a page that a syncfs
// wrote back takes a page fault, about 3 µs on ext4 (file.go, tailBytes). Readers load the
// count once and search only below it, reading each entry from the tail if it holds it, else
// from the mapping, so any number of them may run concurrently with the writer without locks,
// never seeing a half-written entry. TruncateTo and Reset only lower the count, and the following
// appends reuse the dropped slots (Seal and Close cut them from the file), so they must not run
// concurrently with readers: the log truncates under its exclusive lock.
//
// Sync: the tail copied into the mapping, then msync(MS_SYNC) of the entries' pages, on Linux
// a ranged fdatasync of the mapped file.
//
// Seal (the segment rolls): reopen the file by its path (if it is still the same file there:
// same device and inode), trim it to count*entrySize with ftruncate, fdatasync (one call makes
// both the entries and the new size durable) and close that descriptor. The mapping is kept, so
// readers holding the index keep working: the file now ends before the mapping does, but
// readers never read past the count, and touching a page past the end of the file is what
// would fault. A file is never shrunk below a count a reader may have loaded. An index that
// maps nothing has nothing to trim and is left alone: nothing pins its file, whose inode number
// may already belong to a new file at the same path, and cutting that file would leave the new
// file's writer storing past its end (SIGBUS).
//
// Close: a writable index that was not sealed is trimmed and synced as by Seal (a clean close
// leaves files exactly as Kafka's), then unmapped. No reader may use an index during or after
// Close: the segment's reference count guarantees that. CloseUnsynced trims without the
// fdatasync, for a caller that syncs the whole file system (syncfs) once after closing many
// indexes (segment's LogDir.Close at shutdown): the ftruncate and the entries are in the page
// cache and the journal until then, so the caller must not rely on them before its syncfs.
//
// # Crashes
//
// Indexes are derived data, rebuilt from the .log when in doubt; nothing in them is checksummed.
// After an unclean stop an index may be at its preallocated size with a zero tail, may miss
// entries that were never synced, or may hold entries past the log's end. So the log rebuilds
// the indexes of every segment past the recovery point (it rescans those segments anyway), and
// may run SanityCheck on the others. SanityCheck detects what Append could not have written: a
// size that is not a whole number of entries, offsets (and, in the time index, timestamps) that
// do not increase, positions that decrease, fields beyond int32. A zero-filled preallocated tail
// always fails it (its first zero entry does not increase), unless the index held no entries
// and had room for just one. SanityCheck cannot see the log: the caller also checks that the
// last entry's offset and position lie within the segment.
package index
