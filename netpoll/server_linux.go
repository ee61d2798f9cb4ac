//go:build linux

package netpoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What an epoll event's data names: the Fd field carries the descriptor,
// the Pad field one of these kinds.
const (
	kindConn int32 = iota
	kindListener
	kindWake
)

// connEvents is what a connection is registered for, once, edge-triggered:
// readable, writable (after a write hit EAGAIN) and the peer's shutdown.
const connEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// Supported says whether NewServer works on this platform.
const Supported = true

// acceptRetryDelay is how long accepting pauses after EMFILE and the like.
const acceptRetryDelay = 100 * time.Millisecond

// Server runs event loops that own their connections: each connection is
// read, framed, dispatched and written by one loop goroutine.
type Server struct {
	cfg   Config
	h     Handler
	loops []*loop

	closing atomic.Bool // set once by Close; new connections are shut down at once
	mu      sync.Mutex  // guards open and closeStarted
	open    int         // connections accepted whose OnClose has not yet run
	drained *sync.Cond  // signalled when open drops to zero
	started bool        // Close has started
	stopped chan struct{}
	loopsWG sync.WaitGroup

	ahead atomic.Int64 // bytes of frame buffers given ahead of their bytes (Config.MaxBufferAhead)

	directWrites atomic.Int64 // writes made by Reply.Finish (writeDirect), for tests
}

// NewServer starts cfg.Loops event loops that call h. Serve hands them
// listeners; Close stops them.
func NewServer(cfg Config, h Handler) (*Server, error) {
	s := &Server{cfg: cfg.withDefaults(), h: h, stopped: make(chan struct{})}
	s.drained = sync.NewCond(&s.mu)
	for i := range s.cfg.Loops {
		l, err := newLoop(s, i)
		if err != nil {
			for _, l := range s.loops {
				l.closeFDs()
			}
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	for _, l := range s.loops {
		s.loopsWG.Add(1)
		go func() {
			defer s.loopsWG.Done()
			l.run()
		}()
	}
	return s, nil
}

// listener is a listening socket, accepted from by loop 0 only.
type listener struct {
	fd   int
	done chan error // Serve's result
}

// Serve accepts connections from ln (a TCP listener) until Close, and
// returns ErrServerClosed then, or the error that stopped accepting. The
// server accepts from its own duplicate of ln's descriptor, so closing ln
// does not stop it: Close does.
func (s *Server) Serve(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("netpoll: %T is not a socket listener", ln)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("netpoll: %w", err)
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(lfd uintptr) {
		fd, dupErr = unix.FcntlInt(lfd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return fmt.Errorf("netpoll: %w", err)
	}
	if dupErr != nil {
		return fmt.Errorf("netpoll: dup listener: %w", dupErr)
	}
	// O_NONBLOCK is shared with ln's descriptor, which Go already set;
	// say it anyway rather than rely on it.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("netpoll: %w", err)
	}
	lst := &listener{fd: fd, done: make(chan error, 1)}
	l := s.loops[0]
	if !l.post(func() { l.addListener(lst) }) || s.closing.Load() {
		// Close ran or is running: the loop may never see lst.
		if !l.post(func() { l.removeListener(lst, ErrServerClosed) }) {
			unix.Close(fd)
			return ErrServerClosed
		}
	}
	return <-lst.done
}

// Close stops accepting, shuts every connection down gracefully (no more
// requests are read; replies already reserved are finished, written and
// released), waits for all of them to close and stops the loops. Calling
// Conn.Close meanwhile ends a connection without waiting for its writes.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		<-s.stopped
		return nil
	}
	s.started = true
	s.closing.Store(true)
	s.mu.Unlock()

	l0 := s.loops[0]
	l0.post(func() {
		for _, lst := range l0.listeners {
			l0.removeListener(lst, ErrServerClosed)
		}
	})
	for _, l := range s.loops {
		l.post(func() {
			for _, c := range l.conns {
				l.shutdownConn(c)
			}
		})
	}
	s.mu.Lock()
	for s.open > 0 {
		s.drained.Wait()
	}
	s.mu.Unlock()
	for _, l := range s.loops {
		l.post(func() { l.stopping = true })
	}
	s.loopsWG.Wait()
	for _, l := range s.loops {
		l.closeFDs()
	}
	close(s.stopped)
	return nil
}

// leastLoaded is the loop with the fewest connections, so that the work
// spreads over the loops even when connections come and go unevenly.
func (s *Server) leastLoaded() *loop {
	best := s.loops[0]
	for _, l := range s.loops[1:] {
		if l.connCount.Load() < best.connCount.Load() {
			best = l
		}
	}
	return best
}

func (s *Server) connOpened() {
	s.mu.Lock()
	s.open++
	s.mu.Unlock()
}

func (s *Server) connClosed() {
	s.mu.Lock()
	s.open--
	if s.open == 0 {
		s.drained.Broadcast()
	}
	s.mu.Unlock()
}

// loop is one event loop: an epoll instance, an eventfd to wake it, the
// connections it owns and the buffers it shares between them. Everything
// but the fields under mu is touched by the loop goroutine only.
type loop struct {
	s      *Server
	epfd   int
	wakefd int
	// epoll is epfd as a file registered with Go's netpoller, so that an
	// idle loop parks like any goroutine instead of blocking a thread and
	// its P in epoll_wait (see wait).
	epoll    *os.File
	epollRaw syscall.RawConn

	conns     map[int32]*Conn
	listeners map[int32]*listener
	events    []unix.EpollEvent
	buf       []byte       // shared read buffer
	iov       []unix.Iovec // writev scratch
	free      []*Reply     // replies to reuse
	// inputs[k] are free partial-frame buffers of 1<<k bytes (getInput),
	// cachedInput their total.
	inputs      [bits.UintSize][][]byte
	cachedInput int
	now         time.Time // when the current wake-up began
	stopping    bool

	nextSweep   time.Time // idle sweep
	acceptAfter time.Time // accepting paused until then (EMFILE)

	// connCount counts the loop's connections, for leastLoaded.
	connCount atomic.Int32

	// notified is true while the loop is awake or a wake-up is pending:
	// posters write to the eventfd only when they flip it, so wake-ups
	// coalesce.
	notified atomic.Bool

	mu       sync.Mutex
	dead     bool     // the loop has exited; posts are refused
	tasks    []func() // control work (new connections, Close, Shutdown)
	ready    []*Conn  // connections with replies newly finished
	tasks2   []func() // spare slices swapped with tasks and ready
	ready2   []*Conn
	wakeByte [8]byte
}

func newLoop(s *Server, i int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(wakefd), Pad: kindWake}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("netpoll: epoll_ctl eventfd: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil { // os.NewFile polls only non-blocking descriptors
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	epoll := os.NewFile(uintptr(epfd), "epoll")
	epollRaw, err := epoll.SyscallConn()
	if err != nil {
		epoll.Close()
		unix.Close(wakefd)
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	l := &loop{
		s:         s,
		epfd:      epfd,
		epoll:     epoll,
		epollRaw:  epollRaw,
		wakefd:    wakefd,
		conns:     map[int32]*Conn{},
		listeners: map[int32]*listener{},
		events:    make([]unix.EpollEvent, 256),
		buf:       make([]byte, s.cfg.ReadBufferSize),
		iov:       make([]unix.Iovec, 0, maxIovecs),
	}
	l.notified.Store(true) // awake until the first epoll_wait
	binary.NativeEndian.PutUint64(l.wakeByte[:], 1)
	return l, nil
}

func (l *loop) closeFDs() {
	l.epoll.Close() // and so epfd
	unix.Close(l.wakefd)
}

// post queues fn to run on the loop and wakes it. It returns false when
// the loop has exited (fn will never run).
func (l *loop) post(fn func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return false
	}
	l.tasks = append(l.tasks, fn)
	l.wakeLocked()
	return true
}

// markReady queues c for a flush of its newly finished replies.
func (l *loop) markReady(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return
	}
	l.ready = append(l.ready, c)
	l.wakeLocked()
}

// wakeLocked writes to the eventfd unless the loop is awake or already
// woken. It is called with mu held so that the loop cannot close the
// eventfd meanwhile.
func (l *loop) wakeLocked() {
	if l.notified.Swap(true) {
		return
	}
	for {
		_, err := unix.Write(l.wakefd, l.wakeByte[:])
		if err != unix.EINTR {
			return // EAGAIN: the counter is full, the loop is woken anyway
		}
	}
}

func (l *loop) run() {
	defer func() {
		l.mu.Lock()
		l.dead = true
		l.mu.Unlock()
	}()
	l.now = time.Now()
	for {
		l.drain() // clears notified: from here on posters wake the loop
		l.timers()
		if l.stopping {
			return
		}
		// Poll first, and yield once before blocking: a goroutine that
		// blocks in a system call costs a hand-off of its P and a wake-up
		// of another thread, and under load the next events are usually
		// ready by the time the other goroutines have run (produce and
		// fetch through the broker were slower without this;
		// BenchmarkTransport in package broker shows it).
		n, err := unix.EpollWait(l.epfd, l.events, 0)
		if n <= 0 {
			runtime.Gosched()
			n, err = l.wait()
		}
		if err != nil && err != unix.EINTR {
			l.s.cfg.Logger.Error("netpoll: epoll_wait failed", "err", err)
			time.Sleep(10 * time.Millisecond)
		}
		l.notified.Store(true)
		l.now = time.Now()
		for i := range max(n, 0) {
			ev := &l.events[i]
			switch ev.Pad {
			case kindConn:
				if c := l.conns[ev.Fd]; c != nil {
					l.connEvent(c, ev.Events)
				}
			case kindListener:
				if lst := l.listeners[ev.Fd]; lst != nil {
					l.accept(lst)
				}
			case kindWake:
				var b [8]byte
				unix.Read(l.wakefd, b[:])
			}
		}
	}
}

// wait waits for events, or for the next idle sweep or accept retry. It
// parks the loop's goroutine on Go's netpoller until epfd is readable
// rather than blocking in epoll_wait, which would hold a thread and its P
// until sysmon took the P back, leaving other goroutines (the clients,
// in a process that has them) without it meanwhile.
func (l *loop) wait() (n int, err error) {
	var next time.Time
	if l.s.cfg.IdleTimeout > 0 {
		next = l.nextSweep
	}
	if !l.acceptAfter.IsZero() && (next.IsZero() || l.acceptAfter.Before(next)) {
		next = l.acceptAfter
	}
	l.epoll.SetReadDeadline(next) // zero: none
	rerr := l.epollRaw.Read(func(fd uintptr) bool {
		n, err = unix.EpollWait(int(fd), l.events, 0)
		return n > 0 || (err != nil && err != unix.EINTR)
	})
	if errors.Is(rerr, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if rerr != nil && err == nil {
		err = rerr
	}
	return n, err
}

// drain runs posted tasks and flushes connections with finished replies
// until none are left, then lets posters wake the loop again.
func (l *loop) drain() {
	for {
		l.mu.Lock()
		tasks, ready := l.tasks, l.ready
		l.tasks, l.ready = l.tasks2[:0], l.ready2[:0]
		l.mu.Unlock()
		l.tasks2, l.ready2 = tasks, ready // for the next swap, once run
		if len(tasks) == 0 && len(ready) == 0 {
			l.notified.Store(false)
			l.mu.Lock()
			more := len(l.tasks) > 0 || len(l.ready) > 0
			l.mu.Unlock()
			if !more {
				return
			}
			l.notified.Store(true)
			continue
		}
		for i, fn := range tasks {
			fn()
			tasks[i] = nil
		}
		for i, c := range ready {
			c.readyQueued.Store(false)
			l.flush(c)
			ready[i] = nil
		}
	}
}

// timers closes idle connections and retries a paused accept.
func (l *loop) timers() {
	if idle := l.s.cfg.IdleTimeout; idle > 0 && !l.now.Before(l.nextSweep) {
		for _, c := range l.conns {
			if c.readClosed || l.now.Sub(c.lastActive) < idle {
				continue
			}
			c.wmu.Lock()
			n := c.inFlight()
			c.wmu.Unlock()
			if n == 0 {
				l.closeConn(c, ErrIdleTimeout)
			}
		}
		l.nextSweep = l.now.Add(min(max(idle/4, 10*time.Millisecond), time.Second))
	}
	if !l.acceptAfter.IsZero() && !l.now.Before(l.acceptAfter) {
		l.acceptAfter = time.Time{}
		for _, lst := range l.listeners {
			l.accept(lst)
		}
	}
}

func (l *loop) addListener(lst *listener) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(lst.fd), Pad: kindListener}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, lst.fd, &ev); err != nil {
		unix.Close(lst.fd)
		lst.done <- fmt.Errorf("netpoll: epoll_ctl listener: %w", err)
		return
	}
	l.listeners[int32(lst.fd)] = lst
	l.accept(lst) // connections that queued before registration
}

func (l *loop) removeListener(lst *listener, err error) {
	if l.listeners[int32(lst.fd)] != lst {
		return
	}
	delete(l.listeners, int32(lst.fd))
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, lst.fd, nil)
	unix.Close(lst.fd)
	lst.done <- err
}

// accept takes every pending connection off lst and hands each to the
// loop with the fewest.
func (l *loop) accept(lst *listener) {
	cfg := &l.s.cfg
	for l.acceptAfter.IsZero() {
		fd, sa, err := unix.Accept4(lst.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR, err == unix.ECONNABORTED:
			continue
		case err == unix.EMFILE, err == unix.ENFILE, err == unix.ENOBUFS, err == unix.ENOMEM:
			cfg.Logger.Warn("netpoll: accept failed; retrying", "err", err, "in", acceptRetryDelay)
			l.acceptAfter = l.now.Add(acceptRetryDelay)
			return
		default:
			l.removeListener(lst, fmt.Errorf("netpoll: accept: %w", err))
			return
		}
		if l.s.closing.Load() {
			unix.Close(fd)
			continue
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if cfg.SendBuffer > 0 {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.SendBuffer)
		}
		if cfg.RecvBuffer > 0 {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.RecvBuffer)
		}
		local, _ := unix.Getsockname(fd)
		target := l.s.leastLoaded()
		target.connCount.Add(1)
		c := &Conn{l: target, fd: fd, remote: tcpAddr(sa), local: tcpAddr(local)}
		l.s.connOpened()
		target.post(func() { target.open(c) })
	}
}

// open registers a new connection with this loop.
func (l *loop) open(c *Conn) {
	ev := unix.EpollEvent{Events: connEvents, Fd: int32(c.fd), Pad: kindConn}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		l.s.cfg.Logger.Warn("netpoll: epoll_ctl connection", "err", err)
		unix.Close(c.fd)
		l.connCount.Add(-1)
		l.s.connClosed()
		return
	}
	l.conns[int32(c.fd)] = c
	c.lastActive = l.now
	l.s.h.OnOpen(c)
	if l.s.closing.Load() {
		l.shutdownConn(c)
	}
	// Bytes that arrived before the registration are reported by epoll_ctl
	// itself (it polls the socket), so there is nothing to read here.
}

func tcpAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		addr := &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				addr.Zone = ifi.Name
			}
		}
		return addr
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return &net.TCPAddr{}
}

var errShortFile = errors.New("netpoll: file range past the end of the file")
