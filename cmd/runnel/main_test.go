package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// runMainEnv makes the test binary act as the runnel binary: the tests run
// the tools as a user does (a process with arguments, stdin, stdout,
// stderr and an exit status) without building the binary first.
const runMainEnv = "RUNNEL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// result is what a run of the binary gave.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// runTool runs `runnel args...` with stdin; extra env entries (KEY=value)
// are added to the environment. It fails the test if the command runs
// longer than 30 s (a hang).
func runTool(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("runnel %s: still running after 30 s; stderr: %s", strings.Join(args, " "), r.stderr)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("runnel %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustRun is runTool for a command that must succeed; it returns stdout.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := runTool(t, nil, stdin, args...)
	if r.code != 0 {
		t.Fatalf("runnel %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// mustFail is runTool for a command that must exit 1 with wantErr in
// its stderr.
func mustFail(t *testing.T, stdin, wantErr string, args ...string) result {
	t.Helper()
	r := runTool(t, nil, stdin, args...)
	if r.code != 1 || !strings.Contains(r.stderr, wantErr) {
		t.Fatalf("runnel %s: exit %d, stderr %q; want exit 1 and an error containing %q", strings.Join(args, " "), r.code, r.stderr, wantErr)
	}
	return r
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// toolCommands are the console tools' command trees.
func toolCommands() []*cobra.Command {
	return []*cobra.Command{topicsCommand(), produceCommand(), consumeCommand(), groupsCommand(), dumpLogCommand(), logDirsCommand(), clusterCommand(), metadataQuorumCommand()}
}

// TestHelpExamples: every tool command says what it does and shows an
// example, and --help prints them.
func TestHelpExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" || c.Example == "" {
			t.Errorf("%s: missing Short or Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, c := range toolCommands() {
		walk(c)
	}
	out := mustRun(t, "", "topics", "create", "--help")
	for _, want := range []string{"Examples:", "runnel topics create --topic test", "--replication-factor", "--bootstrap-server"} {
		if !strings.Contains(out, want) {
			t.Errorf("topics create --help lacks %q:\n%s", want, out)
		}
	}
}

// TestNoBroker: every client command fails fast, with a message and exit
// status 1, when nothing listens at --bootstrap-server.
func TestNoBroker(t *testing.T) {
	addr := deadAddr(t)
	for _, args := range [][]string{
		{"topics", "list"},
		{"topics", "create", "--topic", "t"},
		{"produce", "--topic", "t"},
		{"consume", "--topic", "t", "--from-beginning"},
		{"groups", "list"},
		{"groups", "describe", "--group", "g"},
		{"log-dirs", "describe"},
		{"log-dirs", "--describe"},
		{"cluster", "describe"},
		{"metadata-quorum", "describe", "--status"},
	} {
		t.Run(strings.Join(args[:2], "-"), func(t *testing.T) {
			r := mustFail(t, "a line\n", "cannot reach a broker at "+addr, append(args, "--bootstrap-server", addr)...)
			if r.elapsed > 5*time.Second {
				t.Errorf("took %v to give up", r.elapsed)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

// TestBadUsage: flag mistakes are errors with a pointer to --help, before
// any broker is contacted.
func TestBadUsage(t *testing.T) {
	addr := deadAddr(t)
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"topics", "create", "--topic", "t", "--bogus"}, "unknown flag: --bogus\nRun 'runnel topics create --help' for usage."},
		{[]string{"topics", "create"}, `required flag(s) "topic" not set`},
		{[]string{"topics", "create", "--topic", "t", "--partitions", "many"}, `invalid argument "many" for "--partitions"`},
		{[]string{"topics", "create", "--topic", "t", "--config", "retention.ms"}, `--config "retention.ms": want key=value`},
		{[]string{"topics", "alter", "--topic", "t"}, "nothing to alter"},
		{[]string{"produce"}, `required flag(s) "topic" not set`},
		{[]string{"produce", "--topic", "t", "--acks", "2"}, `--request-required-acks "2"`},
		{[]string{"produce", "--topic", "t", "--compression", "brotli"}, `--compression-codec "brotli"`},
		{[]string{"produce", "--topic", "t", "--property", "parse.kye=true"}, "--property parse.kye: unknown"},
		{[]string{"consume", "--topic", "t", "--offset", "5"}, "--offset needs --partition"},
		{[]string{"consume", "--topic", "t", "--partition", "0", "--offset", "soon"}, `--offset "soon"`},
		{[]string{"consume", "--topic", "t", "--partition", "0", "--offset", "1", "--from-beginning"}, "cannot be used together"},
		{[]string{"consume", "--topic", "t", "--group", "g", "--partition", "0"}, "--group and --partition"},
		{[]string{"consume", "--topic", "t", "--format", "{{.Nope"}, "--format"},
		{[]string{"consume", "--topic", "t", "--format", "{{.Value}}", "--property", "print.key=true"}, "cannot be used together"},
		{[]string{"groups", "reset-offsets", "--group", "g", "--topic", "t"}, "to-earliest to-latest to-offset to-datetime"},
		{[]string{"groups", "reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--to-latest"}, "none of the others can be"},
		{[]string{"groups", "reset-offsets", "--group", "g", "--topic", "t", "--to-datetime", "yesterday"}, `--to-datetime "yesterday"`},
		{[]string{"groups", "describe"}, "give --group or --all-groups"},
		{[]string{"dump-log"}, "give the files"},
		{[]string{"topics"}, "missing subcommand for 'runnel topics' (one of: alter, create, delete, describe, elect-leaders, list, reassign)"},
		{[]string{"topics", "craete"}, `unknown subcommand "craete" for 'runnel topics'`},
		{[]string{"groups", "lsit"}, `unknown subcommand "lsit" for 'runnel groups' (one of: delete, describe, list, reset-offsets)`},
		{[]string{"dump-log", "--print-data"}, "unknown flag: --print-data\nRun 'runnel dump-log --help' for usage."},
		{[]string{"consume", "--topic", "t", "--max-message", "1"}, "Run 'runnel consume --help' for usage."},
		{[]string{"produce", "--topic", "t", "--bogus"}, "Run 'runnel produce --help' for usage."},
		{[]string{"log-dirs"}, "missing subcommand for 'runnel log-dirs' (one of: describe)"},
		{[]string{"log-dirs", "describe", "--broker-list", "one"}, `--broker-list "one": want broker ids`},
		{[]string{"cluster"}, "missing subcommand for 'runnel cluster' (one of: cluster-id, describe)"},
		{[]string{"cluster", "describe", "--status"}, "unknown flag: --status\nRun 'runnel cluster describe --help' for usage."},
		{[]string{"metadata-quorum", "describe", "--replication", "--status"}, "only one of --status or --replication"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := tc.args
			if args[0] != "dump-log" {
				args = append(args, "--bootstrap-server", addr)
			}
			mustFail(t, "", tc.wantErr, args...)
		})
	}
}
