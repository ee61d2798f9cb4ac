package broker

import (
	"bufio"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkRequestPath measures the connection's request path for a small
// admin request (header parse, kmsg decode, handler, reply encode, metrics)
// beside the raw baseline of kmsg decoding the request and encoding the
// handler's response alone.
func BenchmarkRequestPath(b *testing.B) {
	br := newTestBroker(b)
	if err := br.createTopic("bench", 4, 1, nil); err != nil {
		b.Fatal(err)
	}
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("bench")
	md.Topics = append(md.Topics, mt)
	for _, tt := range []struct {
		name string
		req  kmsg.Request
		v    int16
	}{
		{"api=ApiVersions", kmsg.NewPtrApiVersionsRequest(), 3},
		{"api=Metadata", md, 12},
	} {
		frame := fuzzRequestFrame(tt.req, tt.v, 1)
		b.Run(tt.name+"/impl=conn", func(b *testing.B) {
			c := newConn(br, discardConn{})
			c.w = bufio.NewWriter(io.Discard)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				r, _, err := c.handleFrame(frame)
				if err != nil {
					b.Fatal(err)
				}
				<-r.done
				if err := c.writeReply(r); err != nil {
					b.Fatal(err)
				}
				br.metrics.observeReply(r)
			}
		})
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
}
