//go:build linux

package netpoll

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"runnel/io/bufpool"
)

const (
	// maxIovecs bounds one writev.
	maxIovecs = 64
	// maxDirectIovecs bounds a direct write's writev (Reply.Finish).
	maxDirectIovecs = 16
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

// directWrites lets Reply.Finish write a reply finished off the loop
// itself (writeDirect); tests and benchmarks turn it off to compare.
var directWrites = true

// Conn is one client connection, owned by one loop. Its methods may be
// called from any goroutine unless they say otherwise.
type Conn struct {
	l      *loop
	fd     int
	remote net.Addr
	local  net.Addr
	ctx    any

	// wmu guards the write state: out, head, piece, pieceOff and free,
	// which the loop and a goroutine writing a reply it finished directly
	// (Reply.Finish) both change, and paused, readClosed and closed, which
	// only the loop changes, with wmu held, and a direct writer reads. The
	// loop holds it while it writes to the socket; a direct writer only
	// tries it (TryLock): a direct writer never waits, and the loop waits
	// at most for a direct writer's non-blocking writevs (of the finished
	// replies at the head, MaxInFlight at most) and their releases.
	wmu      sync.Mutex
	out      []*Reply // reserved replies in request order; out[head:] not yet released
	head     int
	piece    int   // out[head]'s next piece to write
	pieceOff int64 // bytes of that piece already written
	free     []*Reply
	diov     []unix.Iovec // a direct writer's writev scratch

	// inFrame is set while the loop runs OnFrame for the connection: a
	// reply finished there is left to the loop, which writes it with the
	// other replies of the same read in one writev after dispatching them.
	inFrame atomic.Bool

	// Owned by the loop.
	in         []byte // a partial frame (or, while paused, frames not yet dispatched)
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
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var r *Reply
	if n := len(c.free); n > 0 {
		r = c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
	} else if n := len(l.free); n > 0 {
		r = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		r = &Reply{}
	}
	r.c = c
	if c.head > 0 && len(c.out) == cap(c.out) {
		// Move the unreleased replies to the front rather than grow out
		// past them: a connection whose replies never all get written
		// at once (pipelining) would grow it without bound.
		n := copy(c.out, c.out[c.head:])
		clear(c.out[n:])
		c.out, c.head = c.out[:n], 0
	}
	c.out = append(c.out, r)
	return r
}

// inFlight is the number of replies reserved and not yet released; the
// caller holds wmu.
func (c *Conn) inFlight() int { return len(c.out) - c.head }

// Reply is the answer to one frame: byte pieces and file ranges, written
// back to back. One goroutine builds it (AddBytes, AddFile) and calls
// Finish once; after Finish it belongs to the connection again.
type Reply struct {
	c       *Conn
	pieces  []piece
	bytes   int64
	files   bool // a file range among the pieces
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
		r.files = true
	}
}

// Finish hands the reply to the connection, which writes it after the
// replies reserved before it and then calls release (if not nil) exactly
// once, also when the connection closed before writing it. A reply with
// no pieces writes nothing.
//
// A reply of bytes only that is finished off the loop and is the
// connection's next to write, with no write of the loop's in progress, is
// written here, on the caller's goroutine, with a non-blocking writev
// (with any finished byte replies queued behind it), and released here;
// what the socket does not take is left to the loop. Otherwise, and for
// replies finished on the loop, the loop writes it, and release runs
// there. So release may run on any goroutine, but never concurrently with
// another of the connection's releases or its OnClose.
func (r *Reply) Finish(release func()) {
	c := r.c
	r.release = release
	c.queuedBytes.Add(r.bytes)
	direct := directWrites && !r.files && !c.inFrame.Load()
	r.done.Store(true) // r may be reused from here on
	if direct && c.writeDirect(r) {
		return
	}
	if !c.readyQueued.Swap(true) {
		c.l.markReady(c)
	}
}

// writeDirect writes the finished reply r, and the finished byte replies
// after it, from Finish's goroutine when r is the next reply to write and
// nothing of it is written yet, and releases what it wrote. It reports
// whether the loop can be left alone: everything it could write is
// written (or r is not next: the reply before it is unfinished, and its
// Finish will write r), and the loop has nothing to resume or close.
func (c *Conn) writeDirect(r *Reply) bool {
	if !c.wmu.TryLock() {
		return false // the loop is writing (or reserving): let it
	}
	defer c.wmu.Unlock()
	if c.closed {
		return false // reap must see r finished
	}
	if c.inFlight() == 0 {
		return true // the loop wrote r meanwhile
	}
	if head := c.out[c.head]; head != r || c.piece != 0 || c.pieceOff != 0 {
		// An earlier reply, unfinished, is next: its Finish writes r or
		// tells the loop. Or the loop is part-way through writing.
		return !head.done.Load()
	}
	if c.diov == nil {
		c.diov = make([]unix.Iovec, 0, maxDirectIovecs)
	}
	for c.inFlight() > 0 && c.out[c.head].done.Load() {
		n, err := c.writeSome(c.diov[:0], false)
		if err != nil {
			return false // EAGAIN: the loop owns the rest; or the loop closes
		}
		if n == 0 && len(c.out[c.head].pieces) > 0 {
			return false // a file range: the loop sends it
		}
		if n > 0 {
			c.l.s.directWrites.Add(1)
		}
		c.advance(n, &c.free)
	}
	if c.inFlight() > 0 {
		return !c.paused // the next reply is unfinished: its Finish takes over
	}
	return !c.paused && !c.readClosed
}

// recycle releases r and keeps it in free for reuse; the caller holds
// r.c.wmu.
func recycle(r *Reply, free *[]*Reply) {
	r.c.queuedBytes.Add(-r.bytes)
	if r.release != nil {
		r.release()
	}
	clear(r.pieces)
	*r = Reply{pieces: r.pieces[:0]}
	*free = append(*free, r)
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
		c.inFrame.Store(true)
		l.s.h.OnFrame(c, frame)
		c.inFrame.Store(false)
		c.frameBuf = nil
		if c.keep {
			if inLoopBuf {
				l.buf = make([]byte, len(l.buf))
			} else {
				c.in = nil
			}
		}
		c.wmu.Lock()
		c.paused = c.overLimits()
		c.wmu.Unlock()
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
// bytes queued for a slow reader, as the Config allows; the caller holds
// wmu.
func (c *Conn) overLimits() bool {
	cfg := &c.l.s.cfg
	return c.inFlight() >= cfg.MaxInFlight || c.queuedBytes.Load() >= int64(cfg.MaxQueuedBytes)
}

// resume starts reading again once a paused connection is under its
// limits and not held: frames already buffered first, then the socket
// (edge-triggered, so a pending readiness is not reported again).
func (l *loop) resume(c *Conn) {
	if c.paused {
		c.wmu.Lock()
		over := c.overLimits()
		if !over {
			c.paused = false
		}
		c.wmu.Unlock()
		if over {
			return
		}
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
	c.wmu.Lock()
	c.readClosed = true
	idle := c.inFlight() == 0
	c.wmu.Unlock()
	l.releaseAhead(c)
	l.putInput(c.in)
	c.in = nil
	if idle {
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
	c.wmu.Lock()
	var err error
	for c.inFlight() > 0 && c.out[c.head].done.Load() {
		var n int64
		n, err = c.writeSome(l.iov[:0], true)
		if err != nil {
			break
		}
		c.advance(n, &l.free)
	}
	done := c.inFlight() == 0
	if done {
		c.out, c.head = c.out[:0], 0
	}
	c.wmu.Unlock()
	switch {
	case err == unix.EAGAIN: // EPOLLOUT resumes us
	case err != nil:
		l.closeConn(c, err)
		return
	case done && c.readClosed:
		l.closeConn(c, nil)
		return
	}
	if c.paused {
		l.resume(c)
	}
}

// writeSome makes one writev of the byte pieces from the write position
// on, across finished replies, with iov as its scratch (up to its
// capacity), or, with files, one sendfile when the next piece is a file
// range. Without files it stops before a file range (0 bytes when the
// next piece is one). The caller holds wmu.
func (c *Conn) writeSome(iov []unix.Iovec, files bool) (int64, error) {
	off := c.pieceOff
	pi := c.piece
scan:
	for i := c.head; i < len(c.out) && c.out[i].done.Load(); i++ {
		r := c.out[i]
		for ; pi < len(r.pieces); pi++ {
			p := &r.pieces[pi]
			if p.f != nil {
				if len(iov) == 0 && files {
					return sendfileFD(c.fd, p.f, p.off+off, p.n-off)
				}
				break scan
			}
			b := p.b[off:]
			off = 0
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
			if len(iov) == cap(iov) {
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
// written completely (and every empty finished one at the front) and
// keeping it in free. The caller holds wmu.
func (c *Conn) advance(n int64, free *[]*Reply) {
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
		recycle(r, free)
		if c.head == len(c.out) {
			c.out, c.head = c.out[:0], 0
		}
	}
}

// closeConn closes the socket now. Unwritten replies are released as they
// finish; OnClose runs when the last one is.
func (l *loop) closeConn(c *Conn, err error) {
	if c.closed {
		return
	}
	l.releaseAhead(c)
	l.putInput(c.in)
	c.in = nil
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	c.wmu.Lock() // no direct write is under way, and none starts after this
	c.closed, c.err = true, err
	unix.Close(c.fd)
	c.wmu.Unlock()
	delete(l.conns, int32(c.fd))
	l.reap(c)
}

// reap releases the finished replies of a closed connection and, once
// there are none left unfinished, calls OnClose.
func (l *loop) reap(c *Conn) {
	c.wmu.Lock()
	kept := c.out[:0]
	for _, r := range c.out[c.head:] {
		if r.done.Load() {
			recycle(r, &l.free)
		} else {
			kept = append(kept, r)
		}
	}
	clear(c.out[len(kept):])
	c.out, c.head, c.piece, c.pieceOff = kept, 0, 0, 0
	last := len(kept) == 0 && !c.notified
	if last {
		c.out, c.free, c.diov = nil, nil, nil
	}
	c.wmu.Unlock()
	if last {
		c.notified = true
		l.s.h.OnClose(c, c.err)
		l.connCount.Add(-1)
		l.s.connClosed()
	}
}
