package events

import (
	"fmt"
	"time"
)

// Order is an order as its events left it: the row of the query service's
// read model, and what the end-to-end test expects it to serve.
type Order struct {
	ID          string     `json:"id"`
	Status      Type       `json:"status"` // the last event applied
	Customer    string     `json:"customer"`
	Items       []Item     `json:"items"`
	AmountCents int64      `json:"amount_cents"`
	PlacedAt    time.Time  `json:"placed_at"`
	PaidAt      *time.Time `json:"paid_at,omitempty"`
	ShippedAt   *time.Time `json:"shipped_at,omitempty"`
	Version     int        `json:"version"` // the seq of the last event applied
}

// Apply folds e into o. An event whose seq o has already applied changes
// nothing and reports false (a redelivery); an event that skips a seq or
// does not follow the one before (paid before placed, shipped before paid)
// is an error and changes nothing.
func (o *Order) Apply(e Event) (applied bool, err error) {
	if o.ID != "" && e.OrderID != o.ID {
		return false, fmt.Errorf("events: event of order %s applied to order %s", e.OrderID, o.ID)
	}
	if e.Seq <= o.Version {
		return false, nil
	}
	if e.Seq != o.Version+1 {
		return false, fmt.Errorf("events: order %s: seq %d after %d, events %d..%d missing", e.OrderID, e.Seq, o.Version, o.Version+1, e.Seq-1)
	}
	want := map[Type]Type{Placed: "", Paid: Placed, Shipped: Paid}[e.Type]
	if o.Status != want {
		return false, fmt.Errorf("events: order %s: %s after %q", e.OrderID, e.Type, o.Status)
	}
	at := e.At
	switch e.Type {
	case Placed:
		o.ID, o.Customer, o.Items, o.AmountCents, o.PlacedAt = e.OrderID, e.Customer, e.Items, e.AmountCents, at
	case Paid:
		o.PaidAt = &at
	case Shipped:
		o.ShippedAt = &at
	}
	o.Status, o.Version = e.Type, e.Seq
	return true, nil
}
