// Package mmap maps files into memory for the storage engine's indexes. (Segments' .log files
// are written with pwrite and read with pread and sendfile: see package segment.)
//
// A Mapping is a MAP_SHARED mapping of the first Len bytes of a file. Stores through a writable
// mapping land in the page cache and reach the disk on Sync (msync MS_SYNC, a ranged fdatasync
// on Linux) or on an fdatasync of the file's descriptor, which covers pages dirtied through any
// mapping of it.
//
// Lifetime contract: the slice returned by Bytes, and every sub-slice of it, is valid until
// Unmap. Only the owner of a Mapping (whoever called Map) may call Unmap, and only once no other
// goroutine can still touch the bytes; touching them afterwards faults the process. The mapping
// stays valid after the *os.File it came from is closed.
//
// Touching a page of the mapping that lies wholly beyond the end of the file raises SIGBUS,
// which kills a Go program. A mapping may be longer than the file (so that the file can grow
// into it), but callers must keep reads and writes below the file's size, and must never shrink
// a file that somebody may still have mapped.
package mmap

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

var (
	// ErrUnmapped is returned by methods called after Unmap.
	ErrUnmapped = errors.New("mmap: mapping is unmapped")
	// ErrRange is returned when an [off, off+n) range does not lie inside the mapping.
	ErrRange = errors.New("mmap: range outside the mapping")
)

// pageSize is the granularity of madvise and msync ranges.
var pageSize = os.Getpagesize()

// Mapping is a MAP_SHARED mapping of [0, Len) of a file. Bytes() stays valid until Unmap;
// the owner of the Mapping is the only one who may Unmap it. A Mapping's methods other than
// Unmap may be called concurrently.
type Mapping struct {
	data []byte
}

// Map maps the first length bytes of f, read-only or read-write (f must then be open for
// reading and writing, os.O_RDWR). length may exceed the file's size; the caller must not
// touch pages past EOF.
func Map(f *os.File, length int, writable bool) (*Mapping, error) {
	if f == nil {
		return nil, errors.New("mmap: nil file")
	}
	if length <= 0 {
		return nil, fmt.Errorf("mmap: map %s: length %d must be positive", f.Name(), length)
	}
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("mmap: map %s: %w", f.Name(), err)
	}
	var data []byte
	var mapErr error
	if err := raw.Control(func(fd uintptr) {
		data, mapErr = unix.Mmap(int(fd), 0, length, prot, unix.MAP_SHARED)
	}); err != nil {
		return nil, fmt.Errorf("mmap: map %s: %w", f.Name(), err)
	}
	if mapErr != nil {
		return nil, fmt.Errorf("mmap: map %s (%d bytes): %w", f.Name(), length, mapErr)
	}
	return &Mapping{data: data}, nil
}

// Bytes returns the mapped memory; nil after Unmap. See the package comment for how long the
// slice may be used.
func (m *Mapping) Bytes() []byte { return m.data }

// Len returns the length of the mapping; 0 after Unmap.
func (m *Mapping) Len() int { return len(m.data) }

// pageRange returns the sub-slice of the mapping made of the pages that cover [off, off+n).
// It returns nil, nil for an empty range.
func (m *Mapping) pageRange(off, n int) ([]byte, error) {
	if m.data == nil {
		return nil, ErrUnmapped
	}
	if off < 0 || n < 0 || off > len(m.data) || n > len(m.data)-off {
		return nil, fmt.Errorf("%w: [%d, +%d) of %d bytes", ErrRange, off, n, len(m.data))
	}
	if n == 0 {
		return nil, nil
	}
	// madvise and msync need a page-aligned start and round the length up to whole pages
	// themselves; the mapping itself starts on a page boundary.
	start := off &^ (pageSize - 1)
	return m.data[start : off+n : off+n], nil
}

// Advise passes advice (one of unix.MADV_*) to madvise(2) for the pages covering [off, off+n).
func (m *Mapping) Advise(off, n int, advice int) error {
	b, err := m.pageRange(off, n)
	if err != nil || b == nil {
		return err
	}
	if err := unix.Madvise(b, advice); err != nil {
		return fmt.Errorf("mmap: madvise(%d) [%d, +%d): %w", advice, off, n, err)
	}
	return nil
}

// Sync writes the dirty pages covering [off, off+n) to disk and waits for them: msync(MS_SYNC)
// over the page-aligned range, which on Linux is a ranged fdatasync.
func (m *Mapping) Sync(off, n int) error {
	b, err := m.pageRange(off, n)
	if err != nil || b == nil {
		return err
	}
	if err := unix.Msync(b, unix.MS_SYNC); err != nil {
		return fmt.Errorf("mmap: msync [%d, +%d): %w", off, n, err)
	}
	return nil
}

// Unmap releases the mapping. It is idempotent. After it, Bytes returns nil and every slice
// previously obtained from the mapping is invalid.
func (m *Mapping) Unmap() error {
	if m.data == nil {
		return nil
	}
	data := m.data
	m.data = nil
	if err := unix.Munmap(data); err != nil {
		return fmt.Errorf("mmap: munmap: %w", err)
	}
	return nil
}
