package broker

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
	"runnel/internal/wait"
	"runnel/segment/segmenttest"
)

// restartBroker starts a broker again with the configuration and log dirs
// of old, which must be closed, on the same listeners.
func restartBroker(t *testing.T, old *Broker) *Broker {
	t.Helper()
	ln, err := net.Listen("tcp", old.cfg.ListenAddr)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := New(old.cfg, logger.With("test node", old.cfg.NodeID, "restarted", true))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	go b.Serve(ln)
	t.Cleanup(func() { b.Close() })
	return b
}

// imagePartition is partition p of topic as b's image has it.
func imagePartition(b *Broker, topic string, p int32) metadata.Partition {
	part, _ := b.image().Partition(topic, p)
	return part
}

// produceRaw sends one batch with acks to broker b and returns the
// partition's answer.
func produceTo(t *testing.T, b *Broker, topic string, acks int16, value string) kmsg.ProduceResponseTopicPartition {
	return produceWithin(t, b, topic, acks, value, 10000)
}

// produceWithin is produceTo with the request's TimeoutMillis.
func produceWithin(t *testing.T, b *Broker, topic string, acks int16, value string, timeoutMs int32) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	rc := dialRaw(t, b.Addr().String())
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, acks, timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = segmenttest.Batch(segmenttest.Values(value))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rc.send(req, true)
	return rc.receive().(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// fetchRaw fetches partition 0 of topic from offset at b, without waiting,
// and returns its high watermark and how many bytes of records came.
func fetchAt(t *testing.T, b *Broker, topic string, offset int64) (hw int64, records int) {
	t.Helper()
	rc := dialRaw(t, b.Addr().String())
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = 11, -1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rc.send(req, true)
	p := rc.receive().(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.HighWatermark, len(p.RecordBatches)
}

// TestReplicationISR: a partition with three replicas on three brokers.
// acks=all is answered once every replica has the batch; consumers see
// nothing past the high watermark; a stopped follower leaves the ISR after
// replica.lag.time.max.ms, after which acks=all goes on with
// min.insync.replicas=2 and is refused NOT_ENOUGH_REPLICAS with 3; the
// follower started again rejoins the ISR.
// Under both flush policies: the leader counts its own log at its flushed
// offset under durable, at its end under interval.
func TestReplicationISR(t *testing.T) {
	for _, policy := range []string{"durable", "interval"} {
		t.Run(policy, func(t *testing.T) { testReplicationISR(t, policy) })
	}
}

func testReplicationISR(t *testing.T, policy string) {
	const lag = 1500 * time.Millisecond
	brokers := startCluster(t, 3, "replica.lag.time.max.ms=1500", "runnel.flush.policy="+policy)
	const topic = "replicated"
	adm := kadm.NewClient(mustClient(t, brokers[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "every broker holds the partition", func() bool {
		for _, b := range brokers {
			if t := b.topic(topic); t == nil || t.partitionAt(0) == nil {
				return false
			}
		}
		return true
	})
	part := imagePartition(brokers[0], topic, 0)
	if len(part.Replicas) != 3 || len(part.ISR) != 3 {
		t.Fatalf("partition %+v", part)
	}
	leader := brokers[part.Leader]
	var followers []*Broker
	for _, b := range brokers {
		if b != leader {
			followers = append(followers, b)
		}
	}
	logOf := func(b *Broker) interface{ EndOffset() int64 } { return b.topic(topic).partitionAt(0).log }
	if got := gaugeValue(t, leader, "runnel_offline_partitions"); got != 0 {
		t.Errorf("runnel_offline_partitions %v, want 0", got)
	}

	// acks=all: answered once every replica has the batch.
	for i := range 10 {
		sp := produceTo(t, leader, topic, -1, "all")
		if sp.ErrorCode != 0 {
			t.Fatalf("produce %d: %v", i, kerr.ErrorForCode(sp.ErrorCode))
		}
		for _, b := range brokers {
			if end := logOf(b).EndOffset(); end <= sp.BaseOffset {
				t.Fatalf("offset %d acknowledged while broker %d's log ends at %d", sp.BaseOffset, b.cfg.NodeID, end)
			}
		}
	}

	// One follower stops fetching (its broker stays up and registered):
	// an acks=1 record is on the leader, not on the whole ISR, so
	// consumers do not see it until the follower is out.
	stopped := followers[0]
	stopped.repl.fetchers.Close()
	sp := produceTo(t, leader, topic, 1, "one")
	if sp.ErrorCode != 0 {
		t.Fatalf("acks=1 produce: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if hw, n := fetchAt(t, leader, topic, sp.BaseOffset); hw != sp.BaseOffset || n != 0 {
		t.Fatalf("fetch at %d with a follower stopped: high watermark %d, %d batches; want %d and none", sp.BaseOffset, hw, n, sp.BaseOffset)
	}
	// acks=all waits for the stopped follower, still in the ISR, until the
	// request's timeout.
	if sp := produceWithin(t, leader, topic, -1, "timed out", 100); sp.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("acks=all with an ISR follower stopped: error %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(sp.ErrorCode))
	}
	start := time.Now()
	wait.Until(t, 10*lag, "the stopped follower out of the ISR", func() bool {
		isr := imagePartition(leader, topic, 0).ISR
		return len(isr) == 2 && !slices.Contains(isr, stopped.cfg.NodeID)
	})
	if took := time.Since(start); took < lag/2 {
		t.Errorf("the follower left the ISR %v after it stopped, before replica.lag.time.max.ms (%v)", took, lag)
	}
	wait.Until(t, 10*time.Second, "the high watermark past the acks=1 record", func() bool {
		hw, _ := fetchAt(t, leader, topic, sp.BaseOffset)
		return hw > sp.BaseOffset
	})
	if sp := produceTo(t, leader, topic, -1, "two in sync"); sp.ErrorCode != 0 {
		t.Fatalf("acks=all with 2 in sync, min.insync.replicas=2: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if got := counterValue(t, leader.metrics.isrShrinks); got < 1 {
		t.Errorf("runnel_isr_shrinks_total %v", got)
	}
	if got := gaugeValue(t, leader, "runnel_under_replicated_partitions"); got != 1 {
		t.Errorf("runnel_under_replicated_partitions %v with a follower out of the ISR, want 1", got)
	}

	// min.insync.replicas=3: refused before the append.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.insync.replicas", Value: kmsg.StringPtr("3")}}, topic); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "the leader applied min.insync.replicas=3", func() bool {
		return leader.topic(topic).partitionAt(0).config().minISR == 3
	})
	end := logOf(leader).EndOffset()
	if sp := produceTo(t, leader, topic, -1, "three"); sp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with 2 in sync, min.insync.replicas=3: error %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if got := logOf(leader).EndOffset(); got != end {
		t.Fatalf("a refused produce was appended: log end %d, was %d", got, end)
	}

	// The follower back (its broker restarted): it catches up and rejoins.
	stopped.Close()
	restarted := restartBroker(t, stopped)
	wait.Until(t, 20*time.Second, "the restarted follower back in the ISR", func() bool {
		return len(imagePartition(leader, topic, 0).ISR) == 3
	})
	if got := counterValue(t, leader.metrics.isrExpands); got < 1 {
		t.Errorf("runnel_isr_expands_total %v", got)
	}
	if got := gaugeValue(t, leader, "runnel_under_replicated_partitions"); got != 0 {
		t.Errorf("runnel_under_replicated_partitions %v with the whole ISR back, want 0", got)
	}
	sp = produceTo(t, leader, topic, -1, "three in sync")
	if sp.ErrorCode != 0 {
		t.Fatalf("acks=all with 3 in sync: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if end := restarted.topic(topic).partitionAt(0).log.EndOffset(); end <= sp.BaseOffset {
		t.Fatalf("offset %d acknowledged while the restarted follower's log ends at %d", sp.BaseOffset, end)
	}
}

// mustClient is a kgo client of b, closed with the test.
func mustClient(t *testing.T, b *Broker) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestCheckLeaderEpoch: a request's CurrentLeaderEpoch against the
// image's, as Kafka's Partition.checkCurrentLeaderEpoch.
func TestCheckLeaderEpoch(t *testing.T) {
	id := metadata.UUID{1}
	img, err := new(metadata.Image).ApplyAll([]metadata.Record{
		&metadata.RegisterBrokerRecord{NodeID: 1, Listeners: []metadata.Listener{{Name: "PLAINTEXT", Host: "h", Port: 1}}},
		&metadata.TopicRecord{TopicID: id, Name: "t"},
		&metadata.PartitionRecord{TopicID: id, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := img.Topic("t")
	for _, tc := range []struct {
		requested int32
		want      error
	}{{-1, nil}, {3, nil}, {2, kerr.FencedLeaderEpoch}, {0, kerr.FencedLeaderEpoch}, {4, kerr.UnknownLeaderEpoch}} {
		if got := checkLeaderEpoch(it, 0, tc.requested); got != tc.want {
			t.Errorf("requested %d: %v, want %v", tc.requested, got, tc.want)
		}
	}
	// A topic the image does not hold: epoch 0.
	if got := checkLeaderEpoch(nil, 0, 1); got != kerr.UnknownLeaderEpoch {
		t.Errorf("no image topic, requested 1: %v", got)
	}
}

// TestReplicationFailover: the leader of a partition with three replicas
// stops (a controlled shutdown moves its leadership); the new leader,
// elected from the ISR, has every record acknowledged with acks=all and
// takes acks=all produces with min.insync.replicas=2; the old leader,
// started again, follows it, ends with the same log and rejoins the ISR.
func TestReplicationFailover(t *testing.T) {
	brokers := startCluster(t, 3, "replica.lag.time.max.ms=3000")
	const topic = "failover"
	adm := kadm.NewClient(mustClient(t, brokers[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "every broker holds the partition", func() bool {
		for _, b := range brokers {
			if t := b.topic(topic); t == nil || t.partitionAt(0) == nil {
				return false
			}
		}
		return true
	})
	old := brokers[imagePartition(brokers[0], topic, 0).Leader]
	const acked = 20
	for i := range acked {
		if sp := produceTo(t, old, topic, -1, "before"); sp.ErrorCode != 0 || sp.BaseOffset != int64(i) {
			t.Fatalf("produce %d: offset %d, %v", i, sp.BaseOffset, kerr.ErrorForCode(sp.ErrorCode))
		}
	}
	old.Close()
	var survivor *Broker
	for _, b := range brokers {
		if b != old {
			survivor = b
		}
	}
	var part metadata.Partition
	wait.Until(t, 20*time.Second, "a new leader", func() bool {
		part = imagePartition(survivor, topic, 0)
		return part.Leader >= 0 && part.Leader != old.cfg.NodeID
	})
	leader := brokers[part.Leader]
	wait.Until(t, 10*time.Second, "the new leader applied its leadership", func() bool {
		l := leader.topic(topic).partitionAt(0).leaderState()
		return l != nil && l.LeaderEpoch() == part.LeaderEpoch
	})
	// Every acknowledged record is on the new leader, and it takes more.
	if end := leader.topic(topic).partitionAt(0).log.EndOffset(); end < acked {
		t.Fatalf("the new leader's log ends at %d, %d records were acknowledged", end, acked)
	}
	var sp kmsg.ProduceResponseTopicPartition
	wait.Until(t, 10*time.Second, "an acks=all produce to the new leader", func() bool {
		sp = produceTo(t, leader, topic, -1, "after")
		return sp.ErrorCode == 0
	})
	if sp.BaseOffset < acked {
		t.Fatalf("the new leader appended at %d, below the %d acknowledged records", sp.BaseOffset, acked)
	}
	wait.Until(t, 10*time.Second, "the high watermark past the new record", func() bool {
		hw, _ := fetchAt(t, leader, topic, 0)
		return hw > sp.BaseOffset
	})

	restarted := restartBroker(t, old)
	wait.Until(t, 30*time.Second, "the old leader back in the ISR with the new leader's log", func() bool {
		p := restarted.topic(topic)
		return p != nil && p.partitionAt(0) != nil && len(imagePartition(leader, topic, 0).ISR) == 3 &&
			p.partitionAt(0).log.EndOffset() == leader.topic(topic).partitionAt(0).log.EndOffset()
	})
	if got := imagePartition(leader, topic, 0).Leader; got != leader.cfg.NodeID {
		t.Logf("leadership moved again, to %d (preferred leader election)", got)
	}
}

// gaugeValue reads a gauge of b's metrics by name.
func gaugeValue(t *testing.T, b *Broker, name string) float64 {
	t.Helper()
	mfs, err := b.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestISRRefusals: a follower the controller refused into an ISR is not
// proposed again until the partition or the broker's registration changes
// in the image, or the refusal's time is up.
func TestISRRefusals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p, other := &partition{}, &partition{}
	mp := metadata.Partition{PartitionEpoch: 4, ISR: []int32{1, 2}}
	brokers := map[int32]metadata.Broker{2: {NodeID: 2, Epoch: 10}, 3: {NodeID: 3, Epoch: 20}}
	broker := func(id int32) (metadata.Broker, bool) { br, ok := brokers[id]; return br, ok }
	newer := mp
	newer.PartitionEpoch = 5
	for _, c := range []struct {
		name     string
		p        *partition
		follower int32
		mp       metadata.Partition
		br       metadata.Broker
		at       time.Time
		refused  bool
	}{
		{"refused", p, 3, mp, brokers[3], t0.Add(time.Second), true},
		{"in the ISR already, not refused", p, 2, mp, brokers[2], t0, false},
		{"another partition", other, 3, mp, brokers[3], t0, false},
		{"the partition changed", p, 3, newer, brokers[3], t0, false},
		{"re-registered", p, 3, mp, metadata.Broker{NodeID: 3, Epoch: 21}, t0, false},
		{"fenced since", p, 3, mp, metadata.Broker{NodeID: 3, Epoch: 20, Fenced: true}, t0, false},
		{"time up", p, 3, mp, brokers[3], t0.Add(30 * time.Second), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := isrRefusals{}
			r.refuse(p, []int32{1, 2, 3}, mp, broker, t0.Add(30*time.Second))
			if got := r.refused(c.p, c.follower, c.mp, c.br, c.at); got != c.refused {
				t.Fatalf("refused %v, want %v", got, c.refused)
			}
			if !c.refused && c.p == p && c.follower == 3 && r.refused(p, 3, mp, brokers[3], t0) {
				t.Fatal("a refusal that ended holds again")
			}
		})
	}
	r := isrRefusals{}
	r.refuse(p, []int32{1, 3}, mp, broker, t0.Add(time.Second))
	r.expire(t0.Add(time.Second))
	if len(r) != 0 {
		t.Fatalf("expire kept %v", r)
	}
}

// TestOfflinePartitionsGauge: a partition whose only replica stopped is
// counted in runnel_offline_partitions once over the cluster, by the
// active controller (Kafka's OfflinePartitionsCount).
func TestOfflinePartitionsGauge(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := mustClient(t, brokers[0])
	create := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "alone", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{2}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	create.Topics = append(create.Topics, rt)
	if resp, err := create.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}
	brokers[2].Close()
	live := brokers[:2]
	wait.Until(t, 20*time.Second, "the partition offline in every image", func() bool {
		for _, b := range live {
			if p := imagePartition(b, "alone", 0); p.Leader != metadata.NoLeader {
				return false
			}
		}
		return true
	})
	wait.Until(t, 10*time.Second, "one offline partition over the cluster, on the active controller", func() bool {
		sum, active := 0.0, 0.0
		for _, b := range live {
			n := gaugeValue(t, b, "runnel_offline_partitions")
			sum += n
			if b.quorum.ctrl.Active() {
				active = n
			}
		}
		return sum == 1 && active == 1
	})
}

// TestRoleChangesLogOneLine checks the leadership line's lists: every
// partition up to eight, then the first eight and the count, so that a
// topic of 10,000 partitions takes one short line.
func TestRoleChangesLogOneLine(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	var c roleChanges
	c.log(logger, "none")
	if out.Len() != 0 {
		t.Fatalf("no change logged %q", out.String())
	}
	for i := int32(11); i >= 0; i-- {
		c.follows(i, metadata.Partition{Leader: 2, LeaderEpoch: 3})
	}
	c.leads(20, metadata.Partition{Leader: 1, LeaderEpoch: 4})
	c.log(logger, "t")
	want := `msg="partition leadership changed" topic=t leads=[20] "follows 2"="[0 1 2 3 4 5 6 7 ... (12 in all)]" "leader epochs"="[3 4]"`
	if got := out.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, want) {
		t.Fatalf("logged %q, want one line with %q", got, want)
	}
}
