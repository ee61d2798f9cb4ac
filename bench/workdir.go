package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// workDirPrefix names the harness's work directories (under Options.WorkDir, or the system's
// temporary directory): each run's brokers' data, baselines' files and generators' output.
const workDirPrefix = "runnel-bench-"

// ownerLock is the file in a work directory that its run holds locked (flock) while it lives.
// The kernel releases the lock when the process dies, however it dies.
const ownerLock = ".owner.lock"

// makeWorkDir creates this run's work directory in parent and locks it for the run's lifetime;
// release unlocks it and removes the directory. First it removes the work directories of runs
// that died without removing theirs (a SIGKILL, a crash): a full run leaves gigabytes of data
// behind, and repeated runs filled the disk. A directory is stale when nobody holds its lock;
// one of an older harness, without a lock file, is left alone.
func makeWorkDir(parent string, log io.Writer) (dir string, release func(), err error) {
	removeStaleWorkDirs(parent, log)
	dir, err = os.MkdirTemp(parent, workDirPrefix)
	if err != nil {
		return "", nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ownerLock), os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("bench: locking the work directory: %w", err)
	}
	return dir, func() {
		os.RemoveAll(dir)
		lock.Close()
	}, nil
}

// removeStaleWorkDirs removes the work directories in parent whose owner lock nobody holds.
func removeStaleWorkDirs(parent string, log io.Writer) {
	if parent == "" {
		parent = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(parent, workDirPrefix+"*"))
	for _, dir := range dirs {
		lock, err := os.Open(filepath.Join(dir, ownerLock))
		if err != nil {
			continue // not a work directory, or an older harness's
		}
		stale := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
		if stale {
			// Held while removing, so that another harness starting now sees it held.
			if err := os.RemoveAll(dir); err != nil {
				fmt.Fprintf(log, "bench: removing the stale work directory %s: %v\n", dir, err)
			} else {
				fmt.Fprintf(log, "bench: removed the work directory of a run that died: %s\n", dir)
			}
		}
		lock.Close()
	}
}
