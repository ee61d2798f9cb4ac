// Command orders is the order service of the order flow: it places orders
// and takes each through payment and shipping, appending one event per step
// (OrderPlaced, OrderPaid, OrderShipped) to the "orders" topic, keyed by
// order id. It is the only writer of that topic.
//
// It places --count orders numbered from --first, each going as far as a
// random step (placed only, paid, or shipped), with the steps of different
// orders interleaved at random, then exits. The producer is idempotent
// (franz-go's default) and waits for acks=all, so a retried produce appends
// an event once, and an event's offset is logged only once it is durable.
//
//	orders --brokers localhost:9092 --count 20 --interval 20ms
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"runnel/examples/events"
	"runnel/examples/internal/service"

	"github.com/twmb/franz-go/pkg/kgo"
)

// deliveryTimeout is how long an event may wait to be acknowledged before
// it is reported as failed (Kafka's delivery.timeout.ms), and how long the
// service waits for the last acks: a broker gone for good does not keep it
// from stopping.
const deliveryTimeout = 30 * time.Second

// The shop the orders come from.
var (
	prices    = map[string]int64{"kettle": 2900, "teapot": 3500, "mug": 900, "tea-tin": 1200, "filter": 400}
	skus      = []string{"kettle", "teapot", "mug", "tea-tin", "filter"}
	customers = []string{"ada@example.com", "grace@example.com", "alan@example.com", "edsger@example.com", "barbara@example.com"}
	carriers  = []string{"DHL", "UPS", "PostNL"}
)

func main() {
	var count, first int
	var seed uint64
	var interval time.Duration
	service.Run("orders", "places orders and takes them through payment and shipping, one event per step", func(f *flag.FlagSet) {
		f.IntVar(&count, "count", 20, "how many orders to place")
		f.IntVar(&first, "first", 1, "the number of the first order (ids are o-<number>)")
		f.Uint64Var(&seed, "seed", 0, "seed of the random steps; 0 picks one (logged)")
		f.DurationVar(&interval, "interval", 0, "pause between two events")
	}, func(ctx context.Context, env service.Env) error {
		if seed == 0 {
			seed = rand.Uint64()
		}
		env.Log.Info("placing orders", "count", count, "first", first, "seed", seed)
		return place(ctx, env, plan(rand.New(rand.NewPCG(seed, seed)), first, count), interval)
	})
}

// plan is the events of count orders numbered from first, each order's in
// seq order, the orders' interleaved at random.
func plan(rng *rand.Rand, first, count int) []events.Event {
	var pending [][]events.Event // each order's events not yet planned
	for n := first; n < first+count; n++ {
		pending = append(pending, orderEvents(rng, fmt.Sprintf("o-%06d", n)))
	}
	var planned []events.Event
	for len(pending) > 0 {
		i := rng.IntN(len(pending))
		planned = append(planned, pending[i][0])
		if pending[i] = pending[i][1:]; len(pending[i]) == 0 {
			pending[i] = pending[len(pending)-1]
			pending = pending[:len(pending)-1]
		}
	}
	return planned
}

// orderEvents is one order's events: placed, then paid with probability
// 4/5, then shipped with probability 5/8 of those. At is set when appended.
func orderEvents(rng *rand.Rand, id string) []events.Event {
	placed := events.Event{Type: events.Placed, OrderID: id, Seq: 1, Customer: customers[rng.IntN(len(customers))]}
	for _, i := range rng.Perm(len(skus))[:1+rng.IntN(3)] {
		item := events.Item{SKU: skus[i], Quantity: 1 + rng.IntN(3)}
		placed.Items = append(placed.Items, item)
		placed.AmountCents += prices[item.SKU] * int64(item.Quantity)
	}
	steps := []events.Event{placed}
	if rng.IntN(5) == 0 {
		return steps
	}
	steps = append(steps, events.Event{Type: events.Paid, OrderID: id, Seq: 2, AmountCents: placed.AmountCents})
	if rng.IntN(8) < 3 {
		return steps
	}
	return append(steps, events.Event{Type: events.Shipped, OrderID: id, Seq: 3, Carrier: carriers[rng.IntN(len(carriers))]})
}

// place appends the planned events in order and waits until every one is
// acknowledged. Stopped early (ctx), it appends no more but still waits for
// those already sent.
func place(ctx context.Context, env service.Env, planned []events.Event, interval time.Duration) error {
	client, err := kgo.NewClient(kgo.SeedBrokers(env.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(deliveryTimeout))
	if err != nil {
		return err
	}
	defer client.Close()
	// Events already sent are appended even when the service is stopped.
	produceCtx := context.WithoutCancel(ctx)
	var failed atomic.Int64
	sent := 0
	for _, e := range planned {
		if ctx.Err() != nil {
			break
		}
		e.At = time.Now().UTC()
		client.Produce(produceCtx, e.Record(), func(r *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				env.Log.Error("append failed", "event", e.Type, "order", e.OrderID, "seq", e.Seq, "err", err)
				return
			}
			env.Log.Info("appended", "event", e.Type, "order", e.OrderID, "seq", e.Seq, "partition", r.Partition, "offset", r.Offset)
		})
		sent++
		if interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}
	// Bounded: a record the client cannot fail safely (an idempotent batch
	// that may have been written) waits for a broker that may be gone.
	flushCtx, cancel := context.WithTimeout(produceCtx, deliveryTimeout)
	defer cancel()
	if err := client.Flush(flushCtx); err != nil {
		return fmt.Errorf("%d events sent, not all acknowledged (they may be appended or not): %w", sent, err)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d events not appended", n, sent)
	}
	env.Log.Info("placed orders", "events", sent, "of", len(planned))
	return nil
}
