package events

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDecode(t *testing.T) {
	placed := Event{Type: Placed, OrderID: "o-1", Seq: 1, At: time.Date(2026, 12, 2, 5, 30, 0, 0, time.UTC), Customer: "ada@example.com",
		Items: []Item{{SKU: "kettle", Quantity: 2}}, AmountCents: 5800}
	r := placed.Record()
	if string(r.Key) != "o-1" || r.Topic != Topic || len(r.Headers) != 1 || string(r.Headers[0].Value) != "OrderPlaced" {
		t.Fatalf("Record() = %+v", r)
	}
	got, err := Decode(r)
	if err != nil || got.At != placed.At || got.Customer != placed.Customer || len(got.Items) != 1 || got.Items[0] != placed.Items[0] {
		t.Fatalf("Decode(Record()) = %+v, %v; want %+v", got, err, placed)
	}
	for _, tc := range []struct {
		name, key, value string
	}{
		{"not JSON", "o-1", `{"type":`},
		{"unknown type", "o-1", `{"type":"OrderLost","order_id":"o-1","seq":1}`},
		{"key is not the order id", "o-2", `{"type":"OrderPlaced","order_id":"o-1","seq":1}`},
		{"no order id", "", `{"type":"OrderPlaced","seq":1}`},
		{"seq 0", "o-1", `{"type":"OrderPlaced","order_id":"o-1","seq":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(&kgo.Record{Key: []byte(tc.key), Value: []byte(tc.value)}); !errors.Is(err, ErrMalformed) {
				t.Errorf("Decode = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestApply(t *testing.T) {
	event := func(typ Type, seq int) Event { return Event{Type: typ, OrderID: "o-1", Seq: seq} }
	for _, tc := range []struct {
		name    string
		events  []Event
		status  Type
		version int
		failing int // the index of the event Apply refuses; -1: none
		repeat  int // the index of the event Apply reports as already applied; -1: none
	}{
		{"placed, paid, shipped", []Event{event(Placed, 1), event(Paid, 2), event(Shipped, 3)}, Shipped, 3, -1, -1},
		{"a repeat changes nothing", []Event{event(Placed, 1), event(Paid, 2), event(Placed, 1)}, Paid, 2, -1, 2},
		{"a gap is refused", []Event{event(Placed, 1), event(Shipped, 3)}, Placed, 1, 1, -1},
		{"shipped before paid is refused", []Event{event(Placed, 1), event(Shipped, 2)}, Placed, 1, 1, -1},
		{"paid before placed is refused", []Event{event(Paid, 1)}, "", 0, 0, -1},
		{"another order's event is refused", []Event{event(Placed, 1), {Type: Paid, OrderID: "o-2", Seq: 2}}, Placed, 1, 1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o Order
			for i, e := range tc.events {
				applied, err := o.Apply(e)
				if (err != nil) != (i == tc.failing) {
					t.Fatalf("event %d: Apply = %v", i, err)
				}
				if applied != (err == nil && i != tc.repeat) {
					t.Fatalf("event %d: applied = %v", i, applied)
				}
			}
			if o.Status != tc.status || o.Version != tc.version {
				t.Errorf("status %q version %d, want %q %d", o.Status, o.Version, tc.status, tc.version)
			}
		})
	}
}
