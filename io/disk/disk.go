// Package disk holds the small file-system operations that durability depends on: reserving
// blocks (fallocate), making data durable (fdatasync), making directory entries durable (fsync
// of the directory) and replacing a small file atomically.
//
// Every error wraps the underlying syscall.Errno, so callers can test errors.Is(err,
// syscall.ENOSPC), and errors.Is(err, errors.ErrUnsupported) for a file system that lacks an
// operation.
package disk

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Fallocate reserves blocks for [off, off+n) of f with fallocate(2) mode 0, extending the file's
// size if the range ends past it. Blocks already allocated are left as they are.
func Fallocate(f *os.File, off, n int64) error {
	if off < 0 || n <= 0 {
		return fmt.Errorf("disk: fallocate %s: invalid range [%d, +%d)", f.Name(), off, n)
	}
	err := retryEINTR(func() error { return unix.Fallocate(int(f.Fd()), 0, off, n) })
	runtime.KeepAlive(f)
	if err != nil {
		return fmt.Errorf("disk: fallocate %s [%d, +%d): %w", f.Name(), off, n, err)
	}
	return nil
}

// Fdatasync makes f's data, and the metadata needed to read it back (such as its size), durable.
// It also covers pages dirtied through a shared mapping of f.
func Fdatasync(f *os.File) error {
	err := retryEINTR(func() error { return unix.Fdatasync(int(f.Fd())) })
	runtime.KeepAlive(f)
	if err != nil {
		return fmt.Errorf("disk: fdatasync %s: %w", f.Name(), err)
	}
	return nil
}

// SyncFS makes every write to the file system holding f durable, as if each of its files had
// been fsynced (syncfs(2)): one journal commit for all of them instead of one per file. Since
// Linux 5.8 it fails if a writeback of any file on that file system failed since f was opened or
// since the last SyncFS through f (the superblock's error sequence, sampled per open file), so
// its caller must treat a failure as a failure of every file it meant to sync; on older kernels
// it reports no writeback error at all, see SyncFSReportsErrors.
func SyncFS(f *os.File) error {
	err := retryEINTR(func() error { return unix.Syncfs(int(f.Fd())) })
	runtime.KeepAlive(f)
	if err != nil {
		return fmt.Errorf("disk: syncfs %s: %w", f.Name(), err)
	}
	return nil
}

// SyncFSReportsErrors reports whether the running kernel's syncfs(2) reports writeback errors
// (Linux 5.8 and later), without which SyncFS cannot stand in for fdatasync.
func SyncFSReportsErrors() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 8)
}

// kernelAtLeast reports whether a kernel release string ("6.1.0-13-amd64") is major.minor or later.
func kernelAtLeast(release string, major, minor int) bool {
	var got [2]int
	for i := range got {
		end := strings.IndexFunc(release, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(release)
		}
		n, err := strconv.Atoi(release[:end])
		if err != nil {
			return false
		}
		got[i] = n
		release = strings.TrimPrefix(release[end:], ".")
	}
	return got[0] > major || (got[0] == major && got[1] >= minor)
}

// SyncDir makes the entries of directory dir durable (files created, renamed or removed in it).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("disk: sync dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disk: sync dir %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic replaces path with data so that after a crash the file holds either its old
// contents or all of data: it writes a temporary file in the same directory (named
// "<name>.<random>.tmp", created with perm less the umask), fdatasyncs it, renames it over path
// and fsyncs the directory. A crash can leave a stray "*.tmp" file behind, never a partial path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteFileAtomicFS(OS, path, data, perm)
}

// WriteFileAtomicFS is WriteFileAtomic with every operation through fs, so that tests can fail
// them or crash in between (io/disk/faultfs).
func WriteFileAtomicFS(fs FS, path string, data []byte, perm os.FileMode) error {
	f, tmp, err := createTemp(fs, path, perm)
	if err != nil {
		return err
	}
	err = fs.Pwrite(f, data, 0)
	if err == nil {
		err = fs.Fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, path)
	}
	if err != nil {
		fs.Remove(tmp)
		return fmt.Errorf("disk: write %s: %w", path, err)
	}
	return fs.SyncDir(filepath.Dir(path))
}

// IsTempOf reports whether name, a file name without its directory, is a temporary file made
// to replace the file named base ("<base>.<random>.tmp", as createTemp names them): a crash or
// a failed replacement leaves one, which its owner removes when it next reads the directory.
func IsTempOf(name, base string) bool {
	b, ok := TempOf(name)
	return ok && b == base
}

// TempOf returns the name of the file that name, a temporary file createTemp made, was to
// replace; false if name is not such a file.
func TempOf(name string) (base string, ok bool) {
	rest, ok := strings.CutSuffix(name, ".tmp")
	i := strings.LastIndexByte(rest, '.')
	if !ok || i <= 0 || i == len(rest)-1 {
		return "", false
	}
	return rest[:i], true
}

// createTemp creates a new file beside path that no one else is using.
func createTemp(fs FS, path string, perm os.FileMode) (*os.File, string, error) {
	for range 100 {
		tmp := path + "." + strconv.FormatUint(rand.Uint64(), 36) + ".tmp"
		f, err := fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm) // RDWR: faultfs reads back what is synced
		if err == nil {
			return f, tmp, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, "", fmt.Errorf("disk: write %s: %w", path, err)
		}
	}
	return nil, "", fmt.Errorf("disk: write %s: could not create a unique temporary file", path)
}

// Usage returns the size of the file system holding path and the bytes an unprivileged writer
// may still allocate there (statfs(2): blocks and available blocks, in fragment-size units),
// each capped at math.MaxInt64.
func Usage(path string) (total, available int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("disk: statfs %s: %w", path, err)
	}
	unit := st.Frsize
	if unit <= 0 {
		unit = st.Bsize
	}
	return blockBytes(st.Blocks, unit), blockBytes(st.Bavail, unit), nil
}

// blockBytes is blocks × unit, capped at math.MaxInt64.
func blockBytes(blocks uint64, unit int64) int64 {
	if unit <= 0 {
		return 0
	}
	if blocks > math.MaxInt64/uint64(unit) {
		return math.MaxInt64
	}
	return int64(blocks) * unit
}

// retryEINTR calls op until it fails with something other than EINTR.
func retryEINTR(op func() error) error {
	for {
		if err := op(); err != unix.EINTR {
			return err
		}
	}
}
