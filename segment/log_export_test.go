package segment

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
