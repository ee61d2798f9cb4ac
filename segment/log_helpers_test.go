package segment_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand"
	"runnel/segment"
	"testing"

	"runnel/segment/segmenttest"
)

var testTP = segment.TopicPartition{Topic: "t", Partition: 0}

// quietLogger discards log output; tests that check logging capture it themselves.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// smallConfig makes segments, chunks and indexes small so that tests roll and preallocate often.
func smallConfig() segment.Config {
	c := segment.DefaultConfig()
	c.SegmentBytes = 64 << 10
	c.PreallocateBytes = 16 << 10
	c.SegmentIndexBytes = 1024
	c.IndexIntervalBytes = 512
	return c
}

func openTestLog(t testing.TB, dir string, cfg segment.Config, recoveryPoint int64, clean bool) *segment.Log {
	t.Helper()
	l, err := segment.OpenLog(dir, testTP, cfg, recoveryPoint, clean, quietLogger)
	if err != nil {
		t.Fatalf("segment.OpenLog: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// randomBatch returns a valid batch of 1-4 records whose values total about size bytes, with
// content from rng and timestamp ts.
func randomBatch(rng *rand.Rand, size int, ts int64) []byte {
	n := 1 + rng.Intn(4)
	records := make([]segmenttest.Record, n)
	for i := range records {
		v := make([]byte, size/n)
		rng.Read(v)
		records[i].Value = v
	}
	return segmenttest.Batch(records, segmenttest.Timestamp(ts))
}

// mustAppend appends b and returns its offsets; b is stamped in place.
func mustAppend(t testing.TB, l *segment.Log, b []byte) segment.AppendInfo {
	t.Helper()
	info, err := l.Append(b, segment.AppendOptions{})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return info
}

// rangeBytes reads the bytes of a read result's file range and releases it.
func rangeBytes(t testing.TB, rr *segment.ReadResult) []byte {
	t.Helper()
	defer rr.Release()
	if rr.Range.Size == 0 {
		return nil
	}
	b := make([]byte, rr.Range.Size)
	if _, err := rr.Range.File.ReadAt(b, rr.Range.Position); err != nil {
		t.Fatalf("reading range %+v: %v", rr.Range, err)
	}
	return b
}

// splitBatches splits whole batches back to back; a partial batch at the end is dropped (as
// clients do).
func splitBatches(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 12 {
		size := int(binary.BigEndian.Uint32(b[8:])) + 12
		if size > len(b) {
			break
		}
		out = append(out, b[:size])
		b = b[size:]
	}
	return out
}

// readAllBatches reads every batch from offset to the end (or the flushed offset), as a
// consumer would.
func readAllBatches(t testing.TB, l *segment.Log, from int64, durableOnly bool) [][]byte {
	t.Helper()
	var all [][]byte
	for offset := from; ; {
		rr, err := l.Read(offset, 8<<10, segment.ReadOptions{DurableOnly: durableOnly, MinOneBatch: true})
		if err != nil {
			t.Fatalf("Read(%d): %v", offset, err)
		}
		batches := splitBatches(rangeBytes(t, &rr))
		if len(batches) == 0 {
			return all
		}
		for _, b := range batches {
			h, err := segment.ParseBatchHeader(b)
			if err != nil {
				t.Fatalf("Read(%d): %v", offset, err)
			}
			if h.LastOffset() >= offset {
				all = append(all, b)
				offset = h.LastOffset() + 1
			}
		}
	}
}

func equalBatches(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			hg, _ := segment.ParseBatchHeader(got[i])
			hw, _ := segment.ParseBatchHeader(want[i])
			t.Fatalf("batch %d differs: got offset %d (%d bytes), want offset %d (%d bytes)", i, hg.BaseOffset, len(got[i]), hw.BaseOffset, len(want[i]))
		}
	}
}
