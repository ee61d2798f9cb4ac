package disk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func openFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFallocateExtendsAndAllocates(t *testing.T) {
	f := openFile(t)
	const size = 1 << 20
	if err := Fallocate(f, 0, size); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Fatalf("size %d, want %d", st.Size, size)
	}
	if st.Blocks*512 < size {
		t.Fatalf("%d bytes allocated, want at least %d (not a sparse file)", st.Blocks*512, size)
	}
	// A range inside the file leaves the size alone; one past it extends it.
	if err := Fallocate(f, 10, 100); err != nil {
		t.Fatal(err)
	}
	if err := Fallocate(f, size, size); err != nil {
		t.Fatal(err)
	}
	if fi, _ := f.Stat(); fi.Size() != 2*size {
		t.Fatalf("size %d after extending, want %d", fi.Size(), 2*size)
	}
}

func TestFallocateErrors(t *testing.T) {
	f := openFile(t)
	for _, c := range []struct{ off, n int64 }{{-1, 10}, {0, 0}, {0, -5}} {
		if err := Fallocate(f, c.off, c.n); err == nil {
			t.Errorf("Fallocate(%d, %d) accepted", c.off, c.n)
		}
	}
	// Far more than any test disk holds: the kernel refuses with ENOSPC (or EFBIG when the
	// size exceeds the file system's maximum file size); either way the errno is wrapped.
	err := Fallocate(f, 0, 1<<62)
	if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("huge fallocate: %v, want ENOSPC or EFBIG", err)
	}
	if !strings.Contains(err.Error(), f.Name()) {
		t.Errorf("error %q does not name the file", err)
	}
	ro, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := Fallocate(ro, 0, 4096); !errors.Is(err, syscall.EBADF) {
		t.Errorf("fallocate on read-only file: %v, want EBADF", err)
	}
}

func TestFdatasync(t *testing.T) {
	f := openFile(t)
	if _, err := f.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := Fdatasync(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := Fdatasync(f); err == nil {
		t.Fatal("fdatasync of a closed file succeeded")
	}
}

func TestSyncFS(t *testing.T) {
	f := openFile(t)
	if _, err := f.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := SyncFS(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := SyncFS(f); !errors.Is(err, os.ErrClosed) && !errors.Is(err, syscall.EBADF) {
		t.Fatalf("syncfs through a closed file: %v, want EBADF", err)
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    bool
	}{
		{"5.8.0", true}, {"5.7.19", false}, {"5.10.0-13-amd64", true}, {"6.18.44-fc-v1045", true},
		{"4.19.0", false}, {"6", false}, {"", false}, {"x.y", false},
	} {
		if got := kernelAtLeast(tc.release, 5, 8); got != tc.want {
			t.Errorf("kernelAtLeast(%q, 5, 8) = %v, want %v", tc.release, got, tc.want)
		}
	}
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing dir: %v, want ErrNotExist", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint")
	for _, content := range []string{"first\n", "second, longer\n", ""} {
		if err := WriteFileAtomic(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("file holds %q, want %q", got, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
		t.Errorf("permissions %v exceed 0640", perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file (no temp files left)", len(entries))
	}
}

func TestWriteFileAtomicFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint")
	if err := WriteFileAtomic(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Renaming onto a directory fails after the temp file was written.
	target := filepath.Join(dir, "adir")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(target, []byte("new"), 0o644); err == nil {
		t.Fatal("replacing a non-empty directory succeeded")
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write into a missing directory: %v, want ErrNotExist", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("old file now holds %q", got)
	}
}

func TestFdatasyncDoesNotAllocate(t *testing.T) {
	f := openFile(t)
	if n := testing.AllocsPerRun(20, func() {
		if err := Fdatasync(f); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Fdatasync allocates %v times per call, want 0 (it is on the flush path)", n)
	}
}

// TestIsTempOf: the names createTemp makes are the temporaries of their file and of no other.
func TestIsTempOf(t *testing.T) {
	dir := t.TempDir()
	f, tmp, err := createTemp(OS, filepath.Join(dir, "leader-epoch-checkpoint"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	name := filepath.Base(tmp)
	if !IsTempOf(name, "leader-epoch-checkpoint") {
		t.Fatalf("%s is not a temporary of leader-epoch-checkpoint", name)
	}
	for _, c := range []struct{ name, base string }{
		{name, "leader-epoch"}, {"leader-epoch-checkpoint", "leader-epoch-checkpoint"},
		{"leader-epoch-checkpoint.tmp", "leader-epoch-checkpoint"}, {"00000000000000000000.snapshot.x.tmp", "leader-epoch-checkpoint"},
	} {
		if IsTempOf(c.name, c.base) {
			t.Errorf("IsTempOf(%q, %q) = true", c.name, c.base)
		}
	}
	if base, ok := TempOf(name); !ok || base != "leader-epoch-checkpoint" {
		t.Errorf("TempOf(%q) = %q, %v", name, base, ok)
	}
	for _, n := range []string{"leader-epoch-checkpoint", "leader-epoch-checkpoint.tmp", ".tmp", "a..tmp", "00000000000000000000.snapshot"} {
		if base, ok := TempOf(n); ok {
			t.Errorf("TempOf(%q) = %q, true", n, base)
		}
	}
}
