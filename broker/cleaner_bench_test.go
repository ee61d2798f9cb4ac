package broker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/brokertest"
)

// BenchmarkProduceWhileCleaning measures produce latency beside the log cleaner: each
// iteration is one ProduceSync of a 1 KiB record (acks=all, fsynced before the answer) to a
// plain topic, timed from the call to the answer, while a writer overwrites the 10000 keys of
// a compacted topic of 1 MiB segments at about 8 MiB/s. cleaner=on compacts it as it goes
// (log.cleaner.backoff.ms 10, no I/O limit: the cleaner re-reads the whole log at every clean,
// as Kafka's, so it is busy all the time); cleaner=limited the same with
// log.cleaner.io.max.bytes.per.second at 16 MiB/s; cleaner=off runs the same load without a
// cleaner, so the cleaner is the only difference. It reports p50, p99 and max in µs, and the MiB the cleaner read while timed.
// The produce loop is closed (one request at a time), so the percentiles are those of the
// requests made, not of an open-loop schedule.
//
//	go test ./broker/ -run '^$' -bench BenchmarkProduceWhileCleaning -benchtime 2000x -count 3
func BenchmarkProduceWhileCleaning(b *testing.B) {
	for _, variant := range []struct {
		name     string
		settings []string
	}{
		{"cleaner=off", []string{"log.cleaner.enable=false"}},
		{"cleaner=on", []string{"log.cleaner.enable=true"}},
		{"cleaner=limited", []string{"log.cleaner.enable=true", "log.cleaner.io.max.bytes.per.second=16777216"}},
	} {
		b.Run(variant.name, func(b *testing.B) {
			br := brokertest.Start(b, append(variant.settings, "log.cleaner.backoff.ms=10", "runnel.segment.preallocate.bytes=1048576")...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			adm := br.Admin(b)
			if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
				"cleanup.policy":            kadm.StringPtr("compact"),
				"segment.bytes":             kadm.StringPtr("1048576"),
				"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
			}, "compacted"); err != nil {
				b.Fatal(err)
			}
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, "plain"); err != nil {
				b.Fatal(err)
			}
			writer := br.Client(b, kgo.DefaultProduceTopic("compacted"), kgo.ProducerLinger(time.Millisecond),
				kgo.ProducerBatchCompression(kgo.NoCompression())) // the bytes as written: zeros would compress to nothing
			overwrite := func(round int) error {
				records := make([]*kgo.Record, 100)
				for i := range records {
					records[i] = &kgo.Record{Key: fmt.Appendf(nil, "key-%05d", (round*100+i)%10000), Value: make([]byte, 1000)}
				}
				return writer.ProduceSync(ctx, records...).FirstErr()
			}
			// 16 MiB of overwrites first, so that the cleaner has work from the start.
			round := 0
			for ; round < 160; round++ {
				if err := overwrite(round); err != nil {
					b.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				tick := time.NewTicker(12 * time.Millisecond) // 100 KiB each: about 8 MiB/s
				defer tick.Stop()
				for round := round; ctx.Err() == nil; round++ {
					if err := overwrite(round); err != nil && ctx.Err() == nil {
						b.Error(err)
						return
					}
					select {
					case <-ctx.Done():
					case <-tick.C:
					}
				}
			})
			producer := br.Client(b, kgo.DefaultProduceTopic("plain"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
				kgo.ProducerBatchCompression(kgo.NoCompression()))
			value := make([]byte, 1024)
			latencies := make([]time.Duration, 0, b.N)
			cleanedBefore := br.CleanerStats().BytesCleaned
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := producer.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
					b.Fatal(err)
				}
				latencies = append(latencies, time.Since(start))
			}
			b.StopTimer()
			cleaned := br.CleanerStats().BytesCleaned - cleanedBefore
			cancel()
			wg.Wait()
			slices.Sort(latencies)
			at := func(q float64) float64 {
				return float64(latencies[min(len(latencies)-1, int(q*float64(len(latencies))))].Microseconds())
			}
			b.ReportMetric(at(0.50), "p50-µs")
			b.ReportMetric(at(0.99), "p99-µs")
			b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds()), "max-µs")
			b.ReportMetric(float64(cleaned)/(1<<20), "cleaned-MiB")
			if variant.name != "cleaner=off" && cleaned == 0 && b.N >= 1000 {
				b.Errorf("the cleaner read nothing during %d produces", b.N)
			}
		})
	}
}
