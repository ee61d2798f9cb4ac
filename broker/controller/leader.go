package controller

import (
	"cmp"
	"iter"
	"slices"
)

// NoLeader is the leader of a partition that has none, as in Kafka's
// PartitionRecord (-1); Metadata reports such a partition as
// LEADER_NOT_AVAILABLE.
const NoLeader int32 = -1

// ElectLeader returns the leader a partition should have: the first
// replica, in replica order, that is in the ISR and not fenced, or NoLeader
// when there is none. The first replica is the preferred leader, so this is
// the preferred leader whenever it can lead; otherwise leadership moves down
// the list. This is the clean election of Kafka's PartitionChangeBuilder
// (electLeader), used when a partition is created, when its leader is
// fenced, and by a preferred-leader election (which keeps the current
// leader unless the result is replicas[0]).
func ElectLeader(replicas, isr []int32, fenced func(id int32) bool) int32 {
	for _, r := range replicas {
		if slices.Contains(isr, r) && !fenced(r) {
			return r
		}
	}
	return NoLeader
}

// Leadership is one partition as the leader-balance check sees it.
type Leadership struct {
	Replicas []int32 // the first is the preferred leader
	Leader   int32   // NoLeader if none
}

// LeaderBalance is, for one broker, how many partitions prefer it as leader
// and how many of those another broker (or nobody) leads.
type LeaderBalance struct {
	Broker    int32
	Preferred int
	NotLed    int
}

// Ratio is the broker's leader imbalance ratio: the share of the partitions
// that prefer it which it does not lead (0 when none prefer it).
func (b LeaderBalance) Ratio() float64 {
	if b.Preferred == 0 {
		return 0
	}
	return float64(b.NotLed) / float64(b.Preferred)
}

// Exceeds reports whether the ratio is above percentage percent, which is
// when Kafka's auto leader rebalance (auto.leader.rebalance.enable) runs a
// preferred-leader election for the broker's partitions;
// leader.imbalance.per.broker.percentage defaults to 10.
func (b LeaderBalance) Exceeds(percentage int) bool {
	return b.NotLed*100 > percentage*b.Preferred
}

// LeaderImbalance groups partitions by preferred leader (first replica) and
// counts, per broker, the partitions it prefers and those it does not lead,
// as the ZooKeeper-mode controller's checkAndTriggerAutoLeaderRebalance does
// every leader.imbalance.check.interval.seconds. (KRaft's QuorumController
// elects the preferred leader of every partition not led by it, which is
// Exceeds(0).) The result is in broker order and lists only brokers that
// some partition prefers; partitions with no replicas are skipped.
func LeaderImbalance(partitions iter.Seq[Leadership]) []LeaderBalance {
	index := map[int32]int{}
	var out []LeaderBalance
	for p := range partitions {
		if len(p.Replicas) == 0 {
			continue
		}
		preferred := p.Replicas[0]
		i, ok := index[preferred]
		if !ok {
			i = len(out)
			index[preferred] = i
			out = append(out, LeaderBalance{Broker: preferred})
		}
		out[i].Preferred++
		if p.Leader != preferred {
			out[i].NotLed++
		}
	}
	slices.SortFunc(out, func(a, b LeaderBalance) int { return cmp.Compare(a.Broker, b.Broker) })
	return out
}
