// Command query is the query side of the order flow (CQRS): it keeps a read
// model of every order, folded from the "orders" topic's events, and serves
// it as JSON over HTTP:
//
//	GET /orders        every order, by id
//	GET /orders/{id}   one order, or 404
//
// It reads the events directly from their partitions, not in a consumer
// group: where it is in each partition is part of its snapshots, so that a
// restart rebuilds the model exactly.
//
// # Snapshots
//
// Every --snapshot-interval, and when it stops, it writes to the compacted
// topic "order-snapshots" (one partition) the orders changed since the last
// snapshot, waits until they are acknowledged (acks=all), then writes the
// positions that moved. Records are JSON values under two kinds of key:
//
//	order/<id>     {"order":{…events.Order…},"partition":3,"offset":117}
//	               the order as of its event at that offset of that partition of "orders"
//	position/<p>   {"partition":3,"next_offset":120}
//	               every order of partition p is in the snapshot as of all events before next_offset
//
// Compaction keeps the last value of each key, which is all a rebuild reads.
//
// # Rebuilding
//
// At start it reads "order-snapshots" from its start to its end offset,
// keeping the last value of each key, then reads each partition of "orders"
// from its position (from the start where there is none), skipping an event
// at or below the offset stored with its order. That is exact even after a
// crash between a snapshot's orders and its positions: an order stored ahead
// of its partition's position skips the events it already holds, and every
// other order is stored as of the position (positions are written only once
// the orders before them are acknowledged).
//
//	query --brokers localhost:9092 --http 127.0.0.1:8080
package main

import (
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"time"

	"runnel/examples/events"
	"runnel/examples/internal/service"

	"github.com/twmb/franz-go/pkg/kgo"
)

// stopTimeout bounds a snapshot and the HTTP server's shutdown.
const stopTimeout = 10 * time.Second

func main() {
	var addr string
	var interval time.Duration
	service.Run("query", "serves the orders read model over HTTP, rebuilt from snapshots and events", func(f *flag.FlagSet) {
		f.StringVar(&addr, "http", "127.0.0.1:8080", "where to serve the read model")
		f.DurationVar(&interval, "snapshot-interval", 5*time.Second, "how often to snapshot the read model")
	}, func(ctx context.Context, env service.Env) error {
		return serve(ctx, env, addr, interval)
	})
}

func serve(ctx context.Context, env service.Env, addr string, interval time.Duration) error {
	// A snapshot not acknowledged in time fails (the next one retries it)
	// rather than keep the service from stopping.
	producer, err := kgo.NewClient(kgo.SeedBrokers(env.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(stopTimeout))
	if err != nil {
		return err
	}
	defer producer.Close()
	m, err := rebuild(ctx, env)
	if err != nil {
		return err
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(env.Brokers...), kgo.ConsumePartitions(m.startOffsets(env.Partitions)))
	if err != nil {
		return err
	}
	defer consumer.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: m.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			env.Log.Error("http server stopped", "err", err)
		}
	}()
	env.Log.Info("serving the read model", "addr", ln.Addr().String())

	snapshotsDone := make(chan struct{})
	go func() {
		defer close(snapshotsDone)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				// Not ended by a stop: a batch of kgo fails whole when its first
				// record's context ends, and the last snapshot's records may
				// join this one's batch.
				snapshotCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
				if err := m.snapshot(snapshotCtx, producer, env.Log); err != nil {
					env.Log.Warn("snapshot failed; the next one retries", "err", err)
				}
				cancel()
			}
		}
	}()

	for ctx.Err() == nil {
		fetches := consumer.PollFetches(ctx)
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				env.Log.Warn("fetch failed", "topic", topic, "partition", partition, "err", err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			e, err := events.Decode(r)
			if err != nil {
				env.Log.Warn("skipped a record", "err", err)
				return
			}
			m.apply(r, e, env.Log)
		})
	}

	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	err = server.Shutdown(stopCtx)
	<-snapshotsDone
	return errors.Join(err, m.snapshot(stopCtx, producer, env.Log))
}
