package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDeleteRecords(t *testing.T) {
	d := startDataBroker(t, func(c *Config) { c.TopicDefaults = map[string]string{"segment.bytes": "4096"} })
	d.createTopic("dr", 1, nil)
	produceBatches(t, d, "dr", 0, 20, 500) // several segments of 4 KiB
	deleteRaw := func(offset int64) kmsg.DeleteRecordsResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = 2
		req.TimeoutMillis = 5000
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "dr"
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Offset = offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		rc := dialRaw(t, d.addr)
		rc.send(req, true)
		return rc.receive().(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
	}
	for _, tc := range []struct {
		offset int64
		code   int16
		low    int64
	}{
		{21, kerr.OffsetOutOfRange.Code, -1}, // past the high watermark
		{-2, kerr.OffsetOutOfRange.Code, -1},
		{7, 0, 7},
		{3, 0, 7}, // the start never moves back
		{11, 0, 11},
	} {
		got := deleteRaw(tc.offset)
		if got.ErrorCode != tc.code || got.LowWatermark != tc.low {
			t.Fatalf("delete before %d: error %d low watermark %d, want error %d low watermark %d", tc.offset, got.ErrorCode, got.LowWatermark, tc.code, tc.low)
		}
	}
	check := func(wantStart int64) {
		t.Helper()
		if got := listOffsetsRaw(t, d, 7, "dr", listOffsetsEarliest); got.Offset != wantStart {
			t.Fatalf("earliest offset %d, want %d", got.Offset, wantStart)
		}
		if p := fetchRaw(t, d, fetchReq(12, "dr", [16]byte{}, 0, 0, 1<<20, 1<<20, wantStart-1)).Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Fatalf("fetch below the log start: error %d", p.ErrorCode)
		}
		p := fetchRaw(t, d, fetchReq(12, "dr", [16]byte{}, 0, 0, 1<<20, 1<<20, wantStart)).Topics[0].Partitions[0]
		batches := batchesIn(t, p.RecordBatches)
		if p.ErrorCode != 0 || p.LogStartOffset != wantStart || len(batches) == 0 || batches[0].FirstOffset != wantStart {
			t.Fatalf("fetch at the log start: error %d log start %d, %d batches", p.ErrorCode, p.LogStartOffset, len(batches))
		}
	}
	check(11)
	ensureOffsetsTopic(t, d)
	internal := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "__consumer_offsets"
	rt.Partitions = append(rt.Partitions, kmsg.NewDeleteRecordsRequestTopicPartition())
	internal.Topics = append(internal.Topics, rt)
	rc := dialRaw(t, d.addr)
	rc.send(internal, true)
	if p := rc.receive().(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("delete records of __consumer_offsets: error %d", p.ErrorCode)
	}
	// The new start survives a restart.
	d.restart()
	check(11)

	// -1 deletes up to the high watermark, through kadm.
	resp, err := d.admin().DeleteRecords(context.Background(), kadm.Offsets{"dr": {0: kadm.Offset{Topic: "dr", Partition: 0, At: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := resp.Lookup("dr", 0); !ok || r.Err != nil || r.LowWatermark != 20 {
		t.Fatalf("kadm delete to the high watermark: %+v", r)
	}
	if got := listOffsetsRaw(t, d, 7, "dr", listOffsetsEarliest); got.Offset != 20 {
		t.Fatalf("earliest offset %d after deleting everything, want 20", got.Offset)
	}
}
