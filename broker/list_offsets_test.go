package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listOffsetsRaw asks for one partition's offset at timestamp ts.
func listOffsetsRaw(t testing.TB, d *dataBroker, version int16, topic string, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = version
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rc := dialRaw(t, d.addr)
	rc.send(req, true)
	resp := rc.receive().(*kmsg.ListOffsetsResponse)
	return resp.Topics[0].Partitions[0]
}

func TestListOffsets(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("lo", 1, nil)
	d.createTopic("lo-empty", 1, nil)
	produceBatches(t, d, "lo", 0, 4, 10) // offsets 0..3 with timestamps 1000..4000
	for _, v := range []int16{1, 4, 7, 10} {
		for _, tc := range []struct {
			topic             string
			ts                int64
			offset, timestamp int64
		}{
			{"lo", listOffsetsEarliest, 0, -1},
			{"lo", listOffsetsEarliestLocal, 0, -1},
			{"lo", listOffsetsLatest, 4, -1},
			{"lo", listOffsetsLatestTiered, -1, -1},
			{"lo", listOffsetsMaxTimestamp, 3, 4000},
			{"lo", 0, 0, 1000},
			{"lo", 1000, 0, 1000},
			{"lo", 2500, 2, 3000},
			{"lo", 4000, 3, 4000},
			{"lo", 4001, -1, -1},
			{"lo-empty", listOffsetsEarliest, 0, -1},
			{"lo-empty", listOffsetsLatest, 0, -1},
			{"lo-empty", listOffsetsMaxTimestamp, -1, -1},
			{"lo-empty", 0, -1, -1},
		} {
			if v < 7 && tc.ts == listOffsetsMaxTimestamp || v < 8 && tc.ts == listOffsetsEarliestLocal || v < 9 && tc.ts == listOffsetsLatestTiered {
				continue
			}
			t.Run(fmt.Sprintf("v%d/%s/%d", v, tc.topic, tc.ts), func(t *testing.T) {
				got := listOffsetsRaw(t, d, v, tc.topic, tc.ts)
				if got.ErrorCode != 0 || got.Offset != tc.offset || got.Timestamp != tc.timestamp {
					t.Fatalf("error %d offset %d timestamp %d, want offset %d timestamp %d", got.ErrorCode, got.Offset, got.Timestamp, tc.offset, tc.timestamp)
				}
				// The epoch that wrote the offset (none in an empty log),
				// the current one for latest.
				wantEpoch := int32(-1)
				it, _ := d.b.image().Topic(tc.topic)
				if v >= 4 && (tc.ts == listOffsetsLatest || tc.offset >= 0 && tc.topic == "lo") {
					wantEpoch = leaderEpoch(it, 0)
				}
				if got.LeaderEpoch != wantEpoch {
					t.Fatalf("leader epoch %d, want %d", got.LeaderEpoch, wantEpoch)
				}
			})
		}
	}
	if got := listOffsetsRaw(t, d, 7, "nope", listOffsetsLatest); got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: error %d", got.ErrorCode)
	}

	// kadm's view, as consumers and tools use it.
	adm := d.admin()
	ctx := context.Background()
	starts, err := adm.ListStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, 2000, "lo")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := starts.Lookup("lo", 0)
	e, _ := ends.Lookup("lo", 0)
	a, _ := after.Lookup("lo", 0)
	if s.Offset != 0 || e.Offset != 4 || a.Offset != 1 || s.Err != nil || e.Err != nil || a.Err != nil {
		t.Fatalf("kadm: start %+v end %+v after 2000 ms %+v", s, e, a)
	}
}

// TestListOffsetsInsideBatch: a franz-go producer sends records with their
// own timestamps in one compressed batch; kadm's ListOffsetsAfterMilli gets
// the first record at or after the time asked, not the batch's first.
func TestListOffsetsInsideBatch(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("lob", 1, nil)
	producer := d.client(kgo.ManualFlushing(), kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.DefaultProduceTopic("lob"))
	ctx := context.Background()
	base := time.UnixMilli(1_700_000_000_000)
	for _, delta := range []int64{0, 10, 30, 20} { // offsets 0-3
		producer.Produce(ctx, &kgo.Record{Partition: 0, Value: []byte("v"), Timestamp: base.Add(time.Duration(delta) * time.Millisecond)}, nil)
	}
	if err := producer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if resp := fetchRaw(t, d, fetchReq(12, "lob", [16]byte{}, 0, 0, 1<<20, 1<<20, 0)); len(batchesIn(t, resp.Topics[0].Partitions[0].RecordBatches)) != 1 {
		t.Fatal("the producer did not send its records in one batch")
	}
	adm := d.admin()
	for _, tc := range []struct{ after, offset, timestamp int64 }{
		{0, 0, 0}, {5, 1, 10}, {15, 2, 30}, {25, 2, 30}, {30, 2, 30}, {31, 4, -1},
	} {
		got, err := adm.ListOffsetsAfterMilli(ctx, base.UnixMilli()+tc.after, "lob")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := got.Lookup("lob", 0)
		// Past the last record kadm answers the end offset.
		if o.Err != nil || o.Offset != tc.offset || (tc.timestamp >= 0 && o.Timestamp != base.UnixMilli()+tc.timestamp) {
			t.Errorf("after %d ms: offset %d timestamp %d err %v; want offset %d timestamp +%d", tc.after, o.Offset, o.Timestamp-base.UnixMilli(), o.Err, tc.offset, tc.timestamp)
		}
	}
}
