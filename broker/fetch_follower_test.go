package broker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

// startRackCluster starts three brokers in racks rack-0, rack-1 and
// rack-2 (with overrides), creates topic with one partition on all three,
// produces records one-record batches to its leader with acks=all and
// waits until every follower's high watermark covers them. It returns the
// brokers and the partition's leader.
func startRackCluster(t *testing.T, topic string, records int, overrides ...string) ([]*Broker, *Broker) {
	t.Helper()
	brokers := startCluster(t, 3, append([]string{"broker.rack=rack-{node}"}, overrides...)...)
	adm := kadm.NewClient(mustClient(t, brokers[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "every broker holds the partition and knows its leader", func() bool {
		for _, b := range brokers {
			if t := b.topic(topic); t == nil || t.partitionAt(0) == nil || imagePartition(b, topic, 0).Leader < 0 {
				return false
			}
		}
		return true
	})
	leader := brokers[imagePartition(brokers[0], topic, 0).Leader]
	for i := range records {
		if sp := produceTo(t, leader, topic, -1, "r"); sp.ErrorCode != 0 {
			t.Fatalf("produce %d: %v", i, kerr.ErrorForCode(sp.ErrorCode))
		}
	}
	wait.Until(t, 10*time.Second, "every follower's high watermark at the log end", func() bool {
		for _, b := range brokers {
			if b.topic(topic).partitionAt(0).log.HighWatermark() < int64(records) {
				return false
			}
		}
		return true
	})
	return brokers, leader
}

// servedBy counts, per broker id, the records a kgo consumer read from it.
type servedBy struct {
	mu    sync.Mutex
	count map[int32]int
}

func (s *servedBy) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	s.mu.Lock()
	s.count[meta.NodeID] += m.NumRecords
	s.mu.Unlock()
}

// consumeInRack reads records records of topic with a kgo consumer in rack,
// bootstrapped from b, and returns how many each broker served.
func consumeInRack(t *testing.T, b *Broker, topic, rack string, records int) map[int32]int {
	t.Helper()
	served := &servedBy{count: map[int32]int{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.ConsumeTopics(topic), kgo.Rack(rack),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(served))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for got := 0; got < records; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%d of %d records read: %v", got, records, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		got += fs.NumRecords()
	}
	served.mu.Lock()
	defer served.mu.Unlock()
	return served.count
}

// TestFetchFromClosestReplica (KIP-392): three brokers in three racks, a
// partition on all three. A consumer in a follower's rack reads every
// record from that follower when the leader has the rack-aware selector,
// and from the leader without one.
func TestFetchFromClosestReplica(t *testing.T) {
	const topic, records = "racked", 20
	for _, tc := range []struct {
		name     string
		selector []string
		fromNear bool
	}{
		{"rack-aware", []string{"replica.selector.class=" + replicaSelectorRackAware}, true},
		{"no selector", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers, leader := startRackCluster(t, topic, records, tc.selector...)
			near := brokers[(leader.cfg.NodeID+1)%3] // a follower
			served := consumeInRack(t, leader, topic, near.cfg.BrokerRack, records)
			want := leader.cfg.NodeID
			if tc.fromNear {
				want = near.cfg.NodeID
			}
			if served[want] != records || len(served) != 1 {
				t.Fatalf("records served per broker %v, want all %d from broker %d (leader %d, consumer in %s)",
					served, records, want, leader.cfg.NodeID, near.cfg.BrokerRack)
			}
		})
	}
}

// fetchPartition sends one consumer Fetch of partition 0 of topic at
// version v from offset with CurrentLeaderEpoch epoch (v9+) to b.
func fetchPartition(t *testing.T, b *Broker, topic string, v int16, offset int64, epoch int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	rc := dialRaw(t, b.Addr().String())
	rc.send(consumerFetch(b, topic, v, offset, epoch), true)
	return rc.receive().(*kmsg.FetchResponse).Topics[0].Partitions[0]
}

// consumerFetch is a consumer's Fetch of partition 0 of topic, without
// waiting.
func consumerFetch(b *Broker, topic string, v int16, offset int64, epoch int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = v, -1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, b.topic(topic).id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestFollowerServesConsumerFetch: a follower answers a consumer's Fetch
// (v11+) up to its own high watermark only, with Kafka's offset checks,
// a long poll there waking when that high watermark moves, and an older
// Fetch NOT_LEADER_OR_FOLLOWER; with the rack-aware selector
// the leader answers a consumer in a follower's rack with that follower as
// PreferredReadReplica and no records.
func TestFollowerServesConsumerFetch(t *testing.T) {
	const topic, records = "followed", 10
	brokers, leader := startRackCluster(t, topic, records, "replica.selector.class="+replicaSelectorRackAware)
	follower := brokers[(leader.cfg.NodeID+1)%3]
	epoch := imagePartition(follower, topic, 0).LeaderEpoch

	// The leader sends a consumer in the follower's rack there, and
	// serves one in its own rack or without a rack.
	rc := dialRaw(t, leader.Addr().String())
	for _, rack := range []string{follower.cfg.BrokerRack, leader.cfg.BrokerRack, ""} {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch, req.Rack = 11, -1, 1<<20, -1, rack
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		rc.send(req, true)
		p := rc.receive().(*kmsg.FetchResponse).Topics[0].Partitions[0]
		wantReplica, wantBatches := int32(-1), records
		if rack == follower.cfg.BrokerRack {
			wantReplica, wantBatches = follower.cfg.NodeID, 0
		}
		if p.ErrorCode != 0 || p.PreferredReadReplica != wantReplica || len(batchesIn(t, p.RecordBatches)) != wantBatches || p.HighWatermark != records {
			t.Fatalf("leader's answer to a consumer in %q: error %v, preferred replica %d, %d batches, high watermark %d; want none, %d, %d, %d",
				rack, kerr.ErrorForCode(p.ErrorCode), p.PreferredReadReplica, len(batchesIn(t, p.RecordBatches)), p.HighWatermark, wantReplica, wantBatches, records)
		}
	}

	// The follower stops fetching, with its high watermark held back
	// (as when the leader's answers have not yet carried it).
	follower.repl.fetchers.Close()
	const hw = 6
	log := follower.topic(topic).partitionAt(0).log
	log.SetHighWatermark(hw)
	for _, tc := range []struct {
		name          string
		version       int16
		offset        int64
		epoch         int32
		err           *kerr.Error
		batches       int
		highWatermark int64
	}{
		{"from the start: up to the high watermark", 11, 0, epoch, nil, hw, hw},
		{"latest version", fetchFrameMaxVersion, 2, epoch, nil, hw - 2, hw},
		{"past the high watermark, within the log", 11, hw + 1, epoch, nil, 0, hw},
		{"past the log end", 11, records + 1, epoch, kerr.OffsetOutOfRange, 0, -1},
		{"past the log end without a leader epoch (KAFKA-14255)", 11, records + 1, -1, nil, 0, hw},
		{"newer leader epoch", 11, 0, epoch + 1, kerr.UnknownLeaderEpoch, 0, -1},
		{"before v11: leader only", 10, 0, epoch, kerr.NotLeaderForPartition, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fetchPartition(t, follower, topic, tc.version, tc.offset, tc.epoch)
			code(t, "follower's answer", p.ErrorCode, tc.err)
			if n := len(batchesIn(t, p.RecordBatches)); n != tc.batches || p.HighWatermark != tc.highWatermark {
				t.Fatalf("%d batches, high watermark %d; want %d and %d", n, p.HighWatermark, tc.batches, tc.highWatermark)
			}
		})
	}

	// A consumer waiting at the follower's high watermark is answered when
	// it moves.
	rc = dialRaw(t, follower.Addr().String())
	req := consumerFetch(follower, topic, fetchFrameMaxVersion, hw, epoch)
	req.MaxWaitMillis, req.MinBytes = 10000, 1
	rc.send(req, true)
	wait.Until(t, 5*time.Second, "the fetch to park", func() bool { return follower.parkedFetches.Load() == 1 })
	log.SetHighWatermark(records)
	p := rc.receive().(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if n := len(batchesIn(t, p.RecordBatches)); p.ErrorCode != 0 || n != records-hw || p.HighWatermark != records {
		t.Fatalf("long poll at the high watermark: error %v, %d batches, high watermark %d; want none, %d, %d",
			kerr.ErrorForCode(p.ErrorCode), n, p.HighWatermark, records-hw, records)
	}
}

// TestReplicaSelectorClass: Kafka's two values are accepted, any other
// refused at startup with the one Kafka name runnel knows.
func TestReplicaSelectorClass(t *testing.T) {
	for _, v := range []string{"", replicaSelectorRackAware} {
		if c, _, err := NewConfig(map[string]string{"replica.selector.class": v}); err != nil || c.ReplicaSelector != v {
			t.Errorf("replica.selector.class=%q: %q, %v", v, c.ReplicaSelector, err)
		}
	}
	for _, v := range []string{"RackAwareReplicaSelector", "com.example.MySelector"} {
		_, _, err := NewConfig(map[string]string{"replica.selector.class": v})
		if err == nil || !strings.Contains(err.Error(), replicaSelectorRackAware) {
			t.Errorf("replica.selector.class=%q: %v, want a refusal naming %s", v, err, replicaSelectorRackAware)
		}
	}
}
