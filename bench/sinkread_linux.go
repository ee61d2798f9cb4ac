package bench

import (
	"errors"
	"io"
	"syscall"
)

// discardSupported: recv with MSG_TRUNC discards TCP data (tcp(7)).
const discardSupported = true

// errDiscardUnsupported means the kernel would have copied the data
// (recv with MSG_TRUNC into no buffer failed with EFAULT): read instead.
var errDiscardUnsupported = errors.New("bench: sink: recv MSG_TRUNC unsupported")

// discard drops up to n bytes of the connection's received data in the
// kernel, waiting for some to arrive, and returns how many it dropped.
// TCP's recv with MSG_TRUNC consumes the data without copying it; the
// buffer is NULL, so a kernel that would copy fails with EFAULT instead of
// writing anywhere.
func discard(rc syscall.RawConn, n int) (int, error) {
	var got int
	var errno syscall.Errno
	err := rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, 0, uintptr(n), syscall.MSG_TRUNC, 0, 0)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until readable
			}
			got, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EFAULT:
		return 0, errDiscardUnsupported
	case errno != 0:
		return 0, errno
	case got == 0:
		return 0, io.ErrUnexpectedEOF
	}
	return min(got, n), nil
}
