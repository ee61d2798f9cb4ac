// Package disktest gives tests a small file system of their own to fill up: an ext4 image
// loop-mounted in a temporary directory. Mounting needs root (CI runs as root); without it,
// or without mkfs.ext4 and loop devices, the test is skipped with the reason.
//
//	dir := disktest.SmallExt4(t, 48)
//	filler := disktest.Fill(t, dir, 4<<20) // leave 4 MiB free
//	...
//	disktest.Free(t, filler, 1<<20) // give 1 MiB back
package disktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"runnel/io/disk"
)

// SmallExt4 makes an ext4 file system of mib MiB, with no blocks reserved for root (so that
// root runs out of space as everyone else does), mounts it on a new directory and returns
// that directory; it is unmounted when the test ends.
func SmallExt4(t testing.TB, mib int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disktest: mounting a small ext4 needs root; run as root (make stress does)")
	}
	tmp := t.TempDir()
	img, mnt := filepath.Join(tmp, "ext4.img"), filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err == nil {
		err = f.Truncate(int64(mib) << 20)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Skipf("disktest: mkfs.ext4 not usable here: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("disktest: cannot loop-mount an ext4 image here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("disktest: umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// Available returns the bytes an unprivileged writer may still allocate under dir.
func Available(t testing.TB, dir string) int64 {
	t.Helper()
	_, free, err := disk.Usage(dir)
	if err != nil {
		t.Fatal(err)
	}
	return free
}

// Fill allocates a filler file in dir so that about leave bytes stay free (less, if less
// were free), and returns its path.
func Fill(t testing.TB, dir string, leave int64) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := Available(t, dir) - leave; n > 0 {
		// Ask for it all; what does not fit (file system metadata) is not needed.
		if err := unix.Fallocate(int(f.Fd()), 0, 0, n); err != nil && err != unix.ENOSPC {
			t.Fatal(err)
		}
	}
	return f.Name()
}

// Free gives n bytes of filler (from Fill) back to the file system.
func Free(t testing.TB, filler string, n int64) {
	t.Helper()
	info, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filler, max(info.Size()-n, 0)); err != nil {
		t.Fatal(err)
	}
}
