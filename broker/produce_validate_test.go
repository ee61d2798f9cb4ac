package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

// TestProduceValidatesRecords: batches whose CRC is valid but whose records
// are broken are refused over TCP with Kafka's error codes and stored
// nowhere; a good batch after them is stored, and a franz-go consumer reads
// exactly the good records, at offsets from 0. Before the records were
// validated these batches were stored, and franz-go skipped their offsets
// or stalled on the batch falsely marked gzip.
func TestProduceValidatesRecords(t *testing.T) {
	b := brokertest.Start(t)
	const topic = "validated"
	created, err := b.Admin(t).CreateTopic(context.Background(), 1, 1, nil, topic)
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	id := [16]byte(created.ID)
	cl := b.Client(t)
	good := func() []byte { return segmenttest.Batch(segmenttest.Values("a", "b")) }
	// Values("a", "b") is the header, then record 0 at byte 61: length,
	// attributes, timestamp delta, offset delta, ...
	edit := func(f func(b []byte) []byte) []byte {
		b := f(good())
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		return segmenttest.FixCRC(b)
	}
	zstd := segmenttest.Batch(segmenttest.Values("a", "b"), segmenttest.Compression(segment.CodecZstd))
	corrupt := good()
	corrupt[len(corrupt)-1] ^= 1
	for _, tc := range []struct {
		name    string
		records []byte
		want    *kerr.Error
	}{
		{"falsely marked gzip", edit(func(b []byte) []byte { b[22] |= segment.CodecGzip; return b }), kerr.InvalidRecord},
		{"record length past the end", edit(func(b []byte) []byte { b[61] = 0x7e; return b }), kerr.InvalidRecord},
		{"offset deltas out of order", edit(func(b []byte) []byte { b[64] = 2; return b }), kerr.InvalidRecord},
		{"count above the records", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[23:], 2)
			binary.BigEndian.PutUint32(b[57:], 3)
			return b
		}), kerr.InvalidRecord},
		{"trailing garbage", edit(func(b []byte) []byte { return append(b, 0, 0, 0) }), kerr.InvalidRecord},
		{"truncated zstd", edit(func([]byte) []byte { return slices.Clone(zstd[:len(zstd)-1]) }), kerr.InvalidRecord},
		{"corrupt CRC", corrupt, kerr.CorruptMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := segment.ValidateBatch(tc.records); err != nil && tc.want != kerr.CorruptMessage {
				t.Fatalf("test batch fails the header and CRC check: %v", err)
			}
			got := produceBatch(t, cl, topic, id, tc.records)
			if err := kerr.ErrorForCode(got.ErrorCode); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if got.BaseOffset != -1 || got.ErrorMessage == nil {
				t.Fatalf("base offset %d, message %v for a refused batch", got.BaseOffset, got.ErrorMessage)
			}
		})
	}

	// A good batch still goes in, first in the log, and a real consumer
	// reads exactly the good records.
	if got := produceBatch(t, cl, topic, id, good()); got.ErrorCode != 0 || got.BaseOffset != 0 {
		t.Fatalf("good batch: error %d base offset %d, want 0 and 0", got.ErrorCode, got.BaseOffset)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("c")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	consumer := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var values []string
	for len(values) < 3 {
		fetches := consumer.PollFetches(ctx)
		if err := fetches.Err(); err != nil {
			t.Fatalf("after %q: %v", values, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(len(values)) {
				t.Errorf("record %q at offset %d, want %d", r.Value, r.Offset, len(values))
			}
			values = append(values, string(r.Value))
		})
	}
	if !slices.Equal(values, []string{"a", "b", "c"}) {
		t.Fatalf("consumed %q, want a b c", values)
	}
}

// produceBatch sends records as the one batch of partition 0 of topic (named
// by id from v13 on) in a raw ProduceRequest (acks=all) and returns the
// partition's response.
func produceBatch(t *testing.T, cl *kgo.Client, topic string, id [16]byte, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("response has %d topics, want 1 with 1 partition", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// TestCompactedTopicRefusesKeylessRecords: as Kafka, a compacted topic
// refuses a batch holding a record without a key (INVALID_RECORD, nothing
// stored), and takes keyed ones; a topic that is not compacted takes both.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	b := brokertest.Start(t)
	ctx := context.Background()
	for _, tc := range []struct {
		topic, policy string
		want          *kerr.Error
	}{{"compacted", "compact", kerr.InvalidRecord}, {"compacted-deleted", "compact,delete", kerr.InvalidRecord}, {"deleted", "delete", nil}} {
		created, err := b.Admin(t).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &tc.policy}, tc.topic)
		if err == nil {
			err = created.Err
		}
		if err != nil {
			t.Fatal(err)
		}
		cl := b.Client(t)
		keyless := segmenttest.Batch([]segmenttest.Record{{Key: []byte("k"), Value: []byte("a")}, {Value: []byte("b")}})
		got := produceBatch(t, cl, tc.topic, [16]byte(created.ID), keyless)
		if err := kerr.ErrorForCode(got.ErrorCode); tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: a record without a key: error %v, want %v", tc.policy, err, tc.want)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tc.topic, Key: []byte("k"), Value: []byte("c")}).FirstErr(); err != nil {
			t.Errorf("%s: a keyed record: %v", tc.policy, err)
		}
	}
}
