package broker

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/replica"
	"runnel/internal/wait"
	"runnel/io/flush"
	"runnel/segment"
)

// replicaTest is three brokers in one process, which lead and follow
// their replicated partitions as their images say (replication.go).
type replicaTest struct {
	brokers []*Broker
}

func startReplicaTest(t *testing.T) *replicaTest {
	return &replicaTest{brokers: startCluster(t, 3)}
}

// createTopic creates topic with replication factor 3, waits until every
// broker leads or follows each partition, and returns the leaders.
func (rt *replicaTest) createTopic(t *testing.T, topic string, partitions int32) []int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(rt.brokers[0].Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, partitions, 3
	req.Topics = append(req.Topics, ct)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create: %v", err)
	}
	leaders := make([]int32, partitions)
	wait.Until(t, 10*time.Second, "every broker leading or following every partition", func() bool {
		for p := range partitions {
			mp := imagePartition(rt.brokers[0], topic, p)
			if mp.Leader < 0 {
				return false
			}
			leaders[p] = mp.Leader
			for node, b := range rt.brokers {
				tp := b.topic(topic)
				if tp == nil || tp.partitionAt(p) == nil {
					return false
				}
				part := tp.partitionAt(p)
				b.adminMu.Lock()
				followed := part.followed
				b.adminMu.Unlock()
				if int32(node) == mp.Leader && part.leaderState() == nil || int32(node) != mp.Leader && followed.leader != mp.Leader {
					return false
				}
			}
		}
		return true
	})
	return leaders
}

func (rt *replicaTest) part(node int32, topic string, index int32) *partition {
	return rt.brokers[node].topic(topic).partitionAt(index)
}

// pause has the followers of a partition stop fetching it, behind their
// brokers' backs, so that a test can shape their logs; resume has them go
// on as their brokers had them.
func (rt *replicaTest) pause(topic string, index, leader int32) {
	for node, b := range rt.brokers {
		if int32(node) != leader {
			p := rt.part(int32(node), topic, index)
			b.repl.fetchers.Unfollow(p.topicID, index)
		}
	}
}

func (rt *replicaTest) resume(topic string, index, leader int32) {
	for node, b := range rt.brokers {
		if int32(node) != leader {
			p := rt.part(int32(node), topic, index)
			b.adminMu.Lock()
			epoch := p.followed.epoch
			b.adminMu.Unlock()
			b.repl.fetchers.Follow(replica.Followed{Topic: topic, TopicID: p.topicID, Partition: index, Leader: leader, LeaderEpoch: epoch, Log: p.log})
		}
	}
}

// logBytes is every batch of l from the one that holds from, as its files
// hold them.
func logBytes(t *testing.T, l *segment.Log, from int64) []byte {
	t.Helper()
	var all []byte
	for offset := from; offset < l.EndOffset(); {
		rr, err := l.Read(offset, 1<<30, segment.ReadOptions{})
		if err != nil {
			t.Fatalf("read at %d: %v", offset, err)
		}
		buf := make([]byte, rr.Range.Size)
		_, err = rr.Range.File.ReadAt(buf, rr.Range.Position)
		rr.Release()
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) == 0 {
			t.Fatalf("read at %d below the end %d found nothing", offset, l.EndOffset())
		}
		for pos := 0; pos < len(buf); {
			h, err := segment.ParseBatchHeader(buf[pos:])
			if err != nil {
				t.Fatal(err)
			}
			offset = h.BaseOffset + int64(h.LastOffsetDelta) + 1
			pos += h.Size()
		}
		all = append(all, buf...)
	}
	return all
}

// awaitSameLogs waits until the followers' logs equal the leader's, start,
// end and bytes.
func (rt *replicaTest) awaitSameLogs(t *testing.T, topic string, index, leader int32) {
	t.Helper()
	want := rt.part(leader, topic, index).log
	for node := range int32(len(rt.brokers)) {
		if node == leader {
			continue
		}
		got := rt.part(node, topic, index).log
		wait.Until(t, 20*time.Second, fmt.Sprintf("node %d's copy of %s-%d reaching the leader's end %d", node, topic, index, want.EndOffset()), func() bool {
			return got.EndOffset() == want.EndOffset()
		})
		if got.StartOffset() != want.StartOffset() {
			t.Errorf("node %d: %s-%d starts at %d, the leader's at %d", node, topic, index, got.StartOffset(), want.StartOffset())
		}
		if !bytes.Equal(logBytes(t, got, got.StartOffset()), logBytes(t, want, want.StartOffset())) {
			t.Errorf("node %d: %s-%d holds other bytes than the leader's", node, topic, index)
		}
	}
}

// fetchFrom sends one fetch to b on a raw connection and returns the
// response.
func fetchFrom(t *testing.T, b *Broker, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	t.Helper()
	rc := dialRaw(t, b.Addr().String())
	rc.send(req, true)
	return rc.receive().(*kmsg.FetchResponse)
}

// batch is one uncompressed batch of n records, stamped with base and
// epoch as a leader's log holds it.
func batch(base int64, epoch int32, n int, value string) []byte {
	records := make([]segment.KeyValue, n)
	for i := range records {
		records[i] = segment.KeyValue{Value: fmt.Appendf(nil, "%s-%d", value, i)}
	}
	b := segment.BuildBatch(nil, time.Now().UnixMilli(), records)
	segment.StampBaseOffset(b, base, epoch)
	return b
}

// TestReplicaFetch: followers fetch from a leader in another broker of the
// same process, over TCP, and end up with its log byte for byte, through
// produced batches, a divergent tail and both out-of-range cases.
func TestReplicaFetch(t *testing.T) {
	rt := startReplicaTest(t)

	t.Run("produced", func(t *testing.T) {
		leaders := rt.createTopic(t, "produced", 2)
		var seeds []string
		for _, b := range rt.brokers {
			seeds = append(seeds, b.Addr().String())
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := range 200 {
			value := bytes.Repeat([]byte{byte(i)}, 1+i*37%3000) // batches of many sizes
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "produced", Partition: int32(i % 2), Value: value}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
		for p, leader := range leaders {
			rt.awaitSameLogs(t, "produced", int32(p), leader)
			lp := rt.part(leader, "produced", int32(p))
			// The leader's high watermark reaches its end once both
			// followers fetched from there, and travels to them.
			wait.Until(t, 10*time.Second, "the high watermark reaching the followers", func() bool {
				for node := range int32(3) {
					if node != leader && rt.part(node, "produced", int32(p)).log.HighWatermark() != lp.log.EndOffset() {
						return false
					}
				}
				return lp.leaderState().HighWatermark() == lp.log.EndOffset()
			})
		}
		// The figures, as a scrape reads them.
		out := 0.0
		for node, b := range rt.brokers {
			mfs, err := b.metrics.registry.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				m := mf.GetMetric()
				switch mf.GetName() {
				case "runnel_replication_bytes_out_total":
					out += m[0].GetCounter().GetValue()
				case "runnel_replica_max_lag":
					if lag := m[0].GetGauge().GetValue(); lag != 0 {
						t.Errorf("node %d: runnel_replica_max_lag %v once caught up", node, lag)
					}
				}
			}
		}
		if sent := float64(2 * (rt.part(leaders[0], "produced", 0).log.Size() + rt.part(leaders[1], "produced", 1).log.Size())); out < sent {
			t.Errorf("runnel_replication_bytes_out_total %v, below the %v bytes the followers hold", out, sent)
		}
	})

	// KIP-279: a follower that wrote, as leader of epoch 2, batches the
	// leader of epoch 3 never got, truncates them and takes the leader's.
	// (The batches' epochs are the test's own: the image's leader epoch
	// stays 0.)
	t.Run("divergent tail", func(t *testing.T) {
		leader := rt.createTopic(t, "divergent", 1)[0]
		rt.pause("divergent", 0, leader)
		lp := rt.part(leader, "divergent", 0)
		for _, r := range []struct {
			epoch int32
			n     int
		}{{1, 3}, {1, 2}, {3, 4}, {3, 1}} {
			if _, err := lp.log.Append(batch(0, -1, r.n, "leader"), segment.AppendOptions{LeaderEpoch: r.epoch}); err != nil {
				t.Fatal(err)
			}
		}
		for node := range int32(3) {
			if node == leader {
				continue
			}
			fl := rt.part(node, "divergent", 0).log
			// The common prefix (epoch 1: offsets 0-4), then epoch 2.
			prefix := logBytes(t, lp.log, 0)[:len(batch(0, 1, 3, "leader"))+len(batch(3, 1, 2, "leader"))]
			if _, err := fl.AppendAsFollower(prefix); err != nil {
				t.Fatal(err)
			}
			if _, err := fl.AppendAsFollower(append(batch(5, 2, 6, "old-leader"), batch(11, 2, 2, "old-leader")...)); err != nil {
				t.Fatal(err)
			}
		}
		rt.resume("divergent", 0, leader)
		rt.awaitSameLogs(t, "divergent", 0, leader)
		for node := range int32(3) {
			if e := rt.part(node, "divergent", 0).log.LeaderEpochs(); len(e) != 2 || e[1] != (segment.EpochEntry{Epoch: 3, StartOffset: 5}) {
				t.Errorf("node %d: epochs %v, want epoch 3 from offset 5", node, e)
			}
		}
	})

	// OFFSET_OUT_OF_RANGE above the leader's end: a follower whose log
	// restarted past the leader's end (no epoch to compare) truncates to
	// that end, which empties it there (Kafka's truncateTo below the log
	// start), and fetches from there on.
	t.Run("above the leader's end", func(t *testing.T) {
		leader := rt.createTopic(t, "above", 1)[0]
		rt.pause("above", 0, leader)
		lp := rt.part(leader, "above", 0)
		for range 3 {
			if _, err := lp.log.Append(batch(0, -1, 4, "leader"), segment.AppendOptions{LeaderEpoch: 0}); err != nil {
				t.Fatal(err)
			}
		}
		for node := range int32(3) {
			if node != leader {
				if err := rt.part(node, "above", 0).log.TruncateFullyAndStartAt(100); err != nil {
					t.Fatal(err)
				}
			}
		}
		rt.resume("above", 0, leader)
		for node := range int32(3) {
			if node != leader {
				fl := rt.part(node, "above", 0).log
				wait.Until(t, 20*time.Second, "the follower truncated to the leader's end", func() bool { return fl.EndOffset() == 12 })
				if fl.StartOffset() != 12 {
					t.Errorf("node %d: log starts at %d, want 12", node, fl.StartOffset())
				}
			}
		}
		for range 2 {
			if _, err := lp.log.Append(batch(0, -1, 3, "more"), segment.AppendOptions{LeaderEpoch: 0}); err != nil {
				t.Fatal(err)
			}
		}
		for node := range int32(3) {
			if node != leader {
				fl := rt.part(node, "above", 0).log
				wait.Until(t, 20*time.Second, "the follower reaching the leader's end", func() bool { return fl.EndOffset() == lp.log.EndOffset() })
				if !bytes.Equal(logBytes(t, fl, 12), logBytes(t, lp.log, 12)) {
					t.Errorf("node %d: the batches after 12 differ from the leader's", node)
				}
			}
		}
	})

	// OFFSET_OUT_OF_RANGE below the leader's start: a follower behind the
	// leader's log start offset (DeleteRecords inside a batch) restarts
	// there, takes the batch that holds it, and the start with it.
	t.Run("below the leader's start", func(t *testing.T) {
		leader := rt.createTopic(t, "below", 1)[0]
		rt.pause("below", 0, leader)
		lp := rt.part(leader, "below", 0)
		for range 4 {
			if _, err := lp.log.Append(batch(0, -1, 5, "leader"), segment.AppendOptions{LeaderEpoch: 0}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := lp.log.DeleteRecordsBefore(12); err != nil { // inside the third batch, 10-14
			t.Fatal(err)
		}
		rt.resume("below", 0, leader)
		for node := range int32(3) {
			if node == leader {
				continue
			}
			fl := rt.part(node, "below", 0).log
			// The follower appends the batch, then moves its start to the
			// leader's (as Kafka's follower does): wait for both.
			wait.Until(t, 20*time.Second, "the follower reaching the leader's end and start 12", func() bool {
				return fl.EndOffset() == lp.log.EndOffset() && fl.StartOffset() == 12
			})
			// From the batch that holds the start on, the leader's bytes.
			want := logBytes(t, lp.log, 12)
			if got := logBytes(t, fl, 12); !bytes.Equal(got, want) {
				t.Errorf("node %d: %d bytes, other than the leader's %d", node, len(got), len(want))
			}
		}
	})
	// The leader's side, request by request: what a follower is answered,
	// and what others are.
	t.Run("served", func(t *testing.T) {
		leader := rt.createTopic(t, "served", 1)[0]
		rt.pause("served", 0, leader)
		follower := (leader + 1) % 3
		lp := rt.part(leader, "served", 0)
		epoch := imagePartition(rt.brokers[0], "served", 0).LeaderEpoch
		for range 2 {
			if _, err := lp.log.Append(batch(0, -1, 3, "x"), segment.AppendOptions{LeaderEpoch: epoch}); err != nil {
				t.Fatal(err)
			}
		}
		type want struct {
			code           int16
			records        int64 // bytes
			divergingEpoch int32
			divergingEnd   int64
		}
		all := int64(len(logBytes(t, lp.log, 0)))
		cases := []struct {
			name               string
			to                 int32 // the broker asked
			version            int16
			replica            int32
			sessionEpoch       int32
			currentEpoch, last int32
			offset             int64
			want               want
		}{
			{name: "the whole log, past the high watermark", to: leader, version: 18, replica: follower, sessionEpoch: -1, currentEpoch: epoch, last: -1, want: want{records: all, divergingEpoch: -1, divergingEnd: -1}},
			{name: "ReplicaID before v15", to: leader, version: 14, replica: follower, sessionEpoch: -1, currentEpoch: epoch, last: -1, want: want{records: all, divergingEpoch: -1, divergingEnd: -1}},
			{name: "not a replica", to: leader, version: 18, replica: 7, sessionEpoch: -1, currentEpoch: epoch, last: -1, want: want{code: kerr.NotLeaderForPartition.Code, divergingEpoch: -1, divergingEnd: -1}},
			{name: "not the leader", to: follower, version: 18, replica: leader, sessionEpoch: -1, currentEpoch: epoch, last: -1, want: want{code: kerr.NotLeaderForPartition.Code, divergingEpoch: -1, divergingEnd: -1}},
			{name: "a newer epoch", to: leader, version: 18, replica: follower, sessionEpoch: -1, currentEpoch: epoch + 1, last: -1, want: want{code: kerr.UnknownLeaderEpoch.Code, divergingEpoch: -1, divergingEnd: -1}},
			{name: "diverging past the leader's end", to: leader, version: 18, replica: follower, sessionEpoch: -1, currentEpoch: epoch, last: epoch, offset: 9, want: want{divergingEpoch: epoch, divergingEnd: 6}},
			{name: "a last epoch newer than the leader's", to: leader, version: 12, replica: follower, sessionEpoch: -1, currentEpoch: -1, last: epoch + 1, offset: 6, want: want{code: kerr.OffsetOutOfRange.Code, divergingEpoch: -1, divergingEnd: -1}},
			{name: "diverging below the fetch offset", to: leader, version: 12, replica: follower, sessionEpoch: -1, currentEpoch: -1, last: epoch, offset: 7, want: want{divergingEpoch: epoch, divergingEnd: 6}},
			{name: "the same epoch, in range", to: leader, version: 18, replica: follower, sessionEpoch: -1, currentEpoch: epoch, last: epoch, offset: 3, want: want{records: all / 2, divergingEpoch: -1, divergingEnd: -1}},
			{name: "out of range", to: leader, version: 18, replica: follower, sessionEpoch: -1, currentEpoch: epoch, last: -1, offset: 7, want: want{code: kerr.OffsetOutOfRange.Code, divergingEpoch: -1, divergingEnd: -1}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				req := fetchReq(c.version, "served", lp.topicID, 0, 0, 1<<20, 1<<20, c.offset)
				if c.version >= 15 {
					req.ReplicaState.ID = c.replica
				} else {
					req.ReplicaID = c.replica
				}
				req.SessionEpoch = c.sessionEpoch
				rp := &req.Topics[0].Partitions[0]
				rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = c.currentEpoch, c.last
				resp := fetchFrom(t, rt.brokers[c.to], req)
				if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("response %+v", resp)
				}
				got := resp.Topics[0].Partitions[0]
				if g := (want{got.ErrorCode, int64(len(got.RecordBatches)), got.DivergingEpoch.Epoch, got.DivergingEpoch.EndOffset}); g != c.want {
					t.Errorf("got %+v, want %+v", g, c.want)
				}
				if got.ErrorCode == 0 && c.replica >= 0 && got.LogStartOffset != 0 {
					t.Errorf("log start offset %d", got.LogStartOffset)
				}
			})
		}
		// An incremental fetch of a session the leader does not have.
		req := fetchReq(18, "served", lp.topicID, 0, 0, 1<<20, 1<<20, 0)
		req.ReplicaState.ID, req.SessionID, req.SessionEpoch = follower, 1, 1
		if resp := fetchFrom(t, rt.brokers[leader], req); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
			t.Errorf("an incremental replica fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		rt.resume("served", 0, leader)
	})
}

// TestReplicaFetchConfig: the replica.fetch.* settings reach the fetch
// loops' configuration.
func TestReplicaFetchConfig(t *testing.T) {
	cfg, _, err := LoadConfig("", []string{"replica.fetch.wait.max.ms=50", "replica.fetch.min.bytes=10", "replica.fetch.max.bytes=4096",
		"replica.fetch.response.max.bytes=65536", "replica.fetch.backoff.ms=20", "replica.socket.timeout.ms=3000"})
	if err != nil {
		t.Fatal(err)
	}
	var got replica.FetchersConfig
	cfg.ReplicaFetch.apply(&got)
	want := replica.FetchersConfig{MaxWait: 50 * time.Millisecond, MinBytes: 10, PartitionMaxBytes: 4096, MaxBytes: 65536, Backoff: 20 * time.Millisecond, Timeout: 3 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fetchers config %+v, want %+v", got, want)
	}
	if _, _, err := LoadConfig("", []string{"replica.fetch.max.bytes=0"}); err == nil {
		t.Error("replica.fetch.max.bytes=0 accepted")
	}
}

// TestReplicaFetchWokenByAppend: a follower's fetch parked on its leader is
// woken by an append that no sync has covered yet, under the durable
// policy too (issue 16 took appends out of consumers' wake-ups there, not
// followers'): a follower copies the leader's log up to its end, and
// acks=all waits for it.
func TestReplicaFetchWokenByAppend(t *testing.T) {
	rt := startReplicaTest(t)
	if rt.brokers[0].cfg.FlushPolicy != flush.Durable {
		t.Fatal("the cluster does not run the durable policy")
	}
	leader := rt.createTopic(t, "woken", 1)[0]
	rt.pause("woken", 0, leader)
	defer rt.resume("woken", 0, leader)
	follower := (leader + 1) % 3
	lb, lp := rt.brokers[leader], rt.part(leader, "woken", 0)
	epoch := imagePartition(rt.brokers[0], "woken", 0).LeaderEpoch
	req := fetchReq(18, "woken", lp.topicID, 60000, 1, 1<<20, 1<<20, lp.log.EndOffset())
	req.ReplicaState.ID = follower
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = epoch
	rc := dialRaw(t, lb.Addr().String())
	parked := lb.parkedFetches.Load() // other fetches, parked on other logs
	rc.send(req, true)
	wait.Until(t, 10*time.Second, "the follower's fetch to park", func() bool { return lb.parkedFetches.Load() > parked })
	if _, err := lp.log.Append(batch(0, -1, 3, "x"), segment.AppendOptions{LeaderEpoch: epoch}); err != nil {
		t.Fatal(err)
	}
	// The connection's 20 s deadline, shorter than the fetch's wait, fails
	// the test if the append does not wake the fetch.
	resp := rc.receive().(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("response %+v", resp)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("partition answered %v with %d bytes, want the appended batch", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
}
