package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
)

// TestTopicsReassign runs kafka-reassign-partitions.sh's four actions
// against a single node that a second broker (registered here, never
// catching up) joins: a move onto it stays in
// progress, so --list, --verify and --cancel have something to show; a
// move onto the node itself completes at once.
func TestTopicsReassign(t *testing.T) {
	b := brokertest.Start(t, "broker.session.timeout.ms=600000")
	bs := []string{"--bootstrap-server", b.Addr}
	run := func(args ...string) string { t.Helper(); return mustRun(t, "", append(args, bs...)...) }
	fail := func(wantErr string, args ...string) { t.Helper(); mustFail(t, "", wantErr, append(args, bs...)...) }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := b.Admin(t).BrokerMetadata(ctx)
	if err != nil || len(md.Brokers) != 1 {
		t.Fatalf("metadata: %v %+v", err, md)
	}
	self := md.Brokers[0].NodeID
	other := self + 1
	run("topics", "create", "--topic", "moves", "--partitions", "2")
	registerFakeBroker(t, b, md.Cluster, other) // after the create, which would place partitions on it
	dir := t.TempDir()
	file := func(name, json string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(json), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	move := file("move.json", fmt.Sprintf(`{"version":1,"partitions":[{"topic":"moves","partition":1,"replicas":[%d,%d]},{"topic":"moves","partition":0,"replicas":[%d],"log_dirs":["any"]}]}`, self, other, self))
	want := fmt.Sprintf("Current partition replica assignment\n\n"+
		`{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[%d],"log_dirs":["any"]},{"topic":"moves","partition":1,"replicas":[%d],"log_dirs":["any"]}]}`+
		"\n\nSave this to use as the --reassignment-json-file option during rollback\n"+
		"Successfully started partition reassignments for moves-0,moves-1\n", self, self)
	if out := run("topics", "reassign", "--reassignment-json-file", move, "--execute"); out != want {
		t.Fatalf("--execute printed\n%s\nwant\n%s", out, want)
	}
	fail("existing partition assignment", "topics", "reassign", "--reassignment-json-file", move, "--execute")
	want = fmt.Sprintf("Current partition reassignments:\nmoves-1: replicas: %d,%d. adding: %d. removing: .\n", self, other, other)
	if out := run("topics", "reassign", "--list"); out != want {
		t.Errorf("--list printed %q, want %q", out, want)
	}
	want = "Status of partition reassignment:\nReassignment of partition moves-0 is completed.\nReassignment of partition moves-1 is still in progress.\n"
	if out := run("topics", "reassign", "--reassignment-json-file", move, "--verify"); out != want {
		t.Errorf("--verify printed %q, want %q", out, want)
	}
	if out := run("topics", "reassign", "--reassignment-json-file", move, "--cancel"); out != "Successfully cancelled partition reassignment for: moves-1\n" {
		t.Errorf("--cancel printed %q", out)
	}
	if out := run("topics", "reassign", "--reassignment-json-file", move, "--cancel"); out != "None of the specified partition reassignments are active.\n" {
		t.Errorf("--cancel again printed %q", out)
	}
	want = fmt.Sprintf("Status of partition reassignment:\nReassignment of partition moves-0 is completed.\n"+
		"There is no active reassignment of partition moves-1, but replica set is [%d] rather than [%d, %d].\n"+
		"Clearing broker-level throttles on brokers %d\nClearing topic-level throttles on topic moves\n", self, self, other, self)
	if out := run("topics", "reassign", "--reassignment-json-file", move, "--verify"); out != want {
		t.Errorf("--verify after the cancel printed %q, want %q", out, want)
	}
	if out := run("topics", "reassign", "--list"); out != "No partition reassignments found.\n" {
		t.Errorf("--list printed %q", out)
	}

	// --throttle (nothing moves: no config to set), then --verify clears
	// the throttles once nothing is in progress.
	stay := file("stay.json", fmt.Sprintf(`{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[%d]}]}`, self))
	want = fmt.Sprintf("Current partition replica assignment\n\n"+
		`{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[%d],"log_dirs":["any"]}]}`+
		"\n\nSave this to use as the --reassignment-json-file option during rollback\n"+
		"Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.\n"+
		"The inter-broker throttle limit was set to 10000 B/s\n"+
		"Successfully started partition reassignment for moves-0\n", self)
	if out := run("topics", "reassign", "--reassignment-json-file", stay, "--execute", "--throttle", "10000"); out != want {
		t.Errorf("--execute --throttle printed\n%s\nwant\n%s", out, want)
	}
	run("topics", "alter", "--topic", "moves", "--config", "leader.replication.throttled.replicas=0:1,1:1", "--config", "follower.replication.throttled.replicas=*")
	if out := run("topics", "describe", "--topic", "moves"); !strings.Contains(out, "leader.replication.throttled.replicas=0:1,1:1") {
		t.Fatalf("describe after setting the throttled replicas:\n%s", out)
	}
	want = fmt.Sprintf("Status of partition reassignment:\nReassignment of partition moves-0 is completed.\n"+
		"Clearing broker-level throttles on brokers %d\nClearing topic-level throttles on topic moves\n", self)
	if out := run("topics", "reassign", "--reassignment-json-file", stay, "--verify"); out != want {
		t.Errorf("--verify printed %q, want %q", out, want)
	}
	if out := run("topics", "describe", "--topic", "moves"); strings.Contains(out, "throttled") {
		t.Errorf("throttles left after --verify:\n%s", out)
	}

	fail("INVALID_REPLICA_ASSIGNMENT", "topics", "reassign", "--execute", "--reassignment-json-file",
		file("unknown.json", `{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[99]}]}`))
	fail("topic nope not found", "topics", "reassign", "--execute", "--reassignment-json-file",
		file("nope.json", `{"version":1,"partitions":[{"topic":"nope","partition":0,"replicas":[1]}]}`))
	fail("not supported version", "topics", "reassign", "--execute", "--reassignment-json-file", file("v2.json", `{"version":2,"partitions":[]}`))
	fail("duplicate entries", "topics", "reassign", "--execute", "--reassignment-json-file",
		file("twice.json", `{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[1,1]}]}`))
	fail("log_dirs must be", "topics", "reassign", "--execute", "--reassignment-json-file",
		file("dirs.json", `{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[1],"log_dirs":["/data"]}]}`))
	fail("exactly one of", "topics", "reassign", "--execute", "--verify", "--reassignment-json-file", move)
}

// registerFakeBroker registers broker id with the controller of the
// single node b (of cluster) and unfences it. Its one listener is not the
// clients', so Metadata does not list it and clients never try it.
func registerFakeBroker(t *testing.T, b *brokertest.Broker, cluster string, id int32) {
	t.Helper()
	cl := b.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.ClusterID, reg.BrokerID, reg.IncarnationID = cluster, id, [16]byte{byte(id)}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "ELSEWHERE", "broker.invalid", 9092
	reg.Listeners = append(reg.Listeners, l)
	resp, err := reg.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("registering broker %d: %v %+v", id, err, resp)
	}
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch, hb.CurrentMetadataOffset = id, resp.BrokerEpoch, 1<<40
	if hresp, err := hb.RequestWith(ctx, cl); err != nil || hresp.ErrorCode != 0 || hresp.IsFenced {
		t.Fatalf("unfencing broker %d: %v %+v", id, err, hresp)
	}
}
