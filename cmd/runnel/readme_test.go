package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	commands, want := readmeBlocks(t, readmeSection)
	b := brokertest.Start(t)
	if got := runREADMECommands(t, b, commands); got != want {
		t.Errorf("the README's commands printed\n%s\nbut the README says\n%s", got, want)
	}
}

// TestREADMELogDirs runs the log-dirs example of the README's bare-metal
// section against a broker holding the topic it names, and compares the
// output with the README's, but for the sizes and the log dir's path.
func TestREADMELogDirs(t *testing.T) {
	commands, want := readmeBlocks(t, "## Running on bare metal")
	b := brokertest.Start(t)
	mustRun(t, "", "topics", "create", "--topic", "orders", "--bootstrap-server", b.Addr)
	mustRun(t, "a\nb\n", "produce", "--topic", "orders", "--bootstrap-server", b.Addr)
	got := runREADMECommands(t, b, commands)
	// Sizes and paths differ from machine to machine.
	sizes := regexp.MustCompile(`"size":\d+`)
	dirs := regexp.MustCompile(`"logDir":"[^"]*"`)
	norm := func(s string) string {
		return dirs.ReplaceAllString(sizes.ReplaceAllString(s, `"size":N`), `"logDir":"DIR"`)
	}
	if norm(got) != norm(want) {
		t.Errorf("the README's log-dirs command printed\n%s\nbut the README says\n%s", got, want)
	}
}

// runREADMECommands runs README command lines with sh from a directory
// whose bin/runnel is this binary, RUNNEL_BOOTSTRAP_SERVER pointing at b,
// and returns what they printed (stdout and stderr, as a terminal shows
// them).
func runREADMECommands(t *testing.T, b *brokertest.Broker, commands []string) string {
	t.Helper()
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
	return got.String()
}

// readmeBlocks returns the command lines and the expected output of a
// README section (heading is its "## ..." line): the lines of its ```sh
// blocks, but for those that start a broker, and its one ```text block.
func readmeBlocks(t *testing.T, heading string) (commands []string, output string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", heading)
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
			t.Fatalf("README: unterminated code block in %q", heading)
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
		t.Fatalf("README %q: %d commands and %d output blocks; want commands and one ```text block", heading, len(commands), outputs)
	}
	return commands, output
}
