package broker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
	"runnel/segment/segmenttest"
)

// fetchReq builds a Fetch request of one topic, one entry per partition
// offset (partition i at offsets[i]).
func fetchReq(version int16, topic string, id [16]byte, maxWait, minBytes, maxBytes, partitionMaxBytes int32, offsets ...int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.ReplicaID = -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWait, minBytes, maxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	for i, off := range offsets {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(i), off, partitionMaxBytes
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchRaw sends one fetch on a raw connection and returns the response.
func fetchRaw(t testing.TB, d *dataBroker, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	t.Helper()
	rc := dialRaw(t, d.addr)
	rc.send(req, true)
	return rc.receive().(*kmsg.FetchResponse)
}

// batchesIn decodes the record batches of a partition's records, dropping
// a partial batch at the end as clients do.
func batchesIn(t testing.TB, records []byte) []kmsg.RecordBatch {
	t.Helper()
	var out []kmsg.RecordBatch
	for len(records) >= 12 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(records); err != nil {
			break // partial batch
		}
		out = append(out, b)
		records = records[12+int(b.Length):]
	}
	return out
}

// produceBatches stores count one-record batches of valueSize bytes in a
// partition with raw produce requests.
func produceBatches(t testing.TB, d *dataBroker, topic string, partition int32, count, valueSize int) {
	t.Helper()
	rc := dialRaw(t, d.addr)
	for i := range count {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = partition
		value := make([]byte, valueSize)
		copy(value, fmt.Sprintf("batch %d", i))
		rp.Records = segmenttest.Batch([]segmenttest.Record{{Value: value}}, segmenttest.Timestamp(int64(1000*(i+1))))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		rc.send(req, true)
		resp := rc.receive().(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(code))
		}
	}
}

// topicID asks Metadata for a topic's id.
func topicID(t testing.TB, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp := roundTrip[*kmsg.MetadataResponse](t, cl, req)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata of %s: %+v", topic, resp.Topics)
	}
	return resp.Topics[0].TopicID
}

// TestFetchVersions fetches the same records with every version served and
// checks what each decodes to (topic names up to v12, ids from v13).
func TestFetchVersions(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("versions", 2, nil)
	cl := d.client()
	produceBatches(t, d, "versions", 0, 3, 100)
	id := topicID(t, cl, "versions")
	for v := int16(fetchFrameMinVersion); v <= fetchFrameMaxVersion; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			resp := fetchRaw(t, d, fetchReq(v, "versions", id, 0, 0, 1<<20, 1<<20, 1, 0))
			if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
				t.Fatalf("response: %+v", resp)
			}
			rt := resp.Topics[0]
			if v >= 13 && rt.TopicID != id || v < 13 && rt.Topic != "versions" {
				t.Fatalf("topic %q id %x", rt.Topic, rt.TopicID)
			}
			p0, p1 := rt.Partitions[0], rt.Partitions[1]
			if p0.Partition != 0 || p0.ErrorCode != 0 || p0.HighWatermark != 3 || p0.LastStableOffset != 3 || len(batchesIn(t, p0.RecordBatches)) != 2 {
				t.Fatalf("partition 0 (from offset 1): %+v", p0)
			}
			if v >= 5 && p0.LogStartOffset != 0 {
				t.Fatalf("log start offset %d", p0.LogStartOffset)
			}
			if got := batchesIn(t, p0.RecordBatches)[0].FirstOffset; got != 1 {
				t.Fatalf("first batch at offset %d, want 1", got)
			}
			if p1.Partition != 1 || p1.ErrorCode != 0 || p1.HighWatermark != 0 || len(p1.RecordBatches) != 0 {
				t.Fatalf("partition 1 (empty): %+v", p1)
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("errs", 1, nil)
	produceBatches(t, d, "errs", 0, 5, 10)
	for _, tc := range []struct {
		name string
		req  *kmsg.FetchRequest
		want *kerr.Error
	}{
		{"offset past the end", fetchReq(12, "errs", [16]byte{}, 0, 0, 1<<20, 1<<20, 6), kerr.OffsetOutOfRange},
		{"negative offset", fetchReq(12, "errs", [16]byte{}, 0, 0, 1<<20, 1<<20, -1), kerr.OffsetOutOfRange},
		{"unknown topic", fetchReq(12, "nope", [16]byte{}, 0, 0, 1<<20, 1<<20, 0), kerr.UnknownTopicOrPartition},
		{"unknown partition", fetchReq(12, "errs", [16]byte{}, 0, 0, 1<<20, 1<<20, 0, 0), kerr.UnknownTopicOrPartition},
		{"unknown topic id", fetchReq(13, "", [16]byte{1, 2, 3}, 0, 0, 1<<20, 1<<20, 0), kerr.UnknownTopicID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			tc.req.MaxWaitMillis = 5000 // an error answers at once
			resp := fetchRaw(t, d, tc.req)
			parts := resp.Topics[0].Partitions
			if err := kerr.ErrorForCode(parts[len(parts)-1].ErrorCode); err != tc.want {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("an error response took %v", el)
			}
		})
	}
	// The end itself is not out of range: nothing to read yet.
	resp := fetchRaw(t, d, fetchReq(12, "errs", [16]byte{}, 0, 0, 1<<20, 1<<20, 5))
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != 5 {
		t.Fatalf("fetch at the end: %+v", p)
	}
}

// TestFetchSessions checks KIP-227's rules for every kind of (SessionId,
// SessionEpoch) pair naming no session: epoch -1 (a full fetch without a
// session) and epoch 0 (a full fetch asking for one) read the records
// whatever the id, answered with session id 0 for -1 and a new session's id
// for 0; any other epoch names a session the broker does not have:
// FETCH_SESSION_ID_NOT_FOUND and no topics. Then real clients read with and
// without sessions.
func TestFetchSessions(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("sess", 1, nil)
	produceBatches(t, d, "sess", 0, 3, 10)
	for _, v := range []int16{7, 12, 13} {
		id := d.b.topic("sess").id
		for _, tc := range []struct {
			id, epoch int32
			full      bool
		}{
			{-1, -1, true}, {0, -1, true}, {77, -1, true},
			{-1, 0, true}, {0, 0, true}, {77, 0, true},
			{0, 1, false}, {-1, 1, false}, {77, 1, false}, {77, 5, false}, {77, -2, false},
		} {
			t.Run(fmt.Sprintf("v%d/id=%d/epoch=%d", v, tc.id, tc.epoch), func(t *testing.T) {
				req := fetchReq(v, "sess", id, 0, 0, 1<<20, 1<<20, 0)
				req.SessionID, req.SessionEpoch = tc.id, tc.epoch
				resp := fetchRaw(t, d, req)
				if !tc.full {
					if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
						t.Fatalf("incremental fetch of an unknown session: error %d, %d topics", resp.ErrorCode, len(resp.Topics))
					}
					return
				}
				if resp.ErrorCode != 0 || (resp.SessionID != 0) != (tc.epoch == 0) || len(resp.Topics) != 1 {
					t.Fatalf("full fetch: error %d, session id %d, %d topics", resp.ErrorCode, resp.SessionID, len(resp.Topics))
				}
				if got := len(batchesIn(t, resp.Topics[0].Partitions[0].RecordBatches)); got != 3 {
					t.Fatalf("full fetch read %d batches, want 3", got)
				}
			})
		}
	}
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"sessions", nil}, // opens a session (0, 0), then fetches incrementally
		{"no sessions", []kgo.Opt{kgo.DisableFetchSessions()}},
	} {
		t.Run("kgo/"+tc.name, func(t *testing.T) {
			cl := d.client(append([]kgo.Opt{kgo.ConsumeTopics("sess"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, tc.opts...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got := 0
			for got < 3 && ctx.Err() == nil {
				got += cl.PollFetches(ctx).NumRecords()
			}
			if got != 3 {
				t.Fatalf("read %d records, want 3", got)
			}
		})
	}
}

// TestFetchMaxBytes checks the byte limits: KIP-74's one whole batch
// whatever the limits, partition and request limits cutting ranges (a
// partial batch at the end), and partitions after a full response getting
// nothing but their watermarks.
func TestFetchMaxBytes(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("mb", 2, nil)
	const value = 10000
	produceBatches(t, d, "mb", 0, 5, value)
	produceBatches(t, d, "mb", 1, 5, value)
	batch := len(segmenttest.Batch([]segmenttest.Record{{Value: make([]byte, value)}}))

	check := func(name string, resp *kmsg.FetchResponse, wantBatches [2]int, maxLen [2]int) {
		t.Helper()
		for i, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("%s: partition %d: %v", name, i, kerr.ErrorForCode(p.ErrorCode))
			}
			if got := len(batchesIn(t, p.RecordBatches)); got != wantBatches[i] {
				t.Fatalf("%s: partition %d: %d whole batches (%d bytes), want %d", name, i, got, len(p.RecordBatches), wantBatches[i])
			}
			if len(p.RecordBatches) > maxLen[i] {
				t.Fatalf("%s: partition %d: %d bytes, limit %d", name, i, len(p.RecordBatches), maxLen[i])
			}
		}
	}
	// Limits of 1 byte: the first partition still gets one whole batch,
	// the second nothing.
	check("KIP-74", fetchRaw(t, d, fetchReq(12, "mb", [16]byte{}, 0, 0, 1, 1, 0, 0)), [2]int{1, 0}, [2]int{batch, 0})
	// A partition limit of 2.5 batches: two whole batches and a partial one.
	limit := batch*5/2 + 1
	resp := fetchRaw(t, d, fetchReq(12, "mb", [16]byte{}, 0, 0, 1<<20, int32(limit), 0, 0))
	check("partition max bytes", resp, [2]int{2, 2}, [2]int{limit, limit})
	if n := len(resp.Topics[0].Partitions[0].RecordBatches); n <= 2*batch {
		t.Fatalf("partition max bytes: %d bytes, expected the cut part of a third batch", n)
	}
	// A request limit of 1.5 batches: the first partition fills it.
	limit = batch * 3 / 2
	check("request max bytes", fetchRaw(t, d, fetchReq(12, "mb", [16]byte{}, 0, 0, int32(limit), 1<<20, 0, 0)), [2]int{1, 0}, [2]int{limit, 0})
	// The first partition has nothing to give: the second gets the whole
	// batch however small the limit.
	check("KIP-74 on the second", fetchRaw(t, d, fetchReq(12, "mb", [16]byte{}, 0, 0, 1, 1, 5, 0)), [2]int{0, 1}, [2]int{0, batch})
}

// TestFetchLongPoll: a fetch without data waits for MaxWaitMillis, and
// wakes as soon as data arrives rather than at the end of its wait.
func TestFetchLongPoll(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("lp", 2, nil)

	start := time.Now()
	resp := fetchRaw(t, d, fetchReq(12, "lp", [16]byte{}, 300, 1, 1<<20, 1<<20, 0, 0))
	if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second {
		t.Fatalf("an empty fetch with a 300 ms wait answered after %v", el)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("empty fetch: %+v", p)
	}

	rc := dialRaw(t, d.addr)
	rc.send(fetchReq(12, "lp", [16]byte{}, 10000, 1, 1<<20, 1<<20, 0, 0), true)
	wait.Until(t, 5*time.Second, "the fetch to park", func() bool { return d.b.parkedFetches.Load() == 1 })
	produced := time.Now()
	produceBatches(t, d, "lp", 1, 1, 10)
	resp = rc.receive().(*kmsg.FetchResponse)
	if el := time.Since(produced); el > 2*time.Second {
		t.Fatalf("a waiting fetch answered %v after the produce", el)
	}
	if got := len(batchesIn(t, resp.Topics[0].Partitions[1].RecordBatches)); got != 1 {
		t.Fatalf("woken fetch has %d batches for partition 1, want 1", got)
	}

	// MinBytes larger than what arrives: the fetch waits out its time and
	// answers with what there is.
	start = time.Now()
	resp = fetchRaw(t, d, fetchReq(12, "lp", [16]byte{}, 400, 1<<20, 1<<20, 1<<20, 0, 0))
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("a fetch short of MinBytes answered after %v", el)
	}
	if got := len(batchesIn(t, resp.Topics[0].Partitions[1].RecordBatches)); got != 1 {
		t.Fatalf("fetch short of MinBytes: %d batches, want 1", got)
	}
}

// TestFetchMaxWaitCapped: a Fetch asking to wait ten days (a mutated
// request) waits at most runnel.fetch.max.wait.ms.
func TestFetchMaxWaitCapped(t *testing.T) {
	const capWait = 300 * time.Millisecond
	d := startDataBroker(t, func(c *Config) { c.FetchMaxWait = capWait })
	d.createTopic("capped", 1, nil)
	tenDays := int32((10 * 24 * time.Hour).Milliseconds())
	start := time.Now()
	resp := fetchRaw(t, d, fetchReq(12, "capped", [16]byte{}, tenDays, 1, 1<<20, 1<<20, 0))
	if el := time.Since(start); el < capWait || el > 10*time.Second {
		t.Fatalf("a fetch asking for a ten-day wait answered after %v, want about %v", el, capWait)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("capped empty fetch: %+v", p)
	}
}

// TestFetchConsumerLatency: a franz-go consumer waiting in a long poll gets
// a record promptly after it is produced.
func TestFetchConsumerLatency(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("latency", 1, nil)
	consumer := d.client(kgo.ConsumeTopics("latency"), kgo.FetchMaxWait(5*time.Second))
	producer := d.client(kgo.ProducerLinger(0))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 5 {
		got := make(chan time.Time, 1)
		go func() {
			for {
				fs := consumer.PollFetches(ctx)
				if fs.NumRecords() > 0 || ctx.Err() != nil {
					got <- time.Now()
					return
				}
			}
		}()
		wait.Until(t, 10*time.Second, "the consumer to park in a fetch", func() bool { return d.b.parkedFetches.Load() > 0 })
		sent := time.Now()
		if err := producer.ProduceSync(ctx, &kgo.Record{Topic: "latency", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if lat := (<-got).Sub(sent); lat > time.Second {
			t.Fatalf("record %d reached the consumer %v after it was sent", i, lat)
		}
	}
}

// TestFetchDurableVisibility: under the durable policy consumers see only
// flushed records (the high watermark is the flushed offset), and a flush
// wakes a waiting fetch.
func TestFetchDurableVisibility(t *testing.T) {
	const gap = time.Second
	d := startDataBroker(t, func(c *Config) { c.FlushMinInterval = gap })
	d.createTopic("vis", 1, nil)
	produce := func(acks int16, value string) {
		t.Helper()
		got := produceRaw(t, d, 9, acks, "vis", segmenttest.Batch(segmenttest.Values(value)))
		if got.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(got.ErrorCode))
		}
	}
	produce(-1, "flushed") // synced at once: the first sync has no gap to keep
	produce(1, "pending")  // its flush waits out the gap
	p := fetchRaw(t, d, fetchReq(12, "vis", [16]byte{}, 0, 0, 1<<20, 1<<20, 0)).Topics[0].Partitions[0]
	if batches := batchesIn(t, p.RecordBatches); p.HighWatermark != 1 || len(batches) != 1 {
		t.Fatalf("before the second flush: high watermark %d, %d batches; want 1 and 1", p.HighWatermark, len(batches))
	}
	start := time.Now()
	p = fetchRaw(t, d, fetchReq(12, "vis", [16]byte{}, 5000, 1, 1<<20, 1<<20, 1)).Topics[0].Partitions[0]
	if batches := batchesIn(t, p.RecordBatches); p.HighWatermark != 2 || len(batches) != 1 || batches[0].FirstOffset != 1 {
		t.Fatalf("after the flush: high watermark %d, %d batches", p.HighWatermark, len(batches))
	}
	if el := time.Since(start); el > gap+time.Second {
		t.Fatalf("the flush woke the waiting fetch after %v", el)
	}
}

// memWriter is a pieceWriter into memory; file ranges are read with pread.
type memWriter struct{ bytes.Buffer }

func (w *memWriter) writeBytes(b []byte) error { w.Write(b); return nil }

func (w *memWriter) writeFile(f *os.File, off, n int64) error {
	buf := make([]byte, n)
	_, err := f.ReadAt(buf, off)
	w.Write(buf)
	return err
}

// FuzzFetch feeds decoded Fetch requests of every version (the first byte
// picks it) to the handler over a broker holding data, without waiting.
// Invariants: nothing panics; the answer is a frame whose size is what it
// writes, that kmsg decodes, and that answers every requested partition in
// request order (or a top-level session error).
func FuzzFetch(f *testing.F) {
	d := startDataBroker(f, nil)
	d.createTopic("ff", 2, nil)
	produceBatches(f, d, "ff", 0, 3, 300)
	produceBatches(f, d, "ff", 1, 2, 5000)
	id := topicID(f, d.client(), "ff")
	for v := int16(fetchFrameMinVersion); v <= fetchFrameMaxVersion; v++ {
		for _, req := range []*kmsg.FetchRequest{
			fetchReq(v, "ff", id, 0, 0, 1<<20, 1<<20, 0, 0),
			fetchReq(v, "ff", id, 0, 1, 100, 10, 1, 1),
			fetchReq(v, "ff", id, 0, 0, 1<<20, 1<<20, 2, 7, 0),
			fetchReq(v, "nope", [16]byte{1}, 0, 0, 1<<20, 1<<20, 0),
		} {
			f.Add(append([]byte{byte(v)}, req.AppendTo(nil)...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		v := int16(data[0])
		if v < fetchFrameMinVersion || v > fetchFrameMaxVersion {
			return
		}
		req := kmsg.NewPtrFetchRequest()
		req.Version = v
		if err := req.ReadFrom(data[1:]); err != nil {
			return
		}
		req.MaxWaitMillis = 0
		rep := handleFetch(d.b, &request{version: v, msg: req})
		<-rep.done
		if rep.frame == nil {
			if resp, ok := rep.resp.(*kmsg.FetchResponse); !ok || resp.ErrorCode == 0 {
				t.Fatalf("no frame and no session error: %+v", rep.resp)
			}
			return
		}
		var w memWriter
		err := rep.frame.(*fetchFrame).writeTo(&w)
		size := rep.frame.size()
		rep.frame.release()
		if err != nil {
			t.Fatal(err)
		}
		if w.Len() != size {
			t.Fatalf("frame wrote %d bytes, size() said %d", w.Len(), size)
		}
		resp := kmsg.FetchResponse{Version: v}
		if err := resp.ReadFrom(w.Bytes()); err != nil {
			t.Fatalf("kmsg cannot decode the frame: %v", err)
		}
		if len(resp.Topics) != len(req.Topics) {
			t.Fatalf("%d topics answered, %d asked", len(resp.Topics), len(req.Topics))
		}
		for i, rt := range resp.Topics {
			asked := req.Topics[i].Partitions
			if len(rt.Partitions) != len(asked) {
				t.Fatalf("topic %d: %d partitions answered, %d asked", i, len(rt.Partitions), len(asked))
			}
			for j, p := range rt.Partitions {
				if p.Partition != asked[j].Partition {
					t.Fatalf("topic %d answer %d is partition %d, asked %d", i, j, p.Partition, asked[j].Partition)
				}
			}
		}
	})
}

// TestFetchManyDuplicates: a waiting fetch naming one partition far more
// times than a select can watch channels answers normally.
func TestFetchManyDuplicates(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("dups", 1, nil)
	offsets := make([]int64, 70000)
	req := fetchReq(12, "dups", [16]byte{}, 200, 1, 1<<20, 1<<20, offsets...)
	for i := range req.Topics[0].Partitions {
		req.Topics[0].Partitions[i].Partition = 0
	}
	start := time.Now()
	resp := fetchRaw(t, d, req)
	if n := len(resp.Topics[0].Partitions); n != len(offsets) {
		t.Fatalf("%d partitions answered, %d asked", n, len(offsets))
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("an empty fetch answered after %v, before its wait", el)
	}
}
