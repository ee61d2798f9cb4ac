package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
	"runnel/segment"
)

// recordValue is the value of the record at offset n: 100 bytes that name it.
func recordValue(n int64) []byte { return fmt.Appendf(nil, "record %-93d", n) }

// TestFetchDamagedSegment reproduces a reported damage: a huge length field written in the middle
// of a sealed segment, found after a clean restart (so recovery trusts the files). A fetch at
// the damaged batch used to serve the next segment's records (a fetch at 285 got 390); it is
// answered CORRUPT_MESSAGE, counted in runnel_log_damaged_reads_total, and a consumer from the
// start gets every record before the damage, in order, then the error: nothing skipped. The
// broker restarts on the directory afterwards, with the full startup scan too.
func TestFetchDamagedSegment(t *testing.T) {
	dir := t.TempDir()
	settings := []string{"log.dirs=" + dir, "log.segment.bytes=16384", "runnel.admin.listener=127.0.0.1:0"}
	b := brokertest.Start(t, settings...)
	if _, err := b.Admin(t).CreateTopic(ctx(t), 1, 1, nil, "damaged"); err != nil {
		t.Fatal(err)
	}
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := range 60 {
		var recs []*kgo.Record
		for j := range 10 {
			recs = append(recs, &kgo.Record{Topic: "damaged", Value: recordValue(int64(i*10 + j))})
		}
		if err := cl.ProduceSync(ctx(t), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	files, _ := filepath.Glob(filepath.Join(dir, "damaged-0", "*.log"))
	sort.Strings(files)
	if len(files) < 3 {
		t.Fatalf("%d segments, want 3 or more", len(files))
	}
	data, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	var positions []int
	for pos := 0; pos+segment.BatchHeaderSize <= len(data); pos += int(binary.BigEndian.Uint32(data[pos+8:])) + 12 {
		positions = append(positions, pos)
	}
	victimPos := positions[len(positions)/2]
	victim, err := segment.ParseBatchHeader(data[victimPos:])
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(files[1], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x7f, 0xff, 0, 0}, int64(victimPos)+8); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b = brokertest.Start(t, settings...)
	// A fetch at the damaged batch: CORRUPT_MESSAGE, no records.
	at := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"damaged": {0: kgo.NewOffset().At(victim.BaseOffset)}}),
		kgo.KeepRetryableFetchErrors())
	fs := at.PollFetches(ctx(t))
	if n := fs.NumRecords(); n != 0 {
		t.Fatalf("fetch at the damage (offset %d) served %d records, first at %d", victim.BaseOffset, n, fs.Records()[0].Offset)
	}
	if err := fs.Err0(); !errors.Is(err, kerr.CorruptMessage) {
		t.Fatalf("fetch at the damage: %v, want CORRUPT_MESSAGE", err)
	}

	// From the start: every record before the damage, in order, then the error.
	from := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"damaged": {0: kgo.NewOffset().AtStart()}}),
		kgo.KeepRetryableFetchErrors())
	next := int64(0)
	for {
		fs := from.PollFetches(ctx(t))
		for _, r := range fs.Records() {
			if r.Offset != next || string(r.Value) != string(recordValue(next)) {
				t.Fatalf("record at %d (%q), want offset %d", r.Offset, r.Value, next)
			}
			next++
		}
		if err := fs.Err0(); err != nil {
			if !errors.Is(err, kerr.CorruptMessage) {
				t.Fatalf("consuming from the start: %v, want CORRUPT_MESSAGE", err)
			}
			break
		}
	}
	if next > victim.BaseOffset {
		t.Fatalf("consumed up to %d, past the damage at %d", next, victim.BaseOffset)
	}

	_, text := httpGet(t, "http://"+b.AdminAddr().String()+"/metrics")
	if v := metricValue(t, text, "runnel_log_damaged_reads_total"); v < 2 {
		t.Errorf("runnel_log_damaged_reads_total = %v, want 2 or more", v)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The broker restarts on the damaged directory, the full scan reporting (not cutting) it.
	b = brokertest.Start(t, append(settings, "runnel.log.recovery.scan=full")...)
	offs, err := b.Admin(t).ListEndOffsets(context.Background(), "damaged")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("damaged", 0); o.Offset != 600 {
		t.Fatalf("end offset after a full scan: %d, want 600 (nothing cut)", o.Offset)
	}
}
