package segment

import (
	"context"
	"fmt"
	"log/slog"
)

// ScanMode says which segments opening a log directory reads batch by batch (doc.go,
// "Recovery").
type ScanMode int

const (
	// ScanFromRecoveryPoint is Kafka's: after an unclean shutdown, the segments that may hold
	// bytes past the recovery point, and always the last one (whose headers are read after a
	// clean shutdown too).
	ScanFromRecoveryPoint ScanMode = iota
	// ScanFull also reads every other segment of every log, whole batches with their CRC-32C,
	// after a clean shutdown too. Damage below the recovery point is reported and kept, not
	// cut (see segment.check).
	ScanFull
)

// String is the mode's name in runnel.log.recovery.scan.
func (m ScanMode) String() string {
	if m == ScanFull {
		return "full"
	}
	return "recovery-point"
}

// ParseScanMode parses a ScanMode's String.
func ParseScanMode(s string) (ScanMode, error) {
	switch s {
	case "recovery-point":
		return ScanFromRecoveryPoint, nil
	case "full":
		return ScanFull, nil
	}
	return 0, fmt.Errorf("%w: recovery scan %q is neither recovery-point nor full", ErrInvalidConfig, s)
}

// Damage is a batch that failed a check during the startup scan.
type Damage struct {
	File     string
	Position int64
	Offset   int64 // the offset the log expected there
	Reason   string
	// Cut is true when recovery cut the segment there (past the recovery point, or in the
	// last segment); false when the damage was kept (below the recovery point) and reads at
	// it fail with ErrCorruptLog.
	Cut bool
}

// LogScan is what opening one log scanned: segments and batches read and checked, and the
// damage found.
type LogScan struct {
	Partition         TopicPartition
	Segments, Batches int
	Damage            []Damage
}

// ScanReport is what opening a log directory scanned, log by log (in the order they were found).
type ScanReport struct {
	Mode ScanMode
	Logs []LogScan
}

// Totals sums the report.
func (r *ScanReport) Totals() (segments, batches, damaged int) {
	for _, l := range r.Logs {
		segments, batches, damaged = segments+l.Segments, batches+l.Batches, damaged+len(l.Damage)
	}
	return segments, batches, damaged
}

// log writes the report: a line per log that had segments scanned (at debug level in the
// default mode unless it found damage), and a summary line. Each damage was logged where it was
// found, with file, position, offset and reason.
func (r *ScanReport) log(logger *slog.Logger, path string) {
	for _, l := range r.Logs {
		if l.Segments == 0 {
			continue
		}
		level := slog.LevelDebug // a line per log at every start is noise unless asked for
		if r.Mode == ScanFull || len(l.Damage) > 0 {
			level = slog.LevelInfo
		}
		logger.Log(context.Background(), level, "segment: scanned log", "topic", l.Partition.Topic, "partition", l.Partition.Partition,
			"segments", l.Segments, "batches", l.Batches, "damaged", len(l.Damage))
	}
	segments, batches, damaged := r.Totals()
	level := slog.LevelInfo
	if damaged > 0 {
		level = slog.LevelError
	}
	logger.Log(context.Background(), level, "segment: startup scan done", "path", path, "mode", r.Mode.String(), "logs", len(r.Logs),
		"segments", segments, "batches", batches, "damaged", damaged)
}
