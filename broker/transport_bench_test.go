package broker

// The two transports side by side, in the same run, through the whole
// server with franz-go clients in this process:
//
//	go test ./broker/ -run XXX -bench Transport -benchtime 3s
//	go test ./broker/ -run XXX -bench IdleConnections -benchtime 1x
//
// cpu-s/GiB is the CPU time of the whole process (broker and client) per
// GiB of record values moved; the client's share is the same for both
// transports, so the difference between them is the server's.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"

	"runnel/io/flush"
	"runnel/netpoll/netpolltest"
)

var transports = []string{NetStd, NetEpoll}

func BenchmarkTransport(b *testing.B) {
	const size = 1 << 10
	for _, clients := range []int{1, 8} {
		for _, op := range []string{"produce", "fetch"} {
			for _, netName := range transports {
				b.Run(fmt.Sprintf("op=%s/clients=%d/net=%s", op, clients, netName), func(b *testing.B) {
					d := startDataBroker(b, func(c *Config) {
						c.Net = netName
						c.FlushPolicy = flush.Interval
						c.PreallocateBytes = 64 << 20
					})
					d.createTopic("bench", int32(clients), nil)
					if op == "produce" {
						benchProduce(b, d, clients, size)
					} else {
						benchFetch(b, d, clients, size)
					}
				})
			}
		}
	}
}

// benchProduce produces b.N records of size bytes, acks=1, from clients
// clients, each to its own partition.
func benchProduce(b *testing.B, d *dataBroker, clients, size int) {
	value := benchValue(size)
	cls := make([]*kgo.Client, clients)
	for i := range cls {
		cls[i] = d.client(kgo.DefaultProduceTopic("bench"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
			kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(1<<16), kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	var errOnce sync.Once
	var firstErr error
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu := processCPU(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var done sync.WaitGroup
			for range share(b.N, clients, i) {
				done.Add(1)
				cl.Produce(context.Background(), &kgo.Record{Value: value, Partition: int32(i)}, func(_ *kgo.Record, err error) {
					if err != nil {
						errOnce.Do(func() { firstErr = err })
					}
					done.Done()
				})
			}
			done.Wait()
		}()
	}
	wg.Wait()
	b.StopTimer()
	reportCPUPerGiB(b, cpu, int64(b.N)*int64(size))
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}

// benchFetch consumes b.N records of size bytes produced beforehand,
// clients consumers each reading its own partition.
func benchFetch(b *testing.B, d *dataBroker, clients, size int) {
	value := benchValue(size)
	producer := d.client(kgo.DefaultProduceTopic("bench"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(1<<16), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range clients {
		for range share(b.N, clients, i) {
			producer.Produce(context.Background(), &kgo.Record{Value: value, Partition: int32(i)}, nil)
		}
	}
	if err := producer.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	cls := make([]*kgo.Client, clients)
	for i := range cls {
		cls[i] = d.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"bench": {int32(i): kgo.NewOffset().AtStart()}}),
			kgo.FetchMaxBytes(16<<20), kgo.FetchMaxPartitionBytes(16<<20))
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu := processCPU(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got, want := 0, share(b.N, clients, i); got < want; {
				fs := cl.PollFetches(context.Background())
				if err := fs.Err(); err != nil {
					errs <- err
					return
				}
				got += fs.NumRecords()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	reportCPUPerGiB(b, cpu, int64(b.N)*int64(size))
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// share is client i's part of n records split between clients.
func share(n, clients, i int) int {
	s := n / clients
	if i < n%clients {
		s++
	}
	return s
}

// processCPU is the user+system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPUPerGiB(b *testing.B, start time.Duration, bytes int64) {
	cpu := processCPU(b) - start
	b.ReportMetric(cpu.Seconds()/(float64(bytes)/(1<<30)), "cpu-s/GiB")
}

// BenchmarkIdleConnections holds idle connections open to a broker (from a
// child process, so that the heap measured is the broker's and the file
// descriptors are split between two processes) and reports what each
// costs: heap and goroutine stacks after a GC, and the time of a GC with
// them open.
func BenchmarkIdleConnections(b *testing.B) {
	n := 10000
	if s := os.Getenv("RUNNEL_BENCH_IDLE_CONNS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, netName := range transports {
		b.Run(fmt.Sprintf("conns=%d/net=%s", n, netName), func(b *testing.B) {
			d := startDataBroker(b, func(c *Config) { c.Net = netName })
			before := netpolltest.HeapInUse()
			netpolltest.HoldIdle(b, "TestHelperIdleDialer", d.addr, n, d.connections)
			for range b.N {
				after := netpolltest.HeapInUse()
				start := time.Now()
				runtime.GC()
				gc := time.Since(start)
				b.ReportMetric(float64(after-before)/float64(n), "B/conn")
				b.ReportMetric(float64(gc.Microseconds()), "gc-µs")
				b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
			}
		})
	}
}

func (d *dataBroker) connections() int {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	return len(d.b.conns)
}

// TestHelperIdleDialer is BenchmarkIdleConnections' child process.
func TestHelperIdleDialer(t *testing.T) { netpolltest.ChildMain(t) }
