package segment_test

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"runnel/segment"
)

// TestFullScan damages batches below the recovery point of two logs (a bit flip the CRC
// catches; a base offset the CRC does not cover) and reopens the directory after a clean
// shutdown. The default open reads only each log's last segment and finds nothing; the full
// scan reads every segment, reports each damage with file, position and offset, keeps it (no
// acknowledged batch is cut), and reads at it fail with ErrCorruptLog, counted by the directory.
func TestFullScan(t *testing.T) {
	path := t.TempDir()
	d := openTestLogDir(t, path)
	crcTP := segment.TopicPartition{Topic: "crc", Partition: 0}
	offTP := segment.TopicPartition{Topic: "offsets", Partition: 3}
	cleanTP := segment.TopicPartition{Topic: "clean", Partition: 0}
	for i, tp := range []segment.TopicPartition{crcTP, offTP, cleanTP} {
		l, err := d.Create(tp, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		fillLog(t, l, 200, int64(i))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	stored := map[segment.TopicPartition][]storedBatch{}
	for _, tp := range []segment.TopicPartition{crcTP, offTP, cleanTP} {
		stored[tp] = storedBatches(t, filepath.Join(path, tp.DirName()))
	}
	firstSegment := func(tp segment.TopicPartition) []storedBatch {
		var out []storedBatch
		for _, b := range stored[tp] {
			if b.file == stored[tp][0].file {
				out = append(out, b)
			}
		}
		return out
	}
	crcVictim := firstSegment(crcTP)[5]
	flipBit(t, crcVictim.file, crcVictim.pos+int64(len(crcVictim.bytes))-2)
	offVictim := firstSegment(offTP)[7]
	raised := make([]byte, 8)
	binary.BigEndian.PutUint64(raised, uint64(header(offVictim.bytes).BaseOffset+1))
	writeAt(t, offVictim.file, offVictim.pos, raised)

	segmentsOf := func(tp segment.TopicPartition) int {
		files, _ := filepath.Glob(filepath.Join(path, tp.DirName(), "*.log"))
		return len(files)
	}
	scanOf := func(r segment.ScanReport, tp segment.TopicPartition) segment.LogScan {
		for _, l := range r.Logs {
			if l.Partition == tp {
				return l
			}
		}
		t.Fatalf("no %v in the scan report", tp)
		return segment.LogScan{}
	}

	// The default: after a clean shutdown, the last segments' headers only.
	d, err := segment.OpenLogDir(path, logDirConfig, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	r := d.ScanReport()
	if segments, _, damaged := r.Totals(); r.Mode != segment.ScanFromRecoveryPoint || segments != 3 || damaged != 0 {
		t.Fatalf("default scan: mode %v, %d segments, %d damaged; want recovery-point, 3, 0", r.Mode, segments, damaged)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	logger, logs := captureLogger()
	d, err = segment.OpenLogDir(path, logDirConfig, logger, segment.WithScan(segment.ScanFull))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r = d.ScanReport()
	if r.Mode != segment.ScanFull {
		t.Fatalf("mode %v, want full", r.Mode)
	}
	for _, tc := range []struct {
		tp     segment.TopicPartition
		victim *storedBatch // nil: undamaged
		// Where the damage is reported: the raised base offset shows only against the
		// batch after it, so the pair's first is reported.
		reason string
	}{
		{crcTP, &crcVictim, "CRC"},
		{offTP, &offVictim, "does not follow"},
		{cleanTP, nil, ""},
	} {
		ls := scanOf(r, tc.tp)
		if ls.Segments != segmentsOf(tc.tp) {
			t.Errorf("%v: %d segments scanned, want %d", tc.tp, ls.Segments, segmentsOf(tc.tp))
		}
		if tc.victim == nil {
			if len(ls.Damage) != 0 || ls.Batches != len(stored[tc.tp]) {
				t.Errorf("%v: %d batches, damage %v; want %d, none", tc.tp, ls.Batches, ls.Damage, len(stored[tc.tp]))
			}
			continue
		}
		if len(ls.Damage) != 1 {
			t.Fatalf("%v: damage %+v, want one", tc.tp, ls.Damage)
		}
		dmg := ls.Damage[0]
		h := header(tc.victim.bytes)
		if dmg.File != tc.victim.file || dmg.Position != tc.victim.pos || dmg.Offset != h.BaseOffset || dmg.Cut || !strings.Contains(dmg.Reason, tc.reason) {
			t.Errorf("%v: damage %+v, want %s at %d, offset %d, kept, reason with %q", tc.tp, dmg, tc.victim.file, tc.victim.pos, h.BaseOffset, tc.reason)
		}
		// Every other batch was scanned (the damaged segment up to the damage).
		if ls.Batches >= len(stored[tc.tp]) {
			t.Errorf("%v: %d batches scanned of %d, past the damage", tc.tp, ls.Batches, len(stored[tc.tp]))
		}
		// Kept: nothing was cut; reads at the damage fail, around it serve what was written.
		l := d.Logs()[tc.tp]
		last := header(stored[tc.tp][len(stored[tc.tp])-1].bytes)
		if l.EndOffset() != last.LastOffset()+1 {
			t.Errorf("%v: EndOffset %d, want %d (nothing cut)", tc.tp, l.EndOffset(), last.LastOffset()+1)
		}
		before := d.DamageFound()
		if _, err := l.Read(h.BaseOffset, 1<<20, segment.ReadOptions{MinOneBatch: true}); !errors.Is(err, segment.ErrCorruptLog) {
			t.Errorf("%v: Read(%d) at the damage: %v, want ErrCorruptLog", tc.tp, h.BaseOffset, err)
		}
		if d.DamageFound() != before+1 {
			t.Errorf("%v: DamageFound %d, want %d", tc.tp, d.DamageFound(), before+1)
		}
		failed := checkReads(t, l, stored[tc.tp])
		for i, b := range stored[tc.tp] {
			if failed[i] && b.file != tc.victim.file {
				t.Errorf("%v: reads at batch %d in an undamaged segment failed", tc.tp, i)
			}
		}
	}
	for _, want := range []string{"scan found damage below the recovery point", "segment: scanned log", "segment: startup scan done", "mode=full", "damaged=2"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log output lacks %q:\n%s", want, logs.String())
		}
	}
}
