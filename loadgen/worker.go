package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producer is one producing client and its own counters and histograms.
type producer struct {
	run    *run
	client *kgo.Client
	rng    *rand.Rand
	producerStats
	values sync.Pool // *[]byte value buffers, back from acks
}

// producerStats are the counters and histograms of one producer, a
// client's or a raw connection's (rawConn).
type producerStats struct {
	latency, sendDelay         *recorder
	sent, acked, errors, bytes atomic.Int64
}

func newProducerStats() producerStats {
	return producerStats{latency: newRecorder(), sendDelay: newRecorder()}
}

// send runs the send loop until stop is set or the run's record budget is
// spent. Open loop: record i is due at start + i/rate; when the loop is
// late (the client blocked, the machine was busy) it sends what is due at
// once, and each record keeps its intended time, so a stall shows in the
// latency of every record it delayed rather than of one. Above
// paceBatchBelow's rate the loop wakes once per paceQuantum, when the last
// record of that stretch is due, and sends the stretch (see paceBatch).
func (p *producer) send(stop *atomic.Bool, rate float64) {
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
		defer PreciseThread()()
	}
	batch := paceBatch(interval)
	start := time.Now()
	for i := int64(0); !stop.Load(); i++ {
		if interval == 0 && i%lagCheckEvery == 0 && !p.run.waitForConsumers(stop) {
			return
		}
		intended := time.Now()
		if interval > 0 {
			intended = start.Add(time.Duration(i) * interval)
			wake := intended
			if i%batch == 0 {
				wake = start.Add(time.Duration(i+batch-1) * interval)
			}
			if wait := time.Until(wake); wait > 100*time.Millisecond {
				time.Sleep(100 * time.Millisecond) // then look at stop again
				i--
				continue
			} else if wait > 0 {
				SleepUntil(wake)
			}
		}
		if !p.run.takeRecord() {
			return
		}
		rec := p.record(intended)
		if interval > 0 {
			p.sendDelay.Record(time.Since(intended), intended)
		}
		p.sent.Add(1)
		p.client.Produce(context.Background(), rec, p.acknowledged)
	}
}

// record builds a record whose value starts with the intended send time
// (big-endian Unix nanoseconds) and continues with the run's payload.
func (p *producer) record(intended time.Time) *kgo.Record {
	cfg := &p.run.cfg
	size := cfg.RecordSize
	if cfg.RecordSizeMax > size {
		size += p.rng.IntN(cfg.RecordSizeMax - size + 1)
	}
	var value []byte
	if b, ok := p.values.Get().(*[]byte); ok && cap(*b) >= size {
		value = (*b)[:size]
	} else {
		value = make([]byte, size, max(size, cfg.RecordSizeMax))
	}
	binary.BigEndian.PutUint64(value, uint64(intended.UnixNano()))
	copy(value[8:], p.run.payload)
	rec := &kgo.Record{Value: value, Timestamp: intended, Headers: p.run.headers}
	if len(p.run.keys) > 0 {
		rec.Key = p.run.keys[p.rng.IntN(len(p.run.keys))]
	}
	return rec
}

// acknowledged is the produce promise.
func (p *producer) acknowledged(rec *kgo.Record, err error) {
	if err != nil {
		p.errors.Add(1)
		p.run.noteError("produce: " + err.Error())
	} else {
		intended := time.Unix(0, int64(binary.BigEndian.Uint64(rec.Value)))
		p.latency.Record(time.Since(intended), intended)
		p.acked.Add(1)
		p.bytes.Add(int64(len(rec.Value)))
	}
	v := rec.Value
	p.values.Put(&v)
}

// consumer is one consuming client, assigned partitions directly.
type consumer struct {
	run    *run
	client *kgo.Client
	e2e    *recorder

	records, bytes, errors atomic.Int64
}

// poll reads until the client is closed. With e2e set it records, for each
// record, the time from its intended send time to now.
func (c *consumer) poll(ctx context.Context, e2e bool) {
	for {
		fetches := c.client.PollRecords(ctx, 10000)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
				return
			}
			c.errors.Add(1)
			c.run.noteError("fetch: " + err.Error())
		})
		now := time.Now()
		var n, bytes int64
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			bytes += int64(len(r.Value))
			if e2e && len(r.Value) >= 8 {
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(r.Value)))
				c.e2e.Record(now.Sub(sent), sent)
			}
		})
		c.bytes.Add(bytes)
		c.records.Add(n)
	}
}

// clientHooks counts requests that failed on the wire.
type clientHooks struct{ run *run }

func (h clientHooks) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if err := e2e.Err(); err != nil && !errors.Is(err, kgo.ErrClientClosed) && !errors.Is(err, context.Canceled) {
		h.run.requestErrors.Add(1)
		h.run.noteError("request key " + strconv.Itoa(int(key)) + ": " + err.Error())
	}
}

// clientLogger keeps the client's warnings and its retry notices.
type clientLogger struct{ run *run }

func (l clientLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l clientLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelInfo && !retryNotice(msg) {
		return
	}
	l.run.clientWarnings.Add(1)
	l.run.noteError(level.String() + ": " + msg + " " + formatKeyvals(keyvals))
}
