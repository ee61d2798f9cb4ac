package disk

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// FS is the seam between storage and the file system: the operations whose failure or loss in
// a crash decides what is durable. Files stay *os.File, because a mapping (io/mmap) and sendfile
// need the descriptor; FS only performs the operations on them. OS is the real one; tests use
// io/disk/faultfs to fail chosen calls or to simulate a crash that keeps only what was synced.
//
// Writes through a shared mapping of a file do not go through FS: they land in the page cache
// like a pwrite and become durable with the file's next Fdatasync.
type FS interface {
	// OpenFile is os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (*os.File, error)
	// Pwrite writes all of b at off (retrying short writes and EINTR).
	Pwrite(f *os.File, b []byte, off int64) error
	// Fallocate is the package's Fallocate.
	Fallocate(f *os.File, off, n int64) error
	// Fdatasync is the package's Fdatasync.
	Fdatasync(f *os.File) error
	// Truncate sets f's size.
	Truncate(f *os.File, size int64) error
	// Rename is os.Rename.
	Rename(oldpath, newpath string) error
	// Remove is os.Remove.
	Remove(name string) error
	// SyncDir is the package's SyncDir.
	SyncDir(dir string) error
	// SyncFS is the package's SyncFS: every file on f's file system made durable at once.
	SyncFS(f *os.File) error
	// SyncFSReportsErrors reports whether SyncFS fails when a writeback of any file on the
	// file system failed, so that it can stand in for Fdatasync and SyncDir of each file
	// (the package's SyncFSReportsErrors for the operating system's).
	SyncFSReportsErrors() bool
}

// OS is the FS of the operating system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

func (osFS) Pwrite(f *os.File, b []byte, off int64) error {
	fd := int(f.Fd())
	for n := 0; n < len(b); {
		m, err := unix.Pwrite(fd, b[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			runtime.KeepAlive(f)
			return fmt.Errorf("disk: pwrite %s at %d: %w", f.Name(), off+int64(n), err)
		}
		n += m
	}
	runtime.KeepAlive(f)
	return nil
}

func (osFS) Fallocate(f *os.File, off, n int64) error { return Fallocate(f, off, n) }
func (osFS) Fdatasync(f *os.File) error               { return Fdatasync(f) }
func (osFS) Truncate(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	return nil
}
func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) SyncDir(dir string) error             { return SyncDir(dir) }
func (osFS) SyncFS(f *os.File) error              { return SyncFS(f) }
func (osFS) SyncFSReportsErrors() bool            { return SyncFSReportsErrors() }
