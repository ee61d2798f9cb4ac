//go:build linux

package netpoll

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"runnel/io/bufpool"
)

const (
	// maxIovecs bounds one writev.
	maxIovecs = 64
	// maxSendfile bounds one sendfile call.
	maxSendfile = 1 << 30
	// Partial-frame buffers come from their loop in power-of-two sizes
	// from bufpool.MinSize to maxPooledInput, and go back to it as soon as
	// the connection has no partial frame, so that an idle connection
	// holds none and a busy producer does not allocate one per request. A
	// loop keeps at most maxCachedInput bytes of them. Larger ones (multi-
	// MiB produce requests: franz-go sends up to 1 MB per partition in one
	// request) go to package bufpool's pools instead, up to its MaxSize,
	// which any goroutine may use (a handler that kept such a frame gives
	// its buffer back, see KeepFrame) and the GC empties.
	minGrowInput   = 128 << 10 // the first buffer of a large frame that is arriving slowly
	maxPooledInput = 1 << 20
	maxCachedInput = 16 << 20
)

// Conn is one client connection, owned by one loop. Its methods may be
// called from any goroutine unless they say otherwise.
type Conn struct {
	l      *loop
	fd     int
	remote net.Addr
	local  net.Addr
	ctx    any

	// Owned by the loop.
	in         []byte   // a partial frame (or, while paused, frames not yet dispatched)
	out        []*Reply // reserved replies in request order; out[head:] not yet released
	head       int
	piece      int   // out[head]'s next piece to write
	pieceOff   int64 // bytes of that piece already written
	lastActive time.Time
	keep       bool   // set by KeepFrame during OnFrame
	frameBuf   []byte // during OnFrame, the pooled buffer the frame fills alone, or nil
	ahead      int64  // c.in's share of Config.MaxBufferAhead until its frame has arrived
	paused     bool   // not reading: too much in flight or queued
	held       bool   // not dispatching frames until Unhold (Hold)
	readClosed bool   // no more frames are read (peer EOF, Shutdown)
	closed     bool   // socket closed
	notified   bool   // OnClose has run
	err        error

	queuedBytes atomic.Int64 // byte pieces of finished, unwritten replies
	readyQueued atomic.Bool  // in the loop's ready list
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr is the local address of the connection.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// SetContext attaches a value for the handler; call it from OnOpen.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Context returns the value given to SetContext.
func (c *Conn) Context() any { return c.ctx }

// KeepFrame, called from OnFrame, gives the frame's memory to the handler:
// the connection will not reuse it. Calling release, from any goroutine,
// once the handler is done with the frame gives a large frame's buffer
// back to the pools (and does nothing for a frame that shares its
// buffer); without it the memory is the garbage collector's.
func (c *Conn) KeepFrame() (release func()) {
	c.keep = true
	if buf := c.frameBuf; buf != nil {
		return func() { bufpool.Put(nil, buf) }
	}
	return func() {}
}

// Shutdown stops reading requests; replies already reserved are written,
// then the connection closes.
func (c *Conn) Shutdown() { c.l.post(func() { c.l.shutdownConn(c) }) }

// Close closes the connection now; replies not yet written are released
// without being written, as they finish.
func (c *Conn) Close() { c.l.post(func() { c.l.closeConn(c, ErrClosed) }) }

// Hold, called from OnFrame, stops the connection's frames from being
// dispatched until Unhold: OnFrame can hand a request that blocks (one
// that creates files and syncs them, say) to another goroutine, and the
// requests after it are still handled in order, after it. A held
// connection is not read, like one paused by back-pressure.
func (c *Conn) Hold() { c.held = true }

// Unhold ends a Hold; any goroutine may call it, once per Hold.
func (c *Conn) Unhold() {
	c.l.post(func() {
		c.held = false
		c.l.resume(c)
	})
}

// ReadTime, called from OnFrame, is when the loop woke up for the events
// whose reads brought the frame in: the time since is the frame's wait on
// the loop behind other connections' events. (A frame read before its
// connection was held or paused gets the wake-up that dispatches it, so
// its wait before that is not counted.)
func (c *Conn) ReadTime() time.Time { return c.l.now }

// dispatching says whether the connection's frames are read and handed to
// OnFrame now.
func (c *Conn) dispatching() bool {
	return !c.closed && !c.readClosed && !c.paused && !c.held
}

// NewReply reserves the connection's next reply. It may be called only
// from OnFrame, at most once per frame (a frame that gets no answer
// reserves none); replies are written in the order they were reserved.
func (c *Conn) NewReply() *Reply {
	l := c.l
	var r *Reply
	if n := len(l.free); n > 0 {
		r = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		r = &Reply{}
	}
	r.c = c
	c.out = append(c.out, r)
	return r
}

func (c *Conn) inFlight() int { return len(c.out) - c.head }

// Reply is the answer to one frame: byte pieces and file ranges, written
// back to back. One goroutine builds it (AddBytes, AddFile) and calls
// Finish once; after Finish it belongs to the connection again.
type Reply struct {
	c       *Conn
	pieces  []piece
	bytes   int64
	release func()
	done    atomic.Bool
}

// piece is b, or n bytes of f from off.
type piece struct {
	b      []byte
	f      *os.File
	off, n int64
}

func (p *piece) len() int64 {
	if p.f != nil {
		return p.n
	}
	return int64(len(p.b))
}

// AddBytes appends b to the reply. b must stay unchanged until release.
func (r *Reply) AddBytes(b []byte) {
	if len(b) > 0 {
		r.pieces = append(r.pieces, piece{b: b})
		r.bytes += int64(len(b))
	}
}

// AddFile appends n bytes of f from offset off, sent with sendfile(2) at
// that offset (f's shared position is never used). f must stay open until
// release.
func (r *Reply) AddFile(f *os.File, off, n int64) {
	if n > 0 {
		r.pieces = append(r.pieces, piece{f: f, off: off, n: n})
	}
}

// Finish hands the reply to the connection, which writes it after the
// replies reserved before it and then calls release (if not nil) exactly
// once, from its loop, also when the connection closed before writing it.
// A reply with no pieces writes nothing.
func (r *Reply) Finish(release func()) {
	c := r.c
	r.release = release
	c.queuedBytes.Add(r.bytes)
	r.done.Store(true) // r may be reused from here on
	if !c.readyQueued.Swap(true) {
		c.l.markReady(c)
	}
}

// recycle releases r and keeps it for reuse.
func (l *loop) recycle(r *Reply) {
	r.c.queuedBytes.Add(-r.bytes)
	if r.release != nil {
		r.release()
	}
	clear(r.pieces)
	*r = Reply{pieces: r.pieces[:0]}
	l.free = append(l.free, r)
}

func (l *loop) connEvent(c *Conn, events uint32) {
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.read(c)
	}
	if events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.closed {
		l.flush(c)
	}
}

// read reads and dispatches frames until the socket has no more bytes, or
// reading pauses or ends.
func (l *loop) read(c *Conn) {
	for c.dispatching() {
		var n int
		var err error
		if want := c.frameEnd(); want > len(l.buf) {
			// The rest of a large frame: straight into its own buffer,
			// which grows as its bytes arrive.
			if len(c.in) == cap(c.in) {
				in := l.largeInput(c, c.in, want)
				l.putInput(c.in)
				c.in = in
			}
			n, err = readFD(c.fd, c.in[len(c.in):min(want, cap(c.in))])
			if n > 0 {
				c.in = c.in[:len(c.in)+n]
				if len(c.in) == want {
					l.releaseAhead(c)
					l.parse(c, c.in, false)
				}
			}
		} else {
			held := len(c.in)
			n, err = readFD(c.fd, l.buf[held:])
			if n > 0 {
				copy(l.buf, c.in)
				c.in = c.in[:0]
				l.parse(c, l.buf[:held+n], true)
			}
		}
		switch {
		case err == unix.EAGAIN:
			return
		case err != nil:
			l.closeConn(c, fmt.Errorf("netpoll: read: %w", err))
			return
		case n == 0: // the peer closed its side: answer what was asked, then close
			l.endReading(c)
			return
		}
	}
}

func readFD(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// frameEnd is the length of the frame c.in begins, with its size field;
// 0 while c.in does not hold the whole size field.
func (c *Conn) frameEnd() int {
	if len(c.in) < 4 {
		return 0
	}
	return 4 + int(binary.BigEndian.Uint32(c.in))
}

// parse dispatches the complete frames at the start of data and keeps the
// rest in c.in. data is l.buf or c.in.
func (l *loop) parse(c *Conn, data []byte, inLoopBuf bool) {
	cfg := &l.s.cfg
	pos := 0
	for c.dispatching() && len(data)-pos >= 4 {
		size := int32(binary.BigEndian.Uint32(data[pos:]))
		if size < 0 || size > cfg.MaxFrameSize {
			l.closeConn(c, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, uint32(size), cfg.MaxFrameSize))
			return
		}
		end := pos + 4 + int(size)
		if end > len(data) {
			break
		}
		frame := data[pos+4 : end : end]
		c.frameBuf = nil
		if !inLoopBuf && pos == 0 && end == len(data) && cap(data) > maxPooledInput {
			c.frameBuf = data // read alone into a large buffer (see read)
		}
		pos = end
		c.lastActive = l.now
		c.keep = false
		l.s.h.OnFrame(c, frame)
		c.frameBuf = nil
		if c.keep {
			if inLoopBuf {
				l.buf = make([]byte, len(l.buf))
			} else {
				c.in = nil
			}
		}
		c.paused = c.overLimits()
	}
	rest := data[pos:]
	if c.closed || c.readClosed || len(rest) == 0 {
		l.putInput(c.in)
		c.in = nil
		return
	}
	// Keep the rest. Room is made for the whole frame (its size was
	// checked above unless reading paused first), so that a frame larger
	// than the loop's buffer is read into it without copying; but for
	// such a frame only as much as a free pooled buffer or twice the bytes
	// already here, and read grows it as the others arrive (largeInput).
	// A client that announces a large frame and sends it slowly holds no
	// more memory than it has sent, twice over.
	need := len(rest)
	if len(rest) >= 4 {
		if size := int32(binary.BigEndian.Uint32(rest)); size >= 0 && size <= cfg.MaxFrameSize {
			need = max(need, 4+int(size))
		}
	}
	if cap(c.in) >= need {
		c.in = c.in[:copy(c.in[:cap(c.in)], rest)] // rest may be in c.in: copy moves
		return
	}
	var in []byte
	if need > len(l.buf) {
		in = l.largeInput(c, rest, need)
	} else {
		in = append(l.getInput(need), rest...)
	}
	l.putInput(c.in) // rest may be in it: copied out first
	c.in = in
}

// largeInput returns a buffer holding start, the first bytes of c's frame
// of want bytes: a free pooled buffer with room for the whole frame, or a
// new one while Config.MaxBufferAhead allows, so that the frame is read
// without a copy; or else one with room for twice start (at least
// minGrowInput), which read grows again as more of the frame arrives.
func (l *loop) largeInput(c *Conn, start []byte, want int) []byte {
	b := l.takeInput(want)
	if size := int64(1) << inputClass(want); b == nil && c.ahead == 0 && l.s.reserveAhead(size) {
		c.ahead = size
		b = l.getInput(want)
	}
	if b == nil {
		b = l.getInput(min(want, max(2*len(start), minGrowInput)))
	}
	return append(b, start...)
}

// reserveAhead takes n bytes of Config.MaxBufferAhead, if there are.
func (s *Server) reserveAhead(n int64) bool {
	if s.ahead.Add(n) <= s.cfg.MaxBufferAhead {
		return true
	}
	s.ahead.Add(-n)
	return false
}

// releaseAhead gives c's share of Config.MaxBufferAhead back once its
// frame has arrived, or it stops reading.
func (l *loop) releaseAhead(c *Conn) {
	if c.ahead > 0 {
		l.s.ahead.Add(-c.ahead)
		c.ahead = 0
	}
}

// getInput returns an empty buffer with room for n bytes: a pooled one
// (takeInput), or a new one of its pool's size.
func (l *loop) getInput(n int) []byte {
	if b := l.takeInput(n); b != nil {
		return b
	}
	size, ok := bufpool.ClassSize(n)
	if !ok {
		size = n
	}
	return make([]byte, 0, size)
}

// takeInput returns an empty pooled buffer with room for n bytes, or nil
// when its pool has none.
func (l *loop) takeInput(n int) []byte {
	if n > maxPooledInput {
		if b := bufpool.Get(n); b != nil {
			return *b
		}
		return nil
	}
	class := inputClass(n)
	if free := l.inputs[class]; len(free) > 0 {
		b := free[len(free)-1]
		l.inputs[class] = free[:len(free)-1]
		l.cachedInput -= cap(b)
		return b
	}
	return nil
}

// inputClass is the size class of a buffer for n bytes: log2 of the
// power of two that holds them.
func inputClass(n int) int { return bits.Len(uint(max(n, bufpool.MinSize) - 1)) }

// putInput keeps b for getInput, unless the loop holds enough already.
func (l *loop) putInput(b []byte) {
	c := cap(b)
	if c < bufpool.MinSize || c&(c-1) != 0 {
		return
	}
	if c > maxPooledInput {
		bufpool.Put(nil, b)
		return
	}
	if l.cachedInput+c > maxCachedInput {
		return
	}
	class := bits.Len(uint(c - 1))
	l.inputs[class] = append(l.inputs[class], b[:0])
	l.cachedInput += c
}

// overLimits says whether c has as many replies in flight, or as many
// bytes queued for a slow reader, as the Config allows.
func (c *Conn) overLimits() bool {
	cfg := &c.l.s.cfg
	return c.inFlight() >= cfg.MaxInFlight || c.queuedBytes.Load() >= int64(cfg.MaxQueuedBytes)
}

// resume starts reading again once a paused connection is under its
// limits and not held: frames already buffered first, then the socket
// (edge-triggered, so a pending readiness is not reported again).
func (l *loop) resume(c *Conn) {
	if c.paused {
		if c.overLimits() {
			return
		}
		c.paused = false
	}
	if !c.dispatching() {
		return
	}
	if len(c.in) > 0 {
		l.parse(c, c.in, false)
	}
	l.read(c)
}

// endReading stops reading c; it closes once its replies are written.
func (l *loop) endReading(c *Conn) {
	c.readClosed = true
	l.releaseAhead(c)
	l.putInput(c.in)
	c.in = nil
	if c.inFlight() == 0 {
		l.closeConn(c, nil)
	}
}

func (l *loop) shutdownConn(c *Conn) {
	if !c.closed && !c.readClosed {
		l.endReading(c)
	}
}

// flush writes c's finished replies in order until the socket is full or
// the next reply is not finished.
func (l *loop) flush(c *Conn) {
	if c.closed {
		l.reap(c)
		return
	}
	for c.inFlight() > 0 && c.out[c.head].done.Load() {
		n, err := l.writeSome(c)
		if err == unix.EAGAIN {
			break // EPOLLOUT resumes us
		}
		if err != nil {
			l.closeConn(c, err)
			return
		}
		l.advance(c, n)
	}
	if c.inFlight() == 0 {
		c.out, c.head = c.out[:0], 0
		if c.readClosed {
			l.closeConn(c, nil)
			return
		}
	}
	if c.paused {
		l.resume(c)
	}
}

// writeSome makes one writev of the byte pieces from the write position
// on, across finished replies, or one sendfile when the next piece is a
// file range.
func (l *loop) writeSome(c *Conn) (int64, error) {
	iov := l.iov[:0]
	off := c.pieceOff
	pi := c.piece
scan:
	for i := c.head; i < len(c.out) && c.out[i].done.Load(); i++ {
		r := c.out[i]
		for ; pi < len(r.pieces); pi++ {
			p := &r.pieces[pi]
			if p.f != nil {
				if len(iov) == 0 {
					return sendfileFD(c.fd, p.f, p.off+off, p.n-off)
				}
				break scan
			}
			b := p.b[off:]
			off = 0
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
			if len(iov) == maxIovecs {
				break scan
			}
		}
		pi = 0
	}
	if len(iov) == 0 {
		return 0, nil // only empty replies: advance pops them
	}
	for {
		n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(c.fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if errno == unix.EINTR {
			continue
		}
		clear(iov) // no pointers kept past the call
		if errno != 0 {
			return 0, errno
		}
		return int64(n), nil
	}
}

func sendfileFD(fd int, f *os.File, off, n int64) (int64, error) {
	for {
		w, err := unix.Sendfile(fd, int(f.Fd()), &off, int(min(n, maxSendfile)))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case w == 0:
			return 0, fmt.Errorf("%w: %s at %d", errShortFile, f.Name(), off)
		}
		return int64(w), nil
	}
}

// advance moves the write position n bytes on, releasing every reply
// written completely (and every empty finished one at the front).
func (l *loop) advance(c *Conn, n int64) {
	for c.inFlight() > 0 {
		r := c.out[c.head]
		if !r.done.Load() {
			return
		}
		for c.piece < len(r.pieces) {
			rem := r.pieces[c.piece].len() - c.pieceOff
			if n < rem {
				c.pieceOff += n
				return
			}
			n -= rem
			c.piece++
			c.pieceOff = 0
		}
		c.out[c.head] = nil
		c.head++
		c.piece = 0
		l.recycle(r)
	}
}

// closeConn closes the socket now. Unwritten replies are released as they
// finish; OnClose runs when the last one is.
func (l *loop) closeConn(c *Conn, err error) {
	if c.closed {
		return
	}
	c.closed, c.err = true, err
	l.releaseAhead(c)
	l.putInput(c.in)
	c.in = nil
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	delete(l.conns, int32(c.fd))
	l.reap(c)
}

// reap releases the finished replies of a closed connection and, once
// there are none left unfinished, calls OnClose.
func (l *loop) reap(c *Conn) {
	kept := c.out[:0]
	for _, r := range c.out[c.head:] {
		if r.done.Load() {
			l.recycle(r)
		} else {
			kept = append(kept, r)
		}
	}
	clear(c.out[len(kept):])
	c.out, c.head, c.piece, c.pieceOff = kept, 0, 0, 0
	if len(kept) == 0 && !c.notified {
		c.notified = true
		c.out = nil
		l.s.h.OnClose(c, c.err)
		l.connCount.Add(-1)
		l.s.connClosed()
	}
}
