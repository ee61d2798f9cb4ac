package broker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// discardConn is a net.Conn that swallows writes (the fuzz target checks
// encoded replies through the connection's bufio writer instead).
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) SetDeadline(time.Time) error      { return nil }
func (discardConn) Read(b []byte) (int, error)       { select {} }
func (discardConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }

// fuzzRequestFrame encodes a request frame body (no size): header v1 or v2
// and the body kmsg writes.
func fuzzRequestFrame(req kmsg.Request, version int16, correlationID int32) []byte {
	req.SetVersion(version)
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "fuzz"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// newTestBroker opens a broker over a temporary dir without serving it, for
// tests that drive a conn directly.
func newTestBroker(t testing.TB) *Broker {
	cfg := DefaultConfig()
	cfg.LogDirs = []string{t.TempDir()}
	cfg.AdminListener = ""
	cfg.MaxPartitions = 4
	cfg.PreallocateBytes = 64 << 10
	cfg.TopicDefaults = map[string]string{"segment.bytes": "1048576"}
	b, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestFrameBufferReuse: only Produce frames are reused; every other
// request keeps its buffer, so byte slices in its message stay valid.
func TestFrameBufferReuse(t *testing.T) {
	b := newTestBroker(t)
	c := newConn(b, discardConn{})
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = 0
	for _, tt := range []struct {
		req     kmsg.Request
		version int16
		reuse   bool
	}{
		{produce, 9, true},
		{kmsg.NewPtrMetadataRequest(), 12, false},
		{kmsg.NewPtrApiVersionsRequest(), 3, false},
	} {
		_, reuse, err := c.handleFrame(fuzzRequestFrame(tt.req, tt.version, 1), time.Time{})
		if err != nil || reuse != tt.reuse {
			t.Errorf("%s: reuse %v (%v), want %v", kmsg.NameForKey(tt.req.Key()), reuse, err, tt.reuse)
		}
	}
}

// FuzzRequest feeds a frame's bytes to the request path, from header
// parsing through the handler to the encoded reply. Invariants: nothing
// panics (a recovered handler panic counts as a failure); a frame that is
// not rejected gets a reply that finishes (fetch may long-poll and is not
// waited for) and encodes to a well-formed response frame carrying the
// request's correlation id.
func FuzzRequest(f *testing.F) {
	for _, key := range apiKeysSorted() {
		h := apis[key]
		for v := h.minVersion; v <= h.maxVersion; v++ {
			f.Add(fuzzRequestFrame(kmsg.RequestForKey(key), v, int32(key)<<8|int32(v)))
		}
	}
	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "fuzzed", 2, 1
	rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000")}}
	ct.Topics = append(ct.Topics, rt)
	f.Add(fuzzRequestFrame(ct, 7, 1))
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("fuzzed")
	md.Topics = append(md.Topics, mt)
	md.AllowAutoTopicCreation = true
	f.Add(fuzzRequestFrame(md, 12, 2))
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 3}) // ApiVersions from the future

	b := newTestBroker(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newConn(b, discardConn{})
		var out bytes.Buffer
		c.w = bufio.NewWriter(&out)
		r, _, err := c.handleFrame(data, time.Now())
		if err != nil {
			if strings.Contains(err.Error(), "panicked") {
				t.Fatal(err)
			}
			return
		}
		if r == nil {
			t.Fatal("no error and no reply")
		}
		if r.key == kmsg.Fetch.Int16() {
			return
		}
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s v%d: reply never finished", kmsg.NameForKey(r.key), r.version)
		}
		if err := c.writeReply(r); err != nil {
			t.Fatal(err)
		}
		c.w.Flush()
		if r.none {
			if out.Len() != 0 {
				t.Fatalf("finishNone wrote %d bytes", out.Len())
			}
			return
		}
		enc := out.Bytes()
		if len(enc) < 8 || int(binary.BigEndian.Uint32(enc)) != len(enc)-4 {
			t.Fatalf("bad response frame size: %d bytes, prefix %x", len(enc), enc[:min(4, len(enc))])
		}
		if corr := int32(binary.BigEndian.Uint32(enc[4:])); corr != int32(binary.BigEndian.Uint32(data[4:])) {
			t.Fatalf("correlation id %d, request had %d", corr, int32(binary.BigEndian.Uint32(data[4:])))
		}
		// The body decodes as the response it claims to be.
		if r.resp != nil {
			body := enc[8:]
			if r.flexible {
				body = body[1:]
			}
			resp := kmsg.ResponseForKey(r.key)
			resp.SetVersion(r.version)
			if err := resp.ReadFrom(body); err != nil {
				t.Fatalf("%s v%d: response does not decode: %v", kmsg.NameForKey(r.key), r.version, err)
			}
		}
	})
}
