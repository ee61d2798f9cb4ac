package main

import (
	"strings"
	"testing"

	"runnel/broker/brokertest"
)

// TestTopicsElectLeaders runs elect-leaders against one node, whose
// partitions are all led by their only (preferred) replica: Kafka's line
// for elections not needed, nothing for every partition (those are left
// out), an error line and exit 1 for an unknown partition, and the flag
// checks.
func TestTopicsElectLeaders(t *testing.T) {
	b := brokertest.Start(t, "num.partitions=2")
	bs := []string{"--bootstrap-server", b.Addr}
	run := func(args ...string) string { t.Helper(); return mustRun(t, "", append(args, bs...)...) }
	fail := func(wantErr string, args ...string) result {
		t.Helper()
		return mustFail(t, "", wantErr, append(args, bs...)...)
	}
	run("topics", "create", "--topic", "t")
	if out := run("topics", "elect-leaders", "--election-type", "preferred", "--topic", "t"); out != "Valid replica already elected for partitions t-0, t-1\n" {
		t.Errorf("preferred election of t: %q", out)
	}
	if out := run("topics", "elect-leaders", "--election-type", "unclean", "--topic", "t", "--partition", "1"); out != "Valid replica already elected for partitions t-1\n" {
		t.Errorf("unclean election of t-1: %q", out)
	}
	if out := run("topics", "elect-leaders", "--election-type", "PREFERRED", "--all-topic-partitions"); out != "" {
		t.Errorf("preferred election of every partition: %q, want nothing (none needed)", out)
	}
	if out := run("topics", "--elect-leaders", "--election-type", "preferred", "--all-topic-partitions"); out != "" {
		t.Errorf("Kafka's form: %q", out)
	}
	r := fail("1 replica(s) could not be elected", "topics", "elect-leaders", "--election-type", "preferred", "--topic", "t", "--partition", "5")
	if want := "Error completing leader election (PREFERRED) for partition: t-5: UNKNOWN_TOPIC_OR_PARTITION"; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("election of an unknown partition printed %q, want %q...", r.stdout, want)
	}
	fail("--election-type must be preferred or unclean", "topics", "elect-leaders", "--election-type", "random", "--all-topic-partitions")
	fail("give one of --topic and --all-topic-partitions", "topics", "elect-leaders", "--election-type", "preferred")
	fail("give one of --topic and --all-topic-partitions", "topics", "elect-leaders", "--election-type", "preferred", "--topic", "t", "--all-topic-partitions")
}
