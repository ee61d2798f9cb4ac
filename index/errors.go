package index

import "errors"

// The package's errors. Each is returned wrapped with the index file's path (and, for
// ErrCorruptIndex and ErrInvalidEntry, what was wrong); test for them with errors.Is.
var (
	// ErrIndexFull: Append or MaybeAppend found no free slot; the log rolls a new segment.
	ErrIndexFull = errors.New("index: index is full")
	// ErrNotWritable: the index was opened read-only, or has been sealed or closed.
	ErrNotWritable = errors.New("index: index is not writable")
	// ErrCorruptIndex: SanityCheck found entries that Runnel or Kafka could not have written.
	// Indexes are derived data: the log rebuilds a corrupt index from its segment.
	ErrCorruptIndex = errors.New("index: corrupt index")
	// ErrInvalidEntry: an appended entry is out of order (offset not after the last entry's,
	// position before the last entry's) or outside the segment (offset below the base offset,
	// relative offset or position beyond MaxRelativeOffset/MaxPosition). It means a bug in the
	// caller, not bad data on disk.
	ErrInvalidEntry = errors.New("index: invalid index entry")
)
