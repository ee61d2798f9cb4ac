package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"runnel/broker/brokertest"
)

// readmeSection is the README section whose commands this test runs.
const readmeSection = "## Quickstart with the console tools"

// TestREADMEQuickstart runs the console-tool commands of the README's
// quickstart, exactly as written, against a fresh broker and compares what
// they print (stdout and stderr, as a terminal shows them) with the
// README's output block, so that the README cannot rot.
//
// In the section, ```sh blocks hold the commands, one a line, run with sh
// from a directory whose bin/runnel is this binary; lines that start a
// broker (make run, bin/runnel serve) are skipped: the test's broker
// (brokertest, on a free port) stands in, and RUNNEL_BOOTSTRAP_SERVER,
// the default of --bootstrap-server, points the commands at it. The
// ```text block is the expected output of all the commands together.
func TestREADMEQuickstart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	commands, want := quickstartBlocks(t, string(readme))

	b := brokertest.Start(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\n" + runMainEnv + "=1 exec '" + os.Args[0] + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "bin", "runnel"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, line := range commands {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), bootstrapEnv+"="+b.Addr)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README command %q: %v\n%s", line, err, out)
		}
		got.Write(out)
	}
	if got.String() != want {
		t.Errorf("the README's commands printed\n%s\nbut the README says\n%s", got.String(), want)
	}
}

// quickstartBlocks returns the command lines and the expected output of
// the README section.
func quickstartBlocks(t *testing.T, readme string) (commands []string, output string) {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n"+readmeSection+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", readmeSection)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var outputs int
	for rest := section; ; {
		_, after, ok := strings.Cut(rest, "\n```")
		if !ok {
			break
		}
		lang, after, _ := strings.Cut(after, "\n")
		body, after, ok := strings.Cut(after, "```\n")
		if !ok {
			t.Fatal("README: unterminated code block in the quickstart")
		}
		rest = "\n" + after
		switch lang {
		case "sh":
			for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
				if f := strings.Fields(line); len(f) == 0 || f[0] == "make" || len(f) > 1 && f[0] == "bin/runnel" && f[1] == "serve" {
					continue
				}
				commands = append(commands, line)
			}
		case "text":
			output, outputs = body, outputs+1
		}
	}
	if len(commands) == 0 || outputs != 1 {
		t.Fatalf("README quickstart: %d commands and %d output blocks; want commands and one ```text block", len(commands), outputs)
	}
	return commands, output
}
