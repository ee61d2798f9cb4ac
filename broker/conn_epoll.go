package broker

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/netpoll"
)

// The epoll transport (runnel.net=epoll): package netpoll's event loops
// read and frame the requests and write the replies, and this file adapts
// them to the same request and reply machinery as conn.go's goroutines.
// An epollConn, the conn's transport, is made for each connection, so
// handlers see no difference: conn.shutdown asks netpoll to stop reading,
// and a reply, once finished from whatever goroutine, is encoded there and
// handed to netpoll (epollReply), which writes replies in request order
// (fetch file ranges with sendfile) and then releases them.

// Net values for Config.Net.
const (
	NetStd   = "std"   // a reader and a writer goroutine per connection (conn.go)
	NetEpoll = "epoll" // event loops, one per core (package netpoll; Linux only)
)

var warnNoEpoll sync.Once

// useEpoll says whether to serve with netpoll: configured, and supported
// here (elsewhere the std transport serves, with one warning).
func (b *Broker) useEpoll() bool {
	if b.cfg.Net != NetEpoll {
		return false
	}
	if !netpoll.Supported {
		warnNoEpoll.Do(func() {
			b.logger.Warn("runnel.net=epoll is not supported on this platform; serving with std")
		})
		return false
	}
	return true
}

// serveEpoll serves ln with netpoll until Close.
func (b *Broker) serveEpoll(ln net.Listener) error {
	srv, err := netpoll.NewServer(netpoll.Config{
		MaxFrameSize: b.cfg.SocketRequestMaxBytes,
		MaxInFlight:  maxInFlight,
		IdleTimeout:  b.cfg.ConnectionsMaxIdle,
		Logger:       b.logger,

		// netpoll's zero is its default; none is negative.
		MaxBufferAhead: cmp.Or(b.cfg.RequestBufferAhead, -1),
	}, epollHandler{b})
	if err != nil {
		ln.Close()
		return fmt.Errorf("broker: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-b.done:
	case err = <-served:
		b.logger.Error("accepting failed", "err", err)
	}
	srv.Close() // waits for the connections, which Close shuts down
	if err == nil {
		<-served
		return ErrClosed
	}
	return err
}

// epollHandler is netpoll's Handler for the broker.
type epollHandler struct{ b *Broker }

// epollConn is a connection on the epoll transport, what netpoll keeps
// for it.
type epollConn struct {
	conn
	pc         *netpoll.Conn
	registered bool  // counted in b.conns and connWG
	stopped    bool  // a bad frame: read no more (loop only)
	err        error // why, for OnClose's log line
}

func (h epollHandler) OnOpen(pc *netpoll.Conn) {
	b := h.b
	ec := &epollConn{pc: pc}
	ec.b, ec.t, ec.logger = b, ec, b.logger.With("remote", pc.RemoteAddr().String())
	pc.SetContext(ec)
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.done:
		pc.Close()
		return
	default:
	}
	ec.registered = true
	b.conns[&ec.conn] = struct{}{}
	b.connWG.Add(1)
	b.metrics.connections.Inc()
}

// offLoopProduceBytes is the size from which a produce request is handled
// off the event loop, like a blocking API: its appends use pwrite and
// take milliseconds (more when the kernel throttles dirty pages), which
// on the loop would stall the loop's other connections and serialize the
// producers that share it. Smaller appends' pwrites are quick and stay on
// the loop. A frame this large fills a pooled netpoll
// buffer of its own, which the handler keeps (no copy) and gives back.
const offLoopProduceBytes = 1<<20 + 1

func (h epollHandler) OnFrame(pc *netpoll.Conn, frame []byte) {
	ec := pc.Context().(*epollConn)
	c := &ec.conn
	if ec.stopped || c.isClosing() {
		return
	}
	c.b.metrics.bytesIn.Add(float64(4 + len(frame)))
	key := int16(-1)
	if len(frame) >= 2 {
		key = int16(binary.BigEndian.Uint16(frame))
	}
	offLoopProduce := key == kmsg.Produce.Int16() && len(frame) >= offLoopProduceBytes
	if apis[key].blocking || offLoopProduce {
		// Off the loop, with the connection's next requests held until
		// it is handled. Its reply is reserved now, in request order.
		pr := pc.NewReply()
		pc.Hold()
		var buf []byte
		release := func() {}
		if offLoopProduce {
			buf, release = frame, pc.KeepFrame()
		} else {
			buf = bytes.Clone(frame)
		}
		arrived := pc.ReadTime() // the loop's: read it here, not on the goroutine
		go func() {
			defer pc.Unhold()
			if h.dispatch(pc, ec, buf, arrived, pr) {
				release()
			}
		}()
		return
	}
	// The frame is netpoll's buffer: only the APIs in frameReusers are
	// done with it when their handler returns; others get a copy.
	reuser := frameReusers[key]
	buf := frame
	if !reuser {
		buf = bytes.Clone(frame)
	}
	if reuse := h.dispatch(pc, ec, buf, pc.ReadTime(), nil); reuser && !reuse {
		pc.KeepFrame() // the handler called retainBuffer
	}
}

// dispatch handles one request frame, read at arrived, and hands its
// reply, once finished, to netpoll as pr (reserved now when nil). It runs
// on the loop, or off it while the connection is held. It reports whether
// buf may be reused (see frameReusers).
func (h epollHandler) dispatch(pc *netpoll.Conn, ec *epollConn, buf []byte, arrived time.Time, pr *netpoll.Reply) (reuse bool) {
	c := &ec.conn
	r, reuse, err := c.handleFrame(buf, arrived)
	if err != nil {
		ec.stopped, ec.err = true, err
		pc.Shutdown() // the replies already reserved are still written
		if pr != nil {
			pr.Finish(nil)
		}
		return false
	}
	if pr == nil {
		pr = pc.NewReply()
	}
	r.whenFinished(func() { c.finishEpoll(r, pr) })
	return reuse
}

func (h epollHandler) OnClose(pc *netpoll.Conn, err error) {
	ec := pc.Context().(*epollConn)
	c := &ec.conn
	if ec.err != nil {
		err = ec.err
	}
	switch {
	case err == nil, errors.Is(err, netpoll.ErrClosed), c.isClosing():
		c.logger.Debug("connection closed")
	case errors.Is(err, netpoll.ErrIdleTimeout):
		c.logger.Info("closing idle connection")
	case errors.Is(err, netpoll.ErrFrameTooLarge):
		c.b.closedOnError(c.logger, fmt.Errorf("%w: %w", errFrameTooLarge, err))
	default:
		c.b.closedOnError(c.logger, err)
	}
	if !ec.registered {
		return
	}
	b := h.b
	b.metrics.connections.Dec()
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
	b.connWG.Done()
}

// encodeBuffers are reused for kmsg responses on both transports.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// finishEpoll records a finished reply in the metrics, encodes it and
// hands it to netpoll; it runs on the goroutine that finished the reply,
// which writes it to the socket itself when it is the connection's next
// (netpoll's direct write: produce responses, not zero-copy fetch frames,
// whose file ranges the loop sends). The release functions may so run on
// that goroutine as well as on the loop.
func (c *conn) finishEpoll(r *reply, pr *netpoll.Reply) {
	c.b.metrics.observeReply(r)
	switch {
	case r.none:
		pr.Finish(nil)
	case r.frame != nil:
		hdr := appendFrameHeader(make([]byte, 0, 9), r, r.frame.size())
		pr.AddBytes(hdr)
		frame, size := r.frame, len(hdr)+r.frame.size()
		if err := frame.writeTo(epollReply{pr}); err != nil { // epollReply never fails
			c.logger.Error("framing a response failed", "err", err)
		}
		pr.Finish(func() {
			frame.release()
			c.b.metrics.bytesOut.Add(float64(size))
		})
	default:
		bp := encodeBuffers.Get().(*[]byte)
		b := appendResponse((*bp)[:0], r)
		pr.AddBytes(b)
		pr.Finish(func() {
			c.b.metrics.observeWritten(r)
			c.b.metrics.bytesOut.Add(float64(len(b)))
			if cap(b) <= maxKeptBuffer {
				*bp = b[:0]
				encodeBuffers.Put(bp)
			}
		})
	}
}

func (ec *epollConn) RemoteAddr() net.Addr { return ec.pc.RemoteAddr() }
func (ec *epollConn) stopReading()         { ec.pc.Shutdown() }
func (ec *epollConn) close()               { ec.pc.Close() }

// epollReply is the pieceWriter of one netpoll reply: its pieces are
// written, in order, once the reply is finished.
type epollReply struct{ pr *netpoll.Reply }

// writeBytes adds b, which the frame keeps until its release.
func (p epollReply) writeBytes(b []byte) error {
	p.pr.AddBytes(b)
	return nil
}

func (p epollReply) writeFile(f *os.File, off, n int64) error {
	p.pr.AddFile(f, off, n)
	return nil
}
