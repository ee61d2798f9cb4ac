//go:build !linux

package netpoll

import (
	"net"
	"os"
	"time"
)

// Supported says whether NewServer works on this platform.
const Supported = false

// Server is not available without epoll: NewServer returns ErrUnsupported.
type Server struct{}

// NewServer returns ErrUnsupported on this platform.
func NewServer(cfg Config, h Handler) (*Server, error) { return nil, ErrUnsupported }

// Serve returns ErrUnsupported.
func (s *Server) Serve(ln net.Listener) error { return ErrUnsupported }

// Close does nothing.
func (s *Server) Close() error { return nil }

// Conn is never created on this platform.
type Conn struct{}

func (c *Conn) RemoteAddr() net.Addr { return nil }
func (c *Conn) LocalAddr() net.Addr  { return nil }
func (c *Conn) SetContext(v any)     {}
func (c *Conn) Context() any         { return nil }
func (c *Conn) KeepFrame() func()    { return func() {} }
func (c *Conn) Shutdown()            {}
func (c *Conn) Close()               {}
func (c *Conn) Hold()                {}
func (c *Conn) Unhold()              {}
func (c *Conn) NewReply() *Reply     { return &Reply{} }
func (c *Conn) ReadTime() time.Time  { return time.Time{} }

// Reply is never created on this platform.
type Reply struct{}

func (r *Reply) AddBytes(b []byte)                {}
func (r *Reply) AddFile(f *os.File, off, n int64) {}
func (r *Reply) Finish(release func())            {}
