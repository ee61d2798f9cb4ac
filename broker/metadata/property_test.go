package metadata

import (
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
)

// modelApply is the property test's model of Apply, written from the rules
// in doc.go over plain maps: it reports whether r applies to m and, if it
// does, applies it in place.
func modelApply(m state, r Record) bool {
	distinct := func(s []int32) bool {
		for i, x := range s {
			if slices.Contains(s[:i], x) {
				return false
			}
		}
		return true
	}
	assignmentOK := func(replicas, isr []int32, leader int32) bool {
		if len(replicas) == 0 || !distinct(replicas) || !distinct(isr) || slices.ContainsFunc(replicas, func(x int32) bool { return x < 0 }) {
			return false
		}
		for _, x := range isr {
			if !slices.Contains(replicas, x) {
				return false
			}
		}
		return leader == NoLeader || slices.Contains(isr, leader)
	}
	topicNamed := func(name string) bool {
		for _, t := range m.Topics {
			if t.Name == name {
				return true
			}
		}
		return false
	}
	switch r := r.(type) {
	case *RegisterBrokerRecord:
		if r.NodeID < 0 || len(r.Listeners) == 0 {
			return false
		}
		names := map[string]bool{}
		for _, l := range r.Listeners {
			if l.Name == "" || l.Host == "" || l.SecurityProtocol < 0 || l.SecurityProtocol > 3 || names[l.Name] {
				return false
			}
			names[l.Name] = true
		}
		if old, ok := m.Brokers[r.NodeID]; ok && r.BrokerEpoch <= old.Epoch {
			return false
		}
		m.Brokers[r.NodeID] = Broker{NodeID: r.NodeID, IncarnationID: r.IncarnationID, Epoch: r.BrokerEpoch,
			Listeners: slices.Clone(r.Listeners), Rack: r.Rack, Fenced: r.Fenced}
	case *FenceBrokerRecord, *UnfenceBrokerRecord:
		id, epoch, fence := int32(0), int64(0), false
		if f, ok := r.(*FenceBrokerRecord); ok {
			id, epoch, fence = f.NodeID, f.BrokerEpoch, true
		} else {
			u := r.(*UnfenceBrokerRecord)
			id, epoch = u.NodeID, u.BrokerEpoch
		}
		b, ok := m.Brokers[id]
		if !ok || b.Epoch != epoch || b.Fenced == fence {
			return false
		}
		b.Fenced = fence
		m.Brokers[id] = b
	case *TopicRecord:
		if r.TopicID == (UUID{}) || r.Name == "" || len(r.Name) > 249 || topicNamed(r.Name) {
			return false
		}
		if _, ok := m.Topics[r.TopicID]; ok {
			return false
		}
		m.Topics[r.TopicID] = topicState{Name: r.Name, Parts: []Partition{}}
	case *PartitionRecord:
		t, ok := m.Topics[r.TopicID]
		if !ok || int(r.Partition) != len(t.Parts) || !assignmentOK(r.Replicas, r.ISR, r.Leader) || r.LeaderEpoch < 0 || r.PartitionEpoch < 0 {
			return false
		}
		t.Parts = append(t.Parts, normPartition(Partition{Partition: r.Partition, Replicas: slices.Clone(r.Replicas),
			ISR: slices.Clone(r.ISR), Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch}))
		m.Topics[r.TopicID] = t
	case *PartitionChangeRecord:
		t, ok := m.Topics[r.TopicID]
		if !ok || r.Partition < 0 || int(r.Partition) >= len(t.Parts) || r.Leader < -2 {
			return false
		}
		old := t.Parts[r.Partition]
		p := old
		if r.Replicas != nil {
			p.Replicas = norm(slices.Clone(r.Replicas))
		}
		if r.ISR != nil {
			p.ISR = norm(slices.Clone(r.ISR))
		}
		if r.Leader != LeaderUnchanged {
			p.Leader = r.Leader
		}
		if r.PartitionEpoch != old.PartitionEpoch+1 || !assignmentOK(p.Replicas, p.ISR, p.Leader) ||
			r.LeaderEpoch < old.LeaderEpoch || (p.Leader != old.Leader && r.LeaderEpoch == old.LeaderEpoch) {
			return false
		}
		p.LeaderEpoch, p.PartitionEpoch = r.LeaderEpoch, r.PartitionEpoch
		t.Parts = slices.Clone(t.Parts)
		t.Parts[r.Partition] = p
		m.Topics[r.TopicID] = t
	case *ConfigRecord:
		switch r.ResourceType {
		case ResourceTopic:
			if !topicNamed(r.ResourceName) {
				return false
			}
		case ResourceBroker:
			if n, err := strconv.Atoi(r.ResourceName); r.ResourceName != "" && (err != nil || n < 0 || n > 1<<31-1 || strconv.Itoa(n) != r.ResourceName) {
				return false
			}
		default:
			return false
		}
		if r.Name == "" {
			return false
		}
		res := ConfigResource{r.ResourceType, r.ResourceName}
		if r.Deleted {
			delete(m.Configs[res], r.Name)
			if len(m.Configs[res]) == 0 {
				delete(m.Configs, res)
			}
		} else {
			if m.Configs[res] == nil {
				m.Configs[res] = map[string]string{}
			}
			m.Configs[res][r.Name] = r.Value
		}
	case *RemoveTopicRecord:
		t, ok := m.Topics[r.TopicID]
		if !ok {
			return false
		}
		delete(m.Topics, r.TopicID)
		delete(m.Configs, ConfigResource{ResourceTopic, t.Name})
	}
	return true
}

// recordGen makes random records, mostly valid against the model's state,
// the rest off by one field (a stale epoch, a leader outside the ISR, a
// duplicate name...), from small pools of ids and names so that collisions
// are common.
type recordGen struct {
	rng *rand.Rand
	m   state
}

func (g *recordGen) pick(n int) int      { return g.rng.IntN(n) }
func (g *recordGen) chance(pct int) bool { return g.rng.IntN(100) < pct }

var (
	genNames = []string{"a", "b", "orders", "payments", "__consumer_offsets", ""}
	genKeys  = []string{"retention.ms", "cleanup.policy", "segment.bytes", ""}
)

func (g *recordGen) topicID() UUID {
	if g.chance(3) {
		return UUID{}
	}
	if len(g.m.Topics) > 0 && g.chance(75) {
		ids := make([]UUID, 0, len(g.m.Topics))
		for id := range g.m.Topics {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b UUID) int { return int(a[0]) - int(b[0]) })
		return ids[g.pick(len(ids))]
	}
	return UUID{byte(1 + g.pick(6)), 0xee}
}

// replicas is a random non-empty set of node ids 0..5, now and then with a
// duplicate or a negative id.
func (g *recordGen) replicas() []int32 {
	perm := g.rng.Perm(6)[:1+g.pick(4)]
	out := make([]int32, len(perm))
	for i, x := range perm {
		out[i] = int32(x)
	}
	if g.chance(5) {
		out = append(out, out[0])
	}
	if g.chance(3) {
		out[0] = -1
	}
	return out
}

// isrOf is a random subset of replicas, now and then with an outsider.
func (g *recordGen) isrOf(replicas []int32) []int32 {
	out := []int32{}
	for _, x := range replicas {
		if g.chance(70) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	if g.chance(5) {
		out = append(out, 9)
	}
	return out
}

// leaderOf is a member of isr or NoLeader, now and then anyone.
func (g *recordGen) leaderOf(isr []int32) int32 {
	switch {
	case g.chance(5):
		return int32(g.pick(7))
	case len(isr) == 0 || g.chance(10):
		return NoLeader
	}
	return isr[g.pick(len(isr))]
}

func (g *recordGen) epochNear(cur int64) int64 { return cur + int64(g.pick(4)) - 1 }

func (g *recordGen) next() Record {
	switch g.pick(12) {
	case 0:
		id := int32(g.pick(6)) - 0
		if g.chance(3) {
			id = -1
		}
		r := &RegisterBrokerRecord{NodeID: id, IncarnationID: UUID{byte(g.pick(256))}, BrokerEpoch: g.epochNear(g.m.Brokers[id].Epoch + 1),
			Listeners: []Listener{{Name: "PLAINTEXT", Host: "h", Port: uint16(9000 + g.pick(10)), SecurityProtocol: int16(g.pick(4))}},
			Rack:      genNames[g.pick(3)], Fenced: g.chance(60)}
		if g.chance(5) {
			r.Listeners = append(r.Listeners, Listener{Name: genNames[g.pick(len(genNames))], Host: "h2", Port: uint16(g.pick(2))})
		}
		return r
	case 1:
		id := int32(g.pick(7))
		epoch := g.m.Brokers[id].Epoch
		if g.chance(10) {
			epoch = g.epochNear(epoch)
		}
		if g.chance(50) {
			return &FenceBrokerRecord{NodeID: id, BrokerEpoch: epoch}
		}
		return &UnfenceBrokerRecord{NodeID: id, BrokerEpoch: epoch}
	case 2, 9:
		if g.chance(20) {
			return &RemoveTopicRecord{TopicID: g.topicID()}
		}
		return &TopicRecord{TopicID: UUID{byte(g.pick(7)), 0xee}, Name: genNames[g.pick(len(genNames))]}
	case 3, 4:
		id := g.topicID()
		replicas := g.replicas()
		isr := g.isrOf(replicas)
		partition := int32(len(g.m.Topics[id].Parts))
		if g.chance(10) {
			partition = int32(g.epochNear(int64(partition)))
		}
		return &PartitionRecord{TopicID: id, Partition: partition,
			Replicas: replicas, ISR: isr, Leader: g.leaderOf(isr), LeaderEpoch: int32(g.pick(3)), PartitionEpoch: int32(g.pick(5))}
	case 5, 6, 7, 10, 11:
		id := g.topicID()
		parts := g.m.Topics[id].Parts
		r := &PartitionChangeRecord{TopicID: id, Partition: int32(g.pick(len(parts) + 1)), Leader: LeaderUnchanged, PartitionEpoch: 1}
		var cur Partition
		if int(r.Partition) < len(parts) {
			cur = parts[r.Partition]
		}
		replicas, isr := cur.Replicas, cur.ISR
		if g.chance(30) {
			replicas = g.replicas()
			r.Replicas = replicas
		}
		if g.chance(60) || !slices.Equal(replicas, cur.Replicas) {
			isr = g.isrOf(replicas)
			r.ISR = isr
		}
		if g.chance(60) || !slices.Contains(isr, cur.Leader) {
			r.Leader = g.leaderOf(isr)
		}
		r.LeaderEpoch = cur.LeaderEpoch
		if (r.Leader != LeaderUnchanged && r.Leader != cur.Leader) || g.chance(10) {
			r.LeaderEpoch++
		}
		if g.chance(5) {
			r.LeaderEpoch--
		}
		r.PartitionEpoch = cur.PartitionEpoch + 1
		if g.chance(8) {
			r.PartitionEpoch = int32(g.epochNear(int64(cur.PartitionEpoch)))
		}
		if g.chance(2) {
			r.Leader = -3
		}
		return r
	case 8:
		r := &ConfigRecord{ResourceType: ResourceTopic, ResourceName: genNames[g.pick(len(genNames))],
			Name: genKeys[g.pick(len(genKeys))], Value: strconv.Itoa(g.pick(100)), Deleted: g.chance(30)}
		if g.chance(30) {
			r.ResourceType = ResourceBroker
			r.ResourceName = []string{"", "1", "01", "-1", "x"}[g.pick(5)]
		}
		if g.chance(3) {
			r.ResourceType = int8(g.pick(20))
		}
		return r
	}
	panic("unreachable")
}

// TestApplyMatchesModel applies random sequences of valid and invalid
// records to an image and to the model; after every step the image shows
// exactly the model's state, a refused record leaves the image as it was,
// and the record round-trips through the format.
func TestApplyMatchesModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			g := recordGen{rng: rand.New(rand.NewPCG(seed, 12)), m: newState()}
			img := new(Image)
			applied, refused := 0, 0
			refusedBy := map[RecordType]int{}
			for step := range 1500 {
				r := g.next()
				b, err := AppendRecord(nil, r)
				if err != nil {
					t.Fatal(err)
				}
				decoded, err := DecodeRecord(b)
				if err != nil {
					t.Fatalf("step %d: %#v does not decode: %v", step, r, err)
				}
				want := modelApply(g.m, decoded)
				next, err := img.Apply(decoded)
				if (err == nil) != want {
					t.Fatalf("step %d: %#v: Apply error %v, model says valid=%v", step, r, err, want)
				}
				if err != nil {
					refusedBy[r.Type()]++
					refused++
					if next != img {
						t.Fatalf("step %d: a refused record returned a new image", step)
					}
				} else {
					applied++
				}
				img = next
				if got := snapshot(t, img); !equalState(got, g.m) {
					t.Fatalf("step %d after %#v:\nimage %+v\nmodel %+v", step, r, got, g.m)
				}
				if step%100 == 99 {
					rebuilt, err := new(Image).ApplyAll(img.Records())
					if err != nil || !equalState(snapshot(t, rebuilt), g.m) || rebuilt.Hash() != img.Hash() {
						t.Fatalf("step %d: the image rebuilt from its records differs (%v)", step, err)
					}
				}
			}
			t.Logf("%d applied, %d refused %v, %d topics, %d brokers", applied, refused, refusedBy, len(g.m.Topics), len(g.m.Brokers))
			// Both kinds must be common, or the test checks little.
			if applied < 200 || refused < 200 {
				t.Fatalf("%d applied, %d refused", applied, refused)
			}
		})
	}
}

func equalState(a, b state) bool { return reflect.DeepEqual(a, b) }

// cloneState deep-copies a model state.
func cloneState(s state) state {
	c := newState()
	maps.Copy(c.Brokers, s.Brokers)
	for id, t := range s.Topics {
		c.Topics[id] = topicState{Name: t.Name, Parts: slices.Clone(t.Parts)}
	}
	for res, m := range s.Configs {
		c.Configs[res] = maps.Clone(m)
	}
	return c
}

// TestApplyAllMatchesModel applies random batches (ApplyAll), where later
// records build on earlier ones of the same batch (a partition created and
// changed, a topic created and removed), so that the builder changes in
// place what it copied earlier in the batch. A batch with an invalid
// record fails whole. After every batch the image shows the model's state
// and the image before the batch still shows the state before it.
func TestApplyAllMatchesModel(t *testing.T) {
	for seed := range uint64(10) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			g := recordGen{rng: rand.New(rand.NewPCG(seed, 34)), m: newState()}
			img := new(Image)
			batches, failed := 0, 0
			for step := range 400 {
				before := cloneState(g.m)
				scratch := cloneState(g.m)
				var batch []Record
				valid := true
				for range 1 + g.pick(8) {
					g.m = scratch
					r := g.next()
					if !modelApply(scratch, r) {
						if !g.chance(10) {
							continue // drop it: most batches should apply
						}
						valid = false
						batch = append(batch, r)
						break
					}
					batch = append(batch, r)
				}
				g.m = before
				if len(batch) == 0 {
					continue
				}
				next, err := img.ApplyAll(batch)
				if (err == nil) != valid {
					t.Fatalf("step %d: ApplyAll(%d records): %v, model says valid=%v", step, len(batch), err, valid)
				}
				if valid {
					g.m = cloneState(scratch)
					batches++
				} else {
					failed++
					if next != img {
						t.Fatalf("step %d: a refused batch returned a new image", step)
					}
				}
				if got := snapshot(t, next); !equalState(got, g.m) {
					t.Fatalf("step %d after %d records:\nimage %+v\nmodel %+v", step, len(batch), got, g.m)
				}
				if got := snapshot(t, img); !equalState(got, before) {
					t.Fatalf("step %d: ApplyAll changed the image it applied to", step)
				}
				img = next
			}
			t.Logf("%d batches applied, %d refused, %d topics", batches, failed, len(g.m.Topics))
			if batches < 100 || failed < 10 {
				t.Fatalf("%d batches applied, %d refused", batches, failed)
			}
		})
	}
}
