package main

import (
	"regexp"
	"strings"
	"testing"

	"runnel/broker/brokertest"
)

func TestTopics(t *testing.T) {
	b := brokertest.Start(t, "num.partitions=2")
	bs := []string{"--bootstrap-server", b.Addr}
	run := func(args ...string) string { t.Helper(); return mustRun(t, "", append(args, bs...)...) }
	fail := func(wantErr string, args ...string) { t.Helper(); mustFail(t, "", wantErr, append(args, bs...)...) }

	if out := run("topics", "create", "--topic", "orders", "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=3600000", "--config", "segment.bytes=1048576"); out != "Created topic orders.\n" {
		t.Fatalf("create: %q", out)
	}
	if out := run("topics", "create", "--topic", "audit"); out != "Created topic audit.\n" {
		t.Fatalf("create: %q", out)
	}
	fail("TOPIC_ALREADY_EXISTS", "topics", "create", "--topic", "orders")
	if out := run("topics", "create", "--topic", "orders", "--if-not-exists"); out != "" {
		t.Errorf("create --if-not-exists of an existing topic printed %q", out)
	}
	fail("INVALID_REPLICATION_FACTOR", "topics", "create", "--topic", "x", "--replication-factor", "3")

	// The broker may hold internal topics (__consumer_offsets) too.
	if out := run("topics", "list", "--exclude-internal"); out != "audit\norders\n" {
		t.Errorf("list: %q, want one name a line", out)
	}
	if out := run("topics", "list"); !strings.HasSuffix(out, "audit\norders\n") {
		t.Errorf("list with internal topics: %q", out)
	}
	if out := run("topics", "list", "--topic", "ord.*"); out != "orders\n" {
		t.Errorf("list --topic ord.*: %q", out)
	}

	// Records so that the describe shows offsets.
	mustRun(t, "a\nb\nc\n", append([]string{"produce", "--topic", "orders", "--partition", "1"}, bs...)...)
	desc := run("topics", "describe", "--topic", "orders")
	want := []string{
		`^Topic: orders\tTopicId: [A-Za-z0-9_-]{22}\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=3600000,segment.bytes=1048576$`,
		`^\tTopic: orders\tPartition: 0\tLeader: \d+\tReplicas: \d+\tIsr: \d+\tLogStartOffset: 0\tLogEndOffset: 0$`,
		`^\tTopic: orders\tPartition: 1\tLeader: \d+\tReplicas: \d+\tIsr: \d+\tLogStartOffset: 0\tLogEndOffset: 3$`,
		`^\tTopic: orders\tPartition: 2\tLeader: \d+\tReplicas: \d+\tIsr: \d+\tLogStartOffset: 0\tLogEndOffset: 0$`,
	}
	matchLines(t, "describe", desc, want)
	if all := run("topics", "describe"); strings.Count(all, "Topic: audit\t") != 1+2 || strings.Count(all, "Topic: orders\t") != 1+3 {
		t.Errorf("describe without --topic:\n%s", all)
	}
	fail(`topic "nope" does not exist`, "topics", "describe", "--topic", "nope")
	if out := run("topics", "describe", "--topic", "nope", "--if-exists"); out != "" {
		t.Errorf("describe --if-exists of no topic printed %q", out)
	}

	// alter: partitions grow, configs set and removed.
	if out := run("topics", "alter", "--topic", "orders", "--partitions", "5"); out != "" {
		t.Errorf("alter --partitions printed %q", out)
	}
	fail("INVALID_PARTITIONS", "topics", "alter", "--topic", "orders", "--partitions", "2")
	out := run("topics", "alter", "--topic", "orders", "--config", "retention.ms=60000", "--delete-config", "segment.bytes")
	if out != "Completed updating config for topic orders.\n" {
		t.Errorf("alter --config: %q", out)
	}
	matchLines(t, "describe after alter", run("topics", "describe", "--topic", "orders")[:0]+firstLine(run("topics", "describe", "--topic", "orders")),
		[]string{`^Topic: orders\t.*\tPartitionCount: 5\tReplicationFactor: 1\tConfigs: retention.ms=60000$`})
	fail("does not exist", "topics", "alter", "--topic", "nope", "--partitions", "4")

	// delete: silent, like Kafka's; then the topic is gone.
	if out := run("topics", "delete", "--topic", "orders"); out != "" {
		t.Errorf("delete printed %q", out)
	}
	if out := run("topics", "list", "--exclude-internal"); out != "audit\n" {
		t.Errorf("list after delete: %q", out)
	}
	fail(`topic "orders" does not exist`, "topics", "delete", "--topic", "orders")
	run("topics", "delete", "--topic", "orders", "--if-exists")
	fail("--topic: error parsing regexp", "topics", "list", "--topic", "(")
}

// matchLines checks that out has exactly the lines matching the patterns.
func matchLines(t *testing.T, what, out string, patterns []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(patterns) {
		t.Errorf("%s: %d lines, want %d:\n%s", what, len(lines), len(patterns), out)
		return
	}
	for i, p := range patterns {
		if !regexp.MustCompile(p).MatchString(lines[i]) {
			t.Errorf("%s: line %d is %q, want a match of %s", what, i+1, lines[i], p)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line + "\n"
}

// TestTopicsKafkaForms runs Kafka's kafka-topics.sh commands with only the
// program's name changed: the action as a flag.
func TestTopicsKafkaForms(t *testing.T) {
	b := brokertest.Start(t)
	bs := []string{"--bootstrap-server", b.Addr}
	run := func(args ...string) string { t.Helper(); return mustRun(t, "", append(args, bs...)...) }
	fail := func(wantErr string, args ...string) { t.Helper(); mustFail(t, "", wantErr, append(args, bs...)...) }

	// Kafka's quickstart, then the other actions.
	if out := run("topics", "--create", "--topic", "quickstart-events"); out != "Created topic quickstart-events.\n" {
		t.Fatalf("--create: %q", out)
	}
	// Flags before the action, and a topic named like an action or a
	// subcommand: values are not actions.
	if out := run("topics", "--partitions", "3", "--create", "--topic", "list"); out != "Created topic list.\n" {
		t.Fatalf("--create of topic list: %q", out)
	}
	if out := run("topics", "--list", "--exclude-internal"); out != "list\nquickstart-events\n" {
		t.Errorf("--list: %q", out)
	}
	matchLines(t, "--describe", run("topics", "--describe", "--topic", "quickstart-events"), []string{
		`^Topic: quickstart-events\tTopicId: \S+\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: $`,
		`^\tTopic: quickstart-events\tPartition: 0\t`,
	})
	if out := run("topics", "--alter", "--topic", "quickstart-events", "--partitions", "2"); out != "" {
		t.Errorf("--alter: %q", out)
	}
	if out := run("topics", "--describe", "--topic", "quickstart-events"); !strings.Contains(out, "PartitionCount: 2\t") {
		t.Errorf("--describe after --alter:\n%s", out)
	}
	fail(`topic "--describe" does not exist`, "topics", "--describe", "--topic", "--describe")
	if out := run("topics", "--delete", "--topic", "quickstart-events|list"); out != "" {
		t.Errorf("--delete: %q", out)
	}
	if out := run("topics", "--list", "--exclude-internal"); out != "" {
		t.Errorf("--list after --delete: %q", out)
	}

	fail("give one action, not both --create and --list", "topics", "--create", "--list", "--topic", "x")
	fail("missing subcommand for 'runnel topics'", "topics")
	fail("unknown flag: --no-such-flag", "topics", "--list", "--no-such-flag")
	fail(`required flag(s) "topic" not set`, "topics", "--create")
	if out := mustRun(t, "", "topics", "--help"); !strings.Contains(out, "--create") || !strings.Contains(out, "runnel topics --create") {
		t.Errorf("topics --help does not show the Kafka forms:\n%s", out)
	}
}
