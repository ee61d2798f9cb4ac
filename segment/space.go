package segment

import (
	"errors"
	"log/slog"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// minPreallocStep is the preallocation step of a segment while its file system is short of
// space; when even that is refused, extend asks for exactly the bytes an append needs.
const minPreallocStep = 64 << 10

// minIndexBytes is the smallest index file openIndexes falls back to when the file system
// cannot allocate a full segment.index.bytes: one page. A smaller index makes the segment
// roll sooner, and the next segment tries the full size again.
const minIndexBytes = 4096

// spaceState is whether a log directory's file system is short of space, shared by its
// logs. It turns short when a preallocation (of a .log or of an index) is refused with
// ENOSPC or EDQUOT, even if a smaller one then worked, and back when a whole preallocation
// chunk is granted again; each change is logged once. Its methods may be called
// concurrently.
type spaceState struct {
	path   string
	logger *slog.Logger

	short   atomic.Bool
	refused atomic.Uint64 // appends refused for lack of space
}

func newSpaceState(path string, logger *slog.Logger) *spaceState {
	return &spaceState{path: path, logger: logger}
}

// isNoSpace reports whether err is the file system running out of blocks or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}

// shortOf notes a preallocation refused with err, logging the change to short.
func (st *spaceState) shortOf(err error) {
	if st.short.Load() || !st.short.CompareAndSwap(false, true) {
		return
	}
	st.logger.Warn("segment: log dir short of space: preallocating less; appends that do not fit are refused until space is freed",
		"path", st.path, "err", err)
}

// available notes that a whole preallocation chunk was granted, logging the change back.
func (st *spaceState) available() {
	if !st.short.Load() || !st.short.CompareAndSwap(true, false) {
		return
	}
	st.logger.Info("segment: log dir has space available again", "path", st.path)
}
