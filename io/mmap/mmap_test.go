package mmap

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// newFile creates a file in a temporary directory holding size bytes of a pattern.
func newFile(t *testing.T, size int) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(pattern(size)); err != nil {
		t.Fatal(err)
	}
	return f
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func mustMap(t *testing.T, f *os.File, length int, writable bool) *Mapping {
	t.Helper()
	m, err := Map(f, length, writable)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmap() })
	return m
}

func TestWriteThroughMappingReachesFile(t *testing.T) {
	size := 3*pageSize + 100
	f := newFile(t, size)
	m := mustMap(t, f, size, true)
	if m.Len() != size || len(m.Bytes()) != size {
		t.Fatalf("Len %d, len(Bytes) %d, want %d", m.Len(), len(m.Bytes()), size)
	}
	msg := []byte("written through the mapping")
	off := pageSize + 10 // unaligned, crosses nothing
	copy(m.Bytes()[off:], msg)
	if err := m.Sync(off, len(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := f.ReadAt(got, int64(off)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("file has %q, want %q", got, msg)
	}
	// The last, partial page syncs too.
	if err := m.Sync(size-1, 1); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyMappingSeesFileWrites(t *testing.T) {
	size := 2 * pageSize
	f := newFile(t, size)
	m := mustMap(t, f, size, false)
	if !bytes.Equal(m.Bytes(), pattern(size)) {
		t.Fatal("mapping does not show the file's bytes")
	}
	if _, err := f.WriteAt([]byte("later"), 5); err != nil {
		t.Fatal(err)
	}
	if got := string(m.Bytes()[5:10]); got != "later" {
		t.Fatalf("mapping shows %q after pwrite, want %q", got, "later")
	}
}

func TestMappingOutlivesFile(t *testing.T) {
	size := pageSize
	f := newFile(t, size)
	m := mustMap(t, f, size, true)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m.Bytes()[0] = 42
	if err := m.Sync(0, 1); err != nil {
		t.Fatal(err)
	}
	if m.Bytes()[0] != 42 {
		t.Fatal("store lost")
	}
}

func TestMapLongerThanFile(t *testing.T) {
	f := newFile(t, 0)
	size := 4 * pageSize
	if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil {
		t.Fatal(err)
	}
	length := 16 * pageSize
	m := mustMap(t, f, length, true)
	if m.Len() != length {
		t.Fatalf("Len %d, want %d", m.Len(), length)
	}
	copy(m.Bytes()[size-3:], "end")
	if err := m.Sync(0, size); err != nil {
		t.Fatal(err)
	}
	// Growing the file makes the rest of the mapping usable.
	if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(length)); err != nil {
		t.Fatal(err)
	}
	m.Bytes()[length-1] = 9
	if err := m.Sync(length-1, 1); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1)
	if _, err := f.ReadAt(got, int64(length-1)); err != nil || got[0] != 9 {
		t.Fatalf("read back %v, %v; want 9", got, err)
	}
}

func TestAdvise(t *testing.T) {
	size := 4 * pageSize
	f := newFile(t, size)
	m := mustMap(t, f, size, false)
	for _, advice := range []int{unix.MADV_SEQUENTIAL, unix.MADV_RANDOM, unix.MADV_WILLNEED, unix.MADV_NORMAL} {
		if err := m.Advise(1, size-1, advice); err != nil {
			t.Errorf("advice %d: %v", advice, err)
		}
	}
	if err := m.Advise(0, size, 12345); err == nil {
		t.Error("unknown advice accepted")
	}
	// MADV_DONTNEED on a shared file mapping drops the pages; the file's bytes come back.
	if err := m.Advise(0, size, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Bytes(), pattern(size)) {
		t.Fatal("contents changed after MADV_DONTNEED")
	}
}

func TestRangeChecks(t *testing.T) {
	size := 2 * pageSize
	f := newFile(t, size)
	m := mustMap(t, f, size, true)
	ops := map[string]func(off, n int) error{
		"Sync":   m.Sync,
		"Advise": func(off, n int) error { return m.Advise(off, n, unix.MADV_NORMAL) },
	}
	cases := []struct {
		name   string
		off, n int
		ok     bool
	}{
		{"whole", 0, size, true},
		{"empty", 0, 0, true},
		{"empty at end", size, 0, true},
		{"last byte", size - 1, 1, true},
		{"negative offset", -1, 1, false},
		{"negative length", 0, -1, false},
		{"past end", size - 1, 2, false},
		{"offset past end", size + 1, 0, false},
		{"overflow", 1, int(^uint(0) >> 1), false},
	}
	for name, op := range ops {
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				err := op(c.off, c.n)
				if c.ok && err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if !c.ok && !errors.Is(err, ErrRange) {
					t.Fatalf("got %v, want ErrRange", err)
				}
			})
		}
	}
}

func TestUnmapIsIdempotent(t *testing.T) {
	f := newFile(t, pageSize)
	m, err := Map(f, pageSize, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := m.Unmap(); err != nil {
			t.Fatalf("Unmap #%d: %v", i+1, err)
		}
	}
	if m.Bytes() != nil || m.Len() != 0 {
		t.Fatal("Bytes/Len after Unmap are not empty")
	}
	if err := m.Sync(0, 1); !errors.Is(err, ErrUnmapped) {
		t.Fatalf("Sync after Unmap: %v", err)
	}
	if err := m.Advise(0, 1, unix.MADV_NORMAL); !errors.Is(err, ErrUnmapped) {
		t.Fatalf("Advise after Unmap: %v", err)
	}
}

func TestMapErrors(t *testing.T) {
	if _, err := Map(nil, pageSize, false); err == nil {
		t.Error("nil file accepted")
	}
	f := newFile(t, pageSize)
	if _, err := Map(f, 0, false); err == nil {
		t.Error("zero length accepted")
	}
	ro, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := Map(ro, pageSize, true); !errors.Is(err, unix.EACCES) {
		t.Errorf("writable map of a read-only file: %v, want EACCES", err)
	}
	closed := newFile(t, pageSize)
	closed.Close()
	if _, err := Map(closed, pageSize, false); err == nil {
		t.Error("closed file accepted")
	}
}
