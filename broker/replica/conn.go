package replica

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// leaderConn is a fetch loop's connection to its leader: kmsg requests and
// responses over TCP, one at a time, in order. Nothing is retried here: an
// error closes the connection and the loop decides what comes next.
type leaderConn struct {
	conn        net.Conn
	format      *kmsg.RequestFormatter
	correlation int32
	maxResponse int
	timeout     time.Duration // per request, on top of the fetch's wait
	req, resp   []byte        // buffers kept between requests: a response's bytes stay valid until the next one
	stopWatch   func() bool   // stops closing conn when the loop stops
	// lastSent and lastReceived are the sizes of the last request and
	// its response, in bytes on the wire.
	lastSent, lastReceived int

	// Versions negotiated with ApiVersions.
	fetchVersion, listOffsetsVersion int16
}

// Response buffers up to this size are kept for the next request; a
// larger response (a batch bigger than the fetch limits) gets its own.
const keepResponseBytes = 16 << 20

// Fetch versions a follower uses: truncation needs DivergingEpoch (v12,
// KIP-320); kmsg encodes up to fetchMaxVersion.
const fetchMinVersion = 12

var (
	errResponseTooLarge = errors.New("replica: response larger than the cap")
	errCorrelation      = errors.New("replica: response to another request")
	errNoFetch          = errors.New("replica: the leader serves no Fetch version a follower can use (12 or more)")
)

// dialLeader connects to addr and negotiates versions. The connection is
// closed when ctx is done, which ends a request blocked on it.
func dialLeader(ctx context.Context, addr string, timeout time.Duration, maxResponse int) (*leaderConn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &leaderConn{
		conn:        conn,
		format:      kmsg.NewRequestFormatter(kmsg.FormatterClientID("runnel-replica-fetcher")),
		maxResponse: maxResponse,
		timeout:     timeout,
	}
	c.stopWatch = context.AfterFunc(ctx, func() { conn.Close() })
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "runnel", "replica"
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if err := c.roundTrip(req, resp, 0); err != nil {
		c.close()
		return nil, fmt.Errorf("replica: ApiVersions: %w", err)
	}
	if resp.ErrorCode != 0 {
		c.close()
		return nil, fmt.Errorf("replica: ApiVersions: %w", kerr.ErrorForCode(resp.ErrorCode))
	}
	c.fetchVersion, c.listOffsetsVersion = -1, -1
	for _, k := range resp.ApiKeys {
		switch k.ApiKey {
		case kmsg.Fetch.Int16():
			c.fetchVersion = negotiate(k, kmsg.NewPtrFetchRequest().MaxVersion())
		case kmsg.ListOffsets.Int16():
			c.listOffsetsVersion = negotiate(k, kmsg.NewPtrListOffsetsRequest().MaxVersion())
		}
	}
	if c.fetchVersion < fetchMinVersion {
		c.close()
		return nil, errNoFetch
	}
	return c, nil
}

// negotiate is the highest version of an API both ends have, -1 for none.
func negotiate(k kmsg.ApiVersionsResponseApiKey, ours int16) int16 {
	v := min(k.MaxVersion, ours)
	if v < k.MinVersion {
		return -1
	}
	return v
}

// roundTrip sends req and reads its response into resp (whose version is
// req's). wait is how long the leader may hold the request (a fetch's
// MaxWait), added to the connection's timeout.
func (c *leaderConn) roundTrip(req kmsg.Request, resp kmsg.Response, wait time.Duration) error {
	c.correlation++
	c.req = c.format.AppendRequest(c.req[:0], req, c.correlation)
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout + wait)); err != nil {
		return err
	}
	c.lastSent, c.lastReceived = len(c.req), 0
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		return err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || int(n) > c.maxResponse {
		return fmt.Errorf("%w: %d bytes", errResponseTooLarge, n)
	}
	body := c.resp[:0]
	if cap(body) < int(n) {
		body = make([]byte, n)
		if n <= keepResponseBytes {
			c.resp = body
		}
	}
	body = body[:n]
	if _, err := io.ReadFull(c.conn, body); err != nil {
		return err
	}
	c.lastReceived = 4 + int(n)
	r := kbin.Reader{Src: body}
	if id := r.Int32(); id != c.correlation {
		return fmt.Errorf("%w: correlation id %d, want %d", errCorrelation, id, c.correlation)
	}
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() { // ApiVersions answers with header v0
		kmsg.SkipTags(&r)
	}
	if err := r.Complete(); err != nil {
		return fmt.Errorf("replica: response header: %w", err)
	}
	return resp.ReadFrom(r.Src)
}

// close closes the connection.
func (c *leaderConn) close() {
	c.stopWatch()
	c.conn.Close()
}
