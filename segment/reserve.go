package segment

// ReservedBytes is the disk a log with this config takes before it holds
// any data: its first segment's offset and time indexes, made at their full
// size when the log is created, and the first preallocation of its active
// segment, at its first append. The broker caps what auto-created topics
// may reserve with it.
func (c Config) ReservedBytes() int64 {
	return 2*int64(c.SegmentIndexBytes) + c.preallocateChunk()
}
