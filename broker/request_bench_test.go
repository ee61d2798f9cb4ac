package broker

import (
	"bufio"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/segment"
)

// BenchmarkRequestPath measures the connection's request path for a small
// admin request, a one-partition Produce (acks=1, a 100-byte record) and a
// one-partition Fetch at another partition's end (header parse, kmsg
// decode, handler, reply encode, metrics) beside the raw baseline of kmsg
// decoding the request and encoding the handler's response alone. Produce
// and Fetch show what the routing check (routing.go) costs on the hot path.
func BenchmarkRequestPath(b *testing.B) {
	br := newTestBroker(b)
	if err := br.createTopic("bench", 4, 1, nil); err != nil {
		b.Fatal(err)
	}
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("bench")
	md.Topics = append(md.Topics, mt)
	batch := segment.BuildBatch(nil, 1, []segment.KeyValue{{Value: make([]byte, 100)}})
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks, produce.TimeoutMillis = 1, 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "bench"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = batch
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxBytes, fetch.SessionEpoch = 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.TopicID = br.topic("bench").id
	fp := kmsg.NewFetchRequestTopicPartition()
	// Partition 1 (Produce appends to 0) at its end: the request path,
	// not the copy of records.
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = 1, 10, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	p, err := br.partition("bench", 1)
	if err != nil {
		b.Fatal(err)
	}
	for range 10 { // something to fetch
		if _, err := p.log.Append(segment.BuildBatch(nil, 1, []segment.KeyValue{{Value: make([]byte, 100)}}), segment.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		req  kmsg.Request
		v    int16
	}{
		{"api=ApiVersions", kmsg.NewPtrApiVersionsRequest(), 3},
		{"api=Metadata", md, 12},
		{"api=Produce", produce, 11},
		{"api=Fetch", fetch, 16},
	} {
		frame := fuzzRequestFrame(tt.req, tt.v, 1)
		b.Run(tt.name+"/impl=conn", func(b *testing.B) { benchConnPath(b, br, frame) })
		b.Run(tt.name+"/impl=kmsg", func(b *testing.B) {
			h, err := parseHeader(frame)
			if err != nil {
				b.Fatal(err)
			}
			api := apis[h.key]
			req := kmsg.RequestForKey(h.key)
			req.SetVersion(h.version)
			if err := req.ReadFrom(frame[h.bodyStart:]); err != nil {
				b.Fatal(err)
			}
			r := api.handle(br, &request{version: h.version, msg: req, broker: br})
			<-r.done
			resp := r.resp
			if resp == nil { // Fetch answers with a frame of file ranges (fetchframe.go)
				b.Skip("no kmsg response to encode")
			}
			var out []byte
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				m := kmsg.RequestForKey(h.key)
				m.SetVersion(h.version)
				if err := m.ReadFrom(frame[h.bodyStart:]); err != nil {
					b.Fatal(err)
				}
				out = resp.AppendTo(out[:0])
			}
		})
	}
	// The same Produce and Fetch once the image holds the topic, led here:
	// a partition lookup in the image per partition (routing.go).
	publishTestImage(b, br, append(registerTestBrokers("localhost", 9092), topicTestRecords("bench", ft.TopicID, 1, 1, 1, 1)...)...)
	for _, tt := range []struct {
		name string
		req  kmsg.Request
		v    int16
	}{{"api=Produce", produce, 11}, {"api=Fetch", fetch, 16}} {
		frame := fuzzRequestFrame(tt.req, tt.v, 1)
		b.Run(tt.name+"/image=local/impl=conn", func(b *testing.B) { benchConnPath(b, br, frame) })
	}
}

// benchConnPath runs frame through a connection of br: handleFrame, the
// reply written to a discarding writer, the metrics (produce stages too).
func benchConnPath(b *testing.B, br *Broker, frame []byte) {
	c := newConn(br, discardConn{})
	c.w = bufio.NewWriter(io.Discard)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r, _, err := c.handleFrame(frame, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		<-r.done
		if err := c.writeReply(r); err != nil {
			b.Fatal(err)
		}
		br.metrics.observeReply(r)
		br.metrics.observeWritten(r)
	}
}
