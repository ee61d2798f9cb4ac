package faultfs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"runnel/io/disk/faultfs"
	"runnel/io/mmap"
)

func TestRules(t *testing.T) {
	dir := t.TempDir()
	fs := faultfs.New()
	fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Nth: 2})
	fs.Inject(faultfs.Rule{Op: faultfs.Fallocate, Every: 3, Errno: syscall.ENOSPC, PathContains: "b"})
	a, err := fs.OpenFile(filepath.Join(dir, "a"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := fs.OpenFile(filepath.Join(dir, "b"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var got []bool
	for range 3 {
		got = append(got, errors.Is(fs.Fdatasync(a), syscall.EIO))
	}
	if want := []bool{false, true, false}; !slices.Equal(got, want) {
		t.Fatalf("fdatasync failures %v, want %v (Nth: 2)", got, want)
	}
	got = nil
	for range 6 {
		if err := fs.Fallocate(a, 0, 4096); err != nil {
			t.Fatalf("fallocate of a file the rule does not name: %v", err)
		}
		got = append(got, errors.Is(fs.Fallocate(b, 0, 4096), syscall.ENOSPC))
	}
	if want := []bool{false, false, true, false, false, true}; !slices.Equal(got, want) {
		t.Fatalf("fallocate failures %v, want %v (Every: 3)", got, want)
	}
	if n := fs.Injected(); n != 3 {
		t.Fatalf("Injected() = %d, want 3", n)
	}
	if n := fs.Calls(faultfs.Fallocate); n != 12 {
		t.Fatalf("Calls(Fallocate) = %d, want 12", n)
	}
}

// TestCrashClone checks what a crash keeps: synced bytes (pwrite or mapped), names made
// durable by a directory fsync, nothing of a failed fdatasync.
func TestCrashClone(t *testing.T) {
	root := t.TempDir()
	fs := faultfs.NewCrashable(root)
	path := func(name string) string { return filepath.Join(root, name) }
	create := func(name string) *os.File {
		f, err := fs.OpenFile(path(name), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path("old"), []byte("there before"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Written through a shared mapping: the synced part survives, the rest does not.
	mapped := create("mapped")
	must(fs.Fallocate(mapped, 0, 8192))
	m, err := mmap.Map(mapped, 8192, true)
	must(err)
	defer m.Unmap()
	copy(m.Bytes(), "synced through the mapping")
	must(fs.Fdatasync(mapped))
	copy(m.Bytes()[100:], "never synced")

	written := create("written")
	must(fs.Pwrite(written, []byte("synced"), 0))
	must(fs.Fdatasync(written))
	must(fs.Pwrite(written, []byte(" and lost"), 6))

	failed := create("failed")
	must(fs.Pwrite(failed, []byte("first"), 0))
	must(fs.Fdatasync(failed))
	must(fs.Pwrite(failed, []byte("second"), 0))
	fs.Inject(faultfs.Rule{Op: faultfs.Fdatasync, Nth: 1})
	if err := fs.Fdatasync(failed); !errors.Is(err, syscall.EIO) {
		t.Fatalf("injected fdatasync failure: %v", err)
	}
	must(fs.Fdatasync(failed)) // succeeds, as Linux's second fdatasync would, but too late

	renamed := create("renamed")
	must(fs.Fdatasync(renamed))
	must(fs.SyncDir(root)) // every name so far is durable
	must(fs.Rename(path("renamed"), path("renamed-new")))
	unnamed := create("unnamed")
	must(fs.Fdatasync(unnamed))
	must(fs.Remove(path("old")))

	clone := filepath.Join(t.TempDir(), "clone")
	must(fs.CrashClone(clone))
	if err := fs.Fdatasync(written); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fdatasync after the crash: %v, want EIO", err)
	}
	want := map[string][]byte{
		"mapped":  append([]byte("synced through the mapping"), make([]byte, 8192-26)...),
		"written": []byte("synced"),
		"failed":  []byte("first"),
		"renamed": {},
		"old":     []byte("there before"),
	}
	entries, err := os.ReadDir(clone)
	must(err)
	if len(entries) != len(want) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("clone holds %v, want %d files", names, len(want))
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(clone, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s: got %q, want %q", name, got, content)
		}
	}
}

// TestSyncFS: a successful SyncFS makes every tracked file's content and every name durable at
// once; a failed one loses every tracked file's unsynced writes for good.
func TestSyncFS(t *testing.T) {
	root := t.TempDir()
	fs := faultfs.NewCrashable(root)
	sub := filepath.Join(root, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	open := func(name string) *os.File {
		f, err := fs.OpenFile(filepath.Join(sub, name), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, b := open("a"), open("b")
	for _, f := range []*os.File{a, b} {
		if err := fs.Pwrite(f, []byte("synced"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.SyncFS(a); err != nil {
		t.Fatal(err)
	}
	fs.Inject(faultfs.Rule{Op: faultfs.SyncFS, Nth: 1})
	for _, f := range []*os.File{a, b} {
		if err := fs.Pwrite(f, []byte("lost!!"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.SyncFS(a); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SyncFS: %v, want EIO", err)
	}
	if err := fs.SyncFS(a); err != nil { // succeeds, but the writes are gone
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if err := fs.CrashClone(clone); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		got, err := os.ReadFile(filepath.Join(clone, "sub", name))
		if err != nil {
			t.Fatalf("%s after the crash: %v (its name was made durable by SyncFS)", name, err)
		}
		if string(got) != "synced" {
			t.Fatalf("%s after the crash holds %q, want what the first SyncFS made durable", name, got)
		}
	}
}
