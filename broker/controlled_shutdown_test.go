package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/internal/wait"
)

// TestThreeBrokersRollingRestartUnderLoad: the three brokers are stopped
// and started again one after the other while an idempotent producer
// (acks=all) sends: each stopping broker's controlled shutdown hands its
// leaderships over first, so the producer sees only errors it retries
// (NOT_LEADER_OR_FOLLOWER), no record fails, and every acknowledged record
// is then read back once. (That no partition waits for a stopped broker is
// TestThreeBrokersControlledShutdown's; the slowest acknowledgement here
// also depends on the followers, whose stalls acks=all waits for up to
// replica.lag.time.max.ms, so it is only logged.)
func TestThreeBrokersRollingRestartUnderLoad(t *testing.T) {
	brokers := startCluster(t, 3, "replica.lag.time.max.ms=2000")
	const topic, partitions = "rolling", 6
	const down = 2 * time.Second // how long each broker stays stopped
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, brokers[0]))
	if _, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	fullISRs := func() bool {
		for _, b := range brokers {
			mt, ok := b.image().Topic(topic)
			if !ok {
				return false
			}
			for p := range mt.Partitions() {
				if len(p.ISR) != 3 || p.Leader < 0 {
					return false
				}
			}
		}
		return true
	}
	wait.Until(t, 20*time.Second, "every partition with a full ISR", fullISRs)

	var seeds []string
	for _, b := range brokers {
		seeds = append(seeds, b.Addr().String())
	}
	// The producer looks for the new leader at once after
	// NOT_LEADER_OR_FOLLOWER, as Kafka's Java producer does (kgo's default
	// waits up to 5 s between metadata refreshes).
	producer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.RetryTimeout(60*time.Second), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	var (
		acked, failed atomic.Int64
		slowest       atomic.Int64 // the longest a record sent since the first stop took to be acknowledged, ns (logged)
		measuring     atomic.Bool
		mu            sync.Mutex
		firstErr      error
		inFlight      = make(chan struct{}, 64) // a steady load, not a flood of buffered records
		stop          = make(chan struct{})
		done          = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				producer.Flush(ctx)
				return
			default:
			}
			r := &kgo.Record{Value: []byte{byte(i), byte(i >> 8), byte(i >> 16)}}
			inFlight <- struct{}{}
			sent := time.Now()
			producer.Produce(ctx, r, func(_ *kgo.Record, err error) {
				<-inFlight
				if err == nil {
					acked.Add(1)
					took := time.Since(sent)
					for old := slowest.Load(); measuring.Load() && took > time.Duration(old) && !slowest.CompareAndSwap(old, int64(took)); old = slowest.Load() {
					}
					return
				}
				failed.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			})
		}
	}()
	for i, old := range brokers {
		before := acked.Load()
		wait.Until(t, 20*time.Second, "records acknowledged before the restart", func() bool { return acked.Load() > before+100 })
		measuring.Store(true)
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(down) // a restart takes a while
		brokers[i] = restartBroker(t, old)
		wait.Until(t, 30*time.Second, "the restarted broker back in every ISR", fullISRs)
	}
	before := acked.Load()
	wait.Until(t, 20*time.Second, "records acknowledged after the restarts", func() bool { return acked.Load() > before+100 })
	close(stop)
	<-done
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d records failed during the rolling restart (of %d acknowledged); the first: %v", n, acked.Load(), firstErr)
	}

	// Every acknowledged record is there, once.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[[3]byte]int{}
	total := acked.Load()
	for int64(len(seen)) < total && ctx.Err() == nil {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var k [3]byte
			copy(k[:], r.Value)
			seen[k]++
		})
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	if int64(len(seen)) != total || dups > 0 {
		t.Fatalf("read back %d distinct records (%d more than once), want the %d acknowledged", len(seen), dups, total)
	}
	t.Logf("%d records acknowledged over a rolling restart of three brokers, none failed; the slowest took %v", total, time.Duration(slowest.Load()))
}
