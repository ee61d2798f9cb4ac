package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Type names an event; it is the value of the "type" field and header.
type Type string

// The three things that happen to an order, in the only order they happen.
const (
	Placed  Type = "OrderPlaced"
	Paid    Type = "OrderPaid"
	Shipped Type = "OrderShipped"
)

// Item is one line of an order.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// String is how logs show an item: 2×kettle.
func (i Item) String() string { return fmt.Sprintf("%d×%s", i.Quantity, i.SKU) }

// Event is one record of Topic. Which fields are set depends on Type:
// Placed carries Customer, Items and AmountCents, Paid carries AmountCents,
// Shipped carries Carrier.
type Event struct {
	Type        Type      `json:"type"`
	OrderID     string    `json:"order_id"`
	Seq         int       `json:"seq"`
	At          time.Time `json:"at"`
	Customer    string    `json:"customer,omitempty"`
	Items       []Item    `json:"items,omitempty"`
	AmountCents int64     `json:"amount_cents,omitempty"`
	Carrier     string    `json:"carrier,omitempty"`
}

// ErrMalformed is wrapped by Decode's errors: the record is not an event of
// this format. A consumer logs and skips such a record; it cannot fold it.
var ErrMalformed = errors.New("events: malformed event")

// Record is the event as a record of Topic: keyed by order id, the event
// type in the "type" header, the event as JSON in the value.
func (e Event) Record() *kgo.Record {
	value, err := json.Marshal(e)
	if err != nil {
		panic(err) // an Event has only strings, numbers, times and slices of them
	}
	return &kgo.Record{
		Topic:   Topic,
		Key:     []byte(e.OrderID),
		Value:   value,
		Headers: []kgo.RecordHeader{{Key: "type", Value: []byte(e.Type)}},
	}
}

// Decode reads the event a record of Topic holds, and checks what every
// event must have: a known type, an order id equal to the record's key and a
// seq from 1.
func Decode(r *kgo.Record) (Event, error) {
	var e Event
	if err := json.Unmarshal(r.Value, &e); err != nil {
		return Event{}, fmt.Errorf("%w at %s/%d@%d: %v", ErrMalformed, r.Topic, r.Partition, r.Offset, err)
	}
	switch {
	case e.Type != Placed && e.Type != Paid && e.Type != Shipped:
		return Event{}, fmt.Errorf("%w at %s/%d@%d: unknown type %q", ErrMalformed, r.Topic, r.Partition, r.Offset, e.Type)
	case e.OrderID == "" || e.OrderID != string(r.Key):
		return Event{}, fmt.Errorf("%w at %s/%d@%d: order id %q under key %q", ErrMalformed, r.Topic, r.Partition, r.Offset, e.OrderID, r.Key)
	case e.Seq < 1:
		return Event{}, fmt.Errorf("%w at %s/%d@%d: seq %d", ErrMalformed, r.Topic, r.Partition, r.Offset, e.Seq)
	}
	return e, nil
}
