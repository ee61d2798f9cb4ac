package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"runnel/segment"
	"runnel/segment/segmenttest"
)

// writeSegment writes a partition log of three batches with the segment
// package, closes it cleanly, and returns the partition directory.
func writeSegment(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := segment.DefaultConfig()
	cfg.IndexIntervalBytes = 1 // an index entry for every batch after the first
	cfg.SegmentIndexBytes = 1200
	cfg.PreallocateBytes = 1 << 16
	l, err := segment.OpenLog(dir, segment.TopicPartition{Topic: "t", Partition: 0}, cfg, 0, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	keyed := []segmenttest.Record{{Key: []byte("k"), Value: []byte("v"), Headers: []segment.RecordHeader{{Key: "h1", Value: []byte("x")}, {Key: "h2"}}}}
	for _, b := range [][]byte{
		segmenttest.Batch(segmenttest.Values("a", "b"), segmenttest.Timestamp(1000)),
		segmenttest.Batch(keyed, segmenttest.Timestamp(2000), segmenttest.Compression(segment.CodecGzip)),
		segmenttest.Batch(segmenttest.Values("c", "d"), segmenttest.Timestamp(3000), segmenttest.Producer(7, 1, 0)),
	} {
		if _, err := l.Append(b, segment.AppendOptions{LeaderEpoch: 4}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

const base = "00000000000000000000"

func TestDumpLog(t *testing.T) {
	dir := writeSegment(t)
	logPath := filepath.Join(dir, base+".log")
	out := mustRun(t, "", "dump-log", "--files", logPath, "--print-data-log")
	b := `isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: `
	matchLines(t, "dump-log --print-data-log", out, []string{
		`^Dumping ` + logPath + `$`,
		`^Log starting offset: 0$`,
		`^baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 4 ` + b + `0 CreateTime: 1000 size: 77 magic: 2 compresscodec: none crc: \d+ isvalid: true$`,
		`^\| offset: 0 CreateTime: 1000 keySize: -1 valueSize: 1 sequence: -1 headerKeys: \[\] payload: a$`,
		`^\| offset: 1 CreateTime: 1000 keySize: -1 valueSize: 1 sequence: -1 headerKeys: \[\] payload: b$`,
		`^baseOffset: 2 lastOffset: 2 count: 1 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 4 ` + b + `77 CreateTime: 2000 size: \d+ magic: 2 compresscodec: gzip crc: \d+ isvalid: true$`,
		`^\| offset: 2 CreateTime: 2000 keySize: 1 valueSize: 1 sequence: -1 headerKeys: \[h1,h2\] key: k payload: v$`,
		`^baseOffset: 3 lastOffset: 4 count: 2 baseSequence: 0 lastSequence: 1 producerId: 7 producerEpoch: 1 partitionLeaderEpoch: 4 ` + b + `\d+ CreateTime: 3000 size: 77 magic: 2 compresscodec: none crc: \d+ isvalid: true$`,
		`^\| offset: 3 CreateTime: 3000 keySize: -1 valueSize: 1 sequence: 0 headerKeys: \[\] payload: c$`,
		`^\| offset: 4 CreateTime: 3000 keySize: -1 valueSize: 1 sequence: 1 headerKeys: \[\] payload: d$`,
	})
	// Without --print-data-log: batches only; --deep-iteration: records without data.
	if out := mustRun(t, "", "dump-log", logPath); strings.Count(out, "\n") != 5 || strings.Contains(out, "| offset") {
		t.Errorf("dump-log without data:\n%s", out)
	}
	if out := mustRun(t, "", "dump-log", "--deep-iteration", logPath); strings.Count(out, "| offset") != 5 || strings.Contains(out, "payload") {
		t.Errorf("dump-log --deep-iteration:\n%s", out)
	}

	indexPath, timePath := filepath.Join(dir, base+".index"), filepath.Join(dir, base+".timeindex")
	out = mustRun(t, "", "dump-log", "--files", indexPath+","+timePath)
	matchLines(t, "dump-log of the indexes", out, []string{
		`^Dumping ` + indexPath + `$`,
		`^offset: 2 position: 77$`,
		`^offset: 4 position: \d+$`,
		`^` + indexPath + `: 2 entries match the log$`,
		`^Dumping ` + timePath + `$`,
		`^timestamp: 2000 offset: 2$`,
		`^timestamp: 3000 offset: 4$`,
		`^` + timePath + `: 2 entries match the log$`,
	})
	if out := mustRun(t, "", "dump-log", "--verify-index-only", indexPath, timePath); strings.Contains(out, "offset: 2") {
		t.Errorf("--verify-index-only listed entries:\n%s", out)
	}
	if out := mustRun(t, "", "dump-log", "--index-sanity-check", indexPath, timePath); strings.Count(out, "passed sanity check.") != 2 {
		t.Errorf("--index-sanity-check:\n%s", out)
	}
	if out := mustRun(t, "", "dump-log", filepath.Join(dir, "leader-epoch-checkpoint")); !strings.HasPrefix(out, "Ignoring unknown file") {
		t.Errorf("unknown file: %q", out)
	}
	mustFail(t, "", "not a segment file name", "dump-log", filepath.Join(dir, "x.log"))
	mustFail(t, "", "no such file", "dump-log", filepath.Join(dir, "00000000000000000009.log"))
}

// TestDumpLogFindsDamage: corruption makes dump-log say where and exit 1;
// a zeroed (preallocated) tail does not.
func TestDumpLogFindsDamage(t *testing.T) {
	edit := func(t *testing.T, dir, name string, change func([]byte) []byte) string {
		t.Helper()
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, change(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name    string
		file    string
		change  func([]byte) []byte
		args    []string
		want    string
		problem bool
	}{
		{"flipped byte", base + ".log", func(b []byte) []byte { b[77+70] ^= 0xff; return b }, nil,
			"compresscodec: gzip crc: ", true},
		{"garbage tail", base + ".log", func(b []byte) []byte { return append(b, "garbage"...) }, nil,
			"Found 7 invalid bytes at the end of", true},
		{"cut batch", base + ".log", func(b []byte) []byte { return b[:len(b)-3] }, nil,
			"a batch of 77 bytes cut at 74", true},
		{"zeroed tail", base + ".log", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, nil,
			"Found 4096 zero bytes at the end of", false},
		{"index position", base + ".index", func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], 10); return b }, nil,
			"Index offset: 2, position 10 is not the start of a batch", true},
		{"index offset", base + ".index", func(b []byte) []byte { binary.BigEndian.PutUint32(b[0:], 1); return b }, nil,
			"Index offset: 1, log offset: 2", true},
		{"time index timestamp", base + ".timeindex", func(b []byte) []byte { binary.BigEndian.PutUint64(b[12:], 2500); return b }, nil,
			"Index timestamp: 2500, log timestamp: 3000 (offset 4)", true},
		{"time index order", base + ".timeindex", func(b []byte) []byte { binary.BigEndian.PutUint64(b[0:], 3000); return b }, nil,
			"Index timestamp: 3000 is not above the previous entry's 3000", true},
		{"index sanity", base + ".index", func(b []byte) []byte { return append(b[8:16:16], b[0:8]...) }, []string{"--index-sanity-check"},
			"failed sanity check", true},
		{"unused slots", base + ".index", func(b []byte) []byte { return append(b, make([]byte, 80)...) }, nil,
			"10 unused slots after the entries", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := edit(t, writeSegment(t), tc.file, tc.change)
			r := runTool(t, nil, "", append(append([]string{"dump-log", "--print-data-log"}, tc.args...), path)...)
			if !strings.Contains(r.stdout, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, r.stdout)
			}
			if got := r.code != 0; got != tc.problem || tc.problem && !strings.Contains(r.stderr, "problems found in "+path) {
				t.Errorf("exit %d, stderr %q; want a problem reported: %t", r.code, r.stderr, tc.problem)
			}
		})
	}
	// The base offsets are not covered by the CRC: dump-log used to call
	// both batches valid, where recovery cuts at the first of them.
	t.Run("offsets out of order are what recovery cuts", func(t *testing.T) {
		path := edit(t, writeSegment(t), base+".log", func(b []byte) []byte {
			third := 77 + int(binary.BigEndian.Uint32(b[77+8:])) + 12
			binary.BigEndian.PutUint64(b[third:], 2)
			return b
		})
		r := runTool(t, nil, "", "dump-log", path)
		if !regexp.MustCompile(`position: 77 .* isvalid: false\n\| invalid batch: .*does not follow`).MatchString(r.stdout) ||
			!strings.Contains(r.stdout, "Recovery would cut "+path+" at position 77 (offset 2)") || r.code == 0 {
			t.Errorf("exit %d, output:\n%s", r.code, r.stdout)
		}
	})
	t.Run("flipped byte is invalid", func(t *testing.T) {
		path := edit(t, writeSegment(t), base+".log", func(b []byte) []byte { b[77+70] ^= 0xff; return b })
		r := runTool(t, nil, "", "dump-log", "--print-data-log", path)
		if !strings.Contains(r.stdout, "position: 77 CreateTime: 2000") || !strings.Contains(r.stdout, "isvalid: false\n| invalid batch:") ||
			!strings.Contains(r.stdout, "payload: c") {
			t.Errorf("a bad CRC must mark that batch invalid and go on:\n%s", r.stdout)
		}
	})
}

// TestDumpLogSnapshot prints a producer-state snapshot as kafka-dump-log.sh does, and reports one
// that fails its CRC.
func TestDumpLogSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000000042.snapshot")
	entries := []segment.ProducerSnapshotEntry{
		{ProducerID: 7, Epoch: 1, LastSequence: 9, LastOffset: 41, OffsetDelta: 4, Timestamp: 5000, CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1},
		{ProducerID: 8, Epoch: 2, LastSequence: -1, LastOffset: -1, Timestamp: 6000, CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1},
	}
	data := segment.AppendProducerSnapshot(nil, entries)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "", "dump-log", "--files", path)
	matchLines(t, "dump-log of a snapshot", out, []string{
		`^Dumping ` + path + `$`,
		`^producerId: 7 producerEpoch: 1 coordinatorEpoch: -1 currentTxnFirstOffset: None lastTimestamp: 5000 firstSequence: 5 lastSequence: 9 lastOffset: 41 offsetDelta: 4 timestamp: 5000$`,
		`^producerId: 8 producerEpoch: 2 coordinatorEpoch: -1 currentTxnFirstOffset: None lastTimestamp: 6000 $`,
	})
	data[len(data)-1] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mustFail(t, "", "problems found", "dump-log", "--files", path)
	if r := runTool(t, nil, "", "dump-log", "--files", path); !strings.Contains(r.stdout, "Invalid snapshot") || !strings.Contains(r.stdout, "CRC") {
		t.Fatalf("corrupt snapshot: output:\n%s", r.stdout)
	}
}
