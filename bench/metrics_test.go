package bench

import (
	"math"
	"strings"
	"testing"
)

// TestExposition: values are summed over the samples whose labels match,
// a missing metric is named in the error, and a histogram reads as its
// buckets, sum and count, whose difference between two readings counts a
// bucket that first appeared in the later one from zero.
func TestExposition(t *testing.T) {
	const text = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 1042
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.2345678e+07
# TYPE runnel_replication_bytes_out_total counter
runnel_replication_bytes_out_total{topic="a"} 1.5e6
runnel_replication_bytes_out_total{topic="b"} 500000
# TYPE runnel_replication_bytes_out_totally counter
runnel_replication_bytes_out_totally{a="runnel_replication_bytes_out_total 7"} 7
# TYPE runnel_fsync_duration_seconds histogram
runnel_fsync_duration_seconds_bucket{le="0.001"} 3
runnel_fsync_duration_seconds_bucket{le="0.01"} 9
runnel_fsync_duration_seconds_bucket{le="+Inf"} 10
runnel_fsync_duration_seconds_sum 0.05
runnel_fsync_duration_seconds_count 10
`
	e, err := parseExposition(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := e.value("runnel_replication_bytes_out_total"); !ok || v != 2e6 {
		t.Errorf("summed %v, %v; want 2e6", v, ok)
	}
	if v, ok := e.value("runnel_replication_bytes_out_total", "topic", "b"); !ok || v != 5e5 {
		t.Errorf("topic b: %v, %v; want 5e5", v, ok)
	}
	if _, ok := e.value("runnel_replication_bytes_out_total", "topic", "c"); ok {
		t.Error("topic c found")
	}
	got, err := e.values("go_memstats_heap_inuse_bytes", "go_goroutines")
	if err != nil || got["go_memstats_heap_inuse_bytes"] != 12345678 || got["go_goroutines"] != 1042 {
		t.Errorf("values %v, %v", got, err)
	}
	if _, err := e.values("go_goroutines", "process_resident_memory_bytes"); err == nil || !strings.Contains(err.Error(), "process_resident_memory_bytes") {
		t.Errorf("a missing metric: %v", err)
	}
	h := e.histogram("runnel_fsync_duration_seconds")
	if h.count != 10 || h.sum != 0.05 || len(h.buckets) != 3 || h.buckets[1] != (bucket{0.01, 9}) || !math.IsInf(h.buckets[2].le, 1) {
		t.Errorf("histogram %+v", h)
	}
	if h := e.histogram("runnel_produce_stage_seconds", "stage", "queue"); h.count != 0 || len(h.buckets) != 0 {
		t.Errorf("a missing histogram reads %+v", h)
	}
	earlier := histogram{count: 4, sum: 0.01, buckets: []bucket{{0.001, 2}, {math.Inf(1), 4}}}
	d := h.minus(earlier)
	if d.count != 6 || math.Abs(d.sum-0.04) > 1e-12 || d.buckets[0].count != 1 || d.buckets[1].count != 9 || d.buckets[2].count != 6 {
		t.Errorf("difference %+v", d)
	}
	if _, err := parseExposition(strings.NewReader("go_goroutines many\n")); err == nil {
		t.Error("a value that is not a number: no error")
	}
}
