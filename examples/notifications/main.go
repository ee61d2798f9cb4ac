// Command notifications is the notification service of the order flow: a
// member of consumer group "notifications" on the "orders" topic, it tells
// the customer of each step of an order (here: it logs the email it would
// send, one line per event).
//
// It knows an order's customer from its OrderPlaced event; after a restart
// the orders placed before it are addressed by their id, as a service that
// kept no state of its own would.
//
//	notifications --brokers localhost:9092
package main

import (
	"context"
	"fmt"
	"log/slog"

	"runnel/examples/events"
	"runnel/examples/internal/service"
)

func main() {
	service.Run("notifications", "emails customers at each step of their orders (consumer group notifications)", nil, func(ctx context.Context, env service.Env) error {
		customers := map[string]string{} // by order id
		return events.ConsumeGroup(ctx, env.Log, env.Brokers, "notifications", func(log *slog.Logger, e events.Event) {
			to := customers[e.OrderID]
			if to == "" {
				to = "the customer of " + e.OrderID
			}
			switch e.Type {
			case events.Placed:
				customers[e.OrderID] = e.Customer
				log.Info("emailed", "to", e.Customer, "subject", fmt.Sprintf("We have your order %s (%s)", e.OrderID, euros(e.AmountCents)))
			case events.Paid:
				log.Info("emailed", "to", to, "subject", fmt.Sprintf("Receipt: %s paid for %s", euros(e.AmountCents), e.OrderID))
			case events.Shipped:
				log.Info("emailed", "to", to, "subject", fmt.Sprintf("Order %s is on its way with %s", e.OrderID, e.Carrier))
				delete(customers, e.OrderID)
			}
		})
	})
}

func euros(cents int64) string { return fmt.Sprintf("€%d.%02d", cents/100, cents%100) }
