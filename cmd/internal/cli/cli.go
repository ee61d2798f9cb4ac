// Package cli holds what the runnel and runnel-bench commands share: how
// one finds the other, and whether to draw a progress line.
package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// FindBinary returns the path of the executable name: the file of that
// name in the directory of the running executable if there is one (so
// bin/runnel finds bin/runnel-bench, whatever PATH holds), else the one
// exec.LookPath finds on PATH. The error says where it looked.
func FindBinary(name string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	return findBinary(filepath.Dir(self), name)
}

// findBinary is FindBinary for an executable in dir.
func findBinary(dir, name string) (string, error) {
	beside := filepath.Join(dir, name)
	if st, err := os.Stat(beside); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return beside, nil
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("no %s in %s nor on PATH", name, dir)
		}
		return "", err
	}
	return path, nil
}

// IsTerminal reports whether f is a terminal (where a live progress line
// may be redrawn).
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
