package bench

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
)

// Stages split Runnel's produce latency in a run by where it was spent,
// from the broker's own /metrics read before and after the load: means
// over every produce request and every sync of the run (warm-up
// included), in ms.
type Stages struct {
	ProduceRequests float64 `json:"produce_requests"`
	// Broker is a produce request's time in the broker, from its arrival
	// to its response being ready (for acks=all, synced):
	// runnel_request_duration_seconds{api="Produce"}.
	Broker float64 `json:"broker_ms"`
	// Sync is one flusher sync (fdatasync): runnel_fsync_duration_seconds.
	Sync  float64 `json:"sync_ms"`
	Syncs float64 `json:"syncs"`
	// WaitersPerSync is how many produce requests one sync answered.
	WaitersPerSync float64 `json:"waiters_per_sync"`
}

// stageMetrics are the /metrics samples Stages are computed from.
var stageMetrics = []string{
	`runnel_request_duration_seconds_sum{api="Produce"}`, `runnel_request_duration_seconds_count{api="Produce"}`,
	"runnel_fsync_duration_seconds_sum", "runnel_fsync_duration_seconds_count", "runnel_fsync_waiters_sum",
}

// stageCounters reads Runnel's stage counters; a broker that has not
// answered a produce yet lacks the labelled ones, which count as 0.
func (t *target) stageCounters(ctx context.Context) (map[string]float64, error) {
	var metrics bytes.Buffer
	if err := get(ctx, "http://"+t.admin+"/metrics", &metrics, 30*time.Second); err != nil {
		return nil, err
	}
	text := metrics.String()
	var present []string
	for _, name := range stageMetrics {
		if strings.Contains(text, "\n"+name+" ") {
			present = append(present, name)
		}
	}
	got, err := parseMetrics(strings.NewReader(text), present...)
	if err != nil {
		return nil, err
	}
	for _, name := range stageMetrics {
		if _, ok := got[name]; !ok {
			got[name] = 0
		}
	}
	return got, nil
}

// stagesBetween are the Stages of what happened between two readings of
// stageCounters.
func stagesBetween(before, after map[string]float64) (*Stages, error) {
	d := func(i int) float64 { return after[stageMetrics[i]] - before[stageMetrics[i]] }
	s := &Stages{ProduceRequests: d(1), Syncs: d(3)}
	if s.ProduceRequests <= 0 || s.Syncs <= 0 {
		return nil, fmt.Errorf("bench: stages: %.0f produce requests and %.0f syncs in the run", s.ProduceRequests, s.Syncs)
	}
	s.Broker = 1000 * d(0) / s.ProduceRequests
	s.Sync = 1000 * d(2) / s.Syncs
	s.WaitersPerSync = d(4) / s.Syncs
	return s, nil
}
