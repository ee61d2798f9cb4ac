package main

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"runnel/broker/brokertest"
	"runnel/internal/wait"
)

// groupRows returns the table rows (fields) of a groups command's output
// that start with group.
func groupRows(out, group string) [][]string {
	var rows [][]string
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == group {
			rows = append(rows, f)
		}
	}
	return rows
}

func TestGroups(t *testing.T) {
	b := brokertest.Start(t, "group.initial.rebalance.delay.ms=0")
	bs := []string{"--bootstrap-server", b.Addr}
	run := func(stdin string, args ...string) string {
		t.Helper()
		return mustRun(t, stdin, append(args, bs...)...)
	}
	fail := func(wantErr string, args ...string) { t.Helper(); mustFail(t, "", wantErr, append(args, bs...)...) }
	// describe checks the group's rows: topic partition current end lag.
	describe := func(want ...string) {
		t.Helper()
		out := run("", "groups", "describe", "--group", "billing")
		if !strings.HasPrefix(out, "\nConsumer group 'billing' has no active members.\n\nGROUP ") {
			t.Errorf("describe of an empty group:\n%s", out)
		}
		var got []string
		for _, r := range groupRows(out, "billing") {
			got = append(got, strings.Join(r[1:], " "))
		}
		if !slices.Equal(got, want) {
			t.Errorf("describe rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// reset checks reset-offsets' table: partition new-offset.
	reset := func(args []string, want ...string) {
		t.Helper()
		r := runTool(t, nil, "", append(append([]string{"groups", "reset-offsets", "--group", "billing"}, args...), bs...)...)
		if r.code != 0 {
			t.Fatalf("reset-offsets %v: exit %d: %s", args, r.code, r.stderr)
		}
		var got []string
		for _, row := range groupRows(r.stdout, "billing") {
			got = append(got, strings.Join(row[2:], " "))
		}
		if !slices.Equal(got, want) {
			t.Errorf("reset-offsets %v: %v, want %v\n%s", args, got, want, r.stdout)
		}
		if dry := !slices.Contains(args, "--execute") && !slices.Contains(args, "--dry-run"); dry != strings.Contains(r.stderr, "No action will be performed") {
			t.Errorf("reset-offsets %v: stderr %q", args, r.stderr)
		}
	}

	run("", "topics", "create", "--topic", "gt", "--partitions", "2")
	run("a\nb\nc\nd\n", "produce", "--topic", "gt", "--partition", "0")
	run("e\nf\n", "produce", "--topic", "gt", "--partition", "1")
	out := run("", "consume", "--topic", "gt", "--group", "billing", "--from-beginning", "--max-messages", "6", "--timeout-ms", "10000")
	if got := strings.Fields(out); len(got) != 6 || strings.Join(slices.Sorted(slices.Values(got)), "") != "abcdef" {
		t.Fatalf("group consume printed %q", out)
	}
	if out := run("", "groups", "list"); out != "billing\n" {
		t.Errorf("groups list: %q", out)
	}
	run("g\n", "produce", "--topic", "gt", "--partition", "0")
	describe("gt 0 4 5 1 - - -", "gt 1 2 2 0 - - -")

	reset([]string{"--topic", "gt", "--to-earliest"}, "0 0", "1 0")
	describe("gt 0 4 5 1 - - -", "gt 1 2 2 0 - - -") // a dry run commits nothing
	reset([]string{"--topic", "gt", "--to-earliest", "--execute"}, "0 0", "1 0")
	describe("gt 0 0 5 5 - - -", "gt 1 0 2 2 - - -")
	reset([]string{"--topic", "gt:0", "--to-offset", "100", "--dry-run"}, "0 5")
	reset([]string{"--topic", "gt:0", "--to-offset", "3", "--execute"}, "0 3")
	reset([]string{"--all-topics", "--to-latest", "--execute"}, "0 5", "1 2")
	reset([]string{"--all-topics", "--to-datetime", "2000-01-01T00:00:00.000Z"}, "0 0", "1 0")
	reset([]string{"--all-topics", "--to-datetime", "2100-01-01T00:00:00"}, "0 5", "1 2")
	reset([]string{"--topic", "gt", "--to-offset", "3", "--execute"}, "0 3", "1 2")
	describe("gt 0 3 5 2 - - -", "gt 1 2 2 0 - - -")

	// The group resumes where it was reset to.
	if out := run("", "consume", "--topic", "gt", "--group", "billing", "--max-messages", "2", "--timeout-ms", "10000"); out != "d\ng\n" {
		t.Errorf("consume after the reset: %q", out)
	}
	describe("gt 0 5 5 0 - - -", "gt 1 2 2 0 - - -")

	fail(`consumer group "nope" does not exist`, "groups", "describe", "--group", "nope")
	fail(`topic "nope" does not exist`, "groups", "reset-offsets", "--group", "billing", "--topic", "nope", "--to-earliest")
	fail(`"7" is not a partition of gt`, "groups", "reset-offsets", "--group", "billing", "--topic", "gt:7", "--to-earliest")
	if out := run("", "groups", "delete", "--group", "billing"); out != "Deletion of requested consumer groups ('billing') was successful.\n" {
		t.Errorf("delete: %q", out)
	}
	if out := run("", "groups", "list"); out != "" {
		t.Errorf("list after delete: %q", out)
	}
	fail("could not be deleted", "groups", "delete", "--group", "billing")
}

// TestGroupsActive: a group with a running consumer shows its member and
// refuses an offset reset, as Kafka's tool does.
func TestGroupsActive(t *testing.T) {
	b := brokertest.Start(t, "group.initial.rebalance.delay.ms=0")
	bs := []string{"--bootstrap-server", b.Addr}
	mustRun(t, "x\n", append([]string{"produce", "--topic", "act"}, bs...)...)

	cmd := exec.Command(os.Args[0], append([]string{"consume", "--topic", "act", "--group", "live", "--from-beginning"}, bs...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var rows [][]string
	var out string
	defer func() {
		if t.Failed() {
			t.Logf("last describe:\n%s\nconsumer stderr: %s", out, stderr.String())
		}
	}()
	wait.Until(t, 20*time.Second, "an active member with a commit", func() bool {
		// Until the consumer has joined, the group does not exist (exit 1).
		out = runTool(t, nil, "", append([]string{"groups", "describe", "--group", "live"}, bs...)...).stdout
		rows = groupRows(out, "live")
		return len(rows) == 1 && len(rows[0]) == 9 && rows[0][6] != "-" && rows[0][3] == "1"
	})
	if r := rows[0]; r[1] != "act" || r[2] != "0" || r[4] != "1" || r[5] != "0" || r[8] != "runnel-console" {
		t.Errorf("active member row %v", r)
	}
	mustFail(t, "", "can only be reset if the group 'live' is inactive, but the current state is Stable",
		append([]string{"groups", "reset-offsets", "--group", "live", "--all-topics", "--to-earliest", "--execute"}, bs...)...)
	mustFail(t, "", "could not be deleted", append([]string{"groups", "delete", "--group", "live"}, bs...)...)

	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil || stdout.String() != "x\n" {
		t.Errorf("consumer: %v, printed %q, stderr %q", err, stdout.String(), stderr.String())
	}
}

// TestGroupsKafkaForms runs Kafka's kafka-consumer-groups.sh commands with
// only the program's name changed: the action as a flag.
func TestGroupsKafkaForms(t *testing.T) {
	b := brokertest.Start(t, "group.initial.rebalance.delay.ms=0")
	bs := []string{"--bootstrap-server", b.Addr}
	run := func(stdin string, args ...string) string {
		t.Helper()
		return mustRun(t, stdin, append(args, bs...)...)
	}

	run("", "topics", "--create", "--topic", "kg")
	run("a\nb\nc\n", "produce", "--topic", "kg")
	run("", "consume", "--topic", "kg", "--group", "kafka-forms", "--from-beginning", "--max-messages", "3", "--timeout-ms", "10000")
	if out := run("", "groups", "--list"); out != "kafka-forms\n" {
		t.Errorf("--list: %q", out)
	}
	rows := groupRows(run("", "groups", "--describe", "--group", "kafka-forms"), "kafka-forms")
	if len(rows) != 1 || strings.Join(rows[0][1:6], " ") != "kg 0 3 3 0" {
		t.Errorf("--describe rows: %v", rows)
	}
	out := run("", "groups", "--reset-offsets", "--group", "kafka-forms", "--topic", "kg", "--to-earliest", "--execute")
	if rows := groupRows(out, "kafka-forms"); len(rows) != 1 || strings.Join(rows[0][1:], " ") != "kg 0 0" {
		t.Errorf("--reset-offsets: %q", out)
	}
	if out := run("", "groups", "--delete", "--group", "kafka-forms"); out != "Deletion of requested consumer groups ('kafka-forms') was successful.\n" {
		t.Errorf("--delete: %q", out)
	}
	if out := run("", "groups", "--list"); out != "" {
		t.Errorf("--list after --delete: %q", out)
	}
}
