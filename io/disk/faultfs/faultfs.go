// Package faultfs is a disk.FS for tests that fails chosen calls and simulates crashes, after
// pebble's vfs/errorfs and its crashable in-memory file system.
//
// Faults: a Rule fails the Nth call of an operation, or every k-th one, with an errno (EIO,
// ENOSPC); a failed call does nothing. Or it crashes the FS there (Rule.Crash), just before
// the call or just after it. A failed Fdatasync of a tracked file also loses the
// file's unsynced writes for good, as Linux does when it reports a writeback error once and
// marks the pages clean (PostgreSQL's "fsyncgate"): the file's durable image never changes
// again, even when later Fdatasync calls succeed. A failed SyncFS does that to every tracked
// file (a syncfs error may come from any file of the file system).
//
// Crashes: an FS made with NewCrashable tracks the files it opens under a root directory. Each
// successful Fdatasync captures the file's whole content as its durable image (read back through
// the page cache, so it includes bytes written through a shared mapping), and each SyncDir makes
// the names of that directory durable; a successful SyncFS does both for every tracked file and
// directory, open or closed (SyncFS passes through to the real syncfs(2), and reports errors
// as the kernel's does, see SyncFSReportsErrors). CrashClone then stops the FS (every later
// call fails with EIO) and writes, in another directory, the tree as a power cut would leave it: every tracked
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
//
// With Crash set (an FS made with NewCrashable), the rule cuts the power instead, once: the
// call it picks does nothing and CrashClone(Crash) runs in its place, or, with After, the call
// runs and CrashClone(Crash) follows it before it returns. Either way the call fails, as every
// later one, with EIO; Crashed reports the clone's failure. A test so stops the code under test
// at a chosen point between its file operations and finds what a power cut there leaves.
type Rule struct {
	Op           Op
	Nth, Every   int
	Errno        syscall.Errno // EIO when zero
	PathContains string
	Crash        string // a directory that must not exist: crash here, leaving the tree there
	After        bool   // with Crash: crash after the call instead of before it
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
	crashDst string // where a rule's crash left the tree
	crashErr error  // and its CrashClone's failure
	// syncFSSilent: SyncFSReportsErrors says false whatever the kernel (SetSyncFSReportsErrors)
	syncFSSilent bool
	byName       map[string]*fileState   // tracked files by current name
	byFile       map[*os.File]*fileState // tracked open files
	states       map[*fileState]struct{} // every state with a current or a durable name
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

// Crashed returns the directory a Rule's crash left the tree in ("" if none has) and the
// error of that CrashClone.
func (f *FS) Crashed() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashDst, f.crashErr
}

// SetSyncFSReportsErrors makes SyncFSReportsErrors say false, as on a kernel older than 5.8,
// if ok is false; true restores the kernel's answer.
func (f *FS) SetSyncFSReportsErrors(ok bool) {
	f.mu.Lock()
	f.syncFSSilent = !ok
	f.mu.Unlock()
}

// SyncFSReportsErrors implements disk.FS: SyncFS is the kernel's syncfs(2) plus the faults the
// rules inject, so it reports writeback errors where the kernel's does.
func (f *FS) SyncFSReportsErrors() bool {
	f.mu.Lock()
	silent := f.syncFSSilent
	f.mu.Unlock()
	return !silent && disk.OS.SyncFSReportsErrors()
}

// beginLocked counts a call of op on path and returns the error to fail it with, if any, and
// where to crash once the call is done ("" if nowhere). A rule that crashes before the call
// crashes here.
func (f *FS) beginLocked(op Op, path string) (crashAfter string, err error) {
	if f.crashed {
		return "", fmt.Errorf("faultfs: %s %s: %w", op, path, errCrashed)
	}
	f.calls[op]++
	var fail syscall.Errno
	for _, r := range f.rules {
		if r.Op != op || !strings.Contains(path, r.PathContains) {
			continue
		}
		r.calls++
		if (r.Nth == 0 || r.calls != r.Nth) && (r.Every == 0 || r.calls%r.Every != 0) {
			continue
		}
		switch {
		case r.Crash == "":
			fail = r.Errno
		case r.After:
			crashAfter = r.Crash
		default:
			f.crashLocked(r.Crash)
			return "", fmt.Errorf("faultfs: %s %s: %w", op, path, errCrashed)
		}
	}
	if fail != 0 {
		f.injected++
		return "", fmt.Errorf("faultfs: %s %s: %w", op, path, fail)
	}
	return crashAfter, nil
}

// crashLocked is a Rule's crash: CrashClone to dst, its failure kept for Crashed.
func (f *FS) crashLocked(dst string) {
	f.crashDst, f.crashErr = dst, f.crashCloneLocked(dst)
}

// endLocked crashes after a call whose rule said so (crashAfter from beginLocked): the call
// then fails as a call after the crash.
func (f *FS) endLocked(op Op, path, crashAfter string, err *error) {
	if crashAfter == "" || f.crashed {
		return
	}
	f.crashLocked(crashAfter)
	*err = fmt.Errorf("faultfs: %s %s: %w", op, path, errCrashed)
}

// call runs do, an operation that needs no state of the FS, as a call of op on path.
func (f *FS) call(op Op, path string, do func() error) (err error) {
	f.mu.Lock()
	crashAfter, err := f.beginLocked(op, path)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	err = do()
	if crashAfter != "" {
		f.mu.Lock()
		f.endLocked(op, path, crashAfter, &err)
		f.mu.Unlock()
	}
	return err
}

func (f *FS) tracked(path string) bool {
	return f.root != "" && (path == f.root || strings.HasPrefix(path, f.root+string(filepath.Separator)))
}

// OpenFile implements disk.FS.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (file *os.File, err error) {
	name = filepath.Clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	crashAfter, err := f.beginLocked(OpenFile, name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer func() {
		f.endLocked(OpenFile, name, crashAfter, &err)
		if err != nil && file != nil {
			file.Close()
			file = nil
		}
	}()
	if !f.tracked(name) {
		return os.OpenFile(name, flag, perm)
	}
	st := f.stateLocked(name)
	file, err = os.OpenFile(name, flag, perm)
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
	return f.call(Pwrite, file.Name(), func() error { return disk.OS.Pwrite(file, b, off) })
}

// Fallocate implements disk.FS.
func (f *FS) Fallocate(file *os.File, off, n int64) error {
	return f.call(Fallocate, file.Name(), func() error { return disk.OS.Fallocate(file, off, n) })
}

// Fdatasync implements disk.FS; on success a tracked file's content becomes its durable image.
func (f *FS) Fdatasync(file *os.File) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.byFile[file]
	crashAfter, err := f.beginLocked(Fdatasync, file.Name())
	if crashAfter != "" {
		defer f.endLocked(Fdatasync, file.Name(), crashAfter, &err)
	}
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
	return f.call(Truncate, file.Name(), func() error { return disk.OS.Truncate(file, size) })
}

// Rename implements disk.FS; a tracked file's new name is durable after SyncDir of its
// directory, and until then a crash leaves it under its old one.
func (f *FS) Rename(oldpath, newpath string) (err error) {
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	f.mu.Lock()
	defer f.mu.Unlock()
	crashAfter, err := f.beginLocked(Rename, oldpath)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	defer f.endLocked(Rename, oldpath, crashAfter, &err)
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
func (f *FS) Remove(name string) (err error) {
	name = filepath.Clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	crashAfter, err := f.beginLocked(Remove, name)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	defer f.endLocked(Remove, name, crashAfter, &err)
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
func (f *FS) SyncDir(dir string) (err error) {
	dir = filepath.Clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	crashAfter, err := f.beginLocked(SyncDir, dir)
	if err != nil {
		return err
	}
	defer f.endLocked(SyncDir, dir, crashAfter, &err)
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

// SyncFS implements disk.FS: on success every tracked file's content, whether it is open or
// was closed unsynced, becomes its durable image and every current name the durable one; on
// failure every tracked file loses its unsynced writes for good.
func (f *FS) SyncFS(file *os.File) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	crashAfter, err := f.beginLocked(SyncFS, file.Name())
	if crashAfter != "" {
		defer f.endLocked(SyncFS, file.Name(), crashAfter, &err)
	}
	if err == nil {
		err = disk.OS.SyncFS(file)
	}
	if err != nil {
		for st := range f.states {
			st.lost = true
		}
		return err
	}
	open := make(map[*fileState]*os.File, len(f.byFile))
	for tracked, st := range f.byFile {
		open[st] = tracked
	}
	for st := range f.states {
		if st.lost || st.name == "" {
			continue
		}
		var image []byte
		var err error
		if tracked := open[st]; tracked != nil {
			image, err = readAll(tracked)
			if errors.Is(err, os.ErrClosed) {
				delete(f.byFile, tracked)
				image, err = os.ReadFile(st.name) // closed: its content is under its name
			}
		} else {
			image, err = os.ReadFile(st.name)
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // its directory was renamed or removed (not tracked): it keeps its last image
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
	return f.crashCloneLocked(dst)
}

func (f *FS) crashCloneLocked(dst string) error {
	f.crashed = true
	if f.root == "" {
		return errors.New("faultfs: CrashClone of an FS made without NewCrashable")
	}
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
