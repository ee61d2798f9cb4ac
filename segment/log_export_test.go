package segment

import "os"

// Hooks for the external tests (package segment_test), which need segmenttest.

var (
	ParseSegmentFileName = parseSegmentFileName
	SegmentFileName      = segmentFileName
)

const (
	LogSuffix         = logSuffix
	OffsetIndexSuffix = offsetIndexSuffix
	TimeIndexSuffix   = timeIndexSuffix
)

// Abandon drops the log as a process crash would: nothing synced or trimmed.
func (l *Log) Abandon() { l.abandon() }

// SetFallocate replaces the preallocation call (to inject ENOSPC) and returns a function that
// restores it.
func SetFallocate(f func(file *os.File, off, n int64) error) (restore func()) {
	old := fallocate
	fallocate = f
	return func() { fallocate = old }
}

// Abandon drops the directory's logs as a process crash would and releases its lock.
func (d *LogDir) Abandon() { d.abandon() }
