package broker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
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
// which goes over the controller listener; every broker applies the new ISR.
func TestThreeBrokersAlterPartition(t *testing.T) {
	brokers := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := brokers[0].createTopic("isr", 6, 3, nil); err != nil {
		t.Fatal(err)
	}
	leader, mt, p := leaderOffController(t, brokers, "isr")
	self, _ := leader.image().Broker(leader.cfg.NodeID)
	alter := func(isr []int32) kmsg.AlterPartitionResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionRequest()
		req.BrokerID, req.BrokerEpoch = leader.cfg.NodeID, self.Epoch
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.TopicID = mt.ID()
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = p.Partition, p.LeaderEpoch, p.PartitionEpoch
		for _, id := range isr {
			m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
			m.BrokerID = id
			rp.NewEpochISR = append(rp.NewEpochISR, m)
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		req.Version = req.MaxVersion()
		resp := leader.controller().AlterPartition(ctx, req)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("AlterPartition answered %+v", resp)
		}
		return resp.Topics[0].Partitions[0]
	}
	everyBrokerHas := func(isr []int32, epoch int32) {
		t.Helper()
		wait.Until(t, 10*time.Second, "every broker applied the ISR change", func() bool {
			for _, b := range brokers {
				now, _ := b.image().Partition("isr", p.Partition)
				if !slices.Equal(now.ISR, isr) || now.PartitionEpoch != epoch || now.Leader != leader.cfg.NodeID {
					return false
				}
			}
			return true
		})
	}
	shrunk := []int32{leader.cfg.NodeID}
	sp := alter(shrunk)
	if sp.ErrorCode != 0 || sp.LeaderID != leader.cfg.NodeID || sp.LeaderEpoch != p.LeaderEpoch || sp.PartitionEpoch != p.PartitionEpoch+1 || !slices.Equal(sp.ISR, shrunk) {
		t.Fatalf("shrinking the ISR of %d: %+v (was %+v)", p.Partition, sp, p)
	}
	everyBrokerHas(shrunk, p.PartitionEpoch+1)

	// The old state is stale now.
	if sp := alter(p.Replicas); sp.ErrorCode != kerr.InvalidUpdateVersion.Code {
		t.Fatalf("AlterPartition at a stale partition epoch: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	p, _ = leader.image().Partition("isr", p.Partition)
	if sp := alter(p.Replicas); sp.ErrorCode != 0 || !slices.Equal(sp.ISR, p.Replicas) {
		t.Fatalf("growing the ISR back: %+v", sp)
	}
	everyBrokerHas(p.Replicas, p.PartitionEpoch+1)
}
