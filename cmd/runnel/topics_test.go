package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
	"runnel/internal/wait"
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
	header := `^Topic: orders\tTopicId: [A-Za-z0-9_-]{22}\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=3600000,segment.bytes=1048576$`
	matchLines(t, "describe", run("topics", "describe", "--topic", "orders"), []string{header,
		`^\tTopic: orders\tPartition: 0\tLeader: (\d+)\tReplicas: \d+\tIsr: \d+\tElr: N/A\tLastKnownElr: N/A$`,
		`^\tTopic: orders\tPartition: 1\tLeader: \d+\tReplicas: \d+\tIsr: \d+\tElr: N/A\tLastKnownElr: N/A$`,
		`^\tTopic: orders\tPartition: 2\tLeader: \d+\tReplicas: \d+\tIsr: \d+\tElr: N/A\tLastKnownElr: N/A$`,
	})
	matchLines(t, "describe --offsets", run("topics", "describe", "--topic", "orders", "--offsets"), []string{header,
		`^\tTopic: orders\tPartition: 0\t.*\tLastKnownElr: N/A\tLogStartOffset: 0\tLogEndOffset: 0$`,
		`^\tTopic: orders\tPartition: 1\t.*\tLastKnownElr: N/A\tLogStartOffset: 0\tLogEndOffset: 3$`,
		`^\tTopic: orders\tPartition: 2\t.*\tLastKnownElr: N/A\tLogStartOffset: 0\tLogEndOffset: 0$`,
	})
	// One node leads every partition with a full ISR: the reports find nothing.
	for _, report := range []string{"--under-replicated-partitions", "--unavailable-partitions", "--under-min-isr-partitions"} {
		if out := run("topics", "describe", report); out != "" {
			t.Errorf("describe %s on one healthy node printed %q", report, out)
		}
	}
	if out := run("topics", "describe", "--at-min-isr-partitions", "--topic", "orders"); strings.Count(out, "\tTopic: orders\t") != 3 || strings.HasPrefix(out, "Topic:") {
		t.Errorf("describe --at-min-isr-partitions: every partition (ISR 1 = min.insync.replicas 1), no topic line; got\n%s", out)
	}
	matchLines(t, "describe --topics-with-overrides", run("topics", "describe", "--topics-with-overrides", "--exclude-internal"), []string{header})
	fail("give at most one of", "topics", "describe", "--unavailable-partitions", "--under-replicated-partitions")
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

// TestWriteTopicDescription checks the lines of partitions spread over
// brokers, some without a leader, with offline replicas or being
// reassigned, and the report flags, against what TopicCommand prints for
// them.
func TestWriteTopicDescription(t *testing.T) {
	td := kadm.TopicDetail{Topic: "orders", ID: [16]byte{1}, Partitions: kadm.PartitionDetails{
		0: {Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}},
		1: {Partition: 1, Leader: 2, Replicas: []int32{2, 3, 1}, ISR: []int32{2}},
		2: {Partition: 2, Leader: -1, Replicas: []int32{3, 1, 2}, ISR: []int32{3}, OfflineReplicas: []int32{3}},
		3: {Partition: 3, Leader: 4, Replicas: []int32{4, 1, 2}, ISR: []int32{4, 1}},
		4: {Partition: 4, Leader: 1, Replicas: []int32{1, 2, 3, 5}, ISR: []int32{1, 2, 3, 5}},
		5: {Partition: 5, Leader: 1, Replicas: []int32{1, 5, 2}, ISR: []int32{1, 2}},
	}}
	// Partition 4 moves from 1,2,5 to 1,2,3 (3 is added, 5 removed): its
	// replication factor is 3, and its ISR of 4 is full. Partition 5 gains
	// replica 5, which has not caught up.
	moving := map[int32]kadm.ListPartitionReassignmentsResponse{
		4: {Topic: "orders", Partition: 4, Replicas: []int32{1, 2, 3, 5}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{5}},
		5: {Topic: "orders", Partition: 5, Replicas: []int32{1, 5, 2}, AddingReplicas: []int32{5}},
	}
	str := func(s string) *string { return &s }
	configs := []kadm.Config{
		{Key: "cleanup.policy", Value: str("delete"), Source: kmsg.ConfigSourceDefaultConfig},
		{Key: "min.insync.replicas", Value: str("2"), Source: kmsg.ConfigSourceDynamicTopicConfig},
		{Key: "segment.bytes", Value: str("1073741824"), Source: kmsg.ConfigSourceStaticBrokerConfig},
		{Key: "retention.ms", Value: str("60000"), Source: kmsg.ConfigSourceDynamicTopicConfig},
	}
	live := map[int32]bool{1: true, 2: true, 3: true} // 4 is fenced or gone
	// Configs in java.util.HashMap order (OpenJDK 17 for these keys), not sorted.
	const (
		header = "Topic: orders\tTopicId: AQAAAAAAAAAAAAAAAAAAAA\tPartitionCount: 6\tReplicationFactor: 3\tConfigs: min.insync.replicas=2,segment.bytes=1073741824,retention.ms=60000\n"
		p0     = "\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\tElr: N/A\tLastKnownElr: N/A\n"
		p1     = "\tTopic: orders\tPartition: 1\tLeader: 2\tReplicas: 2,3,1\tIsr: 2\tElr: N/A\tLastKnownElr: N/A\n"
		p2     = "\tTopic: orders\tPartition: 2\tLeader: none\tReplicas: 3,1,2\tIsr: 3\tOffline: 3\tElr: N/A\tLastKnownElr: N/A\n"
		p3     = "\tTopic: orders\tPartition: 3\tLeader: 4\tReplicas: 4,1,2\tIsr: 4,1\tElr: N/A\tLastKnownElr: N/A\n"
		p4     = "\tTopic: orders\tPartition: 4\tLeader: 1\tReplicas: 1,2,3,5\tIsr: 1,2,3,5\tAdding Replicas: 3\tRemoving Replicas: 5\tElr: N/A\tLastKnownElr: N/A\n"
		p5     = "\tTopic: orders\tPartition: 5\tLeader: 1\tReplicas: 1,5,2\tIsr: 1,2\tAdding Replicas: 5\tRemoving Replicas: \tElr: N/A\tLastKnownElr: N/A\n"
	)
	for _, tc := range []struct {
		name   string
		filter partitionFilter
		want   string
	}{
		{"all", partitionFilter{}, header + p0 + p1 + p2 + p3 + p4 + p5},
		{"under-replicated", partitionFilter{underReplicated: true}, p1 + p2 + p3 + p5},
		{"unavailable", partitionFilter{unavailable: true}, p2 + p3},
		{"under-min-isr", partitionFilter{underMinISR: true}, p1 + p2},
		{"at-min-isr", partitionFilter{atMinISR: true}, p3 + p5},
		{"with-overrides", partitionFilter{withOverrides: true}, header},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeTopicDescription(&b, td, configs, moving, tc.filter, live, func(int32) string { return "" })
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
	var b strings.Builder
	writeTopicDescription(&b, td, configs[:1], nil, partitionFilter{withOverrides: true}, live, func(int32) string { return "" })
	if b.String() != "" {
		t.Errorf("--topics-with-overrides printed a topic without overrides: %q", b.String())
	}
}

// TestJavaHashMapOrder compares with the order java.util.HashMap iterated
// the same keys in (OpenJDK 17), for Kafka's topic configs and for 40 keys
// (a table of 64).
func TestJavaHashMapOrder(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"cleanup.policy,flush.messages,flush.ms,index.interval.bytes,max.message.bytes,message.timestamp.type,retention.bytes,retention.ms,segment.bytes,segment.index.bytes,segment.ms",
			"cleanup.policy,flush.ms,max.message.bytes,message.timestamp.type,retention.ms,segment.bytes,segment.ms,index.interval.bytes,flush.messages,retention.bytes,segment.index.bytes"},
		{func() string {
			var keys []string
			for i := range 40 {
				keys = append(keys, fmt.Sprintf("key.%d.x", i*7919%101))
			}
			return strings.Join(keys, ",")
		}(), "key.91.x,key.94.x,key.97.x,key.37.x,key.15.x,key.59.x,key.56.x,key.78.x,key.12.x,key.34.x,key.75.x,key.53.x,key.50.x,key.31.x,key.72.x,key.6.x,key.9.x,key.100.x,key.88.x,key.18.x,key.25.x,key.47.x,key.28.x,key.69.x,key.22.x,key.21.x,key.66.x,key.43.x,key.44.x,key.41.x,key.0.x,key.63.x,key.85.x,key.62.x,key.84.x,key.40.x,key.82.x,key.3.x,key.81.x,key.2.x"},
	} {
		keys := strings.Split(tc.in, ",")
		var got []string
		for _, i := range javaHashMapOrder(keys, func(s string) string { return s }) {
			got = append(got, keys[i])
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("order of %s:\n got %s\nwant %s", tc.in, strings.Join(got, ","), tc.want)
		}
	}
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

// TestTopicsDescribeReplicated: the report flags against real ISRs, a
// partition of three replicas with min.insync.replicas=2 whose follower
// stopped, and the lines of a reassignment in progress (held back by a
// follower throttle of one byte a second).
func TestTopicsDescribeReplicated(t *testing.T) {
	brokers := brokertest.StartCluster(t, 3, "replica.lag.time.max.ms=1000", "replica.fetch.max.bytes=1",
		"runnel.segment.preallocate.bytes=65536", "log.index.size.max.bytes=65536", "offsets.topic.num.partitions=1")
	bs := []string{"--bootstrap-server", brokers[0].Addr}
	run := func(args ...string) string { t.Helper(); return mustRun(t, "", append(args, bs...)...) }
	adm := brokers[0].Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	create := kmsg.NewPtrCreateTopicsRequest()
	for topic, replicas := range map[string][]int32{"r": {0, 1, 2}, "m": {0}} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = 0, replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		if topic == "r" {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = "min.insync.replicas", kmsg.StringPtr("2")
			rt.Configs = append(rt.Configs, c)
		}
		create.Topics = append(create.Topics, rt)
	}
	if resp, err := create.RequestWith(ctx, brokers[0].Client(t)); err != nil || resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}
	// CreateTopics went to the controller (kgo's choice): broker 0 may not
	// have applied the topic yet, and describe says it does not exist.
	wait.Until(t, 10*time.Second, "a full ISR", func() bool {
		r := runTool(t, nil, "", append([]string{"topics", "describe", "--topic", "r"}, bs...)...)
		return r.code == 0 && strings.Contains(r.stdout, "\tIsr: 0,1,2\t")
	})
	for _, report := range []string{"--under-replicated-partitions", "--at-min-isr-partitions", "--under-min-isr-partitions", "--unavailable-partitions"} {
		if out := run("topics", "describe", "--topic", "r", report); out != "" {
			t.Errorf("describe %s of a healthy partition printed %q", report, out)
		}
	}

	if err := brokers[2].Close(); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 30*time.Second, "the stopped follower out of the ISR", func() bool {
		return strings.Contains(run("topics", "describe", "--topic", "r"), "\tIsr: 0,1\t")
	})
	line := "\tTopic: r\tPartition: 0\tLeader: 0\tReplicas: 0,1,2\tIsr: 0,1\tElr: N/A\tLastKnownElr: N/A\n"
	for report, want := range map[string]string{
		"--under-replicated-partitions": line,
		"--at-min-isr-partitions":       line,
		"--under-min-isr-partitions":    "",
		"--unavailable-partitions":      "",
	} {
		if out := run("topics", "describe", "--topic", "r", report); out != want {
			t.Errorf("describe %s with a follower stopped: %q, want %q", report, out, want)
		}
	}

	// A reassignment of m onto broker 1 that cannot finish: broker 1
	// fetches one batch, then its throttle holds it back for a minute.
	for _, v := range []string{"a\n", "b\n", "c\n"} { // a batch each
		mustRun(t, v, append([]string{"produce", "--topic", "m"}, bs...)...)
	}
	list, rate := "0:1", "1"
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "follower.replication.throttled.replicas", Value: &list}}, "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "follower.replication.throttled.rate", Value: &rate}}, 1); err != nil {
		t.Fatal(err)
	}
	at1 := brokers[1].Admin(t)
	wait.Until(t, 10*time.Second, "broker 1 applied the throttle", func() bool {
		rate, err1 := at1.DescribeBrokerConfigs(ctx, 1)
		list, err2 := at1.DescribeTopicConfigs(ctx, "m")
		if err1 != nil || err2 != nil {
			return false
		}
		set := func(rcs kadm.ResourceConfigs, key, value string) bool {
			for _, rc := range rcs {
				for _, c := range rc.Configs {
					if c.Key == key && c.MaybeValue() == value {
						return true
					}
				}
			}
			return false
		}
		return set(rate, "follower.replication.throttled.rate", "1") && set(list, "follower.replication.throttled.replicas", "0:1")
	})
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("m", 0, []int32{1})
	if resps, err := adm.AlterPartitionAssignments(ctx, req); err != nil || resps["m"][0].Err != nil {
		t.Fatalf("reassign: %v %+v", err, resps)
	}
	var moving string
	wait.Until(t, 10*time.Second, "the move in the metadata of broker 0", func() bool {
		moving = run("topics", "describe", "--topic", "m")
		return strings.Contains(moving, "\tReplicas: 1,0\t")
	})
	matchLines(t, "describe of a moving partition", moving, []string{
		`^Topic: m\tTopicId: \S+\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: .*follower.replication.throttled.replicas=0:1`,
		`^\tTopic: m\tPartition: 0\tLeader: 0\tReplicas: 1,0\tIsr: 0\tAdding Replicas: 1\tRemoving Replicas: 0\tElr: N/A\tLastKnownElr: N/A$`,
	})
	// Its replication factor is the target's (1), which its ISR of 1 holds:
	// not under-replicated, as TopicCommand counts.
	if out := run("topics", "describe", "--topic", "m", "--under-replicated-partitions"); out != "" {
		t.Errorf("describe --under-replicated-partitions of a move to one replica: %q", out)
	}
}
