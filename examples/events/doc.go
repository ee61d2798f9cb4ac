// Package events is the order flow's one shared piece: the events an order
// goes through, their JSON encoding on the topic, and the fold that turns an
// order's events into its current state. Every service of examples/ reads
// and writes events only through this package.
//
// # The topics
//
// Topic ("orders") holds the events, keyed by order id, so that all events
// of one order land in one partition in the order they were appended. A
// record's value is one Event as a JSON object:
//
//	{"type":"OrderPlaced","order_id":"o-000001","seq":1,"at":"2026-12-02T05:30:00Z",
//	 "customer":"ada@example.com","items":[{"sku":"kettle","quantity":2}],"amount_cents":5800}
//	{"type":"OrderPaid","order_id":"o-000001","seq":2,"at":"…","amount_cents":5800}
//	{"type":"OrderShipped","order_id":"o-000001","seq":3,"at":"…","carrier":"DHL"}
//
// seq numbers an order's events from 1 with no gap, so a consumer can tell a
// repeated event (seq already applied) from a lost one (a gap). The record's
// key is the order id again, and its "type" header the event type, so that
// tools can filter without decoding the value.
//
// SnapshotTopic ("order-snapshots", cleanup.policy=compact) belongs to the
// query service, which keeps its read model's snapshots there; its format is
// written down in examples/query.
package events
