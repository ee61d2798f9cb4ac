package controller

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Broker is one registered broker as placement sees it.
type Broker struct {
	ID int32
	// Rack is broker.rack; "" for a broker without one.
	Rack string
	// Fenced brokers are never chosen by Place; an explicit assignment may
	// name them beside at least one unfenced broker.
	Fenced bool
	// Replicas is how many partition replicas the broker hosts now.
	Replicas int
	// Leaders is how many partitions have the broker as preferred leader
	// (first replica) now.
	Leaders int
}

// Assignment is one partition's explicit replica list from a request.
type Assignment struct {
	Partition int32
	Replicas  []int32
}

// Request asks for replica lists for new partitions: either Partitions
// lists of ReplicationFactor replicas chosen by Place, or the given
// Assignments checked.
type Request struct {
	// FirstPartition is the index of the first new partition: 0 for
	// CreateTopics, the current partition count for CreatePartitions.
	FirstPartition int32
	// Partitions is how many partitions to place. With Assignments it may
	// be 0 (CreateTopics: as many as assigned); otherwise it must equal
	// len(Assignments) (CreatePartitions).
	Partitions int32
	// ReplicationFactor is the number of replicas per partition. With
	// Assignments it may be 0 (CreateTopics: the first list's length);
	// otherwise every list must have this length (CreatePartitions: the
	// topic's factor).
	ReplicationFactor int16
	// Assignments, when not empty, are explicit replica lists, the
	// partition indexes running from FirstPartition.
	Assignments []Assignment
}

// Error is a placement failure: a Kafka error code and the message for the
// response's ErrorMessage. errors.Is(err, kerr.InvalidReplicationFactor)
// and errors.As into *kerr.Error see the code.
type Error struct {
	Code    *kerr.Error
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Code }

func placementErr(code *kerr.Error, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Place returns the replica lists of req's new partitions in partition
// order, each led by its first replica. It spreads the request's own
// leaders and replicas evenly over the unfenced brokers first and uses
// what the brokers already hold only to break ties (doc.go, "Placement").
// rng breaks the remaining ties; the same brokers, request and seed give the same lists.
// Errors are *Error with INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR or
// INVALID_REPLICA_ASSIGNMENT, as Kafka answers; broker ids listed twice in
// brokers are the caller's bug and get a plain error.
func Place(brokers []Broker, req Request, rng *rand.Rand) ([][]int32, error) {
	for i := range brokers {
		for j := range i {
			if brokers[i].ID == brokers[j].ID {
				return nil, fmt.Errorf("controller: broker %d listed twice", brokers[i].ID)
			}
		}
	}
	if len(req.Assignments) > 0 {
		return checkAssignments(brokers, req)
	}
	if req.Partitions <= 0 {
		return nil, placementErr(kerr.InvalidPartitions, "Number of partitions must be larger than 0.")
	}
	rf := int(req.ReplicationFactor)
	if rf <= 0 {
		return nil, placementErr(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0.")
	}
	p := newPlacer(brokers, rng)
	if len(p.brokers) == 0 {
		return nil, placementErr(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): All brokers are currently fenced.", rf)
	}
	if rf > len(p.brokers) {
		return nil, placementErr(kerr.InvalidReplicationFactor,
			"Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered and unfenced.",
			rf, rf, len(p.brokers))
	}
	return p.place(int(req.Partitions), rf), nil
}

// placer is the state of one automatic placement: the unfenced brokers
// with the counts it updates as it places, and their racks.
type placer struct {
	brokers []candidate
	racks   []rack
	// usedBy[i] is 1 + the partition whose replica list already holds
	// brokers[i], so nothing needs clearing between partitions.
	usedBy []int
	// via and chain are rebalance's search state: the move that reached
	// each broker, and the chain being applied.
	via   []move
	chain []move
}

type candidate struct {
	id   int32
	rack int // index into racks
	// replicas and leaders count this request's partitions only: they
	// come first, so every request is spread evenly whatever the cluster
	// already holds.
	replicas int
	leaders  int
	// held is what the cluster held before the request: it breaks ties,
	// so the totals stay balanced over many requests.
	held load
	// toLead is how many partitions of this request the broker has been
	// chosen to lead and whose followers are not chosen yet.
	toLead int
	rank   int // position in the random tie-break order
}

type rack struct {
	size     int // unfenced brokers
	replicas int // of this request, as in candidate
	leaders  int
	held     load
	inPart   int // replicas of the partition being placed
}

// load is how many replicas and preferred leaderships the cluster holds.
type load struct{ replicas, leaders int }

func newPlacer(brokers []Broker, rng *rand.Rand) *placer {
	p := &placer{}
	rackIndex := map[string]int{}
	names := []string{}
	for _, b := range brokers {
		if b.Fenced {
			continue
		}
		if _, ok := rackIndex[b.Rack]; !ok {
			rackIndex[b.Rack] = len(names)
			names = append(names, b.Rack)
		}
	}
	// Racks in name order and brokers in id order, so the result depends
	// only on the seed and not on the order the caller listed them in.
	slices.Sort(names)
	for i, name := range names {
		rackIndex[name] = i
	}
	p.racks = make([]rack, len(names))
	for _, b := range brokers {
		if b.Fenced {
			continue
		}
		r := rackIndex[b.Rack]
		p.brokers = append(p.brokers, candidate{id: b.ID, rack: r, held: load{b.Replicas, b.Leaders}})
		p.racks[r].size++
		p.racks[r].held.replicas += b.Replicas
		p.racks[r].held.leaders += b.Leaders
	}
	slices.SortFunc(p.brokers, func(a, b candidate) int { return cmp.Compare(a.id, b.id) })
	for i, r := range rng.Perm(len(p.brokers)) {
		p.brokers[i].rank = r
	}
	p.usedBy = make([]int, len(p.brokers))
	return p
}

// place returns partitions lists of rf replicas. It chooses every
// partition's leader first and then the followers, so that a follower is
// chosen by the replicas a broker will hold, its leaderships to come in
// this request included: otherwise a broker taken as a follower early would
// exceed the others when its turn to lead came.
func (p *placer) place(partitions, rf int) [][]int32 {
	flat := make([]int32, partitions*rf)
	out := make([][]int32, partitions)
	leaders := make([]int, partitions)
	for i := range leaders {
		leaders[i] = p.chooseLeader(i)
	}
	for i := range out {
		out[i] = flat[i*rf : (i+1)*rf : (i+1)*rf]
		p.fill(i, leaders[i], out[i])
	}
	for p.rebalance(out) {
	}
	for i, b := range flat {
		flat[i] = p.brokers[b].id
	}
	return out
}

// chooseLeader returns the broker that leads the partition-th partition and
// counts its leadership and replica.
func (p *placer) chooseLeader(partition int) int {
	leader := 0
	for i := 1; i < len(p.brokers); i++ {
		if p.betterLeader(i, leader, partition) {
			leader = i
		}
	}
	b := &p.brokers[leader]
	b.leaders++
	b.toLead++
	b.replicas++
	p.racks[b.rack].leaders++
	p.racks[b.rack].replicas++
	return leader
}

// fill writes the partition-th partition's replica list, as indexes into
// p.brokers: its leader, then followers chosen under the rack rule,
// counting their replicas.
func (p *placer) fill(partition, leader int, replicas []int32) {
	n := len(p.brokers)
	stamp := partition + 1
	for r := range p.racks {
		p.racks[r].inPart = 0
	}
	p.usedBy[leader] = stamp
	p.brokers[leader].toLead--
	p.racks[p.brokers[leader].rack].inPart++
	replicas[0] = int32(leader)

	// Followers start after the leader in the tie-break order, shifted by
	// one more each time every broker has led once.
	start := p.brokers[leader].rank + 1
	if n > 1 {
		start += (partition / n) % (n - 1)
	}
	for k := 1; k < len(replicas); k++ {
		fewest := -1 // fewest replicas of this partition in a rack with a broker left
		for _, r := range p.racks {
			if r.inPart < r.size && (fewest < 0 || r.inPart < fewest) {
				fewest = r.inPart
			}
		}
		best := -1
		for i, b := range p.brokers {
			if p.usedBy[i] == stamp || p.racks[b.rack].inPart != fewest {
				continue
			}
			if best < 0 || p.betterFollower(i, best, start) {
				best = i
			}
		}
		b := &p.brokers[best]
		p.usedBy[best] = stamp
		b.replicas++
		p.racks[b.rack].replicas++
		p.racks[b.rack].inPart++
		replicas[k] = int32(best)
	}
}

// rebalance repairs what choosing one partition at a time cannot see
// coming: when the rack rule or the leaders chosen force the last
// partitions onto brokers that already hold more, the request's replica
// counts end two or more apart. It finds the shortest chain of replica moves within this
// request's partitions (lists of indexes into p.brokers) that takes one
// replica from a broker holding the most to one holding the fewest, each
// move keeping its partition's replicas distinct and its racks under the
// rule, applies it and reports whether it did. Brokers along the chain
// give one replica and take one. A leader's replica moves only to a broker
// that leads fewer, in a rack that leads fewer per broker, so leader counts
// stay as balanced. Each chain lowers the sum of the squared counts (a
// count at least two above another drops by one, that one rises by one), so
// calling it until false ends.
func (p *placer) rebalance(out [][]int32) bool {
	lo, hi := p.brokers[0].replicas, p.brokers[0].replicas
	for _, b := range p.brokers {
		lo, hi = min(lo, b.replicas), max(hi, b.replicas)
	}
	if hi-lo < 2 {
		return false
	}
	if p.via == nil {
		p.via = make([]move, len(p.brokers))
	}
	reached := p.usedBy // reused: placement is done
	clear(reached)
	var queue []int
	for i, b := range p.brokers {
		if b.replicas == hi {
			reached[i] = 1
			p.via[i] = move{from: -1}
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		from := queue[0]
		queue = queue[1:]
		for partition, replicas := range out {
			slot := slices.Index(replicas, int32(from))
			if slot < 0 {
				continue
			}
			for to := range p.brokers {
				if reached[to] != 0 || !p.canMove(replicas, slot, to) {
					continue
				}
				reached[to] = 1
				p.via[to] = move{partition: partition, slot: slot, from: from}
				if p.brokers[to].replicas == lo && p.applyChain(out, to) {
					return true
				}
				queue = append(queue, to)
			}
		}
	}
	return false
}

// move is one step of a rebalancing chain: the replica in slot of
// out[partition], held by from, goes to the broker the step reaches.
type move struct{ partition, slot, from int }

// canMove reports whether replicas[slot] may move to brokers[to]: to is not
// in the list, racks stay under the rule, and a leader moves only to a
// broker that leads fewer (in this request and in all), in a rack that
// leads fewer per broker.
func (p *placer) canMove(replicas []int32, slot, to int) bool {
	from := int(replicas[slot])
	a, b := &p.brokers[from], &p.brokers[to]
	if slices.Contains(replicas, int32(to)) {
		return false
	}
	if slot == 0 && b.held.leaders+b.leaders >= a.held.leaders+a.leaders {
		return false // the totals would lose their balance
	}
	if a.rack == b.rack {
		return slot > 0 || b.leaders < a.leaders
	}
	ra, rb := &p.racks[a.rack], &p.racks[b.rack]
	if slot == 0 && (b.leaders >= a.leaders || (rb.leaders+1)*ra.size > ra.leaders*rb.size) {
		return false
	}
	replicas[slot] = int32(to)
	ok := p.racksSpread(replicas)
	replicas[slot] = int32(from)
	return ok
}

// applyChain applies the moves that reached brokers[to] and counts them,
// if they are in distinct partitions: then each still holds as canMove
// checked it, since no other move of the chain touches its partition.
func (p *placer) applyChain(out [][]int32, to int) bool {
	p.chain = p.chain[:0]
	for at := to; p.via[at].from >= 0; at = p.via[at].from {
		for _, c := range p.chain {
			if c.partition == p.via[at].partition {
				return false
			}
		}
		p.chain = append(p.chain, p.via[at])
	}
	for _, m := range p.chain {
		out[m.partition][m.slot] = int32(to)
		a, b := &p.brokers[m.from], &p.brokers[to]
		a.replicas--
		b.replicas++
		p.racks[a.rack].replicas--
		p.racks[b.rack].replicas++
		if m.slot == 0 {
			a.leaders--
			b.leaders++
			p.racks[a.rack].leaders--
			p.racks[b.rack].leaders++
		}
		to = m.from
	}
	return true
}

// racksSpread reports whether replicas (indexes into p.brokers) follow the
// rack rule: no rack holds two more than another that has a broker free.
func (p *placer) racksSpread(replicas []int32) bool {
	for r := range p.racks {
		p.racks[r].inPart = 0
	}
	for _, i := range replicas {
		p.racks[p.brokers[i].rack].inPart++
	}
	fewest, most := -1, 0
	for _, r := range p.racks {
		if r.inPart < r.size && (fewest < 0 || r.inPart < fewest) {
			fewest = r.inPart
		}
		most = max(most, r.inPart)
	}
	return fewest < 0 || most <= fewest+1
}

// betterLeader reports whether brokers[i] should lead rather than
// brokers[j]: fewer leaderships in this request, then in all, then a rack
// with fewer leaderships per broker in this request, then in all, then
// fewer replicas in all, then the rotated random order.
func (p *placer) betterLeader(i, j, partition int) bool {
	a, b := &p.brokers[i], &p.brokers[j]
	if a.leaders != b.leaders {
		return a.leaders < b.leaders
	}
	if x, y := a.held.leaders+a.leaders, b.held.leaders+b.leaders; x != y {
		return x < y
	}
	ra, rb := &p.racks[a.rack], &p.racks[b.rack]
	if x, y := ra.leaders*rb.size, rb.leaders*ra.size; x != y {
		return x < y
	}
	if x, y := (ra.held.leaders+ra.leaders)*rb.size, (rb.held.leaders+rb.leaders)*ra.size; x != y {
		return x < y
	}
	if x, y := a.held.replicas+a.replicas, b.held.replicas+b.replicas; x != y {
		return x < y
	}
	n := len(p.brokers)
	return (a.rank+n-partition%n)%n < (b.rank+n-partition%n)%n
}

// betterFollower reports whether brokers[i] should follow rather than
// brokers[j] (both allowed by the rack rule): fewer replicas in this
// request (leaderships to come counted); then more leaderships to come, as
// such a broker cannot follow in its own partitions and must gather
// replicas in others; then fewer replicas in all; then more leaderships in
// all, so that the brokers that will lead next hold fewer replicas; then a
// rack with fewer replicas per broker in this request, then in all; then
// the order starting at start.
func (p *placer) betterFollower(i, j, start int) bool {
	a, b := &p.brokers[i], &p.brokers[j]
	if a.replicas != b.replicas {
		return a.replicas < b.replicas
	}
	if a.toLead != b.toLead {
		return a.toLead > b.toLead
	}
	if x, y := a.held.replicas+a.replicas, b.held.replicas+b.replicas; x != y {
		return x < y
	}
	if x, y := a.held.leaders+a.leaders, b.held.leaders+b.leaders; x != y {
		return x > y
	}
	ra, rb := &p.racks[a.rack], &p.racks[b.rack]
	if x, y := ra.replicas*rb.size, rb.replicas*ra.size; x != y {
		return x < y
	}
	if x, y := (ra.held.replicas+ra.replicas)*rb.size, (rb.held.replicas+rb.replicas)*ra.size; x != y {
		return x < y
	}
	n := len(p.brokers)
	start %= n
	return (a.rank+n-start)%n < (b.rank+n-start)%n
}

// checkAssignments validates explicit replica lists as Kafka's
// ReplicationControlManager does and returns them in partition order.
func checkAssignments(brokers []Broker, req Request) ([][]int32, error) {
	n := len(req.Assignments)
	if req.Partitions > 0 && int(req.Partitions) != n {
		return nil, placementErr(kerr.InvalidReplicaAssignment,
			"Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", req.Partitions, n)
	}
	fenced := make(map[int32]bool, len(brokers))
	for _, b := range brokers {
		fenced[b.ID] = b.Fenced
	}
	rf := int(req.ReplicationFactor)
	out := make([][]int32, n)
	for _, a := range req.Assignments {
		i := int64(a.Partition) - int64(req.FirstPartition)
		if i < 0 || i >= int64(n) {
			return nil, placementErr(kerr.InvalidReplicaAssignment,
				"partitions should be a consecutive integer sequence from %d; got partition %d", req.FirstPartition, a.Partition)
		}
		if out[i] != nil {
			return nil, placementErr(kerr.InvalidReplicaAssignment,
				"Found multiple manual partition assignments for partition %d", a.Partition)
		}
		if len(a.Replicas) == 0 {
			return nil, placementErr(kerr.InvalidReplicaAssignment,
				"The manual partition assignment includes an empty replica list.")
		}
		live := false
		for k, id := range a.Replicas {
			f, ok := fenced[id]
			if !ok {
				return nil, placementErr(kerr.InvalidReplicaAssignment,
					"The manual partition assignment includes broker %d, but no such broker is registered.", id)
			}
			if slices.Contains(a.Replicas[:k], id) {
				return nil, placementErr(kerr.InvalidReplicaAssignment,
					"The manual partition assignment includes the broker %d more than once.", id)
			}
			live = live || !f
		}
		if rf == 0 {
			rf = len(a.Replicas)
		} else if len(a.Replicas) != rf {
			return nil, placementErr(kerr.InvalidReplicaAssignment,
				"The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).",
				len(a.Replicas), rf)
		}
		if !live {
			return nil, placementErr(kerr.InvalidReplicaAssignment,
				"All brokers specified in the manual partition assignment for partition %d are fenced.", a.Partition)
		}
		out[i] = slices.Clone(a.Replicas)
	}
	return out, nil
}
