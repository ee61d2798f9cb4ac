// Package sendfile copies a range of a file to a socket inside the kernel, for serving fetches.
//
// Send passes an explicit offset to sendfile(2), so it never reads or moves the file's shared
// position: any number of goroutines may send different ranges of one *os.File at once (Go's
// io.Copy from an *os.File to a TCP connection uses the shared position and races). It drives a
// non-blocking socket through its syscall.RawConn, so a full socket buffer (EAGAIN) parks the
// goroutine in the runtime's poller until the socket is writable, and write deadlines apply.
package sendfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxChunk bounds one sendfile(2) call; Linux moves at most 0x7ffff000 bytes per call anyway.
const maxChunk = 1 << 30

// fallbackBufferSize is the largest buffer the pread+write fallback uses.
const fallbackBufferSize = 256 << 10

// sendfileSyscall is unix.Sendfile; tests replace it to inject errors and short writes.
var sendfileSyscall = unix.Sendfile

// Send writes n bytes of f from offset off to conn with sendfile(2), never touching f's shared
// position; loops on short writes, waits for writability on EAGAIN via RawConn.Write.
// Falls back to pread+write if sendfile is unsupported (EINVAL/ENOSYS).
//
// It returns the number of bytes written, which is n unless err is non-nil. A range that runs
// past the end of f fails with io.ErrUnexpectedEOF after the bytes that exist were sent. Send
// holds conn's write lock throughout, so nothing else is interleaved on the connection, and holds
// a reference to f's descriptor, so a concurrent f.Close cannot make it read another file.
func Send(conn syscall.Conn, f *os.File, off, n int64) (written int64, err error) {
	if off < 0 || n < 0 {
		return 0, fmt.Errorf("sendfile: invalid range [%d, +%d)", off, n)
	}
	if n == 0 {
		return 0, nil
	}
	dst, err := conn.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("sendfile: %w", err)
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("sendfile: %s: %w", f.Name(), err)
	}
	s := sender{pos: off, end: off + n}
	if err := src.Control(func(srcFD uintptr) {
		s.srcFD = int(srcFD)
		s.connErr = dst.Write(s.sendfile)
		if s.connErr == nil && s.err == nil && s.fallback {
			s.connErr = dst.Write(s.copy)
		}
	}); err != nil {
		// Control fails only when f is closed (the poller's "use of closed file", which unlike
		// os.File's own methods it does not translate into os.ErrClosed).
		return 0, fmt.Errorf("sendfile: %s: %w", f.Name(), os.ErrClosed)
	}
	written = s.pos - off
	if s.err == nil {
		s.err = s.connErr
	}
	if s.err != nil {
		return written, fmt.Errorf("sendfile: %s [%d, +%d) after %d bytes: %w", f.Name(), off, n, written, s.err)
	}
	return written, nil
}

// sender is the state of one Send, advanced by callbacks that RawConn.Write calls each time
// the socket may be writable. A callback returns false to wait for writability, true when done.
type sender struct {
	srcFD    int
	pos, end int64 // next file offset to send, and the end of the range
	fallback bool  // sendfile is not supported for this pair of descriptors
	buf      []byte
	bufStart int   // buf[bufStart:] was read from the file but not yet written
	err      error // the first error; ends the Send
	connErr  error // the error of RawConn.Write itself (deadline, closed connection)
}

func (s *sender) sendfile(dstFD uintptr) bool {
	for s.pos < s.end {
		// The kernel advances s.pos by what it sent.
		w, err := sendfileSyscall(int(dstFD), s.srcFD, &s.pos, int(min(s.end-s.pos, maxChunk)))
		switch {
		case err == nil && w == 0:
			s.err = io.ErrUnexpectedEOF
			return true
		case err == nil, err == unix.EINTR:
		case err == unix.EAGAIN:
			return false
		case err == unix.EINVAL || err == unix.ENOSYS || errors.Is(err, errors.ErrUnsupported):
			s.fallback = true
			return true
		default:
			s.err = err
			return true
		}
	}
	return true
}

// copy is the fallback: pread into a buffer, write the buffer, until the range is sent.
func (s *sender) copy(dstFD uintptr) bool {
	if s.buf == nil {
		s.buf = make([]byte, 0, min(s.end-s.pos, fallbackBufferSize))
	}
	for s.pos < s.end {
		if s.bufStart == len(s.buf) {
			r, err := unix.Pread(s.srcFD, s.buf[:min(int64(cap(s.buf)), s.end-s.pos)], s.pos)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				s.err = err
				return true
			case r == 0:
				s.err = io.ErrUnexpectedEOF
				return true
			}
			s.buf, s.bufStart = s.buf[:r], 0
		}
		w, err := unix.Write(int(dstFD), s.buf[s.bufStart:])
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return false
		case err != nil:
			s.err = err
			return true
		default:
			s.bufStart += w
			s.pos += int64(w)
		}
	}
	return true
}
