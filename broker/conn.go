package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/io/bufpool"
	"runnel/io/sendfile"
)

// On the std transport (stdConn) a connection has two goroutines. The reader reads a frame, decodes it,
// dispatches it to its handler and queues the handler's reply; it never
// waits for a reply, so a produce waiting for its fsync does not stop the
// next requests from starting (clients pipeline up to 5 by default). The
// writer takes replies off the queue in request order, waits for each to be
// finished and writes it. The queue's capacity bounds the requests in
// flight on one connection, and with it the memory they hold.
//
// Shutting down: the reader stops (client closed, bad frame, idle timeout
// or broker Close), closes the queue, and the writer writes what is still
// queued, then closes the socket.

const (
	// maxInFlight bounds the replies queued on one connection.
	maxInFlight = 100
	// maxKeptBuffer: encode buffers up to this size are kept for the next
	// response, a larger one is dropped after use; frame buffers larger
	// than this are given ahead of their bytes only within
	// Config.RequestBufferAhead (readBody).
	maxKeptBuffer = 1 << 20
	// writeBufferSize is the size of the bufio.Writers lent to writers.
	writeBufferSize = 64 << 10
)

// writeBuffers lend a std connection's writer a bufio.Writer while it has
// replies to write, from the first of a burst to the flush after the last,
// so that an idle connection holds none: a buffer of its own would be most
// of an idle connection's heap (BenchmarkIdleConnections measures it).
var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}

// responseFrame is a response body framed by hand: a sequence of encoded
// bytes and file ranges (a zero-copy fetch). The connection writes the
// 4-byte size and the response header, then calls writeTo.
type responseFrame interface {
	// size is the exact number of body bytes writeTo writes (everything
	// after the response header).
	size() int
	// writeTo writes the body to w.
	writeTo(w pieceWriter) error
	// release drops what the frame holds (segment read references). The
	// connection calls it exactly once, whether or not writeTo ran.
	release()
}

// reply is the answer to one request. Exactly one of finish, finishFrame
// and finishNone must be called, once, from any goroutine.
type reply struct {
	done  chan struct{}
	resp  kmsg.Response
	frame responseFrame
	none  bool

	// Filled by the connection when the request is dispatched.
	key           int16
	version       int16
	correlationID int32
	flexible      bool // response header v1 (tagged fields)
	start         time.Time

	// stages are a produce's stage times (zero for other APIs).
	stages produceStageTimes

	// For transports that are told rather than wait on done (epoll):
	// state is replyPending, replyFinished or replyWatched (whenFinished
	// ran first and onFinished is set).
	state      atomic.Int32
	onFinished func()
}

const (
	replyPending int32 = iota
	replyFinished
	replyWatched
)

func newReply() *reply { return &reply{done: make(chan struct{})} }

// finish completes the reply with a kmsg response; the connection sets its
// version to the request's before encoding it.
func (r *reply) finish(resp kmsg.Response) {
	r.resp = resp
	r.complete()
}

// finishFrame completes the reply with a hand-framed body.
func (r *reply) finishFrame(f responseFrame) {
	r.frame = f
	r.complete()
}

// finishNone completes a request that gets no response (acks=0 produce).
func (r *reply) finishNone() {
	r.none = true
	r.complete()
}

func (r *reply) complete() {
	if r.state.Swap(replyFinished) == replyWatched {
		r.onFinished()
	}
	close(r.done)
}

// whenFinished calls fn once r is finished: now, if it is, or else from
// the goroutine that finishes it, before r.done is closed (so before the
// std transport's writer can write r).
func (r *reply) whenFinished(fn func()) {
	r.onFinished = fn
	if !r.state.CompareAndSwap(replyPending, replyWatched) {
		fn()
	}
}

// conn is one client connection as handlers see it, whichever transport
// serves it.
type conn struct {
	b      *Broker
	t      transport
	logger *slog.Logger

	// mu makes "am I closing? then arm the idle deadline" atomic with
	// respect to shutdown, which sets closing and stops the reading.
	mu      sync.Mutex
	closing bool

	// controller: the connection came in on the controller listener, where
	// this node's own controller answers (cluster_listener.go).
	controller bool
}

// transport is a connection's socket as the broker sees it. Two implement
// it, each embedding the conn it serves: stdConn (a reader and a writer
// goroutine on a net.Conn, below) and epollConn (package netpoll's event
// loops, conn_epoll.go). Each reads and frames requests its own way and
// hands them to conn.handleFrame, and writes a reply's pieces through a
// pieceWriter of its own: stdConn itself, or epollReply for one netpoll
// reply.
type transport interface {
	// RemoteAddr is the client's address.
	RemoteAddr() net.Addr
	// stopReading reads no more requests: the replies to those already
	// read are still written, then the socket closes.
	stopReading()
	// close closes the socket now.
	close()
}

// pieceWriter is where a reply's body goes: byte pieces, and file ranges
// that are sent with sendfile at their offsets (a zero-copy fetch).
type pieceWriter interface {
	writeBytes(b []byte) error
	writeFile(f *os.File, off, n int64) error
}

// stdConn is a connection on the std transport.
type stdConn struct {
	conn
	nc    net.Conn
	queue chan *reply
	// pooledFrame holds the pooled frame buffer of the request being read
	// and handled (nil when it is a new one), to give back to bufpool.
	pooledFrame *[]byte
	// w is the writer's, lent from writeBuffers while replies are queued
	// (nil otherwise); out counts what it hands to the socket.
	w   *bufio.Writer
	out countingWriter
}

func newConn(b *Broker, nc net.Conn) *stdConn {
	c := &stdConn{nc: nc, queue: make(chan *reply, maxInFlight)}
	c.b, c.t, c.logger = b, c, b.logger.With("remote", nc.RemoteAddr().String())
	c.out = countingWriter{nc, &c.conn}
	return c
}

func (c *stdConn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// stopReading makes the reader stop at its next read (or now, if it waits
// in one).
func (c *stdConn) stopReading() { c.nc.SetReadDeadline(time.Now()) }

func (c *stdConn) close() { c.nc.Close() }

// serve runs the connection until it ends; it returns once both goroutines
// have finished and the socket is closed.
func (c *stdConn) serve() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	close(c.queue)
	<-writerDone
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.isClosing():
		c.logger.Debug("connection closed")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.logger.Info("closing idle connection")
	default:
		c.b.closedOnError(c.logger, err)
	}
}

// shutdown makes the connection read no more requests; replies to those
// already read are still written.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.closing = true
	c.t.stopReading()
	c.mu.Unlock()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// armIdleDeadline sets the read deadline for the next request, unless the
// connection is shutting down.
func (c *stdConn) armIdleDeadline() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return errShuttingDown
	}
	if idle := c.b.cfg.ConnectionsMaxIdle; idle > 0 {
		return c.nc.SetReadDeadline(time.Now().Add(idle))
	}
	return c.nc.SetReadDeadline(time.Time{})
}

func (c *stdConn) readLoop() error {
	var sizeBuf [4]byte
	for {
		if err := c.armIdleDeadline(); err != nil {
			return err
		}
		if _, err := io.ReadFull(c.nc, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 0 || size > c.b.cfg.SocketRequestMaxBytes {
			return fmt.Errorf("%w: %d bytes, socket.request.max.bytes is %d", errFrameTooLarge, size, c.b.cfg.SocketRequestMaxBytes)
		}
		buf, err := c.readBody(int(size))
		if err != nil {
			return err
		}
		c.b.metrics.bytesIn.Add(float64(4 + len(buf)))
		r, reuse, err := c.handleFrame(buf, time.Time{}) // read just now: no wait to count
		if err != nil {
			return err
		}
		if r != nil {
			r.whenFinished(func() { c.b.metrics.observeReply(r) })
			c.queue <- r
		}
		if reuse {
			bufpool.Put(c.pooledFrame, buf)
		}
		c.pooledFrame = nil
	}
}

// readBody reads a frame body of size bytes into a pooled buffer of its
// size class (bufpool), or a new one while the frame is at most
// maxKeptBuffer or Config.RequestBufferAhead allows: then the frame is read
// with no copy. Otherwise the buffer grows with the bytes that arrive
// (doubling from 64 KiB), so a client that announces a large frame and
// then sends slowly holds no more memory than it has sent (twice over).
func (c *stdConn) readBody(size int) ([]byte, error) {
	var buf []byte
	if c.pooledFrame = bufpool.Get(size); c.pooledFrame != nil {
		buf = *c.pooledFrame
	}
	class, ok := bufpool.ClassSize(size) // so that it fits bufpool
	if !ok {
		class = size
	}
	if buf == nil && size > maxKeptBuffer && c.b.reserveAhead(int64(class)) {
		defer c.b.bufferAhead.Add(-int64(class)) // once the frame has arrived
		buf = make([]byte, 0, class)
	}
	if buf == nil && size <= 64<<10 {
		buf = make([]byte, 0, class)
	}
	if cap(buf) >= size {
		buf = buf[:size]
		_, err := io.ReadFull(c.nc, buf)
		return buf, err
	}
	limit := class
	buf = make([]byte, 0, 64<<10)
	for len(buf) < size {
		if len(buf) == cap(buf) { // exactly double (or up to limit)
			grown := make([]byte, len(buf), min(limit, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.nc.Read(buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+n]
		if err != nil && len(buf) < size {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// reserveAhead takes n bytes of Config.RequestBufferAhead, if there are.
func (b *Broker) reserveAhead(n int64) bool {
	if b.bufferAhead.Add(n) <= b.cfg.RequestBufferAhead {
		return true
	}
	b.bufferAhead.Add(-n)
	return false
}

// handleFrame decodes one request frame, read at arrived (zero: just
// before the call), and dispatches it. It returns the
// reply to queue (nil when there is none to queue), whether the frame
// buffer may be reused for the next request (see frameReusers), and an
// error that closes the connection.
// Nothing in buf can make it panic; a handler that panics is recovered as a
// last resort, logged with its stack, and closes the connection.
func (c *conn) handleFrame(buf []byte, arrived time.Time) (r *reply, reuse bool, err error) {
	h, err := parseHeader(buf)
	if err != nil {
		return nil, false, err
	}
	start := time.Now()
	if arrived.IsZero() {
		arrived = start
	}
	api, known := apis[h.key]
	if !known {
		return nil, false, fmt.Errorf("%w: unknown api key %d", errBadRequest, h.key)
	}
	if c.controller && !controllerListenerAPIs[h.key] { // as Kafka, which closes the connection too
		return nil, false, fmt.Errorf("%w: %s is not served on the controller listener", errBadRequest, kmsg.NameForKey(h.key))
	}
	if h.version < api.minVersion || h.version > api.maxVersion {
		r = newReply()
		r.key, r.version, r.correlationID, r.start = h.key, h.version, h.correlationID, start
		return c.unsupportedVersion(h, r)
	}
	msg := kmsg.RequestForKey(h.key)
	msg.SetVersion(h.version)
	if err := msg.ReadFrom(buf[h.bodyStart:]); err != nil {
		return nil, false, fmt.Errorf("%w: %s v%d: %v", errBadRequest, kmsg.NameForKey(h.key), h.version, err)
	}
	req := &request{
		correlationID: h.correlationID,
		clientID:      h.clientID,
		version:       h.version,
		msg:           msg,
		conn:          c,
		broker:        c.b,
	}
	var decoded time.Time
	staged := h.key == produceKey
	if staged {
		decoded = time.Now()
	}
	r, err = c.callHandler(api, req)
	if err != nil {
		return nil, false, err
	}
	// The writer reads these only after taking r off the queue, and the
	// metrics once r is finished and watched (whenFinished), so setting
	// them here does not race with a finish from another goroutine.
	r.key, r.version, r.correlationID, r.start = h.key, h.version, h.correlationID, start
	if staged {
		r.stages.handled(arrived, start, decoded)
	}
	r.flexible = msg.IsFlexible() && h.key != kmsg.ApiVersions.Int16()
	return r, frameReusers[h.key] && !req.retained, nil
}

// callHandler runs a handler, turning a panic into an error that closes
// the connection. This is a last resort, not error handling.
func (c *conn) callHandler(api apiHandler, req *request) (r *reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.logger.Error("handler panicked", "api", kmsg.NameForKey(api.key), "version", req.version, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("broker: %s handler panicked: %v", kmsg.NameForKey(api.key), p)
		}
	}()
	r = api.handle(c.b, req)
	if r == nil {
		return nil, fmt.Errorf("broker: %s handler returned no reply", kmsg.NameForKey(api.key))
	}
	return r, nil
}

// unsupportedVersion answers a request whose version we do not serve.
// ApiVersions gets KIP-511's answer: a v0 response with UNSUPPORTED_VERSION
// and our ranges, so the client can pick a version. Other APIs get
// UNSUPPORTED_VERSION in the response's top-level error code when kmsg can
// encode that version and the response has one; otherwise the connection is
// closed, as Kafka does.
func (c *conn) unsupportedVersion(h header, r *reply) (*reply, bool, error) {
	if h.key == kmsg.ApiVersions.Int16() {
		resp := apiVersionsResponse()
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		r.version = 0
		r.finish(resp)
		return r, false, nil
	}
	name := kmsg.NameForKey(h.key)
	resp := kmsg.ResponseForKey(h.key)
	if h.version < 0 || h.version > resp.MaxVersion() {
		return nil, false, fmt.Errorf("%w: unsupported version %d of %s", errBadRequest, h.version, name)
	}
	resp.SetVersion(h.version)
	if !setTopLevelErrorCode(resp, kerr.UnsupportedVersion.Code) {
		return nil, false, fmt.Errorf("%w: unsupported version %d of %s", errBadRequest, h.version, name)
	}
	r.flexible = resp.IsFlexible()
	c.logger.Debug("unsupported version", "api", name, "version", h.version)
	r.finish(resp)
	return r, false, nil
}

// header is a parsed request header (v1, or v2 for flexible versions).
type header struct {
	key           int16
	version       int16
	correlationID int32
	clientID      *string
	bodyStart     int
}

// parseHeader parses a request header. Whether it is v2 (tagged fields
// after the client id) depends on the API and version, as kmsg knows; an
// ApiVersions version newer than kmsg's is not parsed beyond the
// correlation id (its body is never read: KIP-511).
func parseHeader(buf []byte) (header, error) {
	var h header
	if len(buf) < 8 {
		return h, fmt.Errorf("%w: %d-byte frame is shorter than a request header", errBadRequest, len(buf))
	}
	h.key = int16(binary.BigEndian.Uint16(buf[0:]))
	h.version = int16(binary.BigEndian.Uint16(buf[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(buf[4:]))
	msg := kmsg.RequestForKey(h.key)
	if msg == nil {
		return h, fmt.Errorf("%w: unknown api key %d", errBadRequest, h.key)
	}
	if h.key == kmsg.ApiVersions.Int16() && (h.version < 0 || h.version > msg.MaxVersion()) {
		h.bodyStart = len(buf)
		return h, nil
	}
	d := decoder{b: buf[8:]}
	h.clientID = d.nullableString()
	msg.SetVersion(h.version)
	if h.version >= 0 && h.version <= msg.MaxVersion() && msg.IsFlexible() {
		d.skipTags()
	}
	if d.failed {
		return h, fmt.Errorf("%w: truncated request header", errBadRequest)
	}
	h.bodyStart = len(buf) - len(d.b)
	return h, nil
}

// decoder reads the few header fields kmsg does not decode for us. It is
// sticky: after the first short read every read returns zero and failed
// stays set, so callers check once at the end.
type decoder struct {
	b      []byte
	failed bool
}

func (d *decoder) take(n int) []byte {
	if d.failed || n < 0 || n > len(d.b) {
		d.failed = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) nullableString() *string {
	l := d.take(2)
	if l == nil {
		return nil
	}
	n := int16(binary.BigEndian.Uint16(l))
	if n < 0 {
		return nil
	}
	s := string(d.take(int(n)))
	if d.failed {
		return nil
	}
	return &s
}

func (d *decoder) uvarint() uint64 {
	if d.failed {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.failed = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// skipTags skips a tagged-field section (KIP-482).
func (d *decoder) skipTags() {
	for n := d.uvarint(); n > 0 && !d.failed; n-- {
		d.uvarint() // tag
		size := d.uvarint()
		if size > uint64(len(d.b)) {
			d.failed = true
			return
		}
		d.take(int(size))
	}
}

func (c *stdConn) writeLoop() {
	var writeErr error
	for r := range c.queue {
		<-r.done
		if writeErr != nil {
			// The socket is gone; keep draining so that every frame is
			// released and the reader is never blocked on the queue.
			if r.frame != nil {
				r.frame.release()
			}
			continue
		}
		if c.w == nil {
			c.w = writeBuffers.Get().(*bufio.Writer)
			c.w.Reset(&c.out)
		}
		writeErr = c.writeReply(r)
		if writeErr == nil && len(c.queue) == 0 {
			writeErr = c.w.Flush()
			c.returnWriter()
		}
		if writeErr == nil {
			c.b.metrics.observeWritten(r)
		}
		if writeErr != nil {
			// The reader notices the closed socket and stops.
			c.logger.Debug("write failed", "err", writeErr)
			c.returnWriter()
			c.nc.Close()
		}
	}
	if c.w != nil {
		c.w.Flush()
		c.returnWriter()
	}
	c.nc.Close()
}

// returnWriter gives the lent bufio.Writer back to writeBuffers, emptied.
func (c *stdConn) returnWriter() {
	if c.w != nil {
		c.w.Reset(nil)
		writeBuffers.Put(c.w)
		c.w = nil
	}
}

// writeReply writes one finished reply: size, response header (v0, or v1
// with an empty tagged-field section), body.
func (c *stdConn) writeReply(r *reply) error {
	if r.none {
		return nil
	}
	if r.frame != nil {
		defer r.frame.release()
		var hdr [9]byte
		if _, err := c.w.Write(appendFrameHeader(hdr[:0], r, r.frame.size())); err != nil {
			return err
		}
		return r.frame.writeTo(c)
	}
	bp := encodeBuffers.Get().(*[]byte)
	b := appendResponse((*bp)[:0], r)
	_, err := c.w.Write(b)
	if cap(b) <= maxKeptBuffer {
		*bp = b[:0]
		encodeBuffers.Put(bp)
	}
	return err
}

// appendFrameHeader appends the size and response header of a hand-framed
// response whose body is bodySize bytes.
func appendFrameHeader(b []byte, r *reply, bodySize int) []byte {
	n := 4
	if r.flexible {
		n = 5
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n+bodySize))
	b = binary.BigEndian.AppendUint32(b, uint32(r.correlationID))
	if r.flexible {
		b = append(b, 0)
	}
	return b
}

// appendResponse appends r's kmsg response, framed: size, response header,
// body.
func appendResponse(b []byte, r *reply) []byte {
	r.resp.SetVersion(r.version)
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(r.correlationID))
	if r.flexible {
		b = append(b, 0)
	}
	b = r.resp.AppendTo(b)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// writeBytes writes encoded bytes of a hand-framed response.
func (c *stdConn) writeBytes(b []byte) error {
	_, err := c.w.Write(b)
	return err
}

// writeFile writes n bytes of f from offset off of a hand-framed response
// with sendfile at an explicit offset (never f's shared position).
func (c *stdConn) writeFile(f *os.File, off, n int64) error {
	if err := c.w.Flush(); err != nil {
		return err
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok { // not a socket (tests with net.Pipe): copy
		written, err := io.Copy(c.nc, io.NewSectionReader(f, off, n))
		c.b.metrics.bytesOut.Add(float64(written))
		if err == nil && written != n {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	written, err := sendfile.Send(sc, f, off, n)
	c.b.metrics.bytesOut.Add(float64(written))
	if err == nil && written != n {
		err = fmt.Errorf("broker: sendfile wrote %d of %d bytes", written, n)
	}
	return err
}

// countingWriter counts the bytes the writer's bufio hands to the socket.
type countingWriter struct {
	nc net.Conn
	c  *conn
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.nc.Write(b)
	w.c.b.metrics.bytesOut.Add(float64(n))
	return n, err
}
