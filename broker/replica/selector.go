package replica

import (
	"slices"
	"time"
)

// Fetch from the closest replica (KIP-392): the leader of a partition may
// tell a consumer to read from another replica, as Kafka's
// ReplicaManager.findPreferredReadReplica does with its
// replica.selector.class. The candidates are the leader itself and each
// ISR follower whose last fetch reached the consumer's fetch offset (a
// follower's state the leader knows); the one rack-aware rule Kafka ships
// (RackAwareReplicaSelector) picks among them.

// ReplicaView is what a replica selector knows of one replica, as Kafka's
// ReplicaView: its rack ("" none), its log end offset and how long ago it
// last held the leader's whole log.
type ReplicaView struct {
	ID            int32
	Rack          string
	EndOffset     int64
	SinceCaughtUp time.Duration
}

// PreferredReadReplica is the replica a consumer in clientRack fetching
// from fetchOffset should read from under the rack-aware selector, -1 for
// this leader. rackOf gives a replica's rack, false for one a client
// cannot reach (unregistered, fenced, or without the client's listener),
// which is never chosen.
func (l *Leader) PreferredReadReplica(clientRack string, fetchOffset int64, now time.Time, rackOf func(id int32) (string, bool)) int32 {
	if clientRack == "" {
		return -1
	}
	self := ReplicaView{ID: l.cfg.Self, EndOffset: l.cfg.Log.EndOffset()}
	self.Rack, _ = rackOf(self.ID)
	var candidates []ReplicaView
	l.mu.Lock()
	for id, f := range l.mu.followers {
		if !slices.Contains(l.mu.isr, id) || f.endOffset < fetchOffset {
			continue
		}
		candidates = append(candidates, ReplicaView{ID: id, EndOffset: f.endOffset, SinceCaughtUp: now.Sub(f.lastCaughtUp)})
	}
	l.mu.Unlock()
	reachable := candidates[:0]
	for _, c := range candidates {
		if rack, ok := rackOf(c.ID); ok {
			c.Rack = rack
			reachable = append(reachable, c)
		}
	}
	if chosen := SelectRackAware(clientRack, self, reachable); chosen != self.ID {
		return chosen
	}
	return -1
}

// SelectRackAware is Kafka's RackAwareReplicaSelector: the leader unless
// some replica shares the client's rack and the leader does not; then, of
// those in that rack, the one with the highest log end offset, ties going
// to the one caught up most recently (and then to the lowest id, so that
// the answer does not depend on the order of followers).
func SelectRackAware(clientRack string, leader ReplicaView, followers []ReplicaView) int32 {
	if clientRack == "" || leader.Rack == clientRack {
		return leader.ID
	}
	best := ReplicaView{ID: leader.ID}
	found := false
	for _, f := range followers {
		if f.Rack != clientRack {
			continue
		}
		if !found || better(f, best) {
			best, found = f, true
		}
	}
	return best.ID
}

// better orders replicas as Kafka's ReplicaView.comparator, the most
// caught up first.
func better(a, b ReplicaView) bool {
	if a.EndOffset != b.EndOffset {
		return a.EndOffset > b.EndOffset
	}
	if a.SinceCaughtUp != b.SinceCaughtUp {
		return a.SinceCaughtUp < b.SinceCaughtUp
	}
	return a.ID < b.ID
}
