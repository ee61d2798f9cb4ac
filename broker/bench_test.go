package broker

// Data-path throughput through the whole server on loopback with a franz-go
// client, beside the storage-only figure (segment.Log Append and Read of the
// same batches) measured in the same run:
//
//	go test ./broker/ -run XXX -bench 'Server|Storage' -benchtime 2s
//
// Produce is measured under both flush policies: durable (acks=all waits
// for the group-commit fdatasync) and interval (no fsync on the produce
// path, as Kafka runs by default).

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/io/flush"
	"runnel/segment"
	"runnel/segment/segmenttest"
)

var benchRecordSizes = []int{100, 1 << 10, 16 << 10}

// benchBatchBytes is about what franz-go puts in one batch (its default
// ProducerBatchMaxBytes is 1 MB; at full speed batches fill to a fraction).
const benchBatchBytes = 64 << 10

func BenchmarkServerProduce(b *testing.B) {
	for _, policy := range []struct {
		name   string
		policy flush.Policy
	}{{"durable", flush.Durable}, {"interval", flush.Interval}} {
		for _, size := range benchRecordSizes {
			b.Run(fmt.Sprintf("policy=%s/size=%d", policy.name, size), func(b *testing.B) {
				d := startDataBroker(b, func(c *Config) { c.FlushPolicy = policy.policy; c.PreallocateBytes = 64 << 20 })
				d.createTopic("bench", 1, nil)
				cl := d.client(kgo.DefaultProduceTopic("bench"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(1<<16), kgo.ProducerBatchCompression(kgo.NoCompression()))
				value := benchValue(size)
				var wg sync.WaitGroup
				var errOnce sync.Once
				var firstErr error
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					wg.Add(1)
					cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
						if err != nil {
							errOnce.Do(func() { firstErr = err })
						}
						wg.Done()
					})
				}
				wg.Wait()
				b.StopTimer()
				if firstErr != nil {
					b.Fatal(firstErr)
				}
			})
		}
	}
}

func BenchmarkServerFetch(b *testing.B) {
	for _, size := range benchRecordSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			d := startDataBroker(b, func(c *Config) { c.FlushPolicy = flush.Interval; c.PreallocateBytes = 64 << 20 })
			d.createTopic("bench", 1, nil)
			producer := d.client(kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(1<<16), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.ProducerBatchCompression(kgo.NoCompression()))
			value := benchValue(size)
			for range b.N {
				producer.Produce(context.Background(), &kgo.Record{Value: value}, nil)
			}
			if err := producer.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			consumer := d.client(kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(16<<20), kgo.FetchMaxPartitionBytes(16<<20))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for got := 0; got < b.N; {
				fs := consumer.PollFetches(context.Background())
				if err := fs.Err(); err != nil {
					b.Fatal(err)
				}
				got += fs.NumRecords()
			}
		})
	}
}

// benchValue is an incompressible record value (clients compress by
// default; the benchmarks send uncompressed batches of random bytes).
func benchValue(size int) []byte {
	v := make([]byte, size)
	rand.Read(v)
	return v
}

// BenchmarkServerFetchRaw is fetch through the server without a client
// library's decoding: one raw connection asks for 16 MiB at a time and only
// walks the batch headers of what comes back, so the figure is the server's
// (index lookup, framing, sendfile, loopback), comparable with
// BenchmarkStorageRead.
func BenchmarkServerFetchRaw(b *testing.B) {
	for _, size := range benchRecordSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			d := startDataBroker(b, func(c *Config) { c.FlushPolicy = flush.Interval; c.PreallocateBytes = 64 << 20 })
			d.createTopic("bench", 1, nil)
			batch, n := benchBatch(size)
			rc := dialRaw(b, d.addr)
			rc.c.SetDeadline(time.Time{}) // a long run outlasts the tests' deadline
			batches := (b.N + n - 1) / n
			for sent := 0; sent < batches; {
				inFlight := min(50, batches-sent)
				for range inFlight {
					req := kmsg.NewPtrProduceRequest()
					req.Version, req.Acks, req.TimeoutMillis = 9, 1, 5000
					rt := kmsg.NewProduceRequestTopic()
					rt.Topic = "bench"
					rp := kmsg.NewProduceRequestTopicPartition()
					rp.Records = batch
					rt.Partitions = append(rt.Partitions, rp)
					req.Topics = append(req.Topics, rt)
					rc.send(req, true)
				}
				for range inFlight {
					if p := rc.receive().(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
						b.Fatalf("produce: error %d", p.ErrorCode)
					}
				}
				sent += inFlight
			}
			buf := make([]byte, 17<<20)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for offset, got := int64(0), 0; got < b.N; {
				rc.nextID++
				req := fetchReq(12, "bench", [16]byte{}, 0, 0, 16<<20, 16<<20, offset)
				if _, err := rc.c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, rc.nextID)); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(rc.c, buf[:4]); err != nil {
					b.Fatal(err)
				}
				frame := buf[:binary.BigEndian.Uint32(buf)]
				if _, err := io.ReadFull(rc.c, frame); err != nil {
					b.Fatal(err)
				}
				resp := kmsg.FetchResponse{Version: 12}
				if err := resp.UnsafeReadFrom(frame[5:]); err != nil { // correlation id, header tags
					b.Fatal(err)
				}
				p := resp.Topics[0].Partitions[0]
				if p.ErrorCode != 0 {
					b.Fatalf("fetch at %d: error %d", offset, p.ErrorCode)
				}
				for records := p.RecordBatches; len(records) >= segment.BatchHeaderSize; {
					h, err := segment.ParseBatchHeader(records)
					if err != nil || h.Size() > len(records) {
						break // a partial batch at the end
					}
					offset = h.LastOffset() + 1
					got += int(h.RecordCount)
					records = records[h.Size():]
				}
			}
		})
	}
}

// benchLog opens a log in a temporary directory for the storage baseline.
func benchLog(b *testing.B) *segment.Log {
	cfg := segment.DefaultConfig()
	cfg.PreallocateBytes = 64 << 20
	l, err := segment.OpenLog(b.TempDir(), segment.TopicPartition{Topic: "bench", Partition: 0}, cfg, 0, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// benchBatch is one batch of records of size bytes, about benchBatchBytes
// long, and the number of records in it.
func benchBatch(size int) ([]byte, int) {
	n := max(benchBatchBytes/size, 1)
	recs := make([]segmenttest.Record, n)
	for i := range recs {
		recs[i].Value = benchValue(size)
	}
	return segmenttest.Batch(recs), n
}

// BenchmarkStorageAppend is the storage-only baseline of produce: the same
// records appended to a segment.Log in batches, without and with an
// fdatasync per batch's worth of group commit (one Sync every 1 MiB).
func BenchmarkStorageAppend(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, size := range benchRecordSizes {
			b.Run(fmt.Sprintf("sync=%v/size=%d", sync, size), func(b *testing.B) {
				l := benchLog(b)
				batch, n := benchBatch(size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				unsynced := 0
				for i := 0; i < b.N; i += n {
					if _, err := l.Append(batch, segment.AppendOptions{}); err != nil {
						b.Fatal(err)
					}
					if unsynced += len(batch); sync && unsynced >= 1<<20 {
						if _, err := l.Sync(); err != nil {
							b.Fatal(err)
						}
						unsynced = 0
					}
				}
			})
		}
	}
}

// BenchmarkStorageRead is the storage-only baseline of fetch: ranges of
// 16 MiB found with segment.Log.Read and their bytes read from the page
// cache with pread.
func BenchmarkStorageRead(b *testing.B) {
	for _, size := range benchRecordSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			l := benchLog(b)
			batch, n := benchBatch(size)
			for i := 0; i < b.N; i += n {
				if _, err := l.Append(batch, segment.AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			buf := make([]byte, 16<<20+len(batch))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for offset, read := int64(0), 0; read < b.N; {
				r, err := l.Read(offset, 16<<20, segment.ReadOptions{MinOneBatch: true})
				if err != nil {
					b.Fatal(err)
				}
				if r.Range.Size == 0 {
					b.Fatalf("empty read at %d of %d", offset, l.EndOffset())
				}
				if _, err := r.Range.File.ReadAt(buf[:r.Range.Size], r.Range.Position); err != nil {
					b.Fatal(err)
				}
				// Whole batches of n records each: skip to the next one
				// after the range.
				batches := max(r.Range.Size/int64(len(batch)), 1)
				offset = r.FirstOffset + batches*int64(n)
				read += int(batches) * n
				r.Release()
			}
		})
	}
}
