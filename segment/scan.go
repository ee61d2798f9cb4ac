package segment

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
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

// ScanOptions says how Scan checks a segment file.
type ScanOptions struct {
	// NextBase is the base offset of the segment after this one, which every offset must lie
	// below; 0 when there is none.
	NextBase int64
	// CRC checks every batch's CRC-32C too, as recovery after a crash and the full startup
	// scan do.
	CRC bool
	// Batch, if not nil, sees every good batch: its position, header and bytes (valid until
	// it returns). An error from it ends the scan and is returned.
	Batch func(pos int64, h BatchHeader, batch []byte) error
}

// ScanResult is what Scan found in a segment file.
type ScanResult struct {
	Batches int   // good batches
	End     int64 // where they end: recovery cuts the file here
	Size    int64 // the file's size
	// NextOffset is the offset after the last good batch (the base offset when none).
	NextOffset int64
	// Stop is why the good batches end before Size: ErrZeroedTail, or what is wrong with the
	// batch at End (wrapping ErrShortBatch, ErrInvalidBatch, ErrUnsupportedMagic or
	// ErrCorruptBatch); nil when End == Size.
	Stop error
}

// Scan reads the segment file at path, named by its base offset (<20 digits>.log), batch by
// batch with the checks recovery applies (doc.go, "What a reader checks"), through the same
// code, and reports where the good batches end and why: what recovery would keep. It only
// reads the file (runnel dump-log uses it on a stopped broker's data).
func Scan(path string, opts ScanOptions) (ScanResult, error) {
	base, ok := parseSegmentFileName(filepath.Base(path), logSuffix)
	if !ok {
		return ScanResult{}, fmt.Errorf("segment: %s is not a segment file name (<20-digit base offset>%s)", path, logSuffix)
	}
	f, err := os.Open(path)
	if err != nil {
		return ScanResult{}, fmt.Errorf("segment: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return ScanResult{}, fmt.Errorf("segment: %w", err)
	}
	upper := opts.NextBase
	if upper <= 0 {
		upper = math.MaxInt64
	}
	var w batchWalk
	w.r.initFD(int(f.Fd()), info.Size(), make([]byte, scanBufferSize))
	w.base, w.upper, w.prevLast, w.anchor = base, upper, -1, -1
	res := ScanResult{Size: info.Size(), NextOffset: base}
	end, batches, why, err := scanBatches(&w, opts.CRC, func(pos int64, h BatchHeader) error {
		res.NextOffset = h.LastOffset() + 1
		if opts.Batch == nil {
			return nil
		}
		b, err := w.r.peek(pos, h.Size())
		if err != nil {
			return err
		}
		return opts.Batch(pos, h, b)
	})
	if err != nil {
		return res, fmt.Errorf("segment: scanning %s at %d: %w", path, end, err)
	}
	res.Batches, res.End, res.Stop = batches, end, why
	return res, nil
}
