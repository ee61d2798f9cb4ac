// Command inventory is the inventory service of the order flow: a member of
// consumer group "inventory" on the "orders" topic, it reserves stock when
// an order is placed and takes it off the shelf when the order ships. It
// logs one line per event it handles.
//
// Its stock lives in memory and starts at --stock of each item: it is a
// demonstration of a consumer group with committed offsets (see
// events.ConsumeGroup), not a store.
//
//	inventory --brokers localhost:9092
package main

import (
	"context"
	"flag"
	"log/slog"

	"runnel/examples/events"
	"runnel/examples/internal/service"
)

// shelf is one item's stock.
type shelf struct {
	onHand   int // in the warehouse
	reserved int // of onHand, promised to orders placed and not yet shipped
}

func main() {
	var stock int
	service.Run("inventory", "reserves stock for placed orders and ships it (consumer group inventory)", func(f *flag.FlagSet) {
		f.IntVar(&stock, "stock", 100, "what is on hand of each item at start")
	}, func(ctx context.Context, env service.Env) error {
		shelves := map[string]*shelf{}
		reservations := map[string][]events.Item{} // by order id, until shipped
		return events.ConsumeGroup(ctx, env.Log, env.Brokers, "inventory", func(log *slog.Logger, e events.Event) {
			switch e.Type {
			case events.Placed:
				for _, item := range e.Items {
					s := shelves[item.SKU]
					if s == nil {
						s = &shelf{onHand: stock}
						shelves[item.SKU] = s
					}
					s.reserved += item.Quantity
				}
				reservations[e.OrderID] = e.Items
				if backordered := short(shelves, e.Items); len(backordered) > 0 {
					log.Info("reserved stock", "items", e.Items, "backordered", backordered)
				} else {
					log.Info("reserved stock", "items", e.Items)
				}
			case events.Shipped:
				for _, item := range reservations[e.OrderID] {
					shelves[item.SKU].reserved -= item.Quantity
					shelves[item.SKU].onHand -= item.Quantity
				}
				log.Info("took stock off the shelf", "items", reservations[e.OrderID])
				delete(reservations, e.OrderID)
			default:
				log.Info("nothing to do")
			}
		})
	})
}

// short lists the items of an order that more is reserved of than is on
// hand: they are back-ordered.
func short(shelves map[string]*shelf, items []events.Item) []string {
	var skus []string
	for _, item := range items {
		if s := shelves[item.SKU]; s.reserved > s.onHand {
			skus = append(skus, item.SKU)
		}
	}
	return skus
}
