package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
	"runnel/io/flush"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

// TestFetchLongPollWokenRereads drives an incremental fetch of a session
// of 64 partitions over TCP through several wake-ups of its long poll, each
// by a batch on one partition: the fetch reads again the partitions that
// changed, keeps what the others held, and answers once MinBytes are
// ready, long before its wait is over (the connection's 20 s deadline is
// shorter than the wait: a fetch that missed a wake-up fails the test).
// The response holds only the partitions with records (KIP-227), within
// MaxBytes, in the session's order.
func TestFetchLongPollWokenRereads(t *testing.T) {
	const partitions = 64
	d := startDataBroker(t, func(c *Config) {
		c.PreallocateBytes = 4096
		c.FetchMaxWait = 10 * time.Minute
	})
	d.createTopic("woken", partitions, nil)
	const value = 1000
	batchSize := int32(len(segmenttest.Batch([]segmenttest.Record{{Value: make([]byte, value)}})))
	offsets := map[int32]int64{}
	for p := range int32(partitions) {
		offsets[p] = 0
	}
	full := sessionFetch(12, "woken", [16]byte{}, 0, 0, 0, offsets)
	resp := fetchRaw(t, d, full)
	if resp.ErrorCode != 0 || resp.SessionID == 0 {
		t.Fatalf("session not created: %v, id %d", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID)
	}
	// Ready at 2.5 batches, limited to 3.5: two batches on partition 40
	// are not enough; a third on partition 3 is. The answer is what a full
	// read would give (the fetch refreshes before answering): partition 3,
	// first in order, has its batch, and partition 40 its two within what
	// the limit leaves.
	req := sessionFetch(12, "woken", [16]byte{}, resp.SessionID, 1, 60000, nil)
	req.MinBytes, req.MaxBytes = batchSize*5/2, batchSize*7/2
	rc := dialRaw(t, d.addr)
	rc.send(req, true)
	wait.Until(t, 10*time.Second, "the fetch to park", func() bool { return d.b.parkedFetches.Load() == 1 })
	for _, p := range []int32{40, 40} {
		w := d.b.fetchWakeups.Load()
		produceBatches(t, d, "woken", p, 1, value)
		wait.Until(t, 10*time.Second, "the fetch to wake and park again", func() bool {
			return d.b.fetchWakeups.Load() > w && d.b.parkedFetches.Load() == 1
		})
	}
	produceBatches(t, d, "woken", 3, 1, value)
	resp = rc.receive().(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(resp.ErrorCode))
	}
	total := 0
	got := map[int32]int{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("partition %d: %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
			}
			got[rp.Partition] = len(batchesIn(t, rp.RecordBatches))
			total += len(rp.RecordBatches)
		}
	}
	if len(got) != 2 || got[40] != 2 || got[3] != 1 {
		t.Fatalf("woken fetch answered %v (partition: whole batches), want 2 batches of 40 and 1 of 3, nothing else", got)
	}
	if total > int(req.MaxBytes) {
		t.Fatalf("woken fetch answered %d record bytes, MaxBytes %d", total, req.MaxBytes)
	}
	if total < int(req.MinBytes) {
		t.Fatalf("woken fetch answered %d record bytes before its wait was over, MinBytes %d", total, req.MinBytes)
	}
}

// TestFetchLongPollChangeBeforeWatch: a change of a log between the
// fetch's first read and its long poll's registration is not missed (the
// long poll compares the log's change count), so the fetch answers at once
// rather than after its wait.
func TestFetchLongPollChangeBeforeWatch(t *testing.T) {
	d := startDataBroker(t, func(c *Config) { c.PreallocateBytes = 4096 })
	d.createTopic("gap", 3, nil)
	req := fetchReq(12, "gap", [16]byte{}, 60000, 1, 1<<20, 1<<20, 0, 0, 0)
	f := newFetch(d.b, req)
	if f.ready() {
		t.Fatal("an empty log is ready")
	}
	p, err := d.b.partition("gap", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.log.Append(batch(0, -1, 1, "gap"), segment.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.log.Sync(); err != nil { // visible under the durable policy
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		f.longPoll(time.Hour)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("a long poll missed a change made before it watched the log")
	}
	if f.parts[1].read.Range.Size == 0 || f.parts[0].read.Range.Size != 0 || f.parts[2].read.Range.Size != 0 {
		t.Fatalf("read sizes %d %d %d, want only partition 1's batch", f.parts[0].read.Range.Size, f.parts[1].read.Range.Size, f.parts[2].read.Range.Size)
	}
	f.free()
}

// TestFetchLongPollWokenByWhatItReads: a parked fetch is woken by a change
// of what it may read, and only by that (issue 16). Under the durable
// policy a consumer reads up to the flushed offset: an append that no sync
// has covered is not woken for (at 1,000 partitions each append woke the
// consumer's fetch, to read nothing), the sync that covers it is. Under
// the interval policy a consumer reads up to the log end: the append wakes
// it and it answers with the batch.
func TestFetchLongPollWokenByWhatItReads(t *testing.T) {
	for _, policy := range []flush.Policy{flush.Durable, flush.Interval} {
		t.Run(flushPolicyName(policy), func(t *testing.T) {
			d := startDataBroker(t, func(c *Config) {
				c.PreallocateBytes = 4096
				c.FlushPolicy = policy
				c.FetchMaxWait = 10 * time.Minute
			})
			d.createTopic("reads", 2, nil)
			p, err := d.b.partition("reads", 1)
			if err != nil {
				t.Fatal(err)
			}
			req := fetchReq(12, "reads", [16]byte{}, 600000, 1, 1<<20, 1<<20, 0, 0)
			rep := handleFetch(d.b, &request{msg: req, version: req.Version})
			wait.Until(t, 10*time.Second, "the fetch to park", func() bool { return d.b.parkedFetches.Load() == 1 })
			w := d.b.fetchWakeups.Load()
			if _, err := p.log.Append(batch(0, -1, 1, "reads"), segment.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			if policy == flush.Durable {
				// The wake-up, were there one, is sent by Append itself:
				// the fetch would have woken within the half second.
				time.Sleep(500 * time.Millisecond)
				if got := d.b.fetchWakeups.Load(); got != w || d.b.parkedFetches.Load() != 1 {
					t.Fatalf("an unsynced append woke a consumer's fetch (%d wake-ups) under the durable policy", got-w)
				}
				if _, err := p.log.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-rep.done:
			case <-time.After(20 * time.Second):
				t.Fatal("the fetch was not woken by a change of what it reads")
			}
			if d.b.fetchWakeups.Load() != w+1 {
				t.Errorf("%d wake-ups, want 1", d.b.fetchWakeups.Load()-w)
			}
			fr, ok := rep.frame.(*fetchFrame)
			if !ok || fr.fileBytes != int64(len(batch(0, -1, 1, "reads"))) {
				t.Fatalf("response %+v, want partition 1's batch", rep.resp)
			}
			fr.release()
		})
	}
}

// TestFetchLongPollConsumerEveryPartition: a franz-go consumer of 8
// partitions under the durable policy (the loadgen's latency scenarios:
// incremental fetches of a session, MinBytes 1, a 5 s wait) parked in a
// long poll gets a record produced to any one of them promptly: the flush
// that makes it visible wakes the fetch under that partition's tag. A
// missed wake-up would hold the record until the wait is over (5 s), or
// until a change on another partition, which the test never makes while
// the fetch waits.
func TestFetchLongPollConsumerEveryPartition(t *testing.T) {
	const partitions = 8
	d := startDataBroker(t, nil)
	if d.cfg.FlushPolicy != flush.Durable {
		t.Fatalf("flush policy %v, want durable", d.cfg.FlushPolicy)
	}
	d.createTopic("every", partitions, nil)
	consumer := d.client(kgo.ConsumeTopics("every"), kgo.FetchMaxWait(5*time.Second))
	producer := d.client(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := make(chan *kgo.Record, 16)
	go func() {
		for ctx.Err() == nil {
			consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got <- r })
		}
	}()
	// franz-go adds a partition to its fetches once it has listed the
	// partition's offsets, and does not cut short a fetch already parked:
	// its first fetch may name only some partitions (seen in about 1 run
	// of 25 under -race). A record on each, consumed with no time limit,
	// makes every partition part of the fetches before any is timed.
	for p := range int32(partitions) {
		if err := producer.ProduceSync(ctx, &kgo.Record{Topic: "every", Partition: p, Value: []byte("warm")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for range partitions {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("the consumer did not read the first record of every partition")
		}
	}
	for i := range 3 * partitions {
		p := int32(i*5) % partitions // every partition, not in order
		wait.Until(t, 10*time.Second, "the consumer to park in a fetch", func() bool { return d.b.parkedFetches.Load() > 0 })
		sent := time.Now()
		if err := producer.ProduceSync(ctx, &kgo.Record{Topic: "every", Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if r.Partition != p {
				t.Fatalf("record %d: got partition %d, produced to %d", i, r.Partition, p)
			}
			if lat := time.Since(sent); lat > 2*time.Second {
				t.Fatalf("record %d on partition %d reached the consumer %v after it was sent", i, p, lat)
			}
		case <-time.After(4 * time.Second):
			t.Fatalf("record %d on partition %d: not consumed within 4 s of its send (a missed wake-up waits out the 5 s)", i, p)
		}
	}
}
