package main

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/broker/brokertest"
)

// TestClusterDescribe runs the cluster and metadata-quorum commands against
// a broker of today: one node, no controller quorum (DescribeQuorum not
// served). The quorum's part is tested on built answers below.
func TestClusterDescribe(t *testing.T) {
	b := brokertest.Start(t)
	bs := []string{"--bootstrap-server", b.Addr}
	run := func(args ...string) string { t.Helper(); return mustRun(t, "", append(args, bs...)...) }
	fail := func(wantErr string, args ...string) { t.Helper(); mustFail(t, "", wantErr, append(args, bs...)...) }

	port := b.Addr[strings.LastIndex(b.Addr, ":")+1:]
	want := []string{
		`^ClusterId:              [A-Za-z0-9_-]{22}$`,
		`^ControllerId:           1$`,
		`^$`,
		`^NodeId\tHost:Port\s*\tRack\tFenced\t$`,
		`^1     \t127\.0\.0\.1:` + port + `\s*\tnull\tfalse \t$`,
		`^$`,
		`^Quorum: not described: the broker does not serve DescribeQuorum \(UNSUPPORTED_VERSION\)`,
	}
	out := run("cluster", "describe")
	matchLines(t, "cluster describe", out, want)
	if kafkaForm := run("cluster", "--describe"); kafkaForm != out {
		t.Errorf("cluster --describe:\n%s\nwant as cluster describe:\n%s", kafkaForm, out)
	}
	id := strings.TrimPrefix(firstLine(out), "ClusterId:              ")
	if got := run("cluster", "cluster-id"); got != "Cluster ID: "+id {
		t.Errorf("cluster cluster-id: %q, want the id of cluster describe %q", got, id)
	}

	// kafka-metadata-quorum.sh's form, --bootstrap-server before describe.
	for _, flag := range []string{"--status", "--replication"} {
		r := mustFail(t, "", "runnel: the broker does not serve DescribeQuorum (UNSUPPORTED_VERSION)", "metadata-quorum", "--bootstrap-server", b.Addr, "describe", flag)
		if r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("describe %s: stdout %q, stderr %q; want one line of error", flag, r.stdout, r.stderr)
		}
	}
	fail("one of --status or --replication must be specified", "metadata-quorum", "describe")
	fail("only one of --status or --replication", "metadata-quorum", "describe", "--status", "--replication")
	fail("--human-readable is only supported along with --replication", "metadata-quorum", "describe", "--status", "--human-readable")
	fail("missing subcommand for 'runnel metadata-quorum' (one of: describe)", "metadata-quorum")
}

// TestClusterDescribeQuorum runs the commands against a cluster that
// answers DescribeQuorum: three kfake brokers (DescribeCluster v2) that
// announce DescribeQuorum and answer it with quorumAnswer, as Runnel's
// brokers will once they run the quorum.
func TestClusterDescribeQuorum(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.ClusterID("kfake-cluster"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.ControlKey(kmsg.ApiVersions.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		for _, k := range []struct{ key, max int16 }{{kmsg.ApiVersions.Int16(), 3}, {kmsg.Metadata.Int16(), 13},
			{kmsg.DescribeCluster.Int16(), 2}, {kmsg.DescribeQuorum.Int16(), 2}} {
			v := kmsg.NewApiVersionsResponseApiKey()
			v.ApiKey, v.MaxVersion = k.key, k.max
			resp.ApiKeys = append(resp.ApiKeys, v)
		}
		return resp, nil, true
	})
	asked := make(chan *kmsg.DescribeQuorumRequest, 10)
	c.ControlKey(kmsg.DescribeQuorum.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		asked <- req.(*kmsg.DescribeQuorumRequest)
		resp := quorumAnswer()
		resp.Version = req.GetVersion()
		return resp, nil, true
	})
	bs := []string{"--bootstrap-server", strings.Join(c.ListenAddrs(), ",")}

	out := mustRun(t, "", append([]string{"cluster", "describe"}, bs...)...)
	var status, replication strings.Builder
	writeQuorumStatus(&status, quorumAnswer())
	writeQuorumReplication(&replication, quorumAnswer(), false, time.Now())
	brokers, quorum, _ := strings.Cut(out, "\n\nLeaderId:")
	matchLines(t, "cluster describe", brokers, []string{
		`^ClusterId:              kfake-cluster$`, `^ControllerId:           \d$`, `^$`,
		`^NodeId\tHost:Port\s*\tRack \tFenced\t$`, // kfake's brokers are in rack krack
		`^0     \t127\.0\.0\.1:\d+\s*\tkrack\tfalse \t$`,
		`^1     \t127\.0\.0\.1:\d+\s*\tkrack\tfalse \t$`,
		`^2     \t127\.0\.0\.1:\d+\s*\tkrack\tfalse \t$`,
	})
	if want := status.String() + "\n" + replication.String(); "LeaderId:"+quorum != want {
		t.Errorf("cluster describe, the quorum:\n%s\nwant\n%s", "LeaderId:"+quorum, want)
	}
	req := <-asked
	if len(req.Topics) != 1 || req.Topics[0].Topic != "__cluster_metadata" || len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != 0 || req.Version != 2 {
		t.Errorf("DescribeQuorum request: %+v, want v2 of partition __cluster_metadata-0", req)
	}

	if got := mustRun(t, "", append([]string{"metadata-quorum", "describe", "--status"}, bs...)...); got != "ClusterId:              kfake-cluster\n"+status.String() {
		t.Errorf("metadata-quorum describe --status:\n%s\nwant\n%s", got, "ClusterId:              kfake-cluster\n"+status.String())
	}
	if got := mustRun(t, "", append([]string{"metadata-quorum", "describe", "--replication"}, bs...)...); got != replication.String() {
		t.Errorf("metadata-quorum describe --replication:\n%s\nwant\n%s", got, replication.String())
	}
}

// quorumAnswer is a DescribeQuorum v2 answer: voters 1 (the leader), 2 and
// 3 (3 behind), observers 4 and 5, endpoints for the voters.
func quorumAnswer() *kmsg.DescribeQuorumResponse {
	resp := kmsg.NewPtrDescribeQuorumResponse()
	resp.Version = 2
	topic := kmsg.NewDescribeQuorumResponseTopic()
	topic.Topic = metadataTopic
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = 1, 7, 420
	replica := func(id int32, leo, fetch, caughtUp int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp = id, leo, fetch, caughtUp
		return r
	}
	p.CurrentVoters = append(p.CurrentVoters,
		replica(1, 425, 1764650000000, 1764650000000),
		replica(2, 425, 1764649999900, 1764649999900),
		replica(3, 400, 1764649999000, 1764649998500))
	p.Observers = append(p.Observers, replica(4, 425, 1764649999950, 1764649999950), replica(5, 0, -1, -1))
	p.Observers[0].ReplicaDirectoryID = [16]byte{1}
	topic.Partitions = append(topic.Partitions, p)
	resp.Topics = append(resp.Topics, topic)
	for _, id := range []int32{1, 2, 3} {
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = id
		l := kmsg.NewDescribeQuorumResponseNodeListener()
		l.Name, l.Host, l.Port = "CONTROLLER", "localhost", uint16(9092+id)
		n.Listeners = append(n.Listeners, l)
		resp.Nodes = append(resp.Nodes, n)
	}
	resp.Nodes[2].Listeners[0].Host = "::1"
	return resp
}

// TestQuorumStatus checks --status's lines against what
// MetadataQuorumCommand prints for the same answer.
func TestQuorumStatus(t *testing.T) {
	var b strings.Builder
	if err := writeQuorumStatus(&b, quorumAnswer()); err != nil {
		t.Fatal(err)
	}
	want := `LeaderId:               1
LeaderEpoch:            7
HighWatermark:          420
MaxFollowerLag:         25
MaxFollowerLagTimeMs:   1500
CurrentVoters:          [{"id": 1, "directoryId": null, "endpoints": ["CONTROLLER://localhost:9093"]}, {"id": 2, "directoryId": null, "endpoints": ["CONTROLLER://localhost:9094"]}, {"id": 3, "directoryId": null, "endpoints": ["CONTROLLER://[::1]:9095"]}]
CurrentObservers:       [{"id": 4, "directoryId": "AQAAAAAAAAAAAAAAAAAAAA"}, {"id": 5, "directoryId": null}]
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	// Every voter caught up: the lag is 0, in offsets and in time.
	resp := quorumAnswer()
	resp.Topics[0].Partitions[0].CurrentVoters[2].LogEndOffset = 425
	b.Reset()
	if err := writeQuorumStatus(&b, resp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "MaxFollowerLag:         0\nMaxFollowerLagTimeMs:   0\n") {
		t.Errorf("caught-up quorum:\n%s", b.String())
	}
}

// TestQuorumReplication checks --replication's table, with and without
// --human-readable.
func TestQuorumReplication(t *testing.T) {
	var b strings.Builder
	if err := writeQuorumReplication(&b, quorumAnswer(), false, time.Now()); err != nil {
		t.Fatal(err)
	}
	want := "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus  \t\n" +
		"1     \tAAAAAAAAAAAAAAAAAAAAAA\t425         \t0  \t1764650000000     \t1764650000000        \tLeader  \t\n" +
		"2     \tAAAAAAAAAAAAAAAAAAAAAA\t425         \t0  \t1764649999900     \t1764649999900        \tFollower\t\n" +
		"3     \tAAAAAAAAAAAAAAAAAAAAAA\t400         \t25 \t1764649999000     \t1764649998500        \tFollower\t\n" +
		"4     \tAQAAAAAAAAAAAAAAAAAAAA\t425         \t0  \t1764649999950     \t1764649999950        \tObserver\t\n" +
		"5     \tAAAAAAAAAAAAAAAAAAAAAA\t0           \t425\t-1                \t-1                   \tObserver\t\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	if err := writeQuorumReplication(&b, quorumAnswer(), true, time.UnixMilli(1764650000100)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if f := strings.Fields(lines[3]); strings.Join(f[4:], " ") != "1100 ms ago 1600 ms ago Follower" {
		t.Errorf("--human-readable, voter 3: %q", lines[3])
	}
	if f := strings.Fields(lines[5]); strings.Join(f[4:], " ") != "-1 -1 Observer" {
		t.Errorf("--human-readable, observer 5: %q", lines[5])
	}
	if err := writeQuorumReplication(&b, quorumAnswer(), true, time.UnixMilli(1764649999999)); err == nil || !strings.Contains(err.Error(), "possible drift in system clock") {
		t.Errorf("a timestamp after now: %v, want Kafka's clock drift error", err)
	}
}

// TestQuorumErrors: answers without a leader or with an error are errors
// that say so, not a partial table.
func TestQuorumErrors(t *testing.T) {
	noLeader := quorumAnswer()
	noLeader.Topics[0].Partitions[0].LeaderID = -1
	failed := quorumAnswer()
	failed.Topics[0].Partitions[0].ErrorCode = kerr.NotLeaderForPartition.Code
	failed.Topics[0].Partitions[0].ErrorMessage = kmsg.StringPtr("ask the leader")
	other := quorumAnswer()
	other.Topics[0].Topic = "orders"
	for _, tc := range []struct {
		name string
		resp *kmsg.DescribeQuorumResponse
		want string
	}{
		{"no leader", noLeader, "the leader (LeaderId -1, epoch 7) is not one of the voters"},
		{"partition error", failed, "NOT_LEADER_FOR_PARTITION: This server is not the leader for that topic-partition.: ask the leader"},
		{"another topic", other, "not of partition __cluster_metadata-0 alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			for _, err := range []error{writeQuorumStatus(&b, tc.resp), writeQuorumReplication(&b, tc.resp, false, time.Now())} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one containing %q", err, tc.want)
				}
			}
			if b.Len() != 0 {
				t.Errorf("printed %q before failing", b.String())
			}
		})
	}
}

// TestWriteCluster checks the brokers' lines: racks, fenced brokers, IPv6
// hosts, and the note when the answer cannot list fenced brokers.
func TestWriteCluster(t *testing.T) {
	broker := func(id int32, host string, rack *string, fenced bool) kmsg.DescribeClusterResponseBroker {
		return kmsg.DescribeClusterResponseBroker{NodeID: id, Host: host, Port: 9092, Rack: rack, IsFenced: fenced}
	}
	info := clusterInfo{clusterID: "MkU3OEVBNTcwNTJENDM2Qk", controller: 2, withFenced: true, brokers: []kmsg.DescribeClusterResponseBroker{
		broker(1, "broker1.example.com", kmsg.StringPtr("eu-west-1a"), false),
		broker(2, "::1", nil, false),
		broker(10, "10.0.0.3", kmsg.StringPtr("eu-west-1b"), true),
	}}
	var b strings.Builder
	writeCluster(&b, info)
	want := "ClusterId:              MkU3OEVBNTcwNTJENDM2Qk\n" +
		"ControllerId:           2\n" +
		"\n" +
		"NodeId\tHost:Port               \tRack      \tFenced\t\n" +
		"1     \tbroker1.example.com:9092\teu-west-1a\tfalse \t\n" +
		"2     \t[::1]:9092              \tnull      \tfalse \t\n" +
		"10    \t10.0.0.3:9092           \teu-west-1b\ttrue  \t\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	info.withFenced = false
	b.Reset()
	writeCluster(&b, info)
	if !strings.HasSuffix(b.String(), "\n(the broker lists only unfenced brokers: DescribeCluster before v2)\n") {
		t.Errorf("an answer before v2 does not say that fenced brokers are missing:\n%s", b.String())
	}
}
