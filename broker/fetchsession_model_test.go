package broker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchSessionAgainstFullFetches is a property test of incremental
// fetches (and of the reads they reuse, fetch.reusable) against a simple
// model, a client that applies each response to what it knows: random
// produces, DeleteRecords, seeks and fetches with response limits small
// enough to leave partitions' records out. After every incremental fetch,
// the high watermark and log start offset the client knows of each
// partition are those a full fetch without a session reads; records arrive
// in order from the offset asked, and fetching on with room for all
// delivers every record up to each high watermark.
func TestFetchSessionAgainstFullFetches(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			testFetchSessionModel(t, seed)
		})
	}
}

// modelPart is what the model client knows of a partition.
type modelPart struct {
	offset, hw, logStart int64
}

func testFetchSessionModel(t *testing.T, seed uint64) {
	const partitions, steps, valueSize = 6, 150, 200
	d := startDataBroker(t, func(c *Config) { c.TopicDefaults = map[string]string{"segment.bytes": "4096"} })
	d.createTopic("model", partitions, nil)
	tid := d.b.topic("model").id
	rng := rand.New(rand.NewPCG(seed, 0))
	rc := dialRaw(t, d.addr)
	roundTrip := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		rc.send(req, true)
		return rc.receive()
	}
	known := make([]modelPart, partitions)
	for p := range known {
		known[p] = modelPart{hw: -1, logStart: -1}
	}
	all := func() map[int32]int64 {
		out := map[int32]int64{}
		for p := range known {
			out[int32(p)] = known[p].offset
		}
		return out
	}
	// apply folds a response into the model, checking that records start
	// at the offset asked and follow one another.
	apply := func(resp *kmsg.FetchResponse) (records int) {
		t.Helper()
		if resp.ErrorCode != 0 {
			t.Fatalf("fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("partition %d: %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
				}
				k := &known[rp.Partition]
				k.hw, k.logStart = rp.HighWatermark, rp.LogStartOffset
				for _, b := range batchesIn(t, rp.RecordBatches) {
					if b.FirstOffset > k.offset || b.FirstOffset+int64(b.LastOffsetDelta) < k.offset {
						t.Fatalf("partition %d: a batch of offsets %d-%d, asked from %d", rp.Partition, b.FirstOffset, b.FirstOffset+int64(b.LastOffsetDelta), k.offset)
					}
					k.offset = b.FirstOffset + int64(b.LastOffsetDelta) + 1
					records++
				}
			}
		}
		return records
	}
	// truth is a full fetch without a session from the model's offsets.
	truth := func() *kmsg.FetchResponse {
		t.Helper()
		return roundTrip(sessionFetch(13, "model", tid, 0, -1, 0, all())).(*kmsg.FetchResponse)
	}
	// check compares the model with a full fetch; drained: the client has
	// fetched until a fetch with room for all (the data is small) read
	// nothing, so it must have read every record.
	check := func(step int, drained bool) {
		t.Helper()
		for _, rt := range truth().Topics {
			for _, rp := range rt.Partitions {
				k := known[rp.Partition]
				if rp.ErrorCode == 0 && (rp.HighWatermark != k.hw || rp.LogStartOffset != k.logStart) {
					t.Fatalf("step %d, partition %d: the session's client knows high watermark %d, log start %d; a full fetch reads %d, %d",
						step, rp.Partition, k.hw, k.logStart, rp.HighWatermark, rp.LogStartOffset)
				}
				if drained && k.offset < rp.HighWatermark {
					t.Fatalf("step %d, partition %d: incremental fetches with room for all left the client at offset %d, the high watermark at %d (a full fetch reads %d batches there)",
						step, rp.Partition, k.offset, rp.HighWatermark, len(batchesIn(t, rp.RecordBatches)))
				}
			}
		}
	}

	resp := roundTrip(sessionFetch(13, "model", tid, 0, 0, 0, all())).(*kmsg.FetchResponse)
	id, epoch := resp.SessionID, int32(1)
	if id == 0 {
		t.Fatal("no session")
	}
	apply(resp)
	check(0, true)
	// fetched: the step ended with an incremental fetch; drained: with
	// fetches until one read no records.
	fetched, drained := false, false
	sent := make([]int64, partitions) // the offset the session holds for each partition
	incremental := func(asked map[int32]int64, maxBytes int32) int {
		t.Helper()
		fetched, drained = true, false
		// As KIP-227 asks of a client: every partition whose offset moved
		// since it was last sent, besides those asked.
		asked = maps.Clone(asked)
		if asked == nil {
			asked = map[int32]int64{}
		}
		for p := range known {
			if known[p].offset != sent[p] {
				asked[int32(p)] = known[p].offset
			}
		}
		for p, o := range asked {
			sent[p] = o
		}
		req := sessionFetch(13, "model", tid, id, epoch, 0, asked)
		req.MaxBytes = maxBytes
		epoch++
		return apply(roundTrip(req).(*kmsg.FetchResponse))
	}
	// drain fetches, with room for all, until a fetch reads no records (a
	// fetch reads one segment of each partition, as Kafka's does).
	drain := func() {
		t.Helper()
		for range 100 {
			if incremental(nil, 1<<20) == 0 {
				drained = true
				return
			}
		}
		t.Fatal("100 fetches and still records")
	}
	for step := 1; step <= steps; step++ {
		p := int32(rng.IntN(partitions))
		fetched = false
		switch op := rng.IntN(10); {
		case op < 4:
			produceBatches(t, d, "model", p, 1+rng.IntN(3), valueSize)
		case op < 5 && known[p].hw > 0:
			req := kmsg.NewPtrDeleteRecordsRequest()
			req.Version, req.TimeoutMillis = 2, 5000
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = "model"
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = p, rng.Int64N(known[p].hw+1)
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			if code := roundTrip(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
				t.Fatalf("step %d: delete records: %v", step, kerr.ErrorForCode(code))
			}
			// A client whose offset fell below the log start seeks to it.
			if known[p].offset < rp.Offset {
				known[p].offset = rp.Offset
				incremental(map[int32]int64{p: rp.Offset}, 1<<20)
			}
		case op < 6:
			// Seek back within what the log holds.
			if lo := max(known[p].logStart, 0); known[p].offset > lo {
				to := lo + rng.Int64N(known[p].offset-lo)
				known[p].offset = to
				incremental(map[int32]int64{p: to}, 1<<20)
				// The log holds records there, and the fetch had room.
				if known[p].offset == to {
					t.Fatalf("step %d, partition %d: sought back to %d (log start %d, high watermark %d): the fetch read nothing", step, p, to, lo, known[p].hw)
				}
			}
		case op < 7:
			drain()
		default:
			// A response limit of one record batch or a little more:
			// partitions with records are left out for want of room.
			asked := map[int32]int64{}
			for q := range known {
				if rng.IntN(2) == 0 {
					asked[int32(q)] = known[q].offset
				}
			}
			incremental(asked, int32(valueSize+100+rng.IntN(valueSize)))
		}
		if fetched {
			check(step, drained)
		}
	}
	drain()
	check(steps+1, true)
	for p, k := range known {
		if k.offset != k.hw {
			t.Errorf("partition %d: fetched up to %d, high watermark %d: records never delivered", p, k.offset, k.hw)
		}
	}
}
