package controller

import (
	"slices"
	"testing"
)

func TestElectLeader(t *testing.T) {
	fencedSet := func(ids ...int32) func(int32) bool {
		return func(id int32) bool { return slices.Contains(ids, id) }
	}
	for _, tc := range []struct {
		name          string
		replicas, isr []int32
		fenced        func(int32) bool
		want          int32
	}{
		{"preferred", []int32{1, 2, 3}, []int32{3, 2, 1}, fencedSet(), 1},
		{"preferred fenced", []int32{1, 2, 3}, []int32{1, 2, 3}, fencedSet(1), 2},
		{"preferred out of isr", []int32{1, 2, 3}, []int32{3, 2}, fencedSet(), 2},
		{"replica order, not isr order", []int32{1, 2, 3}, []int32{3, 2}, fencedSet(1), 2},
		{"only last", []int32{1, 2, 3}, []int32{1, 3}, fencedSet(1), 3},
		{"isr all fenced", []int32{1, 2, 3}, []int32{1, 2}, fencedSet(1, 2), NoLeader},
		{"empty isr", []int32{1, 2, 3}, nil, fencedSet(), NoLeader},
		{"isr member not a replica", []int32{1}, []int32{5}, fencedSet(), NoLeader},
		{"no replicas", nil, []int32{1}, fencedSet(), NoLeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ElectLeader(tc.replicas, tc.isr, tc.fenced); got != tc.want {
				t.Fatalf("ElectLeader(%v, isr %v) = %d, want %d", tc.replicas, tc.isr, got, tc.want)
			}
		})
	}
}

func TestLeaderImbalance(t *testing.T) {
	parts := []Leadership{
		{Replicas: []int32{1, 2}, Leader: 1},
		{Replicas: []int32{1, 2}, Leader: 2},        // 1 prefers, 2 leads
		{Replicas: []int32{1, 3}, Leader: NoLeader}, // offline counts as not led
		{Replicas: []int32{1, 2}, Leader: 1},
		{Replicas: []int32{2, 1}, Leader: 2},
		{Replicas: []int32{3, 1}, Leader: 3},
		{Replicas: nil, Leader: NoLeader},
	}
	got := LeaderImbalance(slices.Values(parts))
	want := []LeaderBalance{{Broker: 1, Preferred: 4, NotLed: 2}, {Broker: 2, Preferred: 1}, {Broker: 3, Preferred: 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("LeaderImbalance = %+v, want %+v", got, want)
	}
	if r := got[0].Ratio(); r != 0.5 {
		t.Errorf("broker 1 ratio %v, want 0.5", r)
	}
	for _, tc := range []struct {
		b          LeaderBalance
		percentage int
		want       bool
	}{
		{LeaderBalance{Preferred: 10, NotLed: 1}, 10, false}, // exactly 10%: Kafka compares with >
		{LeaderBalance{Preferred: 10, NotLed: 2}, 10, true},
		{LeaderBalance{Preferred: 9, NotLed: 1}, 10, true}, // 11.1%
		{LeaderBalance{Preferred: 0, NotLed: 0}, 0, false},
		{LeaderBalance{Preferred: 3, NotLed: 0}, 0, false},
		{LeaderBalance{Preferred: 3, NotLed: 1}, 0, true},
	} {
		if got := tc.b.Exceeds(tc.percentage); got != tc.want {
			t.Errorf("%+v.Exceeds(%d) = %v, want %v", tc.b, tc.percentage, got, tc.want)
		}
	}
	if r := (LeaderBalance{}).Ratio(); r != 0 {
		t.Errorf("ratio with no preferred partitions = %v, want 0", r)
	}
}

// TestPlacedLeadersBalanced ties placement to the balance check: a fresh
// placement where every preferred leader leads has ratio 0 everywhere, and
// fencing one broker moves its partitions to their next ISR replica and
// puts its ratio at 1, above the default 10%.
func TestPlacedLeadersBalanced(t *testing.T) {
	brokers := cluster(5, []string{"a", "b", "c", "a", "b"})
	out, err := Place(brokers, Request{Partitions: 20, ReplicationFactor: 3}, seeded(9))
	if err != nil {
		t.Fatal(err)
	}
	fenced := func(id int32) bool { return id == 2 }
	var parts []Leadership
	for _, r := range out {
		parts = append(parts, Leadership{Replicas: r, Leader: ElectLeader(r, r, fenced)})
	}
	for _, b := range LeaderImbalance(slices.Values(parts)) {
		exceeds := b.Broker == 2
		if b.Exceeds(10) != exceeds || b.Preferred != 4 {
			t.Errorf("broker %d: %+v, ratio %v; want 4 preferred and exceeds=%v", b.Broker, b, b.Ratio(), exceeds)
		}
	}
}
