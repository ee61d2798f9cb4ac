package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerLinksNoBenchmarkPeers keeps the runnel binary lean: the
// benchmark's peer broker, charts and profile reader belong to
// cmd/runnel-bench, and none of them may enter runnel's import graph.
func TestServerLinksNoBenchmarkPeers(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/twmb/franz-go/pkg/kfake", "gonum.org/v1/plot", "github.com/google/pprof/profile"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("cmd/runnel imports %s (see `go list -deps ./cmd/runnel`); it belongs in cmd/runnel-bench", pkg)
			}
		}
	}
}

// TestBenchRunsHarness checks that `runnel bench` runs the runnel-bench it
// finds on PATH with its own arguments, its path as --runnel and its
// command line for the report.
func TestBenchRunsHarness(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"$0 $*\"\n"
	if err := os.WriteFile(filepath.Join(dir, "runnel-bench"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := runTool(t, []string{"PATH=" + dir}, "", "bench", "--quick", "--out", "x")
	want := filepath.Join(dir, "runnel-bench") + " --runnel " + self + " --command " + os.Args[0] + " bench --quick --out x --quick --out x\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("runnel bench: exit %d, stdout %q, stderr %q; want exit 0 and %q", r.code, r.stdout, r.stderr, want)
	}
}

// TestBenchWithoutHarness checks that `runnel bench` with no runnel-bench
// beside it or on PATH says how to build one.
func TestBenchWithoutHarness(t *testing.T) {
	r := runTool(t, []string{"PATH=" + t.TempDir()}, "", "bench", "--quick")
	if r.code != 1 || !strings.Contains(r.stderr, "runnel-bench") || !strings.Contains(r.stderr, "build it with `make build`") {
		t.Fatalf("runnel bench without runnel-bench: exit %d, stderr %q; want exit 1 and how to build it", r.code, r.stderr)
	}
}
