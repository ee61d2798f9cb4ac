package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// A real client's records, small and large, get the offsets a broker would
// give them: per partition, from 0, with no gap, under acks=1 and acks=all,
// over a non-flexible Produce version (v6) and the newest the sink lists
// (flexible), and the partitions' end offsets say as much.
func TestSinkProducesAtAdvancingOffsets(t *testing.T) {
	s, err := NewSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, a := range []struct {
		name string
		acks kgo.Acks
	}{{"1", kgo.LeaderAck()}, {"all", kgo.AllISRAcks()}} {
		acks := a.acks
		for _, v := range []struct {
			name     string
			versions *kversion.Versions
		}{{"v6", kversion.V2_0_0()}, {"newest", nil}} {
			t.Run("acks="+a.name+"/"+v.name, func(t *testing.T) {
				topic := "offsets-" + a.name + "-" + v.name
				opts := []kgo.Opt{kgo.SeedBrokers(s.Addr()), kgo.RequiredAcks(acks), kgo.DefaultProduceTopic(topic),
					kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(4 << 20),
					kgo.MaxBufferedBytes(64 << 20)}
				if a.name != "all" {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				if v.versions != nil {
					opts = append(opts, kgo.MaxVersions(v.versions))
				}
				cl, err := kgo.NewClient(opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				const partitions = 3
				want := make([]int64, partitions)
				// Values from 10 B to 600 KiB: batches that fit the
				// read-ahead and batches whose bytes are discarded.
				for round, size := range []int{10, 3000, 40 << 10, 600 << 10, 100} {
					var recs []*kgo.Record
					for p := range partitions {
						for range 1 + (round+p)%4 {
							recs = append(recs, &kgo.Record{Partition: int32(p), Value: bytes.Repeat([]byte{'v'}, size)})
						}
					}
					for i, r := range cl.ProduceSync(ctx, recs...) {
						if r.Err != nil {
							t.Fatalf("round %d record %d: %v", round, i, r.Err)
						}
						if p := r.Record.Partition; r.Record.Offset != want[p] {
							t.Fatalf("round %d record %d: partition %d offset %d, want %d", round, i, p, r.Record.Offset, want[p])
						}
						want[r.Record.Partition]++
					}
				}
				ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
				if err != nil {
					t.Fatal(err)
				}
				for p := range partitions {
					if o, ok := ends.Lookup(topic, int32(p)); !ok || o.Err != nil || o.Offset != want[p] {
						t.Fatalf("partition %d: end %+v, want %d", p, o, want[p])
					}
				}
			})
		}
	}
}

// testBatch is a kmsg-encoded RecordBatch v2 of n records of size bytes.
func testBatch(n, size int) []byte {
	var records []byte
	for i := range n {
		rec := kmsg.Record{OffsetDelta: int32(i), Value: bytes.Repeat([]byte{'r'}, size)}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		records = rec.AppendTo(records)
	}
	b := (&kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(n - 1), ProducerID: -1, ProducerEpoch: -1,
		FirstSequence: -1, NumRecords: int32(n), Records: records}).AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	return b
}

// refCount is what scanRecords must find in b: the sum of the v2 batches'
// record counts, or !ok.
func refCount(b []byte) (int64, bool) {
	var n int64
	for len(b) > 0 {
		if len(b) < 61 {
			return 0, false
		}
		size := 12 + int(int32(binary.BigEndian.Uint32(b[8:])))
		count := int32(binary.BigEndian.Uint32(b[57:]))
		if size < 61 || size > len(b) || b[16] != 2 || count < 0 {
			return 0, false
		}
		n += int64(count)
		b = b[size:]
	}
	return n, true
}

// testProduceRequest is a kmsg ProduceRequest of version with a few topics
// and partitions whose records are well-formed batches, several batches,
// nothing, null, or not batches at all; flexible versions carry unknown
// tagged fields at each level.
func testProduceRequest(rng *rand.Rand, version int16) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, int16(rng.IntN(3)-1), 30000
	if rng.IntN(2) == 0 {
		req.TransactionID = kmsg.StringPtr("tx")
	}
	tags := func() kmsg.Tags {
		var t kmsg.Tags
		for i := range rng.IntN(3) {
			t.Set(uint32(10+i), bytes.Repeat([]byte{'t'}, rng.IntN(300)))
		}
		return t
	}
	for ti := range 1 + rng.IntN(3) {
		rt := kmsg.ProduceRequestTopic{Topic: fmt.Sprintf("topic-%d", ti)}
		for pi := range 1 + rng.IntN(4) {
			rp := kmsg.ProduceRequestTopicPartition{Partition: int32(pi)}
			switch rng.IntN(6) {
			case 0:
				rp.Records = testBatch(1+rng.IntN(50), rng.IntN(2000))
			case 1:
				rp.Records = append(testBatch(3, 100), testBatch(1+rng.IntN(5), 70000)...)
			case 2:
				rp.Records = []byte{}
			case 3: // null
			case 4:
				rp.Records = testBatch(2, 10)[:40]
			case 5:
				b := testBatch(2, 10)
				b[16] = 1 // magic
				rp.Records = b
			}
			if version >= produceFlexible {
				rp.UnknownTags = tags()
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if version >= produceFlexible {
			rt.UnknownTags = tags()
		}
		req.Topics = append(req.Topics, rt)
	}
	if version >= produceFlexible {
		req.UnknownTags = tags()
	}
	return req
}

// checkScan compares what scanProduce found with the request kmsg
// decoded.
func checkScan(t *testing.T, got sinkProduce, want *kmsg.ProduceRequest) {
	t.Helper()
	if got.acks != want.Acks || len(got.topics) != len(want.Topics) {
		t.Fatalf("scanned acks %d, %d topics; want %d, %d", got.acks, len(got.topics), want.Acks, len(want.Topics))
	}
	for i, wt := range want.Topics {
		gt := got.topics[i]
		if gt.name != wt.Topic || len(gt.partitions) != len(wt.Partitions) {
			t.Fatalf("topic %d: scanned %q with %d partitions; want %q with %d", i, gt.name, len(gt.partitions), wt.Topic, len(wt.Partitions))
		}
		for j, wp := range wt.Partitions {
			n, ok := refCount(wp.Records)
			if gp := gt.partitions[j]; gp.partition != wp.Partition || gp.records != n || gp.ok != ok {
				t.Fatalf("topic %d partition %d: scanned %+v; want partition %d, %d records, ok %v", i, j, gp, wp.Partition, n, ok)
			}
		}
	}
}

// scanProduce reads what kmsg encodes, at every version the sink serves,
// with and without a client id, from a slice and from a connection that
// delivers the request a few bytes at a time (every read a short one).
func TestScanProduceMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for version := range sinkMaxVersion(int16(kmsg.Produce)) + 1 {
		for i := range 20 {
			req := testProduceRequest(rng, version)
			var opts []kmsg.RequestFormatterOpt
			if i%2 == 0 {
				opts = append(opts, kmsg.FormatterClientID("client"))
			}
			frame := kmsg.NewRequestFormatter(opts...).AppendRequest(nil, req, 7)
			decoded := kmsg.NewPtrProduceRequest()
			decoded.Version = version
			// Header: size, key, version, correlation id, client id, and
			// in flexible versions the header's tags.
			h := 12 + 2 + max(0, int(int16(binary.BigEndian.Uint16(frame[12:]))))
			if version >= produceFlexible {
				h++
			}
			if err := decoded.ReadFrom(frame[h:]); err != nil {
				t.Fatal(err)
			}
			f := sinkFrame{src: &bytesSource{b: frame[12:]}, left: len(frame) - 12}
			got, err := scanProduce(&f, version)
			if err != nil || f.left != 0 {
				t.Fatalf("v%d: %v, %d bytes left", version, err, f.left)
			}
			checkScan(t, got, decoded)

			a, b := net.Pipe()
			go func() {
				for rest := frame; len(rest) > 0; {
					n := min(len(rest), 1+rng.IntN(100))
					if _, err := a.Write(rest[:n]); err != nil {
						return
					}
					rest = rest[n:]
				}
			}()
			r := newSinkReader(b)
			if _, err := r.next(12); err != nil {
				t.Fatal(err)
			}
			f = sinkFrame{src: r, left: len(frame) - 12}
			got, err = scanProduce(&f, version)
			a.Close()
			b.Close()
			if err != nil || f.left != 0 {
				t.Fatalf("v%d over a pipe: %v, %d bytes left", version, err, f.left)
			}
			checkScan(t, got, decoded)
		}
	}
}

// A skip longer than the read-ahead is discarded in the kernel (recv with
// MSG_TRUNC on Linux), and the bytes behind it arrive intact.
func TestSinkReaderDiscards(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const skipped = 3 << 20
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("head"))
		_, _ = c.Write(make([]byte, skipped))
		_, _ = c.Write([]byte("tail"))
		_, _ = io.Copy(io.Discard, c)
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := newSinkReader(c)
	if b, err := r.next(4); err != nil || string(b) != "head" {
		t.Fatalf("%q, %v", b, err)
	}
	if err := r.skip(skipped); err != nil {
		t.Fatal(err)
	}
	if b, err := r.next(4); err != nil || string(b) != "tail" {
		t.Fatalf("%q, %v", b, err)
	}
	if r.trunc != discardSupported {
		t.Fatalf("discard in the kernel: %v, want %v", r.trunc, discardSupported)
	}
}

// Whatever the bytes, scanProduceBody does not panic nor read past the
// frame, and where kmsg decodes a request it finds the same topics,
// partitions and record counts.
func FuzzScanProduce(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for version := range sinkMaxVersion(int16(kmsg.Produce)) + 1 {
		f.Add(byte(version), testProduceRequest(rng, version).AppendTo(nil))
	}
	f.Fuzz(func(t *testing.T, v byte, body []byte) {
		version := int16(v) % (sinkMaxVersion(int16(kmsg.Produce)) + 1)
		fr := sinkFrame{src: &bytesSource{b: body}, left: len(body)}
		got, err := scanProduceBody(&fr, version)
		if fr.left < 0 {
			t.Fatalf("read past the frame: %d", fr.left)
		}
		decoded := kmsg.NewPtrProduceRequest()
		decoded.Version = version
		if decoded.ReadFrom(body) != nil {
			return
		}
		if err != nil {
			t.Fatalf("v%d: kmsg decodes what scanProduceBody rejects: %v", version, err)
		}
		checkScan(t, got, decoded)
	})
}
