package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"runnel/broker/clustertest"
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
