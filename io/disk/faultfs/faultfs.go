// Package faultfs is a disk.FS for tests that fails chosen calls and simulates crashes, after
// pebble's vfs/errorfs and its crashable in-memory file system.
//
// Faults: a Rule fails the Nth call of an operation, or every k-th one, with an errno (EIO,
// ENOSPC); a failed call does nothing. A failed Fdatasync of a tracked file also loses the
// file's unsynced writes for good, as Linux does when it reports a writeback error once and
// marks the pages clean (PostgreSQL's "fsyncgate"): the file's durable image never changes
// again, even when later Fdatasync calls succeed. A failed SyncFS does that to every tracked
// file (a syncfs error may come from any file of the file system).
//
// Crashes: an FS made with NewCrashable tracks the files it opens under a root directory. Each
// successful Fdatasync captures the file's whole content as its durable image (read back through
// the page cache, so it includes bytes written through a shared mapping), and each SyncDir makes
// the names of that directory durable; a successful SyncFS does both for every tracked file and
// directory. CrashClone then stops the FS (every later call fails with
// EIO) and writes, in another directory, the tree as a power cut would leave it: every tracked
// file holds its last durable image, files created or renamed since their directory's last fsync
// are missing or back under their old name, and removed files whose removal was not made
// durable are back. Files that the FS never opened (written by other means) are copied as they
// are; renames of directories are not tracked.
package faultfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"runnel/io/disk"
)

// Op names an operation of disk.FS.
type Op int

// The operations of disk.FS.
const (
	OpenFile Op = iota
	Pwrite
	Fallocate
	Fdatasync
	Truncate
	Rename
	Remove
	SyncDir
	SyncFS
	numOps
)

var opNames = [numOps]string{"open", "pwrite", "fallocate", "fdatasync", "truncate", "rename", "remove", "syncdir", "syncfs"}

func (o Op) String() string {
	if o < 0 || o >= numOps {
		return fmt.Sprintf("Op(%d)", int(o))
	}
	return opNames[o]
}

// Rule fails calls of Op: the Nth one (counting from 1 from when the rule is injected), or
// every Every-th one, or both. Calls on paths that do not contain PathContains are neither
// failed nor counted by the rule.
type Rule struct {
	Op           Op
	Nth, Every   int
	Errno        syscall.Errno // EIO when zero
	PathContains string
}

// errCrashed is what every call returns after CrashClone.
var errCrashed = fmt.Errorf("faultfs: crashed: %w", syscall.EIO)

// FS is a disk.FS over the real file system that injects faults and records what is durable.
// Its methods are safe for concurrent use.
type FS struct {
	root string // tracked tree; "" = no crash tracking

	mu       sync.Mutex
	rules    []*ruleState
	calls    [numOps]int
	injected int
	crashed  bool
	byName   map[string]*fileState   // tracked files by current name
	byFile   map[*os.File]*fileState // tracked open files
	states   map[*fileState]struct{} // every state with a current or a durable name
}

type ruleState struct {
	Rule
	calls int
}

// fileState is what a crash would leave of one tracked file (an inode).
type fileState struct {
	name        string // current name; "" once removed
	durableName string // name that survives a crash; "" if none
	image       []byte // content at the last successful Fdatasync (or when first opened)
	lost        bool   // an Fdatasync failed: image is final
}

// New returns an FS that only injects faults.
func New() *FS { return &FS{} }

// NewCrashable returns an FS that also tracks, for CrashClone, the files it opens under root.
// Files that already exist when first opened count as durable as they are.
func NewCrashable(root string) *FS {
	return &FS{root: filepath.Clean(root), byName: map[string]*fileState{},
		byFile: map[*os.File]*fileState{}, states: map[*fileState]struct{}{}}
}

// Inject adds a rule.
func (f *FS) Inject(r Rule) {
	if r.Errno == 0 {
		r.Errno = syscall.EIO
	}
	f.mu.Lock()
	f.rules = append(f.rules, &ruleState{Rule: r})
	f.mu.Unlock()
}

// Clear removes every rule: the faults stop (space freed, a disk replaced).
func (f *FS) Clear() {
	f.mu.Lock()
	f.rules = nil
	f.mu.Unlock()
}

// Calls returns how many calls of op were made (failed ones included).
func (f *FS) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Injected returns how many calls the rules failed.
func (f *FS) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// beginLocked counts a call of op on path and returns the error to fail it with, if any.
func (f *FS) beginLocked(op Op, path string) error {
	if f.crashed {
		return fmt.Errorf("faultfs: %s %s: %w", op, path, errCrashed)
	}
	f.calls[op]++
	var fail syscall.Errno
	for _, r := range f.rules {
		if r.Op != op || !strings.Contains(path, r.PathContains) {
			continue
		}
		r.calls++
		if (r.Nth > 0 && r.calls == r.Nth) || (r.Every > 0 && r.calls%r.Every == 0) {
			fail = r.Errno
		}
	}
	if fail != 0 {
		f.injected++
		return fmt.Errorf("faultfs: %s %s: %w", op, path, fail)
	}
	return nil
}

func (f *FS) begin(op Op, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.beginLocked(op, path)
}

func (f *FS) tracked(path string) bool {
	return f.root != "" && (path == f.root || strings.HasPrefix(path, f.root+string(filepath.Separator)))
}

// OpenFile implements disk.FS.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	name = filepath.Clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(OpenFile, name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if !f.tracked(name) {
		return os.OpenFile(name, flag, perm)
	}
	st := f.stateLocked(name)
	file, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = &fileState{name: name}
		f.byName[name] = st
		f.states[st] = struct{}{}
	}
	f.byFile[file] = st
	return file, nil
}

// stateLocked returns the state of the tracked file at name. A file under the root that the FS
// has not seen yet was there before it: it starts tracked, durable as it is. nil if there is no
// such file.
func (f *FS) stateLocked(name string) *fileState {
	if st := f.byName[name]; st != nil || !f.tracked(name) {
		return st
	}
	image, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	st := &fileState{name: name, durableName: name, image: image}
	f.byName[name] = st
	f.states[st] = struct{}{}
	return st
}

// Pwrite implements disk.FS.
func (f *FS) Pwrite(file *os.File, b []byte, off int64) error {
	if err := f.begin(Pwrite, file.Name()); err != nil {
		return err
	}
	return disk.OS.Pwrite(file, b, off)
}

// Fallocate implements disk.FS.
func (f *FS) Fallocate(file *os.File, off, n int64) error {
	if err := f.begin(Fallocate, file.Name()); err != nil {
		return err
	}
	return disk.OS.Fallocate(file, off, n)
}

// Fdatasync implements disk.FS; on success a tracked file's content becomes its durable image.
func (f *FS) Fdatasync(file *os.File) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.byFile[file]
	err := f.beginLocked(Fdatasync, file.Name())
	if err == nil {
		err = disk.OS.Fdatasync(file)
	}
	if err != nil {
		if st != nil {
			st.lost = true
		}
		return err
	}
	if st != nil && !st.lost {
		image, err := readAll(file)
		if err != nil {
			return err
		}
		st.image = image
	}
	return nil
}

// readAll reads file's content with pread (it leaves the file position alone).
func readAll(file *os.File) ([]byte, error) {
	info, err := file.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, info.Size())
	if _, err := file.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// Truncate implements disk.FS.
func (f *FS) Truncate(file *os.File, size int64) error {
	if err := f.begin(Truncate, file.Name()); err != nil {
		return err
	}
	return disk.OS.Truncate(file, size)
}

// Rename implements disk.FS; a tracked file's new name is durable after SyncDir of its
// directory, and until then a crash leaves it under its old one.
func (f *FS) Rename(oldpath, newpath string) error {
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(Rename, oldpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	st, prev := f.stateLocked(oldpath), f.stateLocked(newpath)
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	if prev != nil {
		f.unlinkLocked(prev)
	}
	if st != nil {
		delete(f.byName, oldpath)
		st.name = newpath
		f.byName[newpath] = st
	}
	return nil
}

// Remove implements disk.FS; a crash brings a tracked file back until its directory is synced.
func (f *FS) Remove(name string) error {
	name = filepath.Clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(Remove, name); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	st := f.stateLocked(name)
	if err := os.Remove(name); err != nil {
		return err
	}
	if st != nil {
		f.unlinkLocked(st)
	}
	return nil
}

func (f *FS) unlinkLocked(st *fileState) {
	delete(f.byName, st.name)
	st.name = ""
	if st.durableName == "" {
		delete(f.states, st)
	}
}

// SyncDir implements disk.FS: the current names in dir become the durable ones.
func (f *FS) SyncDir(dir string) error {
	dir = filepath.Clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.beginLocked(SyncDir, dir); err != nil {
		return err
	}
	if err := disk.OS.SyncDir(dir); err != nil {
		return err
	}
	for st := range f.states {
		switch {
		case st.name != "" && filepath.Dir(st.name) == dir:
			st.durableName = st.name
		case st.name == "" && filepath.Dir(st.durableName) == dir:
			delete(f.states, st)
		}
	}
	return nil
}

// SyncFS implements disk.FS: on success every tracked open file's content becomes its durable
// image and every current name the durable one; on failure every tracked file loses its unsynced
// writes for good.
func (f *FS) SyncFS(file *os.File) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.beginLocked(SyncFS, file.Name())
	if err == nil {
		err = disk.OS.SyncFS(file)
	}
	if err != nil {
		for st := range f.states {
			st.lost = true
		}
		return err
	}
	for tracked, st := range f.byFile {
		if st.lost || st.name == "" {
			continue
		}
		image, err := readAll(tracked)
		if errors.Is(err, os.ErrClosed) {
			delete(f.byFile, tracked) // closed: unreadable, it keeps its last image (a crash may keep less than Linux would)
			continue
		}
		if err != nil {
			return err
		}
		st.image = image
	}
	for st := range f.states {
		if st.name == "" {
			delete(f.states, st)
		} else {
			st.durableName = st.name
		}
	}
	return nil
}

// CrashClone simulates a power cut now: from this call on every call of the FS fails with EIO,
// and dst (which must not exist) receives a copy of the root as it would be after the cut.
// Callers should then abandon whatever used the FS.
func (f *FS) CrashClone(dst string) error {
	if f.root == "" {
		return errors.New("faultfs: CrashClone of an FS made without NewCrashable")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashed = true
	if err := copyTree(f.root, dst); err != nil {
		return err
	}
	clonePath := func(p string) string { return filepath.Join(dst, strings.TrimPrefix(p, f.root)) }
	for st := range f.states {
		if st.name != "" {
			if err := os.Remove(clonePath(st.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	for st := range f.states {
		if st.durableName == "" {
			continue
		}
		p := clonePath(st.durableName)
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			continue // its directory went (a directory rename, not tracked)
		}
		if err := os.WriteFile(p, st.image, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the directories and regular files under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			return err
		}
		target := filepath.Join(dst, strings.TrimPrefix(p, src))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		}
		return nil
	})
}

var _ disk.FS = (*FS)(nil)
