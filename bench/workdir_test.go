package bench

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A run's work directory is removed by the next run once nobody holds its lock (its run died),
// and never while its run lives; a directory without a lock file (an older harness's) is kept.
func TestStaleWorkDirsRemoved(t *testing.T) {
	parent := t.TempDir()
	live, releaseLive, err := makeWorkDir(parent, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(parent, workDirPrefix+"stale")
	older := filepath.Join(parent, workDirPrefix+"older")
	for _, dir := range []string{stale, older} {
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(stale, ownerLock), nil, 0o644); err != nil { // its owner died
		t.Fatal(err)
	}
	next, releaseNext, err := makeWorkDir(parent, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(dir string) bool { _, err := os.Stat(dir); return err == nil }
	if exists(stale) {
		t.Error("the dead run's work directory was kept")
	}
	if !exists(live) || !exists(older) || !exists(next) {
		t.Errorf("a directory was removed: live %v, older %v, new %v", exists(live), exists(older), exists(next))
	}
	releaseLive()
	releaseNext()
	if exists(live) || exists(next) {
		t.Error("release left its work directory")
	}
}
