package broker

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/io/flush"
	"runnel/segment"
)

// BenchmarkFetchLongPollWake measures one long-poll round of a consumer of
// many partitions with nothing new (issue 16): the fetch reads every
// partition, parks, one partition gets a batch, and the fetch wakes,
// re-reads and answers with it. The interval flush policy keeps fsync out
// of the round. Bytes per operation (SetBytes) are the batch's.
func BenchmarkFetchLongPollWake(b *testing.B) {
	for _, partitions := range []int{1000, 10000} {
		b.Run("partitions="+strconv.Itoa(partitions), func(b *testing.B) {
			d := startDataBroker(b, func(c *Config) {
				c.PreallocateBytes = 4096 // 10,000 partitions must not reserve 1 MiB each
				c.FlushPolicy = flush.Interval
			})
			// Topics of 1,000 partitions: creating 10,000 at once outlasts
			// the admin client's timeout on a loaded machine.
			const perTopic = 1000
			small := "65536"
			offsets := make(map[int32]int64, perTopic)
			for p := range perTopic {
				offsets[int32(p)] = 0
			}
			req := sessionFetch(12, "", [16]byte{}, -1, -1, 30000, nil)
			for t := range partitions / perTopic {
				name := "wake" + strconv.Itoa(t)
				d.createTopic(name, int32(perTopic), map[string]*string{"segment.index.bytes": &small})
				req.Topics = append(req.Topics, sessionFetch(12, name, [16]byte{}, -1, -1, 30000, offsets).Topics...)
			}
			records := batch(0, -1, 1, "wake")
			b.SetBytes(int64(len(records)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				t, p := i%partitions/perTopic, i%perTopic
				rep := handleFetch(d.b, &request{msg: req, version: req.Version})
				for d.b.parkedFetches.Load() == 0 {
					runtime.Gosched()
				}
				pt, err := d.b.partition(req.Topics[t].Topic, int32(p))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := pt.log.Append(batch(0, -1, 1, "wake"), segment.AppendOptions{}); err != nil {
					b.Fatal(err)
				}
				<-rep.done
				fr, ok := rep.frame.(*fetchFrame)
				if !ok || fr.fileBytes != int64(len(records)) {
					b.Fatalf("round %d: response %+v, want the one batch", i, rep.resp)
				}
				fr.release()
				req.Topics[t].Partitions[p].FetchOffset++
			}
		})
	}
}

// BenchmarkFetchLongPollWakeups measures what one wake-up that does not
// make a parked fetch ready costs, with a consumer of many partitions
// (issue 16): a batch lands on one partition, the fetch (MinBytes out of
// reach) wakes, reads what changed and parks again. Beside it, in the same
// run, full-read is one read of every partition of the same fetch, which
// is what each such wake-up cost before the fetch knew which partition
// changed. The interval flush policy keeps fsync out. Bytes per operation
// (SetBytes) are the batch's.
func BenchmarkFetchLongPollWakeups(b *testing.B) {
	for _, partitions := range []int{1000, 10000} {
		b.Run("partitions="+strconv.Itoa(partitions), func(b *testing.B) {
			d := startDataBroker(b, func(c *Config) {
				c.PreallocateBytes = 4096
				c.FlushPolicy = flush.Interval
				c.FetchMaxWait = time.Hour
			})
			req, logs := parkedFetchOf(b, d, "wakeups", partitions)
			records := batch(0, -1, 1, "wake")
			b.Run("full-read", func(b *testing.B) {
				f := newFetch(d.b, req)
				defer f.free()
				b.SetBytes(int64(len(records)))
				b.ReportAllocs()
				for b.Loop() {
					f.read()
				}
			})
			b.Run("wake", func(b *testing.B) {
				rep := handleFetch(d.b, &request{msg: req, version: req.Version})
				for d.b.parkedFetches.Load() == 0 {
					runtime.Gosched()
				}
				b.SetBytes(int64(len(records)))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					w := d.b.fetchWakeups.Load()
					if _, err := logs[i%len(logs)].Append(batch(0, -1, 1, "wake"), segment.AppendOptions{}); err != nil {
						b.Fatal(err)
					}
					for d.b.fetchWakeups.Load() == w || d.b.parkedFetches.Load() == 0 {
						runtime.Gosched()
					}
				}
				b.StopTimer()
				d.stop() // ends the fetch's wait
				<-rep.done
				if fr, ok := rep.frame.(*fetchFrame); ok {
					fr.release()
				}
			})
		})
	}
}

// BenchmarkAppendParkedConsumer measures appends to many partitions in
// turn, under the durable policy with no sync, while a consumer's fetch of
// every partition is parked (issue 16): none of the appends is readable by
// the consumer, so none should wake it. cpu-ns/op is the process's CPU
// time per append (the woken fetch runs on another thread), wakeups/op the
// fetch's wake-ups. Bytes per operation (SetBytes) are the batch's.
func BenchmarkAppendParkedConsumer(b *testing.B) {
	for _, partitions := range []int{8, 1000} {
		b.Run("partitions="+strconv.Itoa(partitions), func(b *testing.B) {
			d := startDataBroker(b, func(c *Config) {
				c.PreallocateBytes = 1 << 20
				c.FetchMaxWait = time.Hour
			})
			req, logs := parkedFetchOf(b, d, "parked", partitions)
			rep := handleFetch(d.b, &request{msg: req, version: req.Version})
			for d.b.parkedFetches.Load() == 0 {
				runtime.Gosched()
			}
			records := batch(0, -1, 16, strings.Repeat("v", 1000))
			b.SetBytes(int64(len(records)))
			b.ReportAllocs()
			w := d.b.fetchWakeups.Load()
			cpu0 := processCPU(b)
			for i := 0; b.Loop(); i++ {
				if _, err := logs[i%len(logs)].Append(records, segment.AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(d.b.fetchWakeups.Load()-w)/float64(b.N), "wakeups/op")
			d.stop() // ends the fetch's wait
			<-rep.done
			if fr, ok := rep.frame.(*fetchFrame); ok {
				fr.release()
			}
		})
	}
}

// parkedFetchOf creates partitions partitions on d, in topics of up to
// 1,000 named prefix0, prefix1, ..., and returns a fetch of all of them
// from offset 0 that waits an hour for more bytes than it can get (so it
// parks), with their logs in the fetch's order.
func parkedFetchOf(b *testing.B, d *dataBroker, prefix string, partitions int) (*kmsg.FetchRequest, []*segment.Log) {
	perTopic := min(partitions, 1000)
	small := "65536"
	offsets := make(map[int32]int64, perTopic)
	for p := range perTopic {
		offsets[int32(p)] = 0
	}
	req := sessionFetch(12, "", [16]byte{}, -1, -1, int32(time.Hour/time.Millisecond), nil)
	req.MinBytes, req.MaxBytes = 1<<30, 1<<30
	var logs []*segment.Log
	for t := range partitions / perTopic {
		name := prefix + strconv.Itoa(t)
		d.createTopic(name, int32(perTopic), map[string]*string{"segment.index.bytes": &small})
		req.Topics = append(req.Topics, sessionFetch(12, name, [16]byte{}, -1, -1, 0, offsets).Topics...)
		for p := range perTopic {
			pt, err := d.b.partition(name, int32(p))
			if err != nil {
				b.Fatal(err)
			}
			logs = append(logs, pt.log)
		}
	}
	return req, logs
}
