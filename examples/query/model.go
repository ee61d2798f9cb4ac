package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"runnel/examples/events"
	"runnel/examples/internal/service"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The keys of the snapshot topic's records (see the package comment).
const (
	orderKeyPrefix    = "order/"
	positionKeyPrefix = "position/"
)

// row is an order of the read model with the event it is as of; it is also
// the value of an order/<id> snapshot record.
type row struct {
	Order     events.Order `json:"order"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
}

// position is the value of a position/<p> snapshot record.
type position struct {
	Partition  int32 `json:"partition"`
	NextOffset int64 `json:"next_offset"`
}

// model is the read model. The consuming loop applies events, the HTTP
// handlers read, the snapshot loop copies; all under mu.
type model struct {
	mu struct {
		sync.RWMutex
		orders  map[string]*row
		next    map[int32]int64 // by partition: every event before it is applied
		dirty   map[string]bool // orders changed since the last snapshot
		written map[int32]int64 // the positions the snapshot holds
	}
}

func newModel() *model {
	m := &model{}
	m.mu.orders, m.mu.next, m.mu.dirty, m.mu.written = map[string]*row{}, map[int32]int64{}, map[string]bool{}, map[int32]int64{}
	return m
}

// rebuild reads the snapshot topic from its start to its end offsets into a
// new model.
func rebuild(ctx context.Context, env service.Env) (*model, error) {
	m := newModel()
	client, err := kgo.NewClient(kgo.SeedBrokers(env.Brokers...))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	admin := kadm.NewClient(client)
	starts, err := admin.ListStartOffsets(ctx, events.SnapshotTopic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("query: reading where %s starts: %w", events.SnapshotTopic, err)
	}
	ends, err := admin.ListEndOffsets(ctx, events.SnapshotTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("query: reading where %s ends: %w", events.SnapshotTopic, err)
	}
	remaining := map[int32]int64{} // the end offset of each partition not read to its end yet
	from := map[int32]kgo.Offset{}
	ends.Each(func(end kadm.ListedOffset) {
		if start, _ := starts.Lookup(end.Topic, end.Partition); end.Offset > start.Offset {
			remaining[end.Partition] = end.Offset
			from[end.Partition] = kgo.NewOffset().At(start.Offset)
		}
	})
	records := 0
	if len(remaining) > 0 {
		client.AddConsumePartitions(map[string]map[int32]kgo.Offset{events.SnapshotTopic: from})
	}
	for len(remaining) > 0 {
		fetches := client.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			env.Log.Warn("fetch failed", "topic", topic, "partition", partition, "err", err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			records++
			if err := m.load(r); err != nil {
				env.Log.Warn("skipped a snapshot record", "offset", r.Offset, "err", err)
			}
			// The record before the end offset is there: compaction keeps
			// each key's latest value, and a log's last record is one.
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	m.mu.written = maps.Clone(m.mu.next)
	env.Log.Info("rebuilt from the snapshot", "records", records, "orders", len(m.mu.orders), "positions", fmt.Sprint(m.mu.next))
	return m, nil
}

// load applies one record of the snapshot topic to a model being rebuilt.
func (m *model) load(r *kgo.Record) error {
	key := string(r.Key)
	switch {
	case strings.HasPrefix(key, orderKeyPrefix):
		var o row
		if err := json.Unmarshal(r.Value, &o); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		m.mu.orders[strings.TrimPrefix(key, orderKeyPrefix)] = &o
	case strings.HasPrefix(key, positionKeyPrefix):
		var p position
		if err := json.Unmarshal(r.Value, &p); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		m.mu.next[p.Partition] = p.NextOffset
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	return nil
}

// startOffsets is where to read each of the partitions of the orders topic:
// its position, or offset 0 where it has none; a position below the log
// start (retention deleted the events) reads from the log start
// (kgo.ConsumeResetOffset's default). Exact offsets everywhere let the first
// fetch ask for every partition at once.
func (m *model) startOffsets(partitions int32) map[string]map[int32]kgo.Offset {
	m.mu.RLock()
	defer m.mu.RUnlock()
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[p] = kgo.NewOffset().At(m.mu.next[p])
	}
	return map[string]map[int32]kgo.Offset{events.Topic: offsets}
}

// apply folds the event r holds into its order, unless the order already
// holds it (it was stored ahead of its partition's position).
func (m *model) apply(r *kgo.Record, e events.Event, log *slog.Logger) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.next[r.Partition] = r.Offset + 1
	o, ok := m.mu.orders[e.OrderID]
	if ok && o.Partition == r.Partition && r.Offset <= o.Offset {
		return
	}
	if !ok {
		o = &row{}
	}
	applied, err := o.Order.Apply(e)
	if err != nil {
		log.Warn("event not applied", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	if !applied { // the rebuild was not exact: the order held it without saying so
		log.Warn("event applied already", "order", e.OrderID, "seq", e.Seq, "partition", r.Partition, "offset", r.Offset)
		return
	}
	o.Partition, o.Offset = r.Partition, r.Offset
	m.mu.orders[e.OrderID] = o
	m.mu.dirty[e.OrderID] = true
}

// snapshot writes the orders changed since the last snapshot and then, once
// they are acknowledged, the positions that moved.
func (m *model) snapshot(ctx context.Context, producer *kgo.Client, log *slog.Logger) error {
	s := m.takeSnapshot()
	if len(s.orders)+len(s.positions) == 0 {
		return nil
	}
	if err := produce(ctx, producer, s.orders); err != nil {
		m.mu.Lock()
		maps.Copy(m.mu.dirty, s.dirty) // for the next snapshot
		m.mu.Unlock()
		return fmt.Errorf("query: writing %d orders to %s: %w", len(s.orders), events.SnapshotTopic, err)
	}
	if err := produce(ctx, producer, s.positions); err != nil {
		return fmt.Errorf("query: writing positions to %s: %w", events.SnapshotTopic, err)
	}
	m.mu.Lock()
	maps.Copy(m.mu.written, s.next)
	m.mu.Unlock()
	log.Info("wrote a snapshot", "orders", len(s.orders), "positions", fmt.Sprint(s.next))
	return nil
}

// produce writes records and waits until they are acknowledged or ctx is
// done. (kgo's ProduceSync waits for records the client cannot fail safely,
// idempotent batches that may have been written, even past ctx: for ever
// if the broker is gone.)
func produce(ctx context.Context, producer *kgo.Client, records []*kgo.Record) error {
	acks := make(chan error, len(records))
	for _, r := range records {
		producer.Produce(ctx, r, func(_ *kgo.Record, err error) { acks <- err })
	}
	for range records {
		select {
		case err := <-acks:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// snapshotRecords is what one snapshot writes, in order: orders, then
// positions.
type snapshotRecords struct {
	orders    []*kgo.Record
	positions []*kgo.Record
	dirty     map[string]bool // the orders written, for a retry if writing fails
	next      map[int32]int64 // the positions written
}

// takeSnapshot is the records of a snapshot of the model as it is: the
// orders changed since the last snapshot taken (which are no longer
// marked changed) and the positions that differ from those written.
func (m *model) takeSnapshot() snapshotRecords {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := snapshotRecords{dirty: m.mu.dirty, next: maps.Clone(m.mu.next)}
	m.mu.dirty = map[string]bool{}
	for id := range s.dirty {
		value, _ := json.Marshal(m.mu.orders[id]) // strings, numbers and times
		s.orders = append(s.orders, &kgo.Record{Topic: events.SnapshotTopic, Key: []byte(orderKeyPrefix + id), Value: value})
	}
	for p, n := range s.next {
		if written, ok := m.mu.written[p]; !ok || written != n {
			value, _ := json.Marshal(position{Partition: p, NextOffset: n})
			s.positions = append(s.positions, &kgo.Record{Topic: events.SnapshotTopic, Key: []byte(positionKeyPrefix + strconv.Itoa(int(p))), Value: value})
		}
	}
	return s
}

// handler serves GET /orders and GET /orders/{id}.
func (m *model) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, _ *http.Request) {
		m.mu.RLock()
		orders := make([]events.Order, 0, len(m.mu.orders))
		for _, o := range m.mu.orders {
			orders = append(orders, o.Order)
		}
		slices.SortFunc(orders, func(a, b events.Order) int { return cmp.Compare(a.ID, b.ID) })
		body, err := json.Marshal(orders) // under the lock: apply changes orders in place
		m.mu.RUnlock()
		writeJSON(w, http.StatusOK, body, err)
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		m.mu.RLock()
		o, ok := m.mu.orders[r.PathValue("id")]
		var body []byte
		var err error
		if ok {
			body, err = json.Marshal(o.Order)
		}
		m.mu.RUnlock()
		if !ok {
			body, err = json.Marshal(map[string]string{"error": "no order " + r.PathValue("id")})
			writeJSON(w, http.StatusNotFound, body, err)
			return
		}
		writeJSON(w, http.StatusOK, body, err)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, body []byte, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
