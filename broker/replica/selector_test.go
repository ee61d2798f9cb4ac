package replica

import (
	"testing"
	"time"
)

func TestSelectRackAware(t *testing.T) {
	leader := ReplicaView{ID: 1, Rack: "a", EndOffset: 100}
	for _, tc := range []struct {
		name       string
		clientRack string
		leaderRack string
		followers  []ReplicaView
		want       int32
	}{
		{"no client rack", "", "a", []ReplicaView{{ID: 2, Rack: "", EndOffset: 100}}, 1},
		{"leader in the client's rack", "a", "a", []ReplicaView{{ID: 2, Rack: "a", EndOffset: 100}}, 1},
		{"follower in the client's rack", "b", "a", []ReplicaView{{ID: 2, Rack: "b", EndOffset: 90}, {ID: 3, Rack: "c", EndOffset: 100}}, 2},
		{"nobody in the client's rack", "d", "a", []ReplicaView{{ID: 2, Rack: "b", EndOffset: 100}}, 1},
		{"the most caught up of the rack", "b", "a", []ReplicaView{{ID: 2, Rack: "b", EndOffset: 90}, {ID: 3, Rack: "b", EndOffset: 95}}, 3},
		{"ties to the most recently caught up", "b", "a", []ReplicaView{
			{ID: 2, Rack: "b", EndOffset: 95, SinceCaughtUp: time.Second}, {ID: 3, Rack: "b", EndOffset: 95}}, 3},
		{"leader without a rack", "b", "", []ReplicaView{{ID: 3, Rack: "b", EndOffset: 95}}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := leader
			l.Rack = tc.leaderRack
			if got := SelectRackAware(tc.clientRack, l, tc.followers); got != tc.want {
				t.Fatalf("SelectRackAware = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestPreferredReadReplica: only ISR followers whose fetches reached the
// consumer's offset and that a client can reach are candidates.
func TestPreferredReadReplica(t *testing.T) {
	log := &fakeLog{}
	log.set(100, 100)
	l := newTestLeader(log, []int32{1, 2}, false)
	racks := map[int32]string{1: "a", 2: "b", 3: "b"}
	reachable := map[int32]bool{1: true, 2: true, 3: true}
	rackOf := func(id int32) (string, bool) { return racks[id], reachable[id] }

	if got := l.PreferredReadReplica("b", 50, t0, rackOf); got != -1 {
		t.Fatalf("before any follower fetch: %d, want -1 (the leader)", got)
	}
	l.FollowerFetched(2, 80, t0)
	l.FollowerFetched(3, 100, t0) // out of the ISR
	if got := l.PreferredReadReplica("b", 50, t0, rackOf); got != 2 {
		t.Fatalf("ISR follower 2 in rack b holds offset 50: %d, want 2", got)
	}
	if got := l.PreferredReadReplica("b", 90, t0, rackOf); got != -1 {
		t.Fatalf("follower 2 has not reached offset 90: %d, want -1", got)
	}
	if got := l.PreferredReadReplica("a", 50, t0, rackOf); got != -1 {
		t.Fatalf("client in the leader's rack: %d, want -1", got)
	}
	if got := l.PreferredReadReplica("", 50, t0, rackOf); got != -1 {
		t.Fatalf("client without a rack: %d, want -1", got)
	}
	reachable[2] = false
	if got := l.PreferredReadReplica("b", 50, t0, rackOf); got != -1 {
		t.Fatalf("follower 2 unreachable: %d, want -1", got)
	}
}
