package controller

import (
	"context"
	"iter"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/metadata"
)

// Election types of ElectLeaders (v1+; v0 is always preferred).
const (
	electPreferred int8 = 0
	electUnclean   int8 = 1
)

// ElectLeaders runs the leader elections an admin asks for (KIP-183,
// KIP-460; versions 0-2), as Kafka's ReplicationControlManager.
// electLeaders. Per partition: an unknown topic or partition is
// UNKNOWN_TOPIC_OR_PARTITION. A PREFERRED election (v0's only kind) of a
// partition its first replica leads is ELECTION_NOT_NEEDED; otherwise the
// first replica leads if it is in the ISR and available (registered,
// unfenced, not shutting down); if it is not, a partition whose current
// leader is available keeps it (PREFERRED_LEADER_NOT_AVAILABLE) and one
// without gets the next available ISR member (or
// PREFERRED_LEADER_NOT_AVAILABLE when there is none). An UNCLEAN election
// of a partition that has a leader is ELECTION_NOT_NEEDED; otherwise the
// first available ISR member leads, else the first available replica,
// which becomes the whole ISR, else ELIGIBLE_LEADERS_NOT_AVAILABLE. Null
// Topics is every partition, and then the answer leaves out those whose
// election was not needed. Each election raises the leader and partition
// epochs; all of one request are one entry. A member that is not the
// active controller answers NOT_CONTROLLER (also at the top from v1).
func (c *Controller) ElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	unclean := req.Version >= 1 && req.ElectionType == electUnclean
	type item struct {
		topic     string
		partition int32
	}
	var items []item
	all := req.Topics == nil
	if all {
		for t := range c.Image().Topics() {
			for p := range t.Partitions() {
				items = append(items, item{t.Name(), p.Partition})
			}
		}
	} else {
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				items = append(items, item{rt.Topic, p})
			}
		}
	}
	if !c.Active() {
		resp.ErrorCode = kerr.NotController.Code
	}
	errs := c.operate(ctx, len(items), false, func(img *metadata.Image, i int) ([]metadata.Record, error) {
		it := items[i]
		t, ok := img.Topic(it.topic)
		if !ok {
			return nil, placementErr(kerr.UnknownTopicOrPartition, "No such topic as %s", it.topic)
		}
		p, ok := t.Partition(it.partition)
		if !ok {
			return nil, placementErr(kerr.UnknownTopicOrPartition, "No such partition as %s-%d", it.topic, it.partition)
		}
		if unclean {
			return c.uncleanElection(img, t, p)
		}
		return c.preferredElection(img, t, p)
	})
	topics := map[string]int{}
	for i, it := range items {
		code, message := errorCode(errs[i])
		if all && code == kerr.ElectionNotNeeded.Code {
			continue
		}
		k, ok := topics[it.topic]
		if !ok {
			k = len(resp.Topics)
			topics[it.topic] = k
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = it.topic
			resp.Topics = append(resp.Topics, st)
		}
		sp := kmsg.NewElectLeadersResponseTopicPartition()
		sp.Partition, sp.ErrorCode, sp.ErrorMessage = it.partition, code, message
		resp.Topics[k].Partitions = append(resp.Topics[k].Partitions, sp)
	}
	return resp
}

// preferredElection is ElectLeaders' PREFERRED election of partition p of
// t (Kafka's PartitionChangeBuilder.electPreferredLeader). Called with
// c.mu held.
func (c *Controller) preferredElection(img *metadata.Image, t *metadata.Topic, p metadata.Partition) ([]metadata.Record, error) {
	preferred := p.Replicas[0]
	if p.Leader == preferred {
		return nil, placementErr(kerr.ElectionNotNeeded, "The preferred replica %d already leads.", preferred)
	}
	unavailable := c.unavailable(img)
	valid := func(id int32) bool { return slices.Contains(p.ISR, id) && !unavailable(id) }
	leader := preferred
	if !valid(preferred) {
		if p.Leader != metadata.NoLeader && valid(p.Leader) {
			leader = metadata.NoLeader
		} else {
			leader = ElectLeader(p.Replicas, p.ISR, unavailable)
		}
	}
	if leader == metadata.NoLeader {
		return nil, placementErr(kerr.PreferredLeaderNotAvailable, "The preferred replica %d is not in the ISR %v or not available.", preferred, p.ISR)
	}
	return []metadata.Record{leaderChange(t, p, leader, p.ISR)}, nil
}

// uncleanElection is ElectLeaders' UNCLEAN election of partition p of t:
// a clean election first, else an unclean one whatever the topic's
// config. Called with c.mu held.
func (c *Controller) uncleanElection(img *metadata.Image, t *metadata.Topic, p metadata.Partition) ([]metadata.Record, error) {
	if p.Leader != metadata.NoLeader {
		return nil, placementErr(kerr.ElectionNotNeeded, "Broker %d leads the partition.", p.Leader)
	}
	unavailable := c.unavailable(img)
	leader, isr := ElectLeader(p.Replicas, p.ISR, unavailable), p.ISR
	if leader == metadata.NoLeader {
		leader, isr = c.electUnclean(t, p.Replicas, p.ISR, unavailable)
	}
	if leader == metadata.NoLeader {
		return nil, placementErr(kerr.EligibleLeadersNotAvailable, "No replica of %v is available.", p.Replicas)
	}
	return []metadata.Record{leaderChange(t, p, leader, isr)}, nil
}

// leaderChange is the record that makes leader lead partition p of t with
// isr: leader and partition epochs raised, the ISR written if it changed.
func leaderChange(t *metadata.Topic, p metadata.Partition, leader int32, isr []int32) *metadata.PartitionChangeRecord {
	change := &metadata.PartitionChangeRecord{TopicID: t.ID(), Partition: p.Partition, Leader: leader,
		LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1}
	if !slices.Equal(isr, p.ISR) {
		change.ISR = isr
	}
	return change
}

// uncleanElections returns, when topic allows unclean leader elections in
// img, the elections of its partitions that have no leader. Called with
// c.mu held.
func (c *Controller) uncleanElections(img *metadata.Image, topic string) []metadata.Record {
	t, ok := img.Topic(topic)
	if !ok || !c.uncleanAllowed(img, topic) {
		return nil
	}
	unavailable := c.unavailable(img)
	var out []metadata.Record
	for p := range t.Partitions() {
		if p.Leader != metadata.NoLeader {
			continue
		}
		if change := c.electionRecord(img, t, p, unavailable); change != nil {
			out = append(out, change)
		}
	}
	return out
}

// rebalanceLeaders is the automatic leader rebalance
// (auto.leader.rebalance.enable), run by the active controller every
// leader.imbalance.check.interval.seconds: for each broker whose leader
// imbalance (LeaderImbalance) exceeds leader.imbalance.per.broker.percentage,
// every partition it prefers and does not lead is led by it again, if it is
// in the partition's ISR and available; all in one entry.
func (c *Controller) rebalanceLeaders() {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.SessionTimeout)
	defer cancel()
	moved := 0
	errs := c.operate(ctx, 1, false, func(img *metadata.Image, _ int) ([]metadata.Record, error) {
		over := map[int32]bool{}
		for _, b := range LeaderImbalance(leaderships(img)) {
			if b.Exceeds(c.cfg.Rebalance.Percentage) {
				over[b.Broker] = true
			}
		}
		if len(over) == 0 {
			return nil, nil
		}
		unavailable := c.unavailable(img)
		var out []metadata.Record
		for t := range img.Topics() {
			for p := range t.Partitions() {
				if len(p.Replicas) == 0 {
					continue
				}
				preferred := p.Replicas[0]
				if !over[preferred] || p.Leader == preferred || !slices.Contains(p.ISR, preferred) || unavailable(preferred) {
					continue
				}
				out = append(out, leaderChange(t, p, preferred, p.ISR))
			}
		}
		moved = len(out)
		return out, nil
	})
	switch {
	case moved > 0 && errs[0] != nil:
		c.logger.Warn("controller: leader rebalance failed", "partitions", moved, "err", errs[0])
	case moved > 0:
		c.logger.Info("controller: leader rebalance moved leaderships back to preferred replicas", "partitions", moved)
	}
}

// leaderships lists img's partitions as LeaderImbalance sees them.
func leaderships(img *metadata.Image) iter.Seq[Leadership] {
	return func(yield func(Leadership) bool) {
		for t := range img.Topics() {
			for p := range t.Partitions() {
				if !yield(Leadership{Replicas: p.Replicas, Leader: p.Leader}) {
					return
				}
			}
		}
	}
}
