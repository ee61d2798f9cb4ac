package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionFetch builds a Fetch of session (id, epoch) naming the partitions
// of one topic at the given offsets (partition -> offset, in partition
// order), forgetting the
// partitions in forget.
func sessionFetch(version int16, topic string, tid [16]byte, id, epoch, maxWait int32, parts map[int32]int64, forget ...int32) *kmsg.FetchRequest {
	req := fetchReq(version, topic, tid, maxWait, 1, 1<<20, 1<<20)
	req.SessionID, req.SessionEpoch = id, epoch
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, parts[p], 1<<20
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	if len(parts) == 0 {
		req.Topics = nil
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.TopicID, ft.Partitions = topic, tid, forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return req
}

// answeredBatches maps each partition a response holds to its number of
// record batches.
func answeredBatches(t *testing.T, resp *kmsg.FetchResponse) map[int32]int {
	t.Helper()
	got := map[int32]int{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("partition %d: %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
			}
			got[rp.Partition] = len(batchesIn(t, rp.RecordBatches))
		}
	}
	return got
}

// TestFetchSessionSequence drives one session over TCP through its life,
// by topic name (v12) and by topic id (v13), each request on a new
// connection (sessions are the broker's, not a connection's): creation,
// an incremental fetch with nothing new (empty after MaxWait), new data on
// one partition (only it), a forgotten partition (no longer answered), an
// added one, a wrong epoch, an unknown id, a request of the other keying,
// and closing.
func TestFetchSessionSequence(t *testing.T) {
	for _, v := range []int16{12, 13} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			d := startDataBroker(t, nil)
			d.createTopic("seq", 3, nil)
			tid := d.b.topic("seq").id
			produceBatches(t, d, "seq", 0, 1, 10)
			fetch := func(id, epoch, maxWait int32, parts map[int32]int64, forget ...int32) *kmsg.FetchResponse {
				t.Helper()
				return fetchRaw(t, d, sessionFetch(v, "seq", tid, id, epoch, maxWait, parts, forget...))
			}
			expect := func(what string, resp *kmsg.FetchResponse, id int32, want map[int32]int) {
				t.Helper()
				if resp.ErrorCode != 0 || resp.SessionID != id {
					t.Fatalf("%s: error %v, session id %d (want %d)", what, kerr.ErrorForCode(resp.ErrorCode), resp.SessionID, id)
				}
				if got := answeredBatches(t, resp); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s: answered %v, want %v (partition: batches)", what, got, want)
				}
			}

			// Create: partitions 0 and 1, both answered.
			resp := fetch(0, 0, 0, map[int32]int64{0: 0, 1: 0})
			id := resp.SessionID
			if id == 0 {
				t.Fatal("epoch 0 made no session")
			}
			expect("create", resp, id, map[int32]int{0: 1, 1: 0})

			// Partition 0 read: the client moves it on. Nothing new: an
			// empty response after MaxWait.
			start := time.Now()
			resp = fetch(id, 1, 300, map[int32]int64{0: 1})
			if el := time.Since(start); el < 300*time.Millisecond {
				t.Fatalf("an incremental fetch with nothing new answered after %v", el)
			}
			expect("nothing new", resp, id, map[int32]int{})

			// New data on partition 1: only it, though the request names none.
			produceBatches(t, d, "seq", 1, 1, 10)
			expect("produce to 1", fetch(id, 2, 5000, nil), id, map[int32]int{1: 1})

			// Forget partition 0, then write to it: not answered.
			expect("forget 0", fetch(id, 3, 0, map[int32]int64{1: 1}, 0), id, map[int32]int{})
			produceBatches(t, d, "seq", 0, 1, 10)
			expect("write to forgotten 0", fetch(id, 4, 0, nil), id, map[int32]int{})

			// Add partition 2: answered once (its first watermarks), then not.
			expect("add 2", fetch(id, 5, 0, map[int32]int64{2: 0}), id, map[int32]int{2: 0})
			expect("after add", fetch(id, 6, 0, nil), id, map[int32]int{})

			// A wrong epoch, an unknown id, the other keying: errors, and
			// the session goes on.
			for _, tc := range []struct {
				what      string
				id, epoch int32
				version   int16
				want      *kerr.Error
			}{
				{"old epoch", id, 6, v, kerr.InvalidFetchSessionEpoch},
				{"future epoch", id, 9, v, kerr.InvalidFetchSessionEpoch},
				{"unknown id", id ^ 1, 7, v, kerr.FetchSessionIDNotFound},
				{"other keying", id, 7, 25 - v, kerr.FetchSessionTopicIDError},
			} {
				resp := fetchRaw(t, d, sessionFetch(tc.version, "seq", tid, tc.id, tc.epoch, 0, nil))
				if resp.ErrorCode != tc.want.Code || len(resp.Topics) != 0 {
					t.Fatalf("%s: error %v with %d topics, want %v", tc.what, kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics), tc.want)
				}
			}
			produceBatches(t, d, "seq", 2, 1, 10)
			expect("after errors", fetch(id, 7, 5000, nil), id, map[int32]int{2: 1})

			// Close: a full fetch without a session; the id is gone.
			expect("close", fetch(id, -1, 0, map[int32]int64{1: 1}), 0, map[int32]int{1: 0})
			if resp := fetch(id, 8, 0, nil); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("closed session: error %v", kerr.ErrorForCode(resp.ErrorCode))
			}
			if n, parts, _ := d.b.fetchSessions.stats(); n != 0 || parts != 0 {
				t.Fatalf("after close: %d sessions of %d partitions", n, parts)
			}
		})
	}
}

// TestFetchSessionEmptied: an incremental fetch that forgets every
// partition closes its session and is answered as a full fetch without one.
func TestFetchSessionEmptied(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("empty", 1, nil)
	resp := fetchRaw(t, d, sessionFetch(12, "empty", [16]byte{}, 0, 0, 0, map[int32]int64{0: 0}))
	id := resp.SessionID
	resp = fetchRaw(t, d, sessionFetch(12, "empty", [16]byte{}, id, 1, 0, nil, 0))
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 0 {
		t.Fatalf("emptied session: error %d, session id %d, %d topics", resp.ErrorCode, resp.SessionID, len(resp.Topics))
	}
	if n, _, _ := d.b.fetchSessions.stats(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

// TestFetchSessionEviction fills a cache of two slots and checks Kafka's
// eviction rules on a clock the test moves: a new session is refused while
// every session is young, takes the place of the smallest evictable one
// only if it has more partitions, and of the least recently used one once
// that has been unused for the eviction time.
func TestFetchSessionEviction(t *testing.T) {
	d := startDataBroker(t, func(c *Config) {
		c.FetchSessionCacheSlots = 2
		c.FetchSessionEvictionAfter = time.Minute
	})
	d.createTopic("ev", 3, nil)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	d.b.fetchSessions.mu.Lock()
	d.b.fetchSessions.now = func() time.Time { return time.Unix(0, clock.Load()) }
	d.b.fetchSessions.mu.Unlock()
	advance := func(dt time.Duration) { clock.Add(int64(dt)) }
	create := func(n int) int32 {
		t.Helper()
		parts := map[int32]int64{}
		for p := range n {
			parts[int32(p)] = 0
		}
		resp := fetchRaw(t, d, sessionFetch(12, "ev", [16]byte{}, 0, 0, 0, parts))
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != n {
			t.Fatalf("full fetch of %d partitions: error %d, %+v", n, resp.ErrorCode, resp.Topics)
		}
		return resp.SessionID
	}
	use := func(id, epoch int32) int16 {
		return fetchRaw(t, d, sessionFetch(12, "ev", [16]byte{}, id, epoch, 0, nil)).ErrorCode
	}
	evictions := func() int64 { _, _, e := d.b.fetchSessions.stats(); return e }

	a, b := create(2), create(1)
	if a == 0 || b == 0 {
		t.Fatalf("sessions %d, %d: want two", a, b)
	}
	if id := create(3); id != 0 {
		t.Fatal("a full cache of young sessions took a new one")
	}
	advance(90 * time.Second) // both have lived long enough; using them makes them evictable
	if use(a, 1) != 0 || use(b, 1) != 0 {
		t.Fatal("using the sessions failed")
	}
	if id := create(1); id != 0 {
		t.Fatal("a session as small as the smallest evictable one took its place")
	}
	advance(10 * time.Second)
	c := create(3)
	if c == 0 || use(b, 2) != kerr.FetchSessionIDNotFound.Code || use(a, 2) != 0 || evictions() != 1 {
		t.Fatalf("a larger session did not take the smallest one's place (new id %d, evictions %d)", c, evictions())
	}
	advance(30 * time.Second)
	if use(c, 1) != 0 { // c is used 40 s after a
		t.Fatal("using c failed")
	}
	advance(35 * time.Second) // a unused for 65 s: stale
	e := create(1)
	if e == 0 || use(a, 3) != kerr.FetchSessionIDNotFound.Code || use(c, 2) != 0 || evictions() != 2 {
		t.Fatalf("the stale session was not evicted (new id %d, evictions %d)", e, evictions())
	}
	mfs, err := d.b.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if m := mf.GetMetric(); strings.HasPrefix(mf.GetName(), "runnel_fetch_session") && len(m) == 1 {
			got[mf.GetName()] = m[0].GetGauge().GetValue() + m[0].GetCounter().GetValue()
		}
	}
	if want := map[string]float64{"runnel_fetch_sessions": 2, "runnel_fetch_session_partitions": 4, "runnel_fetch_session_evictions_total": 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
}

// TestFetchSessionManyPartitions consumes 1,000 partitions with franz-go,
// which uses fetch sessions by default, and without them: every record is
// read once either way. Then, with nothing left to read, it measures the
// broker's response bytes per Fetch round with and without sessions.
func TestFetchSessionManyPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 partitions")
	}
	const partitions = 1000
	d := startDataBroker(t, func(c *Config) { c.PreallocateBytes = 4096 }) // 1,000 partitions must not reserve 64 MiB each
	small := "65536"
	d.createTopic("many", partitions, map[string]*string{"segment.index.bytes": &small})
	prod := d.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := make([]*kgo.Record, partitions)
	for p := range recs {
		recs[p] = &kgo.Record{Topic: "many", Partition: int32(p), Value: []byte(fmt.Sprint(p))}
	}
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	perRound := map[string]float64{}
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"sessions", nil},
		{"no sessions", []kgo.Opt{kgo.DisableFetchSessions()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := d.client(append([]kgo.Opt{kgo.ConsumeTopics("many"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}, tc.opts...)...)
			defer cl.Close() // its background fetches must not count in the next one's rounds
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			seen := map[int32]int{}
			for len(seen) < partitions && ctx.Err() == nil {
				cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
					if r.Offset != 0 || string(r.Value) != fmt.Sprint(r.Partition) {
						t.Errorf("partition %d offset %d: %q", r.Partition, r.Offset, r.Value)
					}
					seen[r.Partition]++
				})
			}
			for p, n := range seen {
				if n != 1 {
					t.Errorf("partition %d read %d times", p, n)
				}
			}
			if len(seen) != partitions {
				t.Fatalf("read %d partitions, want %d", len(seen), partitions)
			}
			// Idle rounds: the consumer's fetches wait out their 100 ms.
			fetches := func() float64 { return counterValue(t, d.b.metrics.requests.WithLabelValues("Fetch", "NONE")) }
			sent := func() float64 { return counterValue(t, d.b.metrics.bytesOut) }
			received := func() float64 { return counterValue(t, d.b.metrics.bytesIn) }
			idle := func(rounds float64) {
				for f0 := fetches(); fetches()-f0 < rounds && ctx.Err() == nil; {
					pollCtx, pollCancel := context.WithTimeout(ctx, 200*time.Millisecond)
					if n := cl.PollFetches(pollCtx).NumRecords(); n != 0 {
						t.Fatalf("read %d more records", n)
					}
					pollCancel()
				}
			}
			idle(3) // the first carry the last offsets the consumer moved
			f0, b0, r0 := fetches(), sent(), received()
			idle(10)
			f1, b1, r1 := fetches(), sent(), received()
			perRound[tc.name] = (b1 - b0) / (f1 - f0)
			t.Logf("%s: %.0f response bytes and %.0f request bytes per idle fetch (%v fetches)", tc.name, perRound[tc.name], (r1-r0)/(f1-f0), f1-f0)
		})
	}
	if with, without := perRound["sessions"], perRound["no sessions"]; with > 0 && without > 0 {
		t.Logf("idle fetch response bytes, sessions/no sessions: %.0f/%.0f = %.4f", with, without, with/without)
		if with*10 > without {
			t.Errorf("sessions do not shrink idle fetches: %.0f against %.0f bytes", with, without)
		}
	}
}

// BenchmarkFetchSessionIdle measures the broker's work for one Fetch round
// of a consumer of 1,000 partitions with nothing new: decoding the request,
// reading every partition and framing and writing the response, as a full
// fetch without a session and as an incremental fetch of a session. Bytes
// per operation (SetBytes) are the response's.
func BenchmarkFetchSessionIdle(b *testing.B) {
	const partitions = 1000
	d := startDataBroker(b, func(c *Config) { c.PreallocateBytes = 4096 }) // 1,000 partitions must not reserve 64 MiB each
	small := "65536"
	d.createTopic("idle", partitions, map[string]*string{"segment.index.bytes": &small})
	tid := d.b.topic("idle").id
	offsets := map[int32]int64{}
	for p := range partitions {
		offsets[int32(p)] = 0
	}
	// serve decodes a request as the connection does, answers it and
	// writes the response, returning its size and, when check is set, the
	// response decoded (a client's work, left out of the other rounds).
	serve := func(raw []byte, version int16, check bool) (kmsg.FetchResponse, int) {
		req := kmsg.NewPtrFetchRequest()
		req.Version = version
		if err := req.ReadFrom(raw); err != nil {
			b.Fatal(err)
		}
		rep := handleFetch(d.b, &request{msg: req, version: version})
		<-rep.done
		var resp kmsg.FetchResponse
		if rep.frame == nil {
			b.Fatalf("no frame: %+v", rep.resp)
		}
		fr := rep.frame.(*fetchFrame)
		var w memWriter
		if err := fr.writeTo(&w); err != nil {
			b.Fatal(err)
		}
		fr.release()
		if !check {
			return resp, w.Len()
		}
		resp.Version = version
		if err := resp.ReadFrom(w.Bytes()); err != nil {
			b.Fatal(err)
		}
		if resp.ErrorCode != 0 {
			b.Fatal(kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp, w.Len()
	}
	const v = 13
	b.Run("full", func(b *testing.B) {
		raw := sessionFetch(v, "idle", tid, 0, -1, 0, offsets).AppendTo(nil)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			resp, n := serve(raw, v, i == 0)
			if i == 0 {
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != partitions {
					b.Fatal(errors.New("a full fetch did not answer every partition"))
				}
				b.SetBytes(int64(n))
			}
		}
	})
	b.Run("incremental", func(b *testing.B) {
		resp, _ := serve(sessionFetch(v, "idle", tid, 0, 0, 0, offsets).AppendTo(nil), v, true)
		id, epoch := resp.SessionID, int32(1)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			resp, n := serve(sessionFetch(v, "idle", tid, id, epoch, 0, nil).AppendTo(nil), v, i == 0)
			epoch++
			if i == 0 {
				if len(resp.Topics) != 0 {
					b.Fatal(errors.New("an idle incremental fetch answered partitions"))
				}
				b.SetBytes(int64(n))
			}
		}
	})
}

// TestFetchSessionRotates: under a response MaxBytes that fits one batch, a
// partition answered with records in an incremental fetch goes to the end
// of its session's order, so the next one reads the other partition first
// (as Kafka does), and no partition starves.
func TestFetchSessionRotates(t *testing.T) {
	d := startDataBroker(t, nil)
	d.createTopic("rot", 2, nil)
	produceBatches(t, d, "rot", 0, 3, 100)
	produceBatches(t, d, "rot", 1, 1, 100)
	fetch := func(id, epoch int32, parts map[int32]int64) map[int32]int {
		t.Helper()
		req := sessionFetch(12, "rot", [16]byte{}, id, epoch, 0, parts)
		req.MaxBytes = 1 // KIP-74: the first partition with records still gets one batch
		resp := fetchRaw(t, d, req)
		if resp.ErrorCode != 0 {
			t.Fatalf("epoch %d: %v", epoch, kerr.ErrorForCode(resp.ErrorCode))
		}
		got := answeredBatches(t, resp)
		got[-1] = int(resp.SessionID) // the session id, under no partition
		return got
	}
	got := fetch(0, 0, map[int32]int64{0: 0, 1: 0})
	id := int32(got[-1])
	if got[0] != 1 || got[1] != 0 {
		t.Fatalf("full fetch: %v, want one batch of partition 0", got)
	}
	// No order is changed at creation: 0 is read first again, and its
	// batch sends it to the back.
	if got := fetch(id, 1, map[int32]int64{0: 1}); got[0] != 1 || got[1] != 0 {
		t.Fatalf("second fetch: %v, want one batch of partition 0 only", got)
	}
	// Now 1 is read first, though 0 has more.
	if got := fetch(id, 2, map[int32]int64{0: 2}); got[1] != 1 || got[0] != 0 {
		t.Fatalf("third fetch: %v, want one batch of partition 1 only", got)
	}
}

// TestSessionPartMustRespond checks Kafka's rules for what an incremental
// response holds, one partition at a time: records, a changed high
// watermark or log start offset, or an error; after an error the partition
// is sent again once it recovers, even with the watermarks it had before.
func TestSessionPartMustRespond(t *testing.T) {
	sp := &sessionPart{highWatermark: -1, logStartOffset: -1}
	h := fetchPartitionHeader{HighWatermark: 5, LastStableOffset: 5, LogStartOffset: 0}
	for i, tc := range []struct {
		h       fetchPartitionHeader
		records bool
		want    bool
	}{
		{h, false, true},  // first watermarks
		{h, false, false}, // nothing new
		{h, true, true},   // records
		{fetchPartitionHeader{HighWatermark: 6, LogStartOffset: 0}, false, true},
		{fetchPartitionHeader{HighWatermark: 6, LogStartOffset: 2}, false, true},
		{fetchPartitionHeader{HighWatermark: 6, LogStartOffset: 2}, false, false},
		{fetchPartitionHeader{ErrorCode: kerr.NotLeaderForPartition.Code, HighWatermark: 6, LogStartOffset: 2}, false, true},
		{fetchPartitionHeader{ErrorCode: kerr.NotLeaderForPartition.Code, HighWatermark: 6, LogStartOffset: 2}, false, true},
		{fetchPartitionHeader{HighWatermark: 6, LogStartOffset: 2}, false, true}, // recovered
		{fetchPartitionHeader{HighWatermark: 6, LogStartOffset: 2}, false, false},
	} {
		if got := sp.mustRespond(tc.h, tc.records); got != tc.want {
			t.Fatalf("step %d (%+v, records %v): respond %v, want %v", i, tc.h, tc.records, got, tc.want)
		}
	}
}

// TestFetchSessionEvictionPrivileged: followers' sessions (privileged, as
// in Kafka's FetchSessionCache) take the place of consumers' sessions of
// any age and size, and consumers take a follower's only once it is stale.
func TestFetchSessionEvictionPrivileged(t *testing.T) {
	c := newFetchSessionCache(2, time.Minute)
	now := time.Now()
	c.now = func() time.Time { return now }
	create := func(privileged bool, size int) int32 {
		parts, index := make([]*sessionPart, size), map[sessionKey]*sessionPart{}
		for i := range parts {
			parts[i] = &sessionPart{key: sessionKey{topic: "t", partition: int32(i)}}
			index[parts[i].key] = parts[i]
		}
		return c.create(false, privileged, parts, index)
	}
	has := func(id int32) bool { c.mu.Lock(); defer c.mu.Unlock(); return c.sessions[id] != nil }

	big, small := create(false, 50), create(false, 10)
	f1 := create(true, 1)
	if f1 == 0 || has(small) || !has(big) {
		t.Fatalf("a follower's session did not take the smaller young consumer session's place (follower %d, small kept %v)", f1, has(small))
	}
	if create(false, 100) != 0 || !has(f1) {
		t.Fatal("a consumer's session took a young follower's place")
	}
	f2 := create(true, 1)
	if f2 == 0 || has(big) || !has(f1) {
		t.Fatal("a follower's session did not take the last consumer session's place")
	}
	if create(true, 5) != 0 {
		t.Fatal("a follower's session took the place of another young follower's")
	}
	now = now.Add(90 * time.Second)
	c.mu.Lock()
	c.touchLocked(c.sessions[f2], now) // used now, and evictable: lived over a minute
	c.mu.Unlock()
	if create(false, 100) == 0 || has(f1) || !has(f2) {
		t.Fatal("a consumer's session did not take the place of a stale follower's")
	}
	if create(false, 100) != 0 || !has(f2) {
		t.Fatal("a consumer's session took the place of a follower's in use")
	}
}
