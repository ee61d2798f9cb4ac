//go:build linux

package netpoll

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"runnel/internal/wait"
	"runnel/netpoll/netpolltest"
)

// testHandler answers frames with fn and records opens and closes.
type testHandler struct {
	fn       func(c *Conn, frame []byte)
	opened   atomic.Int64
	track    bool    // keep conns (off where the heap per connection is measured)
	conns    []*Conn // in the order opened, under mu, if track
	frames   atomic.Int64
	mu       sync.Mutex
	closeErr []error
	closedCh chan struct{} // gets one value per OnClose
}

func newTestHandler(fn func(c *Conn, frame []byte)) *testHandler {
	return &testHandler{fn: fn, closedCh: make(chan struct{}, 100000)}
}

func (h *testHandler) OnOpen(c *Conn) {
	if h.track {
		h.mu.Lock()
		h.conns = append(h.conns, c)
		h.mu.Unlock()
	}
	h.opened.Add(1)
}

// onLoop runs fn on c's loop goroutine and returns once it has run, so
// the loop has finished what it was doing when onLoop was called.
func onLoop(t *testing.T, c *Conn, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if !c.l.post(func() { fn(); close(done) }) {
		t.Fatal("the connection's loop has stopped")
	}
	<-done
}

// buffered returns how many bytes of a partial frame c's loop holds.
func buffered(t *testing.T, c *Conn) int {
	t.Helper()
	var n int
	onLoop(t, c, func() { n = len(c.in) })
	return n
}
func (h *testHandler) OnFrame(c *Conn, frame []byte) {
	h.frames.Add(1)
	h.fn(c, frame)
}
func (h *testHandler) OnClose(c *Conn, err error) {
	h.mu.Lock()
	h.closeErr = append(h.closeErr, err)
	h.mu.Unlock()
	h.closedCh <- struct{}{}
}

// waitClosed waits for n OnClose calls and returns their errors.
func (h *testHandler) waitClosed(t *testing.T, n int) []error {
	t.Helper()
	for range n {
		select {
		case <-h.closedCh:
		case <-time.After(10 * time.Second):
			t.Fatalf("OnClose not called %d times", n)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.closeErr...)
}

// echo frames the frame back, finished now or by a goroutine after a short
// random delay (so replies finish out of order).
func echo(async bool) func(c *Conn, frame []byte) {
	return func(c *Conn, frame []byte) {
		r := c.NewReply()
		out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(frame)), uint32(len(frame)))
		out = append(out, frame...)
		r.AddBytes(out[:4])
		r.AddBytes(out[4:])
		if !async {
			r.Finish(nil)
			return
		}
		go func() {
			// A random delay, so that replies finish out of order.
			time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
			r.Finish(nil)
		}()
	}
}

// startServer serves h on a loopback port until the test ends.
func startServer(t testing.TB, cfg Config, h Handler) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		ln.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// dial connects with the given socket buffer sizes (0: system default).
func dial(t testing.TB, addr string, bufSize int) *net.TCPConn {
	t.Helper()
	return dialBuffers(t, addr, bufSize, bufSize)
}

// dialBuffers connects with SO_SNDBUF sndBuf and SO_RCVBUF rcvBuf (0: the
// system's default, autotuned).
func dialBuffers(t testing.TB, addr string, sndBuf, rcvBuf int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) {
			if sndBuf > 0 {
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, sndBuf)
			}
			if rcvBuf > 0 {
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
			}
		})
		return nil
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// testFrame is frame i of a connection: its index, then filler bytes.
func testFrame(rng *rand.Rand, i int, maxSize int) []byte {
	n := 8 + rng.IntN(300)
	if rng.IntN(10) == 0 {
		n = 8 + rng.IntN(maxSize)
	}
	b := make([]byte, 4+n)
	binary.BigEndian.PutUint32(b, uint32(n))
	binary.BigEndian.PutUint64(b[4:], uint64(i))
	for j := 12; j < len(b); j++ {
		b[j] = byte(i + j)
	}
	return b
}

// sendFrames writes the frames testFrame(…, i, maxSize) for i below n, the frames' and the
// chops' randomness seeded by seed (a reader seeded alike expects them), in random chops;
// a write error goes to errs.
func sendFrames(w io.Writer, seed uint64, n, maxSize int, errs chan<- error) {
	frames, chop := rand.New(rand.NewPCG(seed, 1)), rand.New(rand.NewPCG(seed, 2))
	for i := range n {
		if err := writeChoppy(w, chop, testFrame(frames, i, maxSize)); err != nil {
			errs <- err
			return
		}
	}
}

// writeChoppy writes in random pieces, so frames arrive cut anywhere.
func writeChoppy(w io.Writer, rng *rand.Rand, b []byte) error {
	for len(b) > 0 {
		n := min(len(b), 1+rng.IntN(3000))
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func TestEchoPipelined(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		async   bool
		bufSize int // the client's SO_SNDBUF (0: the default)
		conns   int
		frames  int
		maxSize int
	}{
		{"sync", Config{Loops: 2}, false, 0, 4, 2000, 200 << 10},
		{"async", Config{Loops: 2}, true, 0, 4, 2000, 200 << 10},
		// A 16 KiB SO_SNDBUF on the server cuts its writes short (EAGAIN,
		// then EPOLLOUT); the client's choppy writes cut its reads. Only
		// the server's send buffer is shrunk: with 16 KiB receive buffers
		// too, about one run in a hundred stalled for many seconds in the
		// kernel, not in the loop. ss(8) showed the server's socket full
		// (its unsent bytes waiting), its loop rightly waiting for
		// EPOLLOUT, the client's reader waiting on an empty socket, and
		// both ends retransmitting or probing with a backoff of 13 s. A
		// receive buffer smaller than loopback's 64 KiB segment makes TCP
		// drop segments it has advertised room for; no real client has
		// one. It looked like a lost wake-up in the loop, and was not.
		{"tiny socket buffers", Config{Loops: 2, SendBuffer: 16384}, true, 0, 4, 1000, 100 << 10},
		{"tiny read buffer", Config{Loops: 1, ReadBufferSize: 512, MaxInFlight: 3}, true, 4096, 3, 1000, 20 << 10},
		// Frames above 4 MiB read into pooled buffers (package bufpool).
		{"large frames", Config{Loops: 2}, false, 0, 2, 60, 12 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(echo(tt.async))
			_, addr := startServer(t, tt.cfg, h)
			var wg sync.WaitGroup
			errs := make(chan error, 2*tt.conns)
			for ci := range tt.conns {
				c := dialBuffers(t, addr, tt.bufSize, 0)
				seed := uint64(ci)
				wg.Add(2)
				go func() {
					defer wg.Done()
					sendFrames(c, seed, tt.frames, tt.maxSize, errs)
				}()
				go func() {
					defer wg.Done()
					checkReplies(c, seed, tt.frames, tt.maxSize, 1024, errs, func(frame []byte) []byte { return frame }, nil)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// checkReplies reads the replies to the n frames sendFrames wrote with the
// same seed and maxSize, through a reader of bufSize, each to be
// reply(frame), in order; the first that is not goes to errs, with
// detail(got) after its size when detail is not nil.
func checkReplies(r io.Reader, seed uint64, n, maxSize, bufSize int, errs chan<- error, reply func(frame []byte) []byte, detail func(got []byte) string) {
	frames := rand.New(rand.NewPCG(seed, 1))
	br := bufio.NewReaderSize(r, bufSize)
	for i := range n {
		want := reply(testFrame(frames, i, maxSize))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil {
			errs <- fmt.Errorf("reply %d: %w", i, err)
			return
		}
		if !bytes.Equal(got, want) {
			more := ""
			if detail != nil {
				more = detail(got)
			}
			errs <- fmt.Errorf("reply %d differs (%d bytes%s)", i, len(want), more)
			return
		}
	}
}

// patternFile is a file of size bytes, byte i being i*step, opened for
// reading (closed when the test ends), and its content.
func patternFile(t *testing.T, size, step int) (*os.File, []byte) {
	t.Helper()
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i * step)
	}
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, content
}

// TestFileRanges answers each frame (an offset and a length into a file)
// with bytes, that file range and bytes again, finished out of order, through
// small socket buffers so that sendfile and writev are cut short.
func TestFileRanges(t *testing.T) {
	f, content := patternFile(t, 1<<20, 7)
	var released atomic.Int64
	h := newTestHandler(func(c *Conn, frame []byte) {
		off, n := int64(binary.BigEndian.Uint32(frame)), int64(binary.BigEndian.Uint32(frame[4:]))
		r := c.NewReply()
		go func() {
			// A random delay, so that replies finish out of order.
			time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
			r.AddBytes(binary.BigEndian.AppendUint32(nil, uint32(n+2)))
			r.AddBytes([]byte{'<'})
			r.AddFile(f, off, n)
			r.AddBytes([]byte{'>'})
			r.Finish(func() { released.Add(1) })
		}()
	})
	_, addr := startServer(t, Config{Loops: 2, SendBuffer: 16384}, h)
	c := dial(t, addr, 16384)
	const requests = 300
	rng := rand.New(rand.NewPCG(3, 3))
	type req struct{ off, n int64 }
	reqs := make([]req, requests)
	for i := range reqs {
		n := rng.Int64N(200 << 10)
		reqs[i] = req{rng.Int64N(int64(len(content)) - n), n}
	}
	go func() {
		for _, r := range reqs {
			b := binary.BigEndian.AppendUint32(nil, 8)
			b = binary.BigEndian.AppendUint32(b, uint32(r.off))
			c.Write(binary.BigEndian.AppendUint32(b, uint32(r.n)))
		}
	}()
	br := bufio.NewReader(c)
	for i, r := range reqs {
		got := make([]byte, 4+r.n+2)
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		want := binary.BigEndian.AppendUint32(nil, uint32(r.n+2))
		want = append(append(append(want, '<'), content[r.off:r.off+r.n]...), '>')
		if !bytes.Equal(got, want) {
			t.Fatalf("reply %d (%d bytes of the file at %d) differs", i, r.n, r.off)
		}
	}
	// The loop releases a reply after its last byte is written, which may
	// be a moment after the client has read it.
	wait.Until(t, 5*time.Second, fmt.Sprint(requests, " replies released"), func() bool { return released.Load() == requests })
}

func TestBadFrameSizeCloses(t *testing.T) {
	for _, size := range []uint32{1<<20 + 1, 0x80000000, 0xffffffff} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			h := newTestHandler(echo(false))
			_, addr := startServer(t, Config{Loops: 1, MaxFrameSize: 1 << 20}, h)
			c := dial(t, addr, 0)
			c.Write(binary.BigEndian.AppendUint32(nil, size))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("read %d bytes, %v; want EOF", n, err)
			}
			if errs := h.waitClosed(t, 1); !errors.Is(errs[0], ErrFrameTooLarge) {
				t.Fatalf("OnClose error %v, want ErrFrameTooLarge", errs[0])
			}
		})
	}
}

// TestSlowReaderBoundedMemory sends requests whose replies are large and
// never reads them: the server must stop reading once MaxQueuedBytes of
// replies wait, then catch up when the client reads.
func TestSlowReaderBoundedMemory(t *testing.T) {
	const replySize = 64 << 10
	const maxQueued = 1 << 20
	reply := make([]byte, replySize)
	binary.BigEndian.PutUint32(reply, replySize-4)
	h := newTestHandler(func(c *Conn, frame []byte) {
		r := c.NewReply()
		r.AddBytes(reply)
		r.Finish(nil)
	})
	_, addr := startServer(t, Config{Loops: 1, MaxQueuedBytes: maxQueued, MaxInFlight: 100000, SendBuffer: 16384}, h)
	c := dial(t, addr, 16384)
	const requests = 5000
	go func() {
		req := binary.BigEndian.AppendUint32(nil, 6)
		req = append(req, "hello!"...)
		for range requests {
			if _, err := c.Write(req); err != nil {
				return
			}
		}
	}()
	// Wait until the server stops dispatching: no count stays still for
	// 200 ms while it reads. The pause is real time on purpose: the
	// property is that nothing more happens, and a pause cut short by a
	// slow machine can only make the count smaller, never fail the test.
	wait.Until(t, 10*time.Second, "a first frame", func() bool { return h.frames.Load() > 0 })
	var last int64 = -1
	for n := h.frames.Load(); n != last; n = h.frames.Load() {
		last = n
		time.Sleep(200 * time.Millisecond)
	}
	// Queued replies, plus what the socket buffers hold (the kernel may
	// double SO_SNDBUF and the client's receive window may grow).
	limit := int64((maxQueued + replySize + 1<<20) / replySize)
	t.Logf("%d frames dispatched while the client did not read (limit %d; %d MiB of replies had it read them all)", last, limit, requests*replySize>>20)
	if last > limit || last == 0 {
		t.Fatalf("%d frames dispatched to a client that reads nothing, want 1..%d", last, limit)
	}
	br := bufio.NewReader(c)
	buf := make([]byte, replySize)
	for i := range requests {
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
}

// TestShutdownWithConnectionsOpen: Close answers the requests already
// dispatched, closes idle connections at once and waits for the rest.
func TestShutdownWithConnectionsOpen(t *testing.T) {
	var mu sync.Mutex
	var held []*Reply
	h := newTestHandler(func(c *Conn, frame []byte) {
		r := c.NewReply()
		r.AddBytes(binary.BigEndian.AppendUint32(nil, 0))
		mu.Lock()
		held = append(held, r)
		mu.Unlock()
	})
	s, addr := startServer(t, Config{Loops: 2}, h)
	const busy, idle = 5, 3
	var conns []*net.TCPConn
	for range busy + idle {
		conns = append(conns, dial(t, addr, 0))
	}
	for _, c := range conns[:busy] {
		c.Write(binary.BigEndian.AppendUint32(nil, 0))
	}
	wait.Until(t, 10*time.Second, "every connection opened and each busy one's frame", func() bool {
		return h.frames.Load() >= busy && h.opened.Load() >= busy+idle
	})
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	for _, c := range conns[busy:] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("idle connection: %v, want EOF", err)
		}
	}
	select {
	case <-closed:
		t.Fatal("Close returned with replies unfinished")
	case <-time.After(50 * time.Millisecond):
	}
	mu.Lock()
	for _, r := range held {
		r.Finish(nil)
	}
	mu.Unlock()
	for _, c := range conns[:busy] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || len(got) != 4 {
			t.Fatalf("busy connection got %d bytes, %v; want its 4-byte reply, then EOF", len(got), err)
		}
	}
	<-closed
	for _, err := range h.waitClosed(t, busy+idle) {
		if err != nil {
			t.Errorf("OnClose error %v, want nil", err)
		}
	}
}

// TestCloseReleasesUnfinished: a connection closed with a reply pending
// releases it when it finishes, and only then calls OnClose.
func TestCloseReleasesUnfinished(t *testing.T) {
	replies := make(chan *Reply, 1)
	conns := make(chan *Conn, 1)
	h := newTestHandler(func(c *Conn, frame []byte) {
		replies <- c.NewReply()
		conns <- c
		c.Close()
	})
	_, addr := startServer(t, Config{Loops: 1}, h)
	c := dial(t, addr, 0)
	c.Write(binary.BigEndian.AppendUint32(nil, 0))
	r := <-replies
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	// The loop has closed the socket; once it is past that, only the
	// reply's Finish can call OnClose.
	onLoop(t, <-conns, func() {})
	select {
	case <-h.closedCh:
		t.Fatal("OnClose before the pending reply was finished")
	default:
	}
	released := make(chan struct{})
	r.AddBytes([]byte("never written"))
	r.Finish(func() { close(released) })
	<-released
	if errs := h.waitClosed(t, 1); !errors.Is(errs[0], ErrClosed) {
		t.Fatalf("OnClose error %v, want ErrClosed", errs[0])
	}
}

func TestIdleTimeout(t *testing.T) {
	h := newTestHandler(echo(false))
	_, addr := startServer(t, Config{Loops: 1, IdleTimeout: 100 * time.Millisecond}, h)
	start := time.Now() // before dialing: the server's idle clock starts at accept, which dial waits for
	c := dial(t, addr, 0)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read: %v, want EOF", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
	if errs := h.waitClosed(t, 1); !errors.Is(errs[0], ErrIdleTimeout) {
		t.Fatalf("OnClose error %v, want ErrIdleTimeout", errs[0])
	}
}

// TestHalfClose: a client that shuts its side after its requests still
// gets every reply, then EOF.
func TestHalfClose(t *testing.T) {
	h := newTestHandler(echo(true))
	_, addr := startServer(t, Config{Loops: 1}, h)
	c := dial(t, addr, 0)
	rng := rand.New(rand.NewPCG(5, 5))
	var want []byte
	for i := range 200 {
		want = append(want, testFrame(rng, i, 100<<10)...)
	}
	go func() {
		c.Write(want)
		c.CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes (%v), want the %d sent", len(got), err, len(want))
	}
	if errs := h.waitClosed(t, 1); errs[0] != nil {
		t.Fatalf("OnClose error %v, want nil", errs[0])
	}
}

// TestHold: a frame whose handler holds the connection and answers from
// another goroutine is handled before the frames after it, which were
// already read, and every reply comes back in order.
func TestHold(t *testing.T) {
	var mu sync.Mutex
	var handled []uint64 // frame indexes, in the order their handling ended
	record := func(i uint64) {
		mu.Lock()
		handled = append(handled, i)
		mu.Unlock()
	}
	reply := func(c *Conn, frame []byte) *Reply {
		r := c.NewReply()
		r.AddBytes(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
		r.AddBytes(bytes.Clone(frame))
		return r
	}
	h := newTestHandler(func(c *Conn, frame []byte) {
		i := binary.BigEndian.Uint64(frame)
		if i%4 != 1 { // frames 1, 5, 9, ... block
			record(i)
			reply(c, frame).Finish(nil)
			return
		}
		c.Hold()
		r := reply(c, frame)
		go func() {
			// Answer late: the frames after this one are read and
			// wait, which is what the test is about.
			time.Sleep(5 * time.Millisecond)
			record(i)
			r.Finish(nil)
			c.Unhold()
		}()
	})
	_, addr := startServer(t, Config{Loops: 1}, h)
	c := dial(t, addr, 0)
	rng := rand.New(rand.NewPCG(7, 7))
	var want []byte
	const frames = 40
	for i := range frames {
		want = append(want, testFrame(rng, i, 1<<10)...)
	}
	go c.Write(want) // all at once: the frames after a held one are already read
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("replies differ from the requests (%v)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, idx := range handled {
		if idx != uint64(i) {
			t.Fatalf("handled in the order %v, want 0 to %d", handled, frames-1)
		}
	}
}

// TestKeepFrameLarge: handlers keep large frames and answer from other
// goroutines after a while, then give the buffers back, while the loop
// reads the next large frames; every reply must still be its frame.
func TestKeepFrameLarge(t *testing.T) {
	h := newTestHandler(func(c *Conn, frame []byte) {
		release := c.KeepFrame()
		r := c.NewReply()
		go func() {
			// Keep the frame a while, as a slow handler does, while
			// the loop reads the next ones.
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			r.AddBytes(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
			r.AddBytes(bytes.Clone(frame))
			r.Finish(nil)
			release()
		}()
	})
	_, addr := startServer(t, Config{Loops: 2}, h)
	var wg sync.WaitGroup
	for ci := range 2 {
		c := dial(t, addr, 0)
		rng := rand.New(rand.NewPCG(uint64(ci), 9))
		var want []byte
		for i := range 30 {
			b := make([]byte, 4+(1<<20)+rng.IntN(5<<20)) // above maxPooledInput
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			binary.BigEndian.PutUint64(b[4:], uint64(i))
			for j := 12; j < len(b); j += 4096 {
				b[j] = byte(rng.Uint32())
			}
			want = append(want, b...)
		}
		wg.Go(func() {
			go c.Write(want)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
				t.Errorf("connection %d: replies differ from the frames (%v)", ci, err)
			}
		})
	}
	wg.Wait()
}

// TestSlowLargeFrameBoundedMemory: clients that announce a 90 MiB frame
// and send 1,000 bytes of it hold about that much server memory, not
// 90 MiB each, beyond the MaxBufferAhead they share (one frame's 128 MiB
// buffer here); once they send the rest, the frames are answered whole.
func TestSlowLargeFrameBoundedMemory(t *testing.T) {
	h := newTestHandler(echo(false))
	const ahead = 128 << 20
	h.track = true // to ask each connection's loop what it has read
	_, addr := startServer(t, Config{Loops: 1, MaxBufferAhead: ahead}, h)
	const conns, size, sent = 8, 90 << 20, 1000
	before := netpolltest.HeapInUse()
	cs := make([]*net.TCPConn, conns)
	for i := range cs {
		cs[i] = dial(t, addr, 0)
		if _, err := cs[i].Write(append(binary.BigEndian.AppendUint32(nil, size), make([]byte, sent)...)); err != nil {
			t.Fatal(err)
		}
	}
	wait.Until(t, 10*time.Second, "the loop to read what each connection sent", func() bool {
		h.mu.Lock()
		conns := slices.Clone(h.conns)
		h.mu.Unlock()
		if len(conns) < len(cs) {
			return false
		}
		for _, c := range conns {
			if buffered(t, c) < 4+sent {
				return false
			}
		}
		return true
	})
	grown := (float64(netpolltest.HeapInUse()) - float64(before) - ahead) / conns
	t.Logf("%d connections that sent %d bytes of a %d MiB frame: %.0f bytes of heap each beyond MaxBufferAhead", conns, sent, size>>20, grown)
	if grown > 1<<20 {
		t.Fatalf("a connection that sent %d bytes of a frame holds %.0f bytes of heap", sent, grown)
	}
	rest := make([]byte, size-sent)
	for i, c := range cs {
		go c.Write(rest)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got := make([]byte, 4+size)
		if _, err := io.ReadFull(c, got); err != nil || binary.BigEndian.Uint32(got) != size {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
}

// TestIdleConnectionsMemory opens many idle connections from a child
// process (so that the heap measured is the server's alone, and the file
// descriptors are split between two processes) and reports what each costs.
func TestIdleConnectionsMemory(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	h := newTestHandler(echo(false))
	_, addr := startServer(t, Config{}, h)
	before := netpolltest.HeapInUse()
	netpolltest.HoldIdle(t, "TestHelperDialer", addr, n, func() int { return int(h.opened.Load()) })
	after := netpolltest.HeapInUse()
	start := time.Now()
	runtime.GC()
	gc := time.Since(start)
	perConn := (float64(after) - float64(before)) / float64(n)
	t.Logf("%d idle connections: %.0f bytes of heap each, GC with them open %v", n, perConn, gc)
	if perConn > 2048 {
		t.Errorf("an idle connection costs %.0f bytes of heap, want under 2 KiB", perConn)
	}
}

// TestHelperDialer is the child process of TestIdleConnectionsMemory.
func TestHelperDialer(t *testing.T) { netpolltest.ChildMain(t) }
