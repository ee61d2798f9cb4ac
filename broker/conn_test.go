package broker_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
)

// rawConn speaks the wire protocol by hand, to send what no client would.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, b *brokertest.Broker) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// frame encodes a request: size, header (v1, or v2 with an empty tag
// section when flexible), body.
func frame(req kmsg.Request, version int16, correlationID int32) []byte {
	req.SetVersion(version)
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if version <= req.MaxVersion() && req.IsFlexible() {
		b = append(b, 0)
	}
	if version <= req.MaxVersion() {
		b = req.AppendTo(b)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response frame and returns its correlation id and the
// rest (the response header's tag section, if any, is part of the rest).
func (c *rawConn) read() (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	if len(body) < 4 {
		c.t.Fatalf("response of %d bytes", len(body))
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:], nil
}

// expectClosed checks that the broker closes the connection without
// answering.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	if _, _, err := c.read(); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		c.t.Fatalf("connection still open (read: %v)", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !errors.Is(err, os.ErrDeadlineExceeded)
}

// expectAlive checks that a new connection still gets ApiVersions answered.
func expectAlive(t *testing.T, b *brokertest.Broker) {
	t.Helper()
	c := dialRaw(t, b)
	c.write(frame(kmsg.NewPtrApiVersionsRequest(), 0, 77))
	corr, body, err := c.read()
	if err != nil || corr != 77 {
		t.Fatalf("ApiVersions after bad input: %d %v", corr, err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions after bad input: %v %+v", err, resp)
	}
}

func TestOversizedFrameClosesConnection(t *testing.T) {
	req := frame(kmsg.NewPtrMetadataRequest(), 12, 1)
	limit := len(req) - 4
	b := brokertest.Start(t, fmt.Sprintf("socket.request.max.bytes=%d", limit))
	// A frame of exactly the limit is served.
	c := dialRaw(t, b)
	c.write(req)
	if corr, _, err := c.read(); err != nil || corr != 1 {
		t.Fatalf("frame at the limit: %d %v", corr, err)
	}
	for _, size := range []uint32{uint32(limit) + 1, 1 << 30, 0xffffffff /* negative */} {
		c := dialRaw(t, b)
		// Only the size: the broker must close without waiting for a
		// body it would have to allocate.
		c.write(binary.BigEndian.AppendUint32(nil, size))
		c.expectClosed()
	}
	expectAlive(t, b)
}

func TestGarbageClosesConnectionWithoutPanic(t *testing.T) {
	b := brokertest.Start(t)
	truncated := frame(kmsg.NewPtrMetadataRequest(), 12, 5)
	truncated = truncated[:len(truncated)-1]
	binary.BigEndian.PutUint32(truncated, uint32(len(truncated)-4))
	hugeArray := frame(kmsg.NewPtrCreateTopicsRequest(), 4, 6)
	// Claim 2^31-1 topics in a 20-byte request.
	binary.BigEndian.PutUint32(hugeArray[len(hugeArray)-9:], 0x7fffffff)
	tests := map[string][]byte{
		"short header":      {0, 0, 0, 3, 0, 18, 0},
		"unknown api key":   frame(kmsg.NewPtrApiVersionsRequest(), 0, 1)[:4+8],
		"truncated body":    truncated,
		"huge array length": hugeArray,
		"bad client id":     {0, 0, 0, 10, 0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff},
		"random":            {0, 0, 0, 16, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
	}
	// Unknown key: patch the key of a valid frame.
	unknown := frame(kmsg.NewPtrApiVersionsRequest(), 0, 1)
	binary.BigEndian.PutUint16(unknown[4:], 9999)
	tests["unknown api key"] = unknown
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, b)
			c.write(data)
			c.expectClosed()
		})
	}
	expectAlive(t, b)
}

func TestApiVersionsUnknownVersion(t *testing.T) {
	b := brokertest.Start(t)
	c := dialRaw(t, b)
	// A version from the future, with a body we cannot know (KIP-511).
	req := frame(kmsg.NewPtrApiVersionsRequest(), 99, 42)
	req = append(req, 1, 2, 3)
	binary.BigEndian.PutUint32(req, uint32(len(req)-4))
	c.write(req)
	corr, body, err := c.read()
	if err != nil || corr != 42 {
		t.Fatalf("%d %v", corr, err)
	}
	resp := kmsg.NewPtrApiVersionsResponse() // v0 (and a v0 header)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Errorf("error code %d", resp.ErrorCode)
	}
	found := false
	for _, k := range resp.ApiKeys {
		if k.ApiKey == kmsg.ApiVersions.Int16() && k.MinVersion == 0 && k.MaxVersion >= 3 {
			found = true
		}
	}
	if !found {
		t.Errorf("our ApiVersions range is missing: %+v", resp.ApiKeys)
	}
	// The connection stays usable: the client retries with a version it
	// picked from our ranges.
	c.write(frame(kmsg.NewPtrApiVersionsRequest(), 3, 43))
	if corr, _, err := c.read(); err != nil || corr != 43 {
		t.Fatalf("retry: %d %v", corr, err)
	}
}

func TestUnsupportedVersionClosesConnection(t *testing.T) {
	b := brokertest.Start(t)
	// Newer than kmsg knows, and older than we serve (ListOffsets v0):
	// neither response can carry the error, so the connection is closed,
	// as Kafka does.
	for _, data := range [][]byte{
		frame(kmsg.NewPtrMetadataRequest(), 99, 1),
		frame(kmsg.NewPtrListOffsetsRequest(), 0, 2),
	} {
		c := dialRaw(t, b)
		c.write(data)
		c.expectClosed()
	}
	expectAlive(t, b)
}

func TestPipelinedRepliesInOrder(t *testing.T) {
	b := brokertest.Start(t)
	c := dialRaw(t, b)
	var batch []byte
	const n = 250 // more than the in-flight bound
	for i := int32(0); i < n; i++ {
		switch i % 3 {
		case 0:
			batch = append(batch, frame(kmsg.NewPtrApiVersionsRequest(), 3, i)...)
		case 1:
			batch = append(batch, frame(kmsg.NewPtrMetadataRequest(), 12, i)...)
		case 2:
			batch = append(batch, frame(kmsg.NewPtrDescribeClusterRequest(), 0, i)...)
		}
	}
	go c.nc.Write(batch)
	for i := int32(0); i < n; i++ {
		corr, _, err := c.read()
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if corr != i {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
	}
}

// TestPipelinedRequestsHandledInOrder sends, in one write, requests that
// each depend on the one before: a topic is created, described, deleted
// and described again. Each must see the effect of the previous one,
// also on the epoll transport, where the admin requests are handled off
// the event loop.
func TestPipelinedRequestsHandledInOrder(t *testing.T) {
	b := brokertest.Start(t)
	c := dialRaw(t, b)
	const topic = "pipelined"
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, 3, 1
	create.Topics = append(create.Topics, ct)
	create.TimeoutMillis = 5000
	describe := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	describe.Topics = append(describe.Topics, mt)
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TopicNames = []string{topic}
	del.TimeoutMillis = 5000

	var batch []byte
	batch = append(batch, frame(create, 4, 1)...)
	batch = append(batch, frame(describe, 12, 2)...)
	batch = append(batch, frame(del, 4, 3)...)
	batch = append(batch, frame(describe, 12, 4)...)
	c.write(batch)

	wantPartitions := map[int32]int{2: 3, 4: 0}
	for corr := int32(1); corr <= 4; corr++ {
		got, body, err := c.read()
		if err != nil || got != corr {
			t.Fatalf("response %d: correlation id %d, %v", corr, got, err)
		}
		switch corr {
		case 1, 3:
			var code int16
			if corr == 1 {
				resp := kmsg.NewPtrCreateTopicsResponse()
				resp.Version = 4
				err = resp.ReadFrom(body)
				code = resp.Topics[0].ErrorCode
			} else {
				resp := kmsg.NewPtrDeleteTopicsResponse()
				resp.Version = 4
				err = resp.ReadFrom(body[1:]) // flexible: skip the header's tags
				code = resp.Topics[0].ErrorCode
			}
			if err != nil || code != 0 {
				t.Fatalf("response %d: %v, error code %d", corr, err, code)
			}
		default:
			resp := kmsg.NewPtrMetadataResponse()
			resp.Version = 12
			if err := resp.ReadFrom(body[1:]); err != nil || len(resp.Topics) != 1 {
				t.Fatalf("metadata %d: %v, %d topics", corr, err, len(resp.Topics))
			}
			if n := len(resp.Topics[0].Partitions); n != wantPartitions[corr] {
				t.Fatalf("metadata %d sees %d partitions (error %d), want %d", corr, n, resp.Topics[0].ErrorCode, wantPartitions[corr])
			}
		}
	}
}

func TestFlexibleHeaderWithTags(t *testing.T) {
	b := brokertest.Start(t)
	c := dialRaw(t, b)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	data := make([]byte, 4)
	data = binary.BigEndian.AppendUint16(data, uint16(req.Key()))
	data = binary.BigEndian.AppendUint16(data, 12)
	data = binary.BigEndian.AppendUint32(data, 9)
	data = binary.BigEndian.AppendUint16(data, 0xffff)   // null client id
	data = append(data, 2, 0, 1, 0xaa, 5, 2, 0xbb, 0xcc) // two unknown tags
	data = req.AppendTo(data)
	binary.BigEndian.PutUint32(data, uint32(len(data)-4))
	c.write(data)
	corr, body, err := c.read()
	if err != nil || corr != 9 {
		t.Fatalf("%d %v", corr, err)
	}
	resp := kmsg.NewPtrMetadataResponse()
	resp.SetVersion(12)
	if len(body) == 0 || body[0] != 0 { // response header v1: empty tags
		t.Fatalf("response header tags: %x", body[:1])
	}
	if err := resp.ReadFrom(body[1:]); err != nil || len(resp.Brokers) != 1 {
		t.Fatalf("%v %+v", err, resp)
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	b := brokertest.Start(t, "connections.max.idle.ms=200")
	c := dialRaw(t, b)
	c.write(frame(kmsg.NewPtrApiVersionsRequest(), 3, 1))
	if _, _, err := c.read(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("closed after %v, want about 200ms", d)
	}
}

func TestCloseAnswersRequestsInFlight(t *testing.T) {
	b := brokertest.Start(t)
	c := dialRaw(t, b)
	var batch []byte
	for i := int32(0); i < 50; i++ {
		batch = append(batch, frame(kmsg.NewPtrMetadataRequest(), 12, i)...)
	}
	c.write(batch)
	// Wait for the first answer so that the broker has read some frames,
	// then close it: every request it read is answered, in order, before
	// the connection closes.
	corr, _, err := c.read()
	if err != nil || corr != 0 {
		t.Fatalf("%d %v", corr, err)
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	next := int32(1)
	for {
		corr, _, err := c.read()
		if err != nil {
			break
		}
		if corr != next {
			t.Fatalf("got correlation id %d, want %d", corr, next)
		}
		next++
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of 50 answered", next)
}
