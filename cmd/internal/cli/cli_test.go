package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFindBinary checks the order FindBinary looks in: the running
// executable's directory first, then PATH, and an error naming both.
func TestFindBinary(t *testing.T) {
	exe := func(dir string) string {
		path := filepath.Join(dir, "tool")
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	beside, onPath, empty := t.TempDir(), t.TempDir(), t.TempDir()
	besideTool, pathTool := exe(beside), exe(onPath)
	// A directory or a file that cannot be run beside is passed over.
	if err := os.Mkdir(filepath.Join(empty, "tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	if err := os.WriteFile(filepath.Join(plain, "tool"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Setenv("PATH", onPath)
	for _, tc := range []struct{ dir, want string }{
		{beside, besideTool},
		{empty, pathTool},
		{plain, pathTool},
	} {
		if got, err := findBinary(tc.dir, "tool"); err != nil || got != tc.want {
			t.Errorf("findBinary(%s) = %q, %v; want %q", tc.dir, got, err, tc.want)
		}
	}

	t.Setenv("PATH", empty+string(os.PathListSeparator)+plain)
	_, err := findBinary(plain, "tool")
	if err == nil || !strings.Contains(err.Error(), "no tool in "+plain+" nor on PATH") {
		t.Errorf("findBinary with no tool anywhere: %v; want an error naming where it looked", err)
	}
}
