package bench

import (
	"math"
	"strings"
	"testing"

	"runnel/loadgen"
)

// TestStagesQuantiles turns two readings of a stage's histogram buckets
// into the quantiles of what it got in between, interpolated within the
// bucket, and leaves out a stage that got nothing.
func TestStagesQuantiles(t *testing.T) {
	before := map[string]float64{stageMetrics[1]: 0, stageMetrics[3]: 0}
	after := map[string]float64{stageMetrics[0]: 1, stageMetrics[1]: 100, stageMetrics[2]: 1, stageMetrics[3]: 10}
	queue := `runnel_produce_stage_seconds_bucket{stage="queue",le=`
	// 100 requests in the run: 40 under 1 ms, 50 in (1 ms, 2 ms], 10 in
	// (2 ms, 4 ms]; 1,000 before it, all under 1 ms.
	for sample, counts := range map[string][2]float64{
		queue + `"0.001"}`: {1000, 1040},
		queue + `"0.002"}`: {1000, 1090},
		queue + `"0.004"}`: {1000, 1100},
		queue + `"+Inf"}`:  {1000, 1100},
		`runnel_produce_stage_seconds_bucket{stage="respond",le="+Inf"}`: {5, 5},
	} {
		before[sample], after[sample] = counts[0], counts[1]
	}
	s, err := stagesBetween(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Quantiles) != 1 || s.Quantiles[0].Stage != "queue" || s.Quantiles[0].Count != 100 {
		t.Fatalf("quantiles %+v, want the queue's alone, of 100 requests", s.Quantiles)
	}
	// p50: rank 50, the 10th of 50 in (1, 2] ms: 1.2 ms. p99: rank 99,
	// the 9th of 10 in (2, 4] ms: 3.8 ms.
	if q := s.Quantiles[0]; math.Abs(q.P50-1.2) > 1e-9 || math.Abs(q.P99-3.8) > 1e-9 {
		t.Fatalf("p50 %v ms, p99 %v ms, want 1.2 and 3.8", q.P50, q.P99)
	}
}

// TestBucketQuantileInf gives a quantile in the +Inf bucket the largest
// finite bound.
func TestBucketQuantileInf(t *testing.T) {
	if got := bucketQuantile(0.99, []bucket{{0.001, 50}, {0.002, 90}, {math.Inf(1), 100}}); got != 0.002 {
		t.Fatalf("p99 %v, want 0.002", got)
	}
}

// TestStagesTableSendDelay: an open-loop run's table shows the generator's
// lateness apart from the broker's stages; a closed loop's has no such row.
func TestStagesTableSendDelay(t *testing.T) {
	for _, open := range []bool{true, false} {
		res := &loadgen.Result{ProduceLatency: loadgen.Percentiles{Count: 100, Mean: 40, P50: 22, P99: 197}}
		if open {
			res.SendDelay = loadgen.Percentiles{Count: 100, Mean: 12, P50: 3, P99: 58}
		}
		rep := &Report{Runs: []*RunResult{{Scenario: "latency-50", Target: TargetRunnel, Result: res, Stages: &Stages{Broker: 6, Sync: 1.5}}}}
		var b strings.Builder
		stagesTable(&b, rep, Scenario{Name: "latency-50"})
		if got := strings.Contains(b.String(), "the generator sending late"); got != open {
			t.Errorf("open loop %v: send delay row shown %v:\n%s", open, got, b.String())
		}
	}
}
