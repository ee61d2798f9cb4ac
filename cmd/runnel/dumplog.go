package main

// runnel dump-log: Kafka's kafka-dump-log.sh. It reads segment and index
// files directly (no broker), so it works on a stopped broker's data, a
// copy, or a Kafka partition directory.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"runnel/broker/quorum"
	"runnel/index"
	"runnel/segment"
)

func dumpLogCommand() *cobra.Command {
	var (
		files          []string
		printData      bool
		deep           bool
		verifyIndex    bool
		indexSanityChk bool
		metadataLog    bool
		offsetsLog     bool
	)
	cmd := &cobra.Command{
		Use:   "dump-log --files FILE[,FILE...]",
		Short: "Print and check segment (.log) and index (.index, .timeindex) files (kafka-dump-log.sh)",
		Long: `Read partition files directly, without a broker, as kafka-dump-log.sh does.

A .log segment: a line per record batch with its base and last offsets,
position, size, producer fields, codec, CRC and whether the batch is valid,
that is, whether recovery would keep it: the file is read with the code
recovery uses (CRC-32C, lengths within the file, base offsets increasing
and below the next segment's in the same directory). Where recovery would
cut the file, the output says so and why, and lists what it would remove.
With --print-data-log (or --deep-iteration, without the data) a line per
record under each batch. Zeros at the end are the preallocated, not yet
written part of an active segment; anything else is a torn or corrupt
tail.

An .index or .timeindex file: its entries, each checked against the
segment beside it (same base name, .log): an offset index entry must
point at the position of the batch whose last offset it names, a time
index entry must name a batch whose max timestamp it holds, and
timestamps must increase. --verify-index-only checks without listing;
--index-sanity-check only checks the index file itself (order, sizes).

A .snapshot file (idempotent producer state at the offset in its name):
a line per producer, as kafka-dump-log.sh prints it; a snapshot that
fails its CRC or does not parse is reported.

A segment of __consumer_offsets with --offsets-decoder: each record's key
and value decoded (as the group coordinator decodes them at startup), as
kafka-dump-log.sh prints them: an offset commit's group, topic, partition,
offset, leader epoch, metadata and timestamps; group metadata's protocol
type, generation, protocol, leader and members with the sizes of their
subscription and assignment; a tombstone's payload as <DELETE>.

A segment the log cleaner has written has gaps between offsets, and a
batch whose tombstones it has kept shows the time after which it will
drop them (deleteHorizonMs, KIP-534).

The controller quorum's metadata log (__cluster_metadata-0, or any
segment with --cluster-metadata-decoder): under each batch, the Raft entry
it holds (index, term, type) and, for a normal entry, its metadata records
as JSON, a "payload" line each (a configuration change is described as
Raft describes it). A <index>-<term>.checkpoint file is a snapshot of the
metadata: its batch, then the index, term and voters it covers and the
records of the image. A quorum-state file (the Raft vote and term) is
JSON and printed as it is.

The exit status is 1 when any file has an invalid batch, a corrupt tail
or an index mismatch.`,
		Example: `  runnel dump-log --files data/test-0/00000000000000000000.log
  runnel dump-log --files data/test-0/00000000000000000000.log --print-data-log
  runnel dump-log --files data/test-0/00000000000000000000.index,data/test-0/00000000000000000000.timeindex --verify-index-only
  runnel dump-log --offsets-decoder --files data/__consumer_offsets-0/00000000000000000000.log
  runnel dump-log --cluster-metadata-decoder --files data/__cluster_metadata-0/00000000000000000000.log
  runnel dump-log --files data/__cluster_metadata-0/00000000000000000420-0000000003.checkpoint --print-data-log`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files = append(files, args...)
			if len(files) == 0 {
				return errors.New("give the files to dump with --files")
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			printData = printData || metadataLog || offsetsLog
			d := dumper{w: w, printData: printData, deep: deep || printData, verifyOnly: verifyIndex,
				sanityOnly: indexSanityChk, metadataLog: metadataLog, offsetsLog: offsetsLog}
			var bad []string
			for _, file := range files {
				ok, err := d.dump(file)
				if err != nil {
					return errors.Join(w.Flush(), err)
				}
				if !ok {
					bad = append(bad, file)
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(bad) > 0 {
				return fmt.Errorf("dump-log: problems found in %s", strings.Join(bad, ", "))
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(flagErrorHint)
	f := cmd.Flags()
	f.StringSliceVar(&files, "files", nil, "comma-separated .log, .index, .timeindex, .snapshot, .checkpoint and quorum-state files (repeatable)")
	f.BoolVar(&printData, "print-data-log", false, "print each record, with its key and value")
	f.BoolVar(&deep, "deep-iteration", false, "decode each record (implied by --print-data-log)")
	f.BoolVar(&verifyIndex, "verify-index-only", false, "check index files against their segment without listing entries")
	f.BoolVar(&indexSanityChk, "index-sanity-check", false, "only check each index file's own structure")
	f.BoolVar(&metadataLog, "cluster-metadata-decoder", false, "decode .log files as the metadata log (implied in a __cluster_metadata-0 directory); implies --print-data-log")
	f.BoolVar(&offsetsLog, "offsets-decoder", false, "decode records as __consumer_offsets' offset commits and group metadata; implies --print-data-log")
	return cmd
}

// dumper prints files and counts what is wrong with them.
type dumper struct {
	w                      io.Writer
	printData, deep        bool
	verifyOnly, sanityOnly bool
	metadataLog            bool // --cluster-metadata-decoder
	offsetsLog             bool // --offsets-decoder
	// records prints the records of a valid batch under --deep-iteration
	// (nil: none), as the file being dumped holds them; false if they do
	// not decode.
	records func(h segment.BatchHeader, batch []byte) bool
}

// dump prints one file; ok is false when the file has problems (reported
// in the output), err is for files that cannot be read at all.
func (d *dumper) dump(path string) (ok bool, err error) {
	name := filepath.Base(path)
	switch {
	case name == quorum.StateFile:
		return d.dumpQuorumState(path)
	case strings.HasSuffix(name, quorum.SnapshotSuffix):
		return d.dumpQuorumSnapshot(path)
	}
	suffix := filepath.Ext(name)
	digits := strings.TrimSuffix(name, suffix)
	base, perr := strconv.ParseInt(digits, 10, 64)
	if !slices.Contains([]string{".log", ".index", ".timeindex", segment.SnapshotSuffix}, suffix) {
		fmt.Fprintf(d.w, "Ignoring unknown file %s\n", path)
		return true, nil
	}
	if len(digits) != 20 || perr != nil || base < 0 {
		return false, fmt.Errorf("%s: not a segment file name (<20-digit base offset>%s)", path, suffix)
	}
	fmt.Fprintf(d.w, "Dumping %s\n", path)
	switch suffix {
	case ".log":
		fd := *d
		fd.records = fd.dumpRecords
		if d.metadataLog || filepath.Base(filepath.Dir(path)) == quorum.Partition.DirName() {
			fd.records = fd.dumpEntry
		}
		return fd.dumpLog(path, base)
	case ".index":
		return d.dumpOffsetIndex(path, base)
	case segment.SnapshotSuffix:
		return d.dumpSnapshot(path)
	default:
		return d.dumpTimeIndex(path, base)
	}
}

// batchRef is what index checks need to know of a batch.
type batchRef struct {
	pos                    int64
	baseOffset, lastOffset int64
	maxTimestamp           int64
}

// logTail describes the bytes after the last whole batch of a segment.
type logTail struct {
	pos, size int64
	zeroed    bool   // all zeros: preallocated space
	why       string // what stopped the scan, for non-zeroed tails
}

// scanLog calls visit for each batch of the segment at path from position
// start, in order, with its position, header, bytes (valid until the next
// call) and the result of its CRC check; it stops at the first bytes that
// are not a whole batch and describes them. It checks no more than that:
// segment.Scan decides what recovery keeps, and scanLog lists what follows.
func scanLog(path string, start int64, visit func(pos int64, h segment.BatchHeader, batch []byte, crcErr error)) (logTail, error) {
	f, err := os.Open(path)
	if err != nil {
		return logTail{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return logTail{}, err
	}
	size := st.Size()
	buf := make([]byte, segment.BatchHeaderSize)
	pos := start
	for pos < size {
		if size-pos < segment.BatchHeaderSize {
			return describeTail(f, pos, size, "a partial batch header")
		}
		if _, err := f.ReadAt(buf[:segment.BatchHeaderSize], pos); err != nil {
			return logTail{}, err
		}
		h, err := segment.ParseBatchHeader(buf[:segment.BatchHeaderSize])
		if err != nil {
			return describeTail(f, pos, size, err.Error())
		}
		n := int64(h.Size())
		if pos+n > size {
			return describeTail(f, pos, size, fmt.Sprintf("a batch of %d bytes cut at %d", n, size-pos))
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		batch := buf[:n]
		if _, err := f.ReadAt(batch, pos); err != nil {
			return logTail{}, err
		}
		_, crcErr := segment.ValidateBatch(batch)
		visit(pos, h, batch, crcErr)
		pos += n
	}
	return logTail{pos: size}, nil
}

// describeTail reads [pos, size) of f to tell preallocated zeros from
// garbage.
func describeTail(f *os.File, pos, size int64, why string) (logTail, error) {
	t := logTail{pos: pos, size: size - pos, zeroed: true, why: why}
	chunk := make([]byte, 1<<20)
	for off := pos; off < size && t.zeroed; {
		n, err := f.ReadAt(chunk[:min(int64(len(chunk)), size-off)], off)
		if n == 0 && err != nil {
			return logTail{}, err
		}
		t.zeroed = !slices.ContainsFunc(chunk[:n], func(b byte) bool { return b != 0 })
		off += int64(n)
	}
	return t, nil
}

var codecNames = map[int]string{
	segment.CodecNone: "none", segment.CodecGzip: "gzip", segment.CodecSnappy: "snappy",
	segment.CodecLZ4: "lz4", segment.CodecZstd: "zstd",
}

func timestampName(h segment.BatchHeader) string {
	if h.TimestampType() == segment.TimestampLogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// errAfterCut marks the batches after the one where recovery would cut.
var errAfterCut = errors.New("after the cut: recovery would remove it")

// dumpLog lists a segment's batches as recovery sees them (segment.Scan,
// the reader recovery uses): the good ones, then, where recovery would cut
// the file, why, and what it would remove. A batch is valid only if
// recovery keeps it.
func (d *dumper) dumpLog(path string, base int64) (bool, error) {
	fmt.Fprintf(d.w, "Log starting offset: %d\n", base)
	ok := true
	res, err := segment.Scan(path, segment.ScanOptions{NextBase: nextSegmentBase(path, base), CRC: true,
		Batch: func(pos int64, h segment.BatchHeader, batch []byte) error {
			ok = d.printBatch(pos, h, batch, nil, nil) && ok
			return nil
		}})
	if err != nil {
		return false, err
	}
	if res.Stop == nil {
		return ok, nil
	}
	// What recovery would remove: zeros (preallocated, expected) or damage.
	tail, err := scanLog(path, res.End, func(pos int64, h segment.BatchHeader, batch []byte, crcErr error) {
		invalid := crcErr
		switch {
		case pos == res.End:
			invalid = res.Stop
		case invalid == nil:
			invalid = errAfterCut
		}
		ok = d.printBatch(pos, h, batch, invalid, crcErr) && ok
	})
	if err != nil {
		return false, err
	}
	if tail.pos > res.End || !tail.zeroed {
		ok = false
		fmt.Fprintf(d.w, "Recovery would cut %s at position %d (offset %d), removing %d bytes: %v\n", path, res.End, res.NextOffset, res.Size-res.End, res.Stop)
	}
	switch {
	case tail.size == 0:
	case tail.zeroed:
		fmt.Fprintf(d.w, "Found %d zero bytes at the end of %s from position %d (preallocated, not yet written)\n", tail.size, path, tail.pos)
	default:
		ok = false
		fmt.Fprintf(d.w, "Found %d invalid bytes at the end of %s from position %d: %s\n", tail.size, path, tail.pos, tail.why)
	}
	return ok, nil
}

// printBatch prints a batch line; invalid says why recovery would not keep
// it (nil: it would), crcErr whether its own CRC matches, in which case its
// records are printed under --deep-iteration. It returns false for an
// invalid batch or records that do not decode.
func (d *dumper) printBatch(pos int64, h segment.BatchHeader, batch []byte, invalid, crcErr error) bool {
	lastSeq := int32(-1)
	if h.BaseSequence >= 0 {
		lastSeq = h.BaseSequence + h.LastOffsetDelta
	}
	codec, known := codecNames[h.Codec()]
	if !known {
		codec = "unknown(" + strconv.Itoa(h.Codec()) + ")"
	}
	horizon := "OptionalLong.empty" // in Java's words, as kafka-dump-log.sh
	if ms, ok := h.DeleteHorizon(); ok {
		horizon = "OptionalLong[" + strconv.FormatInt(ms, 10) + "]"
	}
	fmt.Fprintf(d.w, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %t isControl: %t deleteHorizonMs: %s position: %d %s: %d size: %d magic: %d compresscodec: %s crc: %d isvalid: %t\n",
		h.BaseOffset, h.LastOffset(), h.RecordCount, h.BaseSequence, lastSeq, h.ProducerID, h.ProducerEpoch,
		h.PartitionLeaderEpoch, h.IsTransactional(), h.IsControl(), horizon, pos, timestampName(h), h.MaxTimestamp,
		h.Size(), h.Magic, codec, h.CRC, invalid == nil)
	ok := invalid == nil
	if !ok {
		fmt.Fprintf(d.w, "| invalid batch: %v\n", invalid)
	}
	if crcErr == nil && d.deep && d.records != nil {
		ok = d.records(h, batch) && ok
	}
	return ok
}

// nextSegmentBase is the base offset of the segment after the one at path
// in its directory (its offsets must lie below it), 0 when there is none.
func nextSegmentBase(path string, base int64) int64 {
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), strings.Repeat("[0-9]", 20)+".log"))
	next := int64(0)
	for _, f := range files {
		b, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(f), ".log"), 10, 64)
		if err == nil && b > base && (next == 0 || b < next) {
			next = b
		}
	}
	return next
}

// dumpRecords prints the records of a valid batch (with their data under
// --print-data-log, decoded under --offsets-decoder); false if they cannot
// be decoded.
func (d *dumper) dumpRecords(h segment.BatchHeader, batch []byte) bool {
	records, err := segment.Records(batch)
	if err != nil {
		fmt.Fprintf(d.w, "| cannot decode records: %v\n", err)
		return false
	}
	ok := true
	for _, r := range records {
		seq := int64(-1)
		if h.BaseSequence >= 0 {
			seq = int64(h.BaseSequence) + r.Offset - h.BaseOffset
		}
		keys := make([]string, len(r.Headers))
		for i, hd := range r.Headers {
			keys[i] = hd.Key
		}
		fmt.Fprintf(d.w, "| offset: %d %s: %d keySize: %d valueSize: %d sequence: %d headerKeys: [%s]",
			r.Offset, timestampName(h), r.Timestamp, nullableLen(r.Key), nullableLen(r.Value), seq, strings.Join(keys, ","))
		switch {
		case d.printData && d.offsetsLog && !h.IsControl():
			key, payload, err := offsetsRecordText(r.Key, r.Value)
			if err != nil {
				fmt.Fprintf(d.w, " cannot decode: %v", err)
				ok = false
				break
			}
			fmt.Fprintf(d.w, " key: %s payload: %s", key, payload)
		case d.printData:
			if r.Key != nil {
				fmt.Fprintf(d.w, " key: %s", r.Key)
			}
			fmt.Fprintf(d.w, " payload: %s", r.Value)
		}
		fmt.Fprintln(d.w)
	}
	return ok
}

func nullableLen(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// segmentBatches scans the segment beside an index file for the checks.
func segmentBatches(indexPath, suffix string) ([]batchRef, error) {
	logPath := strings.TrimSuffix(indexPath, suffix) + ".log"
	var batches []batchRef
	_, err := scanLog(logPath, 0, func(pos int64, h segment.BatchHeader, _ []byte, _ error) {
		batches = append(batches, batchRef{pos: pos, baseOffset: h.BaseOffset, lastOffset: h.LastOffset(), maxTimestamp: h.MaxTimestamp})
	})
	if err != nil {
		return nil, fmt.Errorf("the segment of %s: %w", indexPath, err)
	}
	return batches, nil
}

// sanityCheck is --index-sanity-check: the index package's own check.
func (d *dumper) sanityCheck(path string, check func() error, closeIndex func() error) bool {
	err := check()
	closeIndex()
	if err != nil {
		fmt.Fprintf(d.w, "%s failed sanity check: %v\n", path, err)
		return false
	}
	fmt.Fprintf(d.w, "%s passed sanity check.\n", path)
	return true
}

// readEntries returns the entries of an index file of entrySize-byte
// entries (index/doc.go) and how many unused slots follow them. An index
// that was not closed cleanly (its broker runs, or crashed) is still
// preallocated: it ends with all-zero slots. An all-zero entry is never a
// real one, since neither Runnel nor Kafka indexes a segment's first batch,
// so the entries end at the first.
func readEntries(path string, entrySize int) (entries [][]byte, unused int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(data)%entrySize != 0 {
		return nil, 0, fmt.Errorf("%s: size %d is not a multiple of %d-byte entries", path, len(data), entrySize)
	}
	zero := make([]byte, entrySize)
	for i := 0; i < len(data); i += entrySize {
		e := data[i : i+entrySize]
		if bytes.Equal(e, zero) {
			return entries, (len(data) - i) / entrySize, nil
		}
		entries = append(entries, e)
	}
	return entries, 0, nil
}

func (d *dumper) dumpOffsetIndex(path string, base int64) (bool, error) {
	if d.sanityOnly {
		x, err := index.OpenOffsetIndex(path, base, 0, false)
		if err != nil {
			return false, err
		}
		return d.sanityCheck(path, x.SanityCheck, x.Close), nil
	}
	entries, unused, err := readEntries(path, index.OffsetEntrySize)
	if err != nil {
		return false, err
	}
	batches, err := segmentBatches(path, ".index")
	if err != nil {
		return false, err
	}
	byPos := make(map[int64]batchRef, len(batches))
	for _, b := range batches {
		byPos[b.pos] = b
	}
	var mismatches []string
	for _, e := range entries {
		offset := base + int64(binary.BigEndian.Uint32(e[0:4]))
		position := int64(binary.BigEndian.Uint32(e[4:8]))
		if !d.verifyOnly {
			fmt.Fprintf(d.w, "offset: %d position: %d\n", offset, position)
		}
		b, found := byPos[position]
		switch {
		case !found:
			mismatches = append(mismatches, fmt.Sprintf("  Index offset: %d, position %d is not the start of a batch", offset, position))
		case b.lastOffset != offset:
			mismatches = append(mismatches, fmt.Sprintf("  Index offset: %d, log offset: %d", offset, b.lastOffset))
		}
	}
	return d.report(path, len(entries), unused, mismatches), nil
}

func (d *dumper) dumpTimeIndex(path string, base int64) (bool, error) {
	if d.sanityOnly {
		x, err := index.OpenTimeIndex(path, base, 0, false)
		if err != nil {
			return false, err
		}
		return d.sanityCheck(path, x.SanityCheck, x.Close), nil
	}
	entries, unused, err := readEntries(path, index.TimeEntrySize)
	if err != nil {
		return false, err
	}
	batches, err := segmentBatches(path, ".timeindex")
	if err != nil {
		return false, err
	}
	var mismatches []string
	prev := int64(index.NoTimestamp)
	for _, e := range entries {
		timestamp := int64(binary.BigEndian.Uint64(e[0:8]))
		offset := base + int64(binary.BigEndian.Uint32(e[8:12]))
		if !d.verifyOnly {
			fmt.Fprintf(d.w, "timestamp: %d offset: %d\n", timestamp, offset)
		}
		i, _ := slices.BinarySearchFunc(batches, offset, func(b batchRef, o int64) int {
			switch {
			case b.lastOffset < o:
				return -1
			case b.baseOffset > o:
				return 1
			}
			return 0
		})
		switch {
		case i == len(batches) || batches[i].baseOffset > offset:
			mismatches = append(mismatches, fmt.Sprintf("  Indexed offset: %d is not in the log", offset))
		case batches[i].maxTimestamp != timestamp:
			mismatches = append(mismatches, fmt.Sprintf("  Index timestamp: %d, log timestamp: %d (offset %d)", timestamp, batches[i].maxTimestamp, offset))
		}
		if timestamp <= prev {
			mismatches = append(mismatches, fmt.Sprintf("  Index timestamp: %d is not above the previous entry's %d", timestamp, prev))
		}
		prev = timestamp
	}
	return d.report(path, len(entries), unused, mismatches), nil
}

// report prints the outcome of an index check.
func (d *dumper) report(path string, entries, unused int, mismatches []string) bool {
	if unused > 0 {
		fmt.Fprintf(d.w, "%d unused slots after the entries (preallocated; a clean close trims them)\n", unused)
	}
	if len(mismatches) == 0 {
		fmt.Fprintf(d.w, "%s: %d entries match the log\n", path, entries)
		return true
	}
	fmt.Fprintf(d.w, "Mismatches in %s:\n%s\n", path, strings.Join(mismatches, "\n"))
	return false
}

// dumpSnapshot prints a producer-state snapshot a line per producer, in
// kafka-dump-log.sh's words; ok is false when it does not read back.
func (d *dumper) dumpSnapshot(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	entries, err := segment.ParseProducerSnapshot(b)
	if err != nil {
		fmt.Fprintf(d.w, "Invalid snapshot: %v\n", err)
		return false, nil
	}
	for _, e := range entries {
		txn := "None"
		if e.CurrentTxnFirstOffset >= 0 {
			txn = strconv.FormatInt(e.CurrentTxnFirstOffset, 10)
		}
		fmt.Fprintf(d.w, "producerId: %d producerEpoch: %d coordinatorEpoch: %d currentTxnFirstOffset: %s lastTimestamp: %d ",
			e.ProducerID, e.Epoch, e.CoordinatorEpoch, txn, e.Timestamp)
		if e.LastOffset >= 0 {
			fmt.Fprintf(d.w, "firstSequence: %d lastSequence: %d lastOffset: %d offsetDelta: %d timestamp: %d",
				e.FirstSequence(), e.LastSequence, e.LastOffset, e.OffsetDelta, e.Timestamp)
		}
		fmt.Fprintln(d.w)
	}
	return true, nil
}
