package faultfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"runnel/io/disk"
	"runnel/io/disk/faultfs"
)

// TestSyncFSClosedFiles: a file written and closed without a sync of its own (as LogDir.Close
// leaves its logs' files for one syncfs) is made durable by the next SyncFS, under the name it
// has then; one closed after a failed SyncFS keeps what was durable before.
func TestSyncFSClosedFiles(t *testing.T) {
	root := t.TempDir()
	fs := faultfs.NewCrashable(root)
	path := func(name string) string { return filepath.Join(root, name) }
	write := func(name, content string) {
		f, err := fs.OpenFile(path(name), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := fs.Pwrite(f, []byte(content), 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	lock, err := os.Create(path("lock")) // the file a LogDir's syncfs goes through
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	write("closed", "closed unsynced")
	write("renamed.tmp", "renamed while closed")
	if err := fs.Rename(path("renamed.tmp"), path("renamed")); err != nil {
		t.Fatal(err)
	}
	if err := fs.SyncFS(lock); err != nil {
		t.Fatal(err)
	}
	write("closed", "after the sync") // same length or not: the whole image is kept
	fs.Inject(faultfs.Rule{Op: faultfs.SyncFS, Nth: 1})
	if err := fs.SyncFS(lock); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SyncFS: %v, want EIO", err)
	}
	if err := fs.SyncFS(lock); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if err := fs.CrashClone(clone); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"closed": "closed unsynced", "renamed": "renamed while closed"} {
		got, err := os.ReadFile(filepath.Join(clone, name))
		if err != nil || string(got) != want {
			t.Errorf("%s after the crash: %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(clone, "renamed.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("renamed.tmp after the crash: %v, want it gone (the rename was synced)", err)
	}
}

// TestCrashRule: a Rule with Crash stops the FS at the call it picks, before it (the call does
// nothing) or after it, and leaves in Crash what a power cut there would; that call and every
// later one fail with EIO.
func TestCrashRule(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(map[bool]string{false: "before", true: "after"}[after], func(t *testing.T) {
			root := t.TempDir()
			fs := faultfs.NewCrashable(root)
			f, err := fs.OpenFile(filepath.Join(root, "f"), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(fs.Pwrite(f, []byte("one"), 0))
			must(fs.SyncFS(f)) // before the rule: not counted
			must(fs.Pwrite(f, []byte("two"), 0))
			clone := filepath.Join(t.TempDir(), "clone")
			fs.Inject(faultfs.Rule{Op: faultfs.SyncFS, Nth: 1, Crash: clone, After: after})
			if dst, _ := fs.Crashed(); dst != "" {
				t.Fatal("crashed before the rule's call")
			}
			if err := fs.SyncFS(f); !errors.Is(err, syscall.EIO) {
				t.Fatalf("SyncFS that crashed: %v, want EIO", err)
			}
			if dst, err := fs.Crashed(); dst != clone || err != nil {
				t.Fatalf("Crashed() = %q, %v; want %q, nil", dst, err, clone)
			}
			if err := fs.Pwrite(f, []byte("three"), 0); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Pwrite after the crash: %v, want EIO", err)
			}
			want := map[bool]string{false: "one", true: "two"}[after]
			if got, err := os.ReadFile(filepath.Join(clone, "f")); err != nil || string(got) != want {
				t.Fatalf("after the crash: %q, %v; want %q", got, err, want)
			}
		})
	}
}

// TestSyncFSReportsErrors: faultfs's SyncFS reports errors where the kernel's does, unless a
// test makes it say otherwise.
func TestSyncFSReportsErrors(t *testing.T) {
	fs := faultfs.New()
	if got, want := fs.SyncFSReportsErrors(), disk.SyncFSReportsErrors(); got != want {
		t.Fatalf("SyncFSReportsErrors() = %v, the kernel's %v", got, want)
	}
	fs.SetSyncFSReportsErrors(false)
	if fs.SyncFSReportsErrors() {
		t.Fatal("SyncFSReportsErrors() after SetSyncFSReportsErrors(false)")
	}
	fs.SetSyncFSReportsErrors(true)
	if got, want := fs.SyncFSReportsErrors(), disk.SyncFSReportsErrors(); got != want {
		t.Fatalf("SyncFSReportsErrors() = %v after SetSyncFSReportsErrors(true), the kernel's %v", got, want)
	}
}
