package broker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
	"runnel/internal/wait"
)

// leaderOffController returns a partition of topic whose leader is not the
// active controller, with that leader.
func leaderOffController(t *testing.T, brokers []*Broker, topic string) (*Broker, *metadata.Topic, metadata.Partition) {
	t.Helper()
	mt, ok := brokers[0].image().Topic(topic)
	if !ok {
		t.Fatalf("no topic %s", topic)
	}
	for p := range mt.Partitions() {
		for _, b := range brokers {
			if b.cfg.NodeID == p.Leader && !b.quorum.ctrl.Active() {
				return b, mt, p
			}
		}
	}
	t.Fatalf("every partition of %s is led by the active controller", topic)
	return nil, nil, metadata.Partition{}
}

// TestThreeBrokersAlterPartition: a partition leader that is not the active
// controller shrinks and grows its ISR with b.controller().AlterPartition,
// which goes over the controller listener (in its newest version, whatever
// the caller's); every broker applies the change. The leader's own ISR
// management may change the partition between two steps: a step that finds
// its partition epoch stale (INVALID_UPDATE_VERSION) is tried again.
func TestThreeBrokersAlterPartition(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := brokers[0].createTopic("isr", 6, 3, nil); err != nil {
		t.Fatal(err)
	}
	leader, mt, p := leaderOffController(t, brokers, "isr")
	self, _ := leader.image().Broker(leader.cfg.NodeID)
	// alter sends an AlterPartition of version v for the partition in
	// state p: v3 names the topic by id and gives the ISR with broker
	// epochs, v0 by name and as ids.
	alter := func(v int16, topic string, p metadata.Partition, isr []int32) kmsg.AlterPartitionResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionRequest()
		req.Version, req.BrokerID, req.BrokerEpoch = v, leader.cfg.NodeID, self.Epoch
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.Topic, rt.TopicID = topic, mt.ID()
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = p.Partition, p.LeaderEpoch, p.PartitionEpoch
		if v >= 3 {
			for _, id := range isr {
				m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
				m.BrokerID = id
				rp.NewEpochISR = append(rp.NewEpochISR, m)
			}
		} else {
			rp.NewISR = isr
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := leader.controller().AlterPartition(ctx, req)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("AlterPartition answered %+v", resp)
		}
		return resp.Topics[0].Partitions[0]
	}
	// alterCurrent sends alter for the partition as the leader's image has
	// it, again while that state turns out stale; it returns the state
	// sent and the answer.
	alterCurrent := func(v int16, isr []int32) (metadata.Partition, kmsg.AlterPartitionResponseTopicPartition) {
		t.Helper()
		var at metadata.Partition
		var sp kmsg.AlterPartitionResponseTopicPartition
		wait.Until(t, 10*time.Second, "an AlterPartition at the current partition epoch", func() bool {
			var ok bool
			if at, ok = leader.image().Partition("isr", p.Partition); !ok {
				return false
			}
			sp = alter(v, "isr", at, isr)
			return sp.ErrorCode != kerr.InvalidUpdateVersion.Code
		})
		return at, sp
	}
	everyBrokerApplied := func(epoch int32) {
		t.Helper()
		wait.Until(t, 10*time.Second, "every broker applied the ISR change", func() bool {
			for _, b := range brokers {
				if now, _ := b.image().Partition("isr", p.Partition); now.PartitionEpoch < epoch {
					return false
				}
			}
			return true
		})
	}
	shrunk := []int32{leader.cfg.NodeID}
	at, sp := alterCurrent(3, shrunk)
	if sp.ErrorCode != 0 || sp.LeaderID != leader.cfg.NodeID || sp.LeaderEpoch != at.LeaderEpoch || sp.PartitionEpoch != at.PartitionEpoch+1 || !slices.Equal(sp.ISR, shrunk) {
		t.Fatalf("shrinking the ISR of %d: %+v (was %+v)", p.Partition, sp, at)
	}
	everyBrokerApplied(sp.PartitionEpoch)

	// The state before is stale now.
	if sp := alter(3, "", at, p.Replicas); sp.ErrorCode != kerr.InvalidUpdateVersion.Code {
		t.Fatalf("AlterPartition at a stale partition epoch: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp := alter(0, "nope", at, p.Replicas); sp.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("AlterPartition v0 of an unknown topic: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	// A broker that does not lead the partition is told so at once (the
	// forwarding does not take the answer for a lost controller's).
	for _, b := range brokers {
		if b == leader || b.quorum.ctrl.Active() {
			continue
		}
		me, _ := b.image().Broker(b.cfg.NodeID)
		req := kmsg.NewPtrAlterPartitionRequest()
		req.Version, req.BrokerID, req.BrokerEpoch = 3, b.cfg.NodeID, me.Epoch
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.TopicID = mt.ID()
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = p.Partition, at.LeaderEpoch, at.PartitionEpoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		quick, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp := b.controller().AlterPartition(quick, req)
		cancel()
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
			t.Fatalf("AlterPartition from broker %d, which does not lead: %v", b.cfg.NodeID, kerr.ErrorForCode(code))
		}
	}
	if _, sp := alterCurrent(0, p.Replicas); sp.ErrorCode != 0 || !slices.Equal(slices.Sorted(slices.Values(sp.ISR)), slices.Sorted(slices.Values(p.Replicas))) {
		t.Fatalf("growing the ISR back (v0): %+v", sp)
	} else {
		everyBrokerApplied(sp.PartitionEpoch)
	}
}

// activeOf returns the broker whose controller is the active one.
func activeOf(t *testing.T, brokers []*Broker) *Broker {
	t.Helper()
	var active *Broker
	wait.Until(t, 10*time.Second, "an active controller", func() bool {
		for _, b := range brokers {
			if b.quorum.ctrl.Active() {
				active = b
				return true
			}
		}
		return false
	})
	return active
}

// TestThreeBrokersElectLeaders: kadm.ElectLeaders through a broker. A
// broker fenced for a moment loses its leaderships; once it is back in the
// ISR a preferred election of every partition moves its leadership back
// (and every broker applies it); an unclean election of a partition with a
// leader is not needed, one of an unknown partition fails.
func TestThreeBrokersElectLeaders(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := brokers[0].createTopic("pref", 3, 3, nil); err != nil {
		t.Fatal(err)
	}
	mt, _ := brokers[0].image().Topic("pref")
	p, _ := mt.Partition(0)
	preferred := p.Replicas[0]
	var victim, via *Broker // via, another broker, answers
	for _, b := range brokers {
		if b.cfg.NodeID == preferred {
			victim = b
		} else {
			via = b
		}
	}
	// The active controller fences it at its request; its own heartbeats
	// unfence it again.
	self, _ := victim.image().Broker(preferred)
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch, hb.CurrentMetadataOffset, hb.WantFence = preferred, self.Epoch, victim.AppliedOffset(), true
	if resp := activeOf(t, brokers).quorum.ctrl.BrokerHeartbeat(ctx, hb); resp.ErrorCode != 0 || !resp.IsFenced {
		t.Fatalf("fencing broker %d: %+v", preferred, resp)
	}
	// Back in the ISR: its leader takes it back (the test does, where no
	// replica fetches).
	wait.Until(t, 10*time.Second, "the victim unfenced, in the ISR again, not leading", func() bool {
		br, _ := via.image().Broker(preferred)
		now, ok := via.image().Partition("pref", 0)
		if !ok || br.Fenced || now.Leader == preferred || now.Leader < 0 {
			return false
		}
		if slices.Contains(now.ISR, preferred) {
			return true
		}
		req := kmsg.NewPtrAlterPartitionRequest()
		req.Version, req.BrokerID = 2, now.Leader
		if br, ok := via.image().Broker(now.Leader); ok {
			req.BrokerEpoch = br.Epoch
		}
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.TopicID = mt.ID()
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = 0, now.LeaderEpoch, now.PartitionEpoch, append(slices.Clone(now.ISR), preferred)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		via.controller().AlterPartition(ctx, req) // stale or not: the next round looks again
		return false
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(via.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	results, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := results["pref"][0]; !ok || r.Err != nil {
		t.Fatalf("preferred election of every partition: %v, want pref-0 elected", results)
	}
	wait.Until(t, 10*time.Second, "every broker applied the election", func() bool {
		for _, b := range brokers {
			if after, _ := b.image().Partition("pref", 0); after.Leader != preferred {
				return false
			}
		}
		return true
	})
	set := kadm.TopicsSet{}
	set.Add("pref", 0, 9)
	if results, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, set); err != nil {
		t.Fatal(err)
	}
	if r := results["pref"][0]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("unclean election of a partition with a leader: %+v", r)
	}
	if r := results["pref"][9]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unclean election of an unknown partition: %+v", r)
	}
}

// TestThreeBrokersControlledShutdown: a broker that closes first hands its
// leaderships to other ISR members and leaves the ISRs: when Close returns
// the others already serve it so (no wait for a session to expire).
func TestThreeBrokersControlledShutdown(t *testing.T) {
	brokers := startCluster(t, 3)
	if err := brokers[0].createTopic("cs", 6, 3, nil); err != nil {
		t.Fatal(err)
	}
	leaving, _, _ := leaderOffController(t, brokers, "cs")
	id := leaving.cfg.NodeID
	wait.Until(t, 10*time.Second, "every broker applied the topic", func() bool {
		for _, b := range brokers {
			if _, ok := b.image().Topic("cs"); !ok {
				return false
			}
		}
		return true
	})
	start := time.Now()
	if err := leaving.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	for _, b := range brokers {
		if b == leaving {
			continue
		}
		mt, _ := b.image().Topic("cs")
		for p := range mt.Partitions() {
			if p.Leader == id || slices.Contains(p.ISR, id) || p.Leader == metadata.NoLeader {
				t.Errorf("broker %d, once broker %d closed: cs-%d %+v", b.cfg.NodeID, id, p.Partition, p)
			}
		}
		if br, _ := b.image().Broker(id); !br.Fenced {
			t.Errorf("broker %d: broker %d not fenced after its controlled shutdown", b.cfg.NodeID, id)
		}
	}
	t.Logf("controlled shutdown of broker %d took %v", id, took)
}

// TestThreeBrokersOffsetsReplicated: __consumer_offsets gets
// offsets.topic.replication.factor replicas per partition.
func TestThreeBrokersOffsetsReplicated(t *testing.T) {
	brokers := startCluster(t, 3, "offsets.topic.replication.factor=2")
	if got := brokers[1].offsetsReplicationFactor(); got != 2 {
		t.Fatalf("offsets replication factor %d, want 2", got)
	}
	if err := brokers[1].createOffsetsTopic(3); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "__consumer_offsets created", func() bool {
		_, ok := brokers[1].image().Topic(offsetsTopic)
		return ok
	})
	mt, _ := brokers[1].image().Topic(offsetsTopic)
	for p := range mt.Partitions() {
		if len(p.Replicas) != 2 || len(p.ISR) != 2 {
			t.Errorf("%s-%d: %+v, want 2 replicas", offsetsTopic, p.Partition, p)
		}
	}
}
