//go:build linux

package netpoll

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"runnel/internal/wait"
)

// The direct path: a reply of bytes finished off the loop, next in order,
// is written by the goroutine that finished it (Reply.Finish, writeDirect).

// mixedHandler answers frame i of a connection (its index in its first 8
// bytes) with its own bytes, finished in one of several ways by i: on the
// loop in OnFrame, by a goroutine of its own after a random delay, by one
// of a few shared finisher goroutines (so several finish at once), or with
// a file range in the middle (which only the loop writes). Replies finish
// out of order; the client checks they arrive in order.
type mixedHandler struct {
	*testHandler
	file     *os.File
	content  []byte
	work     []chan func()
	reserved atomic.Int64
	released atomic.Int64
}

func newMixedHandler(t *testing.T) *mixedHandler {
	f, content := patternFile(t, 64<<10, 13)
	h := &mixedHandler{file: f, content: content}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	for range 4 {
		ch := make(chan func(), 64)
		h.work = append(h.work, ch)
		go func() {
			for {
				select {
				case fn := <-ch:
					fn()
				case <-done:
					return
				}
			}
		}()
	}
	h.testHandler = newTestHandler(h.onFrame)
	return h
}

// mixedReply is what mixedHandler answers to frame (with its size field):
// the frame itself, framed, with the file's first n bytes after the size
// when its index is 7 modulo 8, n from the frame's length.
func mixedReply(frame []byte, content []byte) []byte {
	body := frame[4:]
	i := binary.BigEndian.Uint64(body)
	var file []byte
	if i%8 == 7 {
		file = content[:len(body)%len(content)]
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(file)+len(body)))
	out = append(out, file...)
	return append(out, body...)
}

func (h *mixedHandler) onFrame(c *Conn, frame []byte) {
	i := binary.BigEndian.Uint64(frame)
	body := bytes.Clone(frame)
	r := c.NewReply()
	h.reserved.Add(1)
	finish := func() {
		if i%8 == 7 {
			n := len(body) % len(h.content)
			r.AddBytes(binary.BigEndian.AppendUint32(nil, uint32(n+len(body))))
			r.AddFile(h.file, 0, int64(n))
		} else {
			r.AddBytes(binary.BigEndian.AppendUint32(nil, uint32(len(body))))
		}
		r.AddBytes(body)
		r.Finish(func() { h.released.Add(1) })
	}
	switch i % 8 {
	case 0:
		finish() // on the loop
	case 1, 2, 3:
		h.work[rand.IntN(len(h.work))] <- finish
	default:
		go func() {
			if d := rand.IntN(60); d > 0 {
				time.Sleep(time.Duration(d) * time.Microsecond)
			}
			finish()
		}()
	}
}

// TestDirectWriteOrder pipelines frames on several connections whose
// replies finish out of order on many goroutines at once, most of them
// written by their finishers, and checks every reply arrives whole and in
// request order, and each is released. A direct write that jumped the queue
// (writing a finished reply while one reserved before it was unfinished)
// fails it.
func TestDirectWriteOrder(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		conns   int
		frames  int
		maxSize int
	}{
		{"default buffers", Config{Loops: 2}, 4, 3000, 8 << 10},
		// The server's writes are cut short (EAGAIN, then EPOLLOUT), so
		// replies finish while the loop is part-way through writing, and
		// direct writes are partial and left to the loop.
		{"tiny send buffer", Config{Loops: 2, SendBuffer: 16384}, 4, 1500, 100 << 10},
		{"one loop", Config{Loops: 1, MaxInFlight: 5}, 3, 2000, 4 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newMixedHandler(t)
			s, addr := startServer(t, tt.cfg, h)
			var wg sync.WaitGroup
			errs := make(chan error, 2*tt.conns)
			for ci := range tt.conns {
				c := dial(t, addr, 0)
				c.SetDeadline(time.Now().Add(30 * time.Second)) // a reply out of order garbles the framing: fail, not hang
				seed := uint64(ci)
				wg.Add(2)
				go func() {
					defer wg.Done()
					sendFrames(c, seed, tt.frames, tt.maxSize, errs)
				}()
				go func() {
					defer wg.Done()
					checkReplies(c, seed, tt.frames, tt.maxSize, 4096, errs,
						func(frame []byte) []byte { return mixedReply(frame, h.content) },
						func(got []byte) string { return fmt.Sprintf("; index %d in it", binary.BigEndian.Uint64(got[4:])) })
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			total := int64(tt.conns * tt.frames)
			wait.Until(t, 5*time.Second, fmt.Sprint(total, " replies released"), func() bool { return h.released.Load() == total })
			if n := s.directWrites.Load(); n == 0 {
				t.Error("no reply was written by its finisher")
			} else {
				t.Logf("%d direct writes for %d replies", n, total)
			}
		})
	}
}

// TestDirectWritePartial finishes large byte replies off the loop while
// the client does not read: the direct writes fill the socket, leave the
// rest to the loop (EPOLLOUT), and the replies still arrive whole and in
// order once the client reads.
func TestDirectWritePartial(t *testing.T) {
	const replies, size = 40, 300 << 10
	var released atomic.Int64
	h := newTestHandler(func(c *Conn, frame []byte) {
		i := binary.BigEndian.Uint64(frame)
		r := c.NewReply()
		go func() {
			out := make([]byte, 4+size)
			binary.BigEndian.PutUint32(out, size)
			for j := 4; j < len(out); j++ {
				out[j] = byte(int(i) + j)
			}
			r.AddBytes(out[:4])
			r.AddBytes(out[4:])
			r.Finish(func() { released.Add(1) })
		}()
	})
	s, addr := startServer(t, Config{Loops: 1, SendBuffer: 32 << 10, MaxQueuedBytes: 64 << 20}, h)
	c := dialBuffers(t, addr, 0, 64<<10)
	for i := range replies {
		b := binary.BigEndian.AppendUint32(nil, 8)
		if _, err := c.Write(binary.BigEndian.AppendUint64(b, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the finishers fill the socket meanwhile
	if n := released.Load(); n >= replies {
		t.Fatalf("all %d replies released before the client read: the socket took %d bytes", n, n*size)
	}
	br := bufio.NewReader(c)
	got := make([]byte, 4+size)
	for i := range replies {
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		for j := 4; j < len(got); j++ {
			if got[j] != byte(i+j) {
				t.Fatalf("reply %d differs at byte %d", i, j)
			}
		}
	}
	wait.Until(t, 5*time.Second, "replies released", func() bool { return released.Load() == replies })
	if s.directWrites.Load() == 0 {
		t.Error("no direct write")
	}
}

// TestDirectWriteClose closes connections (Conn.Close from another
// goroutine, and the client resetting) while their replies are being
// finished and written by many goroutines: OnClose runs once per
// connection, after every reply it reserved was released, and nothing
// races (run with -race).
func TestDirectWriteClose(t *testing.T) {
	type state struct{ reserved, released atomic.Int64 }
	var bad atomic.Int64
	h := newTestHandler(func(c *Conn, frame []byte) {
		st := c.Context().(*state)
		i := binary.BigEndian.Uint64(frame)
		r := c.NewReply()
		st.reserved.Add(1)
		go func() {
			time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
			r.AddBytes(binary.BigEndian.AppendUint32(nil, 8))
			r.AddBytes(binary.BigEndian.AppendUint64(nil, i))
			r.Finish(func() { st.released.Add(1) })
			if i == 150 {
				c.Close()
			}
		}()
	})
	closing := &closeChecker{testHandler: h, bad: &bad, check: func(c *Conn) bool {
		st := c.Context().(*state)
		return st.reserved.Load() == st.released.Load()
	}, open: func(c *Conn) { c.SetContext(new(state)) }}
	_, addr := startServer(t, Config{Loops: 2}, closing)
	const conns = 16
	var wg sync.WaitGroup
	for ci := range conns {
		c := dial(t, addr, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			go io.Copy(io.Discard, c)
			for i := range 300 {
				b := binary.BigEndian.AppendUint32(nil, 8)
				if _, err := c.Write(binary.BigEndian.AppendUint64(b, uint64(i))); err != nil {
					return // closed by the server
				}
				if ci%2 == 1 && i == 100 {
					c.SetLinger(0)
					c.Close() // a reset while replies are finishing
					return
				}
			}
		}()
	}
	wg.Wait()
	h.waitClosed(t, conns)
	if n := bad.Load(); n > 0 {
		t.Errorf("%d connections' OnClose ran before all their replies were released", n)
	}
}

// closeChecker counts the OnClose calls for which check fails.
type closeChecker struct {
	*testHandler
	bad   *atomic.Int64
	check func(c *Conn) bool
	open  func(c *Conn)
}

func (h *closeChecker) OnOpen(c *Conn) {
	h.open(c)
	h.testHandler.OnOpen(c)
}

func (h *closeChecker) OnClose(c *Conn, err error) {
	if !h.check(c) {
		h.bad.Add(1)
	}
	h.testHandler.OnClose(c, err)
}

// TestDirectWriteAfterClose finishes a reply of a connection that the
// loop has closed, after another connection has taken its descriptor's
// number: the late reply must not be written (to the new connection).
func TestDirectWriteAfterClose(t *testing.T) {
	late := make(chan *Reply, 1)
	fds := make(chan int, 2)
	h := newTestHandler(func(c *Conn, frame []byte) {
		r := c.NewReply()
		if string(frame) != "third" {
			fds <- c.fd
		}
		if string(frame) == "first" {
			late <- r
			c.Close()
			return
		}
		r.AddBytes(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
		r.AddBytes(bytes.Clone(frame))
		r.Finish(nil)
	})
	_, addr := startServer(t, Config{Loops: 1}, h)
	send := func(c io.Writer, s string) {
		c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...))
	}
	// The second connection's socket is made first, so that the server's
	// accept takes the number the first one's close frees.
	b := rawSocket(t)
	a := dial(t, addr, 0)
	send(a, "first")
	r := <-late
	if _, err := io.ReadAll(a); err != nil { // the loop closed it
		t.Fatal(err)
	}
	b.connect(t, addr)
	send(b, "second")
	br := bufio.NewReader(b)
	got := make([]byte, 4+len("second"))
	if _, err := io.ReadFull(br, got); err != nil || string(got[4:]) != "second" {
		t.Fatalf("second connection's reply %q, %v", got, err)
	}
	if fa, fb := <-fds, <-fds; fa != fb {
		t.Logf("the second connection has descriptor %d, not the first's %d", fb, fa)
	}
	released := make(chan struct{})
	r.AddBytes([]byte("stray bytes of a closed connection"))
	r.Finish(func() { close(released) })
	<-released
	send(b, "third")
	if _, err := io.ReadFull(br, got[:4+len("third")]); err != nil || string(got[4:4+len("third")]) != "third" {
		t.Fatalf("after the closed connection's late reply, the new one read %q, %v", got[:4+len("third")], err)
	}
	h.waitClosed(t, 1)
}

// rawFD is a blocking TCP socket made before it connects.
type rawFD int

func rawSocket(t *testing.T) rawFD {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return rawFD(fd)
}

func (fd rawFD) connect(t *testing.T, addr string) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sa := &unix.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := unix.Connect(int(fd), sa); err != nil {
		t.Fatal(err)
	}
}

func (fd rawFD) Read(b []byte) (int, error) {
	n, err := unix.Read(int(fd), b)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return max(n, 0), err
}

func (fd rawFD) Write(b []byte) (int, error) {
	n, err := unix.Write(int(fd), b)
	return max(n, 0), err
}
