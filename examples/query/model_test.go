package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"

	"runnel/examples/events"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRebuildIsExact runs the read model over random histories of events,
// snapshotting at random points, and checks every state a crash can leave
// the snapshot topic in (its records up to some point, the rest lost): a
// model rebuilt from it, then given the events from its positions on,
// equals the fold of all the events, and applies none of them twice.
func TestRebuildIsExact(t *testing.T) {
	const partitions = 3
	for seed := range uint64(30) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			records := history(rng, partitions, 25)
			var warnings bytes.Buffer
			log := slog.New(slog.NewTextHandler(&warnings, &slog.HandlerOptions{Level: slog.LevelWarn}))

			live := newModel()
			var snapshotLog []*kgo.Record
			for _, r := range records {
				live.apply(r, mustDecode(t, r), log)
				if rng.IntN(5) == 0 {
					s := live.takeSnapshot()
					snapshotLog = append(append(snapshotLog, s.orders...), s.positions...)
					maps.Copy(live.mu.written, s.next)
				}
			}
			want := fold(t, records)
			if got := orders(live); !reflect.DeepEqual(got, want) {
				t.Fatalf("the live model is not the fold of the events:\n got %v\nwant %v", got, want)
			}

			for kept := range len(snapshotLog) + 1 {
				rebuilt := newModel()
				for _, r := range snapshotLog[:kept] {
					if err := rebuilt.load(r); err != nil {
						t.Fatal(err)
					}
				}
				starts := rebuilt.startOffsets(partitions)[events.Topic]
				for _, r := range records {
					if r.Offset >= starts[r.Partition].EpochOffset().Offset {
						rebuilt.apply(r, mustDecode(t, r), log)
					}
				}
				if got := orders(rebuilt); !reflect.DeepEqual(got, want) {
					t.Fatalf("rebuilt from the first %d of %d snapshot records:\n got %v\nwant %v", kept, len(snapshotLog), got, want)
				}
				if warnings.Len() > 0 {
					t.Fatalf("rebuilt from the first %d of %d snapshot records: %s", kept, len(snapshotLog), warnings.String())
				}
			}
		})
	}
}

// history is the records of the events of orders orders, each placed and
// then taken to a random step, in a partition chosen at random, the orders'
// steps interleaved at random, each record at the next offset of its
// partition.
func history(rng *rand.Rand, partitions int32, orders int) []*kgo.Record {
	type pending struct {
		partition int32
		events    []events.Event
	}
	var todo []*pending
	for n := range orders {
		id := fmt.Sprintf("o-%d", n)
		p := &pending{partition: rng.Int32N(partitions)}
		for seq, typ := range []events.Type{events.Placed, events.Paid, events.Shipped}[:1+rng.IntN(3)] {
			p.events = append(p.events, events.Event{Type: typ, OrderID: id, Seq: seq + 1, Customer: "c", Items: []events.Item{{SKU: "mug", Quantity: 1}}})
		}
		todo = append(todo, p)
	}
	next := map[int32]int64{}
	var records []*kgo.Record
	for len(todo) > 0 {
		i := rng.IntN(len(todo))
		r := todo[i].events[0].Record()
		r.Partition, r.Offset = todo[i].partition, next[todo[i].partition]
		next[r.Partition]++
		records = append(records, r)
		if todo[i].events = todo[i].events[1:]; len(todo[i].events) == 0 {
			todo = append(todo[:i], todo[i+1:]...)
		}
	}
	return records
}

func mustDecode(t *testing.T, r *kgo.Record) events.Event {
	t.Helper()
	e, err := events.Decode(r)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fold is the orders the records' events make, by id.
func fold(t *testing.T, records []*kgo.Record) map[string]events.Order {
	t.Helper()
	folded := map[string]events.Order{}
	for _, r := range records {
		e := mustDecode(t, r)
		o := folded[e.OrderID]
		if _, err := o.Apply(e); err != nil {
			t.Fatal(err)
		}
		folded[e.OrderID] = o
	}
	return folded
}

// orders is the model's orders, by id.
func orders(m *model) map[string]events.Order {
	got := map[string]events.Order{}
	for id, o := range m.mu.orders {
		got[id] = o.Order
	}
	return got
}
