package controller

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// cluster makes brokers 0..n-1 in the given racks (racks[i] for broker i;
// nil for none), with the listed ids fenced.
func cluster(n int, racks []string, fenced ...int32) []Broker {
	bs := make([]Broker, n)
	for i := range bs {
		bs[i].ID = int32(i)
		if racks != nil {
			bs[i].Rack = racks[i]
		}
		bs[i].Fenced = slices.Contains(fenced, int32(i))
	}
	return bs
}

// checkPlacement fails t unless out is a valid automatic placement of req on
// brokers: the right shape, distinct unfenced brokers per partition, and the
// rack rule (a rack gets another replica of a partition only when every
// rack that still has a broker free holds as many).
func checkPlacement(t *testing.T, brokers []Broker, req Request, out [][]int32) {
	t.Helper()
	if len(out) != int(req.Partitions) {
		t.Fatalf("%d partitions placed, want %d", len(out), req.Partitions)
	}
	byID := map[int32]Broker{}
	rackSize := map[string]int{}
	for _, b := range brokers {
		byID[b.ID] = b
		if !b.Fenced {
			rackSize[b.Rack]++
		}
	}
	for p, replicas := range out {
		if len(replicas) != int(req.ReplicationFactor) {
			t.Fatalf("partition %d: %v has %d replicas, want %d", p, replicas, len(replicas), req.ReplicationFactor)
		}
		inRack := map[string]int{}
		for k, id := range replicas {
			b, ok := byID[id]
			if !ok || b.Fenced {
				t.Fatalf("partition %d: %v names broker %d, unknown or fenced", p, replicas, id)
			}
			if slices.Contains(replicas[:k], id) {
				t.Fatalf("partition %d: %v names broker %d twice", p, replicas, id)
			}
			inRack[b.Rack]++
		}
		for r, n := range inRack {
			for other, size := range rackSize {
				if inRack[other] < size && n > inRack[other]+1 {
					t.Fatalf("partition %d: %v has %d replicas in rack %q but %d in rack %q, which has brokers free",
						p, replicas, n, r, inRack[other], other)
				}
			}
		}
	}
}

// counts adds out to the brokers' Replicas and Leaders, as the controller
// would after committing the placement.
func counts(brokers []Broker, out [][]int32) {
	for _, replicas := range out {
		for k, id := range replicas {
			for i := range brokers {
				if brokers[i].ID == id {
					brokers[i].Replicas++
					if k == 0 {
						brokers[i].Leaders++
					}
				}
			}
		}
	}
}

// spread is max-min of f over the unfenced brokers.
func spread(brokers []Broker, f func(Broker) int) int {
	lo, hi := -1, -1
	for _, b := range brokers {
		if b.Fenced {
			continue
		}
		v := f(b)
		if lo < 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return hi - lo
}

// rackLeaderSpread is max-min of the leaderships per rack (unfenced
// brokers).
func rackLeaderSpread(brokers []Broker) int {
	perRack := map[string]int{}
	for _, b := range brokers {
		if !b.Fenced {
			perRack[b.Rack] += b.Leaders
		}
	}
	lo, hi := -1, 0
	for _, n := range perRack {
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	return hi - lo
}

func leadersOf(b Broker) int  { return b.Leaders }
func replicasOf(b Broker) int { return b.Replicas }

func TestPlace(t *testing.T) {
	abc := []string{"a", "b", "c", "a", "b", "c"}
	for _, tc := range []struct {
		name    string
		brokers []Broker
		req     Request
		// want, when set, is the exact placement; leaders and replicas,
		// when set, are the expected counts per broker id.
		want     [][]int32
		leaders  []int
		replicas []int
	}{
		{name: "one broker", brokers: cluster(1, nil), req: Request{Partitions: 3, ReplicationFactor: 1},
			want: [][]int32{{0}, {0}, {0}}},
		{name: "three brokers rf 1", brokers: cluster(3, nil), req: Request{Partitions: 6, ReplicationFactor: 1},
			leaders: []int{2, 2, 2}, replicas: []int{2, 2, 2}},
		{name: "three brokers rf 3", brokers: cluster(3, nil), req: Request{Partitions: 6, ReplicationFactor: 3},
			leaders: []int{2, 2, 2}, replicas: []int{6, 6, 6}},
		{name: "five brokers rf 3", brokers: cluster(5, nil), req: Request{Partitions: 10, ReplicationFactor: 3},
			leaders: []int{2, 2, 2, 2, 2}, replicas: []int{6, 6, 6, 6, 6}},
		{name: "five brokers rf 2 uneven", brokers: cluster(5, nil), req: Request{Partitions: 7, ReplicationFactor: 2}},
		{name: "three racks rf 3", brokers: cluster(6, abc), req: Request{Partitions: 6, ReplicationFactor: 3},
			leaders: []int{1, 1, 1, 1, 1, 1}, replicas: []int{3, 3, 3, 3, 3, 3}},
		{name: "three racks rf 2", brokers: cluster(6, abc), req: Request{Partitions: 12, ReplicationFactor: 2},
			leaders: []int{2, 2, 2, 2, 2, 2}, replicas: []int{4, 4, 4, 4, 4, 4}},
		{name: "three racks rf 5", brokers: cluster(6, abc), req: Request{Partitions: 6, ReplicationFactor: 5},
			leaders: []int{1, 1, 1, 1, 1, 1}, replicas: []int{5, 5, 5, 5, 5, 5}},
		// Rack b has one broker: it gets a replica of every partition, as
		// in Kafka; leaders still spread over all five brokers.
		{name: "uneven racks", brokers: cluster(5, []string{"a", "a", "b", "a", "a"}), req: Request{Partitions: 10, ReplicationFactor: 2},
			leaders: []int{2, 2, 2, 2, 2}},
		// Brokers without a rack form one rack beside the named ones.
		{name: "some without rack", brokers: cluster(4, []string{"a", "", "a", ""}), req: Request{Partitions: 4, ReplicationFactor: 2},
			leaders: []int{1, 1, 1, 1}, replicas: []int{2, 2, 2, 2}},
		{name: "fenced brokers", brokers: cluster(5, nil, 1, 3), req: Request{Partitions: 6, ReplicationFactor: 3},
			leaders: []int{2, 0, 2, 0, 2}, replicas: []int{6, 0, 6, 0, 6}},
		{name: "fenced whole rack", brokers: cluster(6, abc, 2, 5), req: Request{Partitions: 4, ReplicationFactor: 2},
			leaders: []int{1, 1, 0, 1, 1, 0}, replicas: []int{2, 2, 0, 2, 2, 0}},
		// Broker 0 already leads and hosts more than the others: the new
		// partitions are still spread over all three, and the one left
		// over by the even spread goes to 1 and 2.
		{name: "existing load", brokers: []Broker{{ID: 0, Replicas: 4, Leaders: 4}, {ID: 1}, {ID: 2}},
			req: Request{Partitions: 5, ReplicationFactor: 1}, leaders: []int{5, 2, 2}, replicas: []int{5, 2, 2}},
		{name: "sparse ids", brokers: []Broker{{ID: 7}, {ID: 1000}, {ID: 3}}, req: Request{Partitions: 3, ReplicationFactor: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := slices.Clone(tc.brokers)
			out, err := Place(brokers, tc.req, seeded(1))
			if err != nil {
				t.Fatal(err)
			}
			checkPlacement(t, brokers, tc.req, out)
			if tc.want != nil && !slices.EqualFunc(out, tc.want, slices.Equal) {
				t.Fatalf("placed %v, want %v", out, tc.want)
			}
			counts(brokers, out)
			for i, b := range brokers {
				if tc.leaders != nil && b.Leaders != tc.leaders[i] {
					t.Errorf("broker %d leads %d, want %d (placement %v)", b.ID, b.Leaders, tc.leaders[i], out)
				}
				if tc.replicas != nil && b.Replicas != tc.replicas[i] {
					t.Errorf("broker %d hosts %d replicas, want %d (placement %v)", b.ID, b.Replicas, tc.replicas[i], out)
				}
			}
			if s := spread(brokers, leadersOf); s > 1 && spread(tc.brokers, leadersOf) == 0 {
				t.Errorf("leader counts spread by %d: %+v", s, brokers)
			}
		})
	}
}

func TestPlaceErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		brokers []Broker
		req     Request
		want    *kerr.Error
	}{
		{"no partitions", cluster(3, nil), Request{Partitions: 0, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"negative partitions", cluster(3, nil), Request{Partitions: -1, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"zero factor", cluster(3, nil), Request{Partitions: 1, ReplicationFactor: 0}, kerr.InvalidReplicationFactor},
		{"negative factor", cluster(3, nil), Request{Partitions: 1, ReplicationFactor: -1}, kerr.InvalidReplicationFactor},
		{"factor above brokers", cluster(1, nil), Request{Partitions: 1, ReplicationFactor: 2}, kerr.InvalidReplicationFactor},
		{"factor above unfenced", cluster(5, nil, 0, 4), Request{Partitions: 1, ReplicationFactor: 4}, kerr.InvalidReplicationFactor},
		{"all fenced", cluster(3, nil, 0, 1, 2), Request{Partitions: 1, ReplicationFactor: 1}, kerr.InvalidReplicationFactor},
		{"no brokers", nil, Request{Partitions: 1, ReplicationFactor: 1}, kerr.InvalidReplicationFactor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Place(tc.brokers, tc.req, seeded(1))
			var pe *Error
			if !errors.Is(err, tc.want) || !errors.As(err, &pe) || pe.Message == "" {
				t.Fatalf("Place = %v, %v; want %v with a message", out, err, tc.want)
			}
		})
	}
	if _, err := Place([]Broker{{ID: 1}, {ID: 1}}, Request{Partitions: 1, ReplicationFactor: 1}, seeded(1)); err == nil {
		t.Fatal("a broker listed twice was accepted")
	}
}

func TestPlaceAssignments(t *testing.T) {
	brokers := cluster(4, nil, 3) // 0, 1, 2 unfenced; 3 fenced
	as := func(first int32, lists ...[]int32) []Assignment {
		out := make([]Assignment, len(lists))
		for i, l := range lists {
			out[i] = Assignment{Partition: first + int32(i), Replicas: l}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		req  Request
		want [][]int32 // nil: an error
		err  string
	}{
		{name: "create topics", req: Request{Assignments: as(0, []int32{2, 0}, []int32{1, 2})},
			want: [][]int32{{2, 0}, {1, 2}}},
		{name: "out of order", req: Request{Assignments: []Assignment{{1, []int32{1}}, {0, []int32{0}}, {2, []int32{2}}}},
			want: [][]int32{{0}, {1}, {2}}},
		{name: "fenced beside live", req: Request{Assignments: as(0, []int32{3, 1})},
			want: [][]int32{{3, 1}}},
		{name: "create partitions", req: Request{FirstPartition: 3, Partitions: 2, ReplicationFactor: 2, Assignments: as(3, []int32{0, 1}, []int32{1, 2})},
			want: [][]int32{{0, 1}, {1, 2}}},

		{name: "duplicate broker", req: Request{Assignments: as(0, []int32{1, 2, 1})}, err: "broker 1 more than once"},
		{name: "unknown broker", req: Request{Assignments: as(0, []int32{0, 9})}, err: "broker 9, but no such broker"},
		{name: "inconsistent lengths", req: Request{Assignments: as(0, []int32{0, 1}, []int32{2})}, err: "1 replica(s)"},
		{name: "empty list", req: Request{Assignments: as(0, []int32{0}, []int32{})}, err: "empty replica list"},
		{name: "only fenced", req: Request{Assignments: as(0, []int32{3})}, err: "are fenced"},
		{name: "partition twice", req: Request{Assignments: []Assignment{{0, []int32{0}}, {0, []int32{1}}}}, err: "multiple"},
		{name: "gap", req: Request{Assignments: []Assignment{{0, []int32{0}}, {2, []int32{1}}}}, err: "consecutive"},
		{name: "negative partition", req: Request{Assignments: []Assignment{{-1, []int32{0}}}}, err: "consecutive"},
		{name: "before first new", req: Request{FirstPartition: 3, Partitions: 1, ReplicationFactor: 1, Assignments: as(2, []int32{0})}, err: "consecutive"},
		{name: "count mismatch", req: Request{FirstPartition: 3, Partitions: 2, ReplicationFactor: 1, Assignments: as(3, []int32{0})}, err: "Attempted to add 2"},
		{name: "topic factor mismatch", req: Request{FirstPartition: 1, Partitions: 1, ReplicationFactor: 2, Assignments: as(1, []int32{0})}, err: "previous partitions, which have 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Place(brokers, tc.req, seeded(1))
			if tc.want != nil {
				if err != nil || !slices.EqualFunc(out, tc.want, slices.Equal) {
					t.Fatalf("Place = %v, %v; want %v", out, err, tc.want)
				}
				tc.req.Assignments[0].Replicas[0] = 99 // the result must not alias the request
				if out[0][0] == 99 {
					t.Fatal("the result shares memory with the request")
				}
				return
			}
			var pe *Error
			if !errors.Is(err, kerr.InvalidReplicaAssignment) || !errors.As(err, &pe) || !strings.Contains(pe.Message, tc.err) {
				t.Fatalf("Place = %v, %v; want INVALID_REPLICA_ASSIGNMENT saying %q", out, err, tc.err)
			}
		})
	}
}

// TestPlaceDeterministic: the same seed gives the same placement whatever
// order the brokers are listed in; another seed may differ.
func TestPlaceDeterministic(t *testing.T) {
	brokers := cluster(9, []string{"a", "b", "c", "a", "b", "c", "a", "b", "c"}, 4)
	req := Request{Partitions: 50, ReplicationFactor: 3}
	first, err := Place(brokers, req, seeded(42))
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(brokers)
	slices.Reverse(reversed)
	again, err := Place(reversed, req, seeded(42))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(first, again, slices.Equal) {
		t.Fatalf("same seed, different placements:\n%v\n%v", first, again)
	}
	differs := false
	for seed := uint64(0); seed < 10 && !differs; seed++ {
		other, _ := Place(brokers, req, seeded(seed))
		differs = !slices.EqualFunc(first, other, slices.Equal)
	}
	if !differs {
		t.Fatal("ten seeds gave the same placement: the seed is not used")
	}
}

// TestPlaceFollowersVary: a broker's partitions do not all share the same
// followers; over enough partitions every broker shares a partition with
// every other, as AdminUtils' shifted followers do.
func TestPlaceFollowersVary(t *testing.T) {
	for _, n := range []int{4, 6, 10} {
		brokers := cluster(n, nil)
		out, err := Place(brokers, Request{Partitions: int32(4 * n), ReplicationFactor: 2}, seeded(3))
		if err != nil {
			t.Fatal(err)
		}
		partners := map[[2]int32]bool{}
		for _, r := range out {
			partners[[2]int32{min(r[0], r[1]), max(r[0], r[1])}] = true
		}
		// 4n partitions of two replicas give 4n pairs out of n(n-1)/2; ask
		// for most of what is reachable.
		want := min(4*n, n*(n-1)/2) * 3 / 4
		if len(partners) < want {
			t.Errorf("%d brokers: %d distinct replica pairs over %d partitions, want at least %d: %v", n, len(partners), 4*n, want, out)
		}
	}
}

// shape is a random cluster for the property tests.
type shape struct {
	brokers []Broker
	// balanced: the racks allow replica counts within one of even (no
	// racks, or every rack with the same number of unfenced brokers).
	balanced bool
}

func randomShape(rng *rand.Rand) shape {
	n := 1 + rng.IntN(16)
	brokers := make([]Broker, n)
	kind := rng.IntN(3) // 0: no racks, 1: equal racks, 2: random racks
	racks := 1 + rng.IntN(4)
	for i := range brokers {
		brokers[i].ID = int32(i*3 + rng.IntN(3)) // sparse, increasing
		switch kind {
		case 1:
			brokers[i].Rack = fmt.Sprintf("r%d", i%racks)
		case 2:
			brokers[i].Rack = fmt.Sprintf("r%d", rng.IntN(racks))
		}
	}
	for i := range brokers {
		brokers[i].Fenced = rng.IntN(5) == 0
	}
	size := map[string]int{}
	for _, b := range brokers {
		if !b.Fenced {
			size[b.Rack]++
		}
	}
	balanced := true
	for _, s := range size {
		for _, o := range size {
			balanced = balanced && s == o
		}
	}
	rng.Shuffle(n, func(i, j int) { brokers[i], brokers[j] = brokers[j], brokers[i] })
	return shape{brokers: brokers, balanced: balanced}
}

func unfenced(brokers []Broker) int {
	n := 0
	for _, b := range brokers {
		if !b.Fenced {
			n++
		}
	}
	return n
}

// alone returns brokers with the counts of out only: one request's share.
func alone(brokers []Broker, out [][]int32) []Broker {
	own := slices.Clone(brokers)
	for i := range own {
		own[i].Replicas, own[i].Leaders = 0, 0
	}
	counts(own, out)
	return own
}

// TestPlaceProperties places topics one after another on random cluster
// shapes and checks after each: valid placement (distinct, unfenced, rack
// rule); the topic's own leaders within one of even, per broker and (equal
// racks) per rack; the topic's own replicas within one of even where the
// racks allow it; and, counting the topics placed before, leader totals
// still within one of even.
func TestPlaceProperties(t *testing.T) {
	rng := seeded(2026)
	for iter := range 2000 {
		s := randomShape(rng)
		usable := unfenced(s.brokers)
		if usable == 0 {
			continue
		}
		brokers := s.brokers
		for topic := range 1 + rng.IntN(4) {
			rf := int16(1 + rng.IntN(usable))
			req := Request{Partitions: int32(1 + rng.IntN(40)), ReplicationFactor: rf}
			out, err := Place(brokers, req, seeded(uint64(iter)))
			if err != nil {
				t.Fatalf("iteration %d topic %d: %v on %+v", iter, topic, err, brokers)
			}
			checkPlacement(t, brokers, req, out)
			own := alone(brokers, out)
			counts(brokers, out)
			if sp := spread(own, leadersOf); sp > 1 {
				t.Fatalf("iteration %d topic %d: the topic's leader counts spread by %d: %+v", iter, topic, sp, own)
			}
			if sp := rackLeaderSpread(own); s.balanced && sp > 1 {
				t.Fatalf("iteration %d topic %d: the topic's leaders per rack spread by %d: %+v", iter, topic, sp, own)
			}
			if sp := spread(own, replicasOf); s.balanced && sp > 1 {
				t.Fatalf("iteration %d topic %d (rf %d): the topic's replica counts spread by %d: %+v", iter, topic, rf, sp, own)
			}
			if sp := spread(brokers, leadersOf); sp > 1 {
				t.Fatalf("iteration %d topic %d: leader totals spread by %d: %+v", iter, topic, sp, brokers)
			}
		}
	}
}

// TestPlaceEvenWhateverTheLoad: a topic of n partitions per unfenced broker
// gets exactly n leaders and n×rf replicas on every broker, however unevenly
// the cluster is loaded already (as a fresh cluster whose
// __consumer_offsets all went to one broker).
func TestPlaceEvenWhateverTheLoad(t *testing.T) {
	rng := seeded(7)
	for iter := range 500 {
		brokers := cluster(1+rng.IntN(12), nil)
		for i := range brokers {
			brokers[i].Leaders = rng.IntN(100)
			brokers[i].Replicas = brokers[i].Leaders + rng.IntN(100)
		}
		n := 1 + rng.IntN(4)
		rf := int16(1 + rng.IntN(len(brokers)))
		req := Request{Partitions: int32(n * len(brokers)), ReplicationFactor: rf}
		out, err := Place(brokers, req, seeded(uint64(iter)))
		if err != nil {
			t.Fatal(err)
		}
		checkPlacement(t, brokers, req, out)
		for _, b := range alone(brokers, out) {
			if b.Leaders != n || b.Replicas != n*int(rf) {
				t.Fatalf("iteration %d: broker %d leads %d and hosts %d of the topic, want %d and %d: %v on %+v",
					iter, b.ID, b.Leaders, b.Replicas, n, n*int(rf), out, brokers)
			}
		}
	}
}

// TestPlaceTotalsStayBalanced places 1,000 random topics on each of a few
// cluster shapes with equal racks: spreading each topic first must not let
// the cluster's totals drift apart, since the brokers already holding
// fewer get the partitions left over.
func TestPlaceTotalsStayBalanced(t *testing.T) {
	shapes := map[string][]Broker{
		"3 brokers":           cluster(3, nil),
		"7 brokers":           cluster(7, nil),
		"6 brokers, 3 racks":  cluster(6, []string{"a", "b", "c", "a", "b", "c"}),
		"8 brokers, 2 fenced": cluster(8, nil, 2, 5),
	}
	for name, brokers := range shapes {
		t.Run(name, func(t *testing.T) {
			rng := seeded(11)
			usable := unfenced(brokers)
			worstLeaders, worstReplicas := 0, 0
			for topic := range 1000 {
				req := Request{Partitions: int32(1 + rng.IntN(30)), ReplicationFactor: int16(1 + rng.IntN(min(usable, 3)))}
				out, err := Place(brokers, req, seeded(uint64(topic)))
				if err != nil {
					t.Fatal(err)
				}
				counts(brokers, out)
				worstLeaders = max(worstLeaders, spread(brokers, leadersOf))
				worstReplicas = max(worstReplicas, spread(brokers, replicasOf))
			}
			if worstLeaders > 1 || worstReplicas > maxReplicaDrift {
				t.Fatalf("totals spread by up to %d leaders and %d replicas, want at most 1 and %d: %+v",
					worstLeaders, worstReplicas, maxReplicaDrift, brokers)
			}
			t.Logf("worst spread over 1,000 topics: %d leaders, %d replicas", worstLeaders, worstReplicas)
		})
	}
}

// maxReplicaDrift bounds the spread of replica totals over many topics of
// mixed replication factors (4 measured at worst: a topic's leaders and
// replicas pull the totals apart differently, and ties can only settle
// part of it).
const maxReplicaDrift = 4

// BenchmarkPlace places 10,000 partitions with replication factor 3 on 100
// brokers: without racks, in 5 equal racks, and with one broker alone in
// its rack (the rack rule puts a replica of every partition there and the
// repair pass searches in vain).
func BenchmarkPlace(b *testing.B) {
	for _, bc := range []struct {
		name string
		rack func(i int) string
	}{
		{"racks=none", func(int) string { return "" }},
		{"racks=5", func(i int) string { return fmt.Sprintf("rack%d", i%5) }},
		{"racks=uneven", func(i int) string { return map[bool]string{true: "small", false: "big"}[i == 0] }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			brokers := cluster(100, nil)
			for i := range brokers {
				brokers[i].Rack = bc.rack(i)
			}
			req := Request{Partitions: 10000, ReplicationFactor: 3}
			rng := seeded(1)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Place(brokers, req, rng); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzPlace: on any cluster and request Place either fails with one of the
// three placement codes or returns a placement that keeps the rules; and it
// checks explicit lists made of the same bytes without panicking.
func FuzzPlace(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint8(0), uint16(0), int32(6), int16(3), []byte{0, 1, 2})
	f.Add(uint64(7), uint8(9), uint8(3), uint16(0b100), int32(40), int16(3), []byte{})
	f.Add(uint64(2), uint8(5), uint8(2), uint16(0b11111), int32(1), int16(1), []byte{4, 4})
	f.Fuzz(func(t *testing.T, seed uint64, n, racks uint8, fencedMask uint16, partitions int32, rf int16, lists []byte) {
		n %= 32
		partitions %= 2000
		brokers := make([]Broker, n)
		for i := range brokers {
			brokers[i].ID = int32(i) * 2
			if racks > 0 {
				brokers[i].Rack = fmt.Sprint(i % int(racks))
			}
			brokers[i].Fenced = fencedMask&(1<<(i%16)) != 0
			brokers[i].Replicas = int(seed>>i) & 3
		}
		req := Request{Partitions: partitions, ReplicationFactor: rf}
		out, err := Place(brokers, req, seeded(seed))
		if err != nil {
			if !errors.Is(err, kerr.InvalidPartitions) && !errors.Is(err, kerr.InvalidReplicationFactor) {
				t.Fatalf("Place: %v", err)
			}
		} else {
			checkPlacement(t, brokers, req, out)
		}
		// Explicit lists: each byte is a broker id, a zero byte ends a list.
		var as []Assignment
		cur := Assignment{}
		for _, b := range lists {
			if b == 0 {
				as = append(as, cur)
				cur = Assignment{Partition: int32(len(as))}
				continue
			}
			cur.Replicas = append(cur.Replicas, int32(b))
		}
		as = append(as, cur)
		if out, err := Place(brokers, Request{Assignments: as}, seeded(seed)); err != nil {
			if !errors.Is(err, kerr.InvalidReplicaAssignment) {
				t.Fatalf("Place with assignments: %v", err)
			}
		} else if len(out) != len(as) {
			t.Fatalf("%d lists for %d assignments", len(out), len(as))
		}
	})
}
