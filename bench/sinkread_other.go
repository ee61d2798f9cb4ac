//go:build !linux

package bench

import (
	"errors"
	"syscall"
)

// discardSupported: elsewhere the sink reads the record bytes it skips.
const discardSupported = false

var errDiscardUnsupported = errors.New("bench: sink: discard unsupported")

func discard(syscall.RawConn, int) (int, error) { return 0, errDiscardUnsupported }
