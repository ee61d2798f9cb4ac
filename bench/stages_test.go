package bench

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"runnel/loadgen"
)

// TestStagesQuantiles reads the stage histograms out of two expositions
// of a broker's registry and turns them into the quantiles of what each
// got in between, interpolated within the bucket, leaving out a stage that
// got nothing.
func TestStagesQuantiles(t *testing.T) {
	reg := prometheus.NewRegistry()
	stages := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "runnel_produce_stage_seconds",
		Buckets: []float64{0.001, 0.002, 0.004}}, []string{"stage"})
	requests := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "runnel_request_duration_seconds"}, []string{"api"})
	fsync := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "runnel_fsync_duration_seconds"})
	reg.MustRegister(stages, requests, fsync)
	read := func() stageReading {
		var text bytes.Buffer
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, f := range families {
			if err := enc.Encode(f); err != nil {
				t.Fatal(err)
			}
		}
		e, err := parseExposition(&text)
		if err != nil {
			t.Fatal(err)
		}
		return readStages(e)
	}
	observe := func(h prometheus.Observer, n int, v float64) {
		for range n {
			h.Observe(v)
		}
	}
	// 1,000 requests before the run, all under 1 ms; 100 in it: 40 under
	// 1 ms, 50 in (1 ms, 2 ms], 10 in (2 ms, 4 ms]. "respond" gets its 5
	// before the run alone.
	observe(stages.WithLabelValues("queue"), 1000, 0.0005)
	observe(stages.WithLabelValues("respond"), 5, 0.0005)
	observe(requests.WithLabelValues("Fetch"), 7, 0.1)
	before := read()
	observe(stages.WithLabelValues("queue"), 40, 0.0005)
	observe(stages.WithLabelValues("queue"), 50, 0.0015)
	observe(stages.WithLabelValues("queue"), 10, 0.003)
	observe(requests.WithLabelValues("Produce"), 100, 0.001)
	observe(fsync, 10, 0.001)
	s, err := stagesBetween(before, read())
	if err != nil {
		t.Fatal(err)
	}
	if s.ProduceRequests != 100 || s.Syncs != 10 {
		t.Fatalf("stages %+v, want 100 Produce requests (not the Fetches) and 10 syncs", s)
	}
	var names []string
	for _, q := range s.Quantiles {
		names = append(names, q.Stage)
	}
	if !slices.Equal(names, []string{"queue", "broker", "fsync"}) || s.Quantiles[0].Count != 100 {
		t.Fatalf("quantiles %+v, want the queue's of 100 requests, the broker's and fsync's", s.Quantiles)
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

// TestStagesAtOnce: with the readings' times, the table gives the requests
// in the broker and the syncs in flight at once by Little's law; runs
// recorded without them give neither.
func TestStagesAtOnce(t *testing.T) {
	before := stageReading{histograms: map[string]histogram{}, at: time.Unix(100, 0)}
	after := stageReading{histograms: map[string]histogram{
		// 1,000 requests of 30 ms, 2,000 syncs of 5 ms, over 10 s: 3 and 1 at once.
		"broker": {count: 1000, sum: 30},
		"fsync":  {count: 2000, sum: 10},
	}, at: time.Unix(110, 0)}
	st, err := stagesBetween(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if st.Seconds != 10 || st.InBroker() != 3 || st.SyncsInFlight() != 1 {
		t.Fatalf("seconds %v, in broker %v, syncs in flight %v; want 10, 3, 1", st.Seconds, st.InBroker(), st.SyncsInFlight())
	}
	for _, seconds := range []float64{10, 0} {
		st.Seconds = seconds
		res := &loadgen.Result{ProduceLatency: loadgen.Percentiles{Count: 100, Mean: 40}}
		rep := &Report{Runs: []*RunResult{{Scenario: "produce-acksall-many", Target: TargetRunnel, Result: res, Stages: st}}}
		var b strings.Builder
		stagesTable(&b, rep, Scenario{Name: "produce-acksall-many"})
		want := "3.0 produce requests were in the broker at once, and 1.0 syncs in flight"
		if got := strings.Contains(b.String(), want); got != (seconds > 0) {
			t.Errorf("seconds %v: %q shown %v:\n%s", seconds, want, got, b.String())
		}
	}
}
