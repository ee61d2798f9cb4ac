package netpoll

import (
	"errors"
	"log/slog"
	"runtime"
	"time"
)

// Handler is what a Server calls. OnOpen, OnFrame and OnClose run on the
// connection's loop goroutine, one at a time per loop: they must not block
// (a reply that has to wait is reserved with Conn.NewReply and finished
// later from another goroutine).
type Handler interface {
	// OnOpen is called once, before any frame of c.
	OnOpen(c *Conn)
	// OnFrame is called for each request frame in the order they arrive.
	// frame is the body without its 4-byte size. It is valid only until
	// OnFrame returns, unless OnFrame calls c.KeepFrame.
	OnFrame(c *Conn, frame []byte)
	// OnClose is called once, after the socket is closed and every reply
	// reserved on c has been finished and released. err is nil when the
	// peer closed or Shutdown or Server.Close ended the connection cleanly.
	OnClose(c *Conn, err error)
}

// Config sets a Server's limits. Zero fields take the defaults below.
type Config struct {
	// Loops is the number of event loops (default runtime.NumCPU()).
	Loops int
	// MaxFrameSize closes a connection that announces a larger frame,
	// before anything is allocated for it (default 100 MiB).
	MaxFrameSize int32
	// MaxInFlight is how many replies one connection may have reserved and
	// not yet written before its requests stop being read (default 100).
	MaxInFlight int
	// MaxQueuedBytes is how many bytes of finished replies (byte pieces;
	// file ranges hold no memory) may wait for a slow reader before its
	// requests stop being read (default 4 MiB).
	MaxQueuedBytes int
	// IdleTimeout closes a connection that has nothing in flight and has
	// sent no frame for this long (0 = never).
	IdleTimeout time.Duration
	// MaxBufferAhead is how many bytes of buffers, across the server, frames
	// larger than the loop's read buffer may be given at their full size
	// before their bytes arrive, so that they are read without a copy. A
	// frame past it, when no pooled buffer is free, gets a buffer that
	// grows with its bytes (doubling, with a copy each time), so that a
	// client announcing large frames and sending slowly holds no more than
	// twice what it sent (default 256 MiB; negative: none).
	MaxBufferAhead int64
	// ReadBufferSize is each loop's shared read buffer (default 64 KiB).
	// A connection holds a buffer of its own only while a frame is
	// partially read, so idle connections cost no buffer memory.
	ReadBufferSize int
	// SendBuffer and RecvBuffer set SO_SNDBUF and SO_RCVBUF on accepted
	// sockets when positive (tests use tiny ones).
	SendBuffer, RecvBuffer int
	// Logger gets accept errors; nil is slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Loops <= 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = 100 << 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 100
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = 4 << 20
	}
	if c.MaxBufferAhead == 0 {
		c.MaxBufferAhead = 256 << 20
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

var (
	// ErrUnsupported is returned by NewServer where there is no epoll.
	ErrUnsupported = errors.New("netpoll: not supported on this platform")
	// ErrServerClosed is returned by Serve once Close has been called.
	ErrServerClosed = errors.New("netpoll: server closed")
	// ErrFrameTooLarge ends a connection whose frame exceeds MaxFrameSize.
	ErrFrameTooLarge = errors.New("netpoll: frame too large")
	// ErrIdleTimeout ends a connection idle for longer than IdleTimeout.
	ErrIdleTimeout = errors.New("netpoll: idle timeout")
	// ErrClosed ends a connection closed with Conn.Close.
	ErrClosed = errors.New("netpoll: connection closed")
)
