package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"runnel/broker/clustertest"
	"runnel/loadgen"
)

// TestMeasureClusterMetadata measures a few creations and one failover on
// three nodes, and writes them into the report's section.
func TestMeasureClusterMetadata(t *testing.T) {
	bin, err := clustertest.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := MeasureClusterMetadata(ctx, bin, t.TempDir(), 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.CreateP50 <= 0 || m.CreateP99 < m.CreateP50 || m.CreateMax < m.CreateP99 {
		t.Errorf("create latencies p50 %v p99 %v max %v", m.CreateP50, m.CreateP99, m.CreateMax)
	}
	if len(m.Failovers) != 1 || m.Failovers[0].Elected <= 0 || m.Failovers[0].Created <= 0 {
		t.Fatalf("failovers %+v", m.Failovers)
	}
	var b strings.Builder
	clusterMetadataSection(&b, &Report{ClusterMetadata: m})
	for _, want := range []string{"## Cluster metadata (3 combined nodes)", "20 topics", "| 1 | "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the section lacks %q:\n%s", want, b.String())
		}
	}
	t.Logf("%+v\n%s", m, b.String())
}

// TestReplicationTable: the bytes sent to followers are shown per byte
// acked; a broker without the metric shows n/a.
func TestReplicationTable(t *testing.T) {
	sent := 4e6
	sc := Scenario{Name: clusterAcksAll, Targets: []string{TargetRunnel, TargetRunnelCluster, TargetRunnelClusterRF3, TargetRunnelClusterRF3NoFsync}}
	rep := &Report{Runs: []*RunResult{
		{Scenario: sc.Name, Target: TargetRunnelCluster},
		{Scenario: sc.Name, Target: TargetRunnelClusterRF3, ReplicationBytesOut: &sent, Result: &loadgen.Result{Totals: loadgen.Totals{AckedBytes: 2e6}}},
	}}
	var b strings.Builder
	replicationTable(&b, rep, sc)
	for _, want := range []string{
		"| runnel-3 | 1 | runnel.replica.fsync=true | n/a | n/a |",
		"| runnel-3-rf3 | 3 | min.insync.replicas=2, runnel.replica.fsync=true | 4.0 | 2.00 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, b.String())
		}
	}
	// RF=3 runs on RF=1's nodes; followers that do not fsync need nodes of their own.
	for _, c := range []struct {
		a, b string
		want bool
	}{{TargetRunnelCluster, TargetRunnelClusterRF3, true}, {TargetRunnelClusterRF3, TargetRunnelClusterRF3NoFsync, false}, {TargetRunnel, TargetRunnelCluster, false}} {
		if got := sameCluster(c.a, c.b); got != c.want {
			t.Errorf("sameCluster(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	var none strings.Builder
	replicationTable(&none, rep, Scenario{Name: "cluster-produce-acks1", Targets: []string{TargetRunnel, TargetRunnelCluster}})
	if none.Len() != 0 {
		t.Errorf("a scenario without a replicated target got a table:\n%s", none.String())
	}
}
