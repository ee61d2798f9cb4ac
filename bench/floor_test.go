package bench

import (
	"context"
	"testing"
	"time"

	"runnel/loadgen"
)

// TestDiskFloorCountsEveryDueRecord runs the raw baseline for a moment on
// a real file: every record due in the measurement gets one latency, at
// least the time of an fdatasync, and none is counted from the warm-up.
func TestDiskFloorCountsEveryDueRecord(t *testing.T) {
	cfg := loadgen.DefaultConfig()
	cfg.Rate, cfg.Warmup, cfg.Duration, cfg.RecordSize = 1000, 100*time.Millisecond, 300*time.Millisecond, 1024
	res, st, err := measureDiskFloor(context.Background(), t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v; fdatasync %+v", res.ProduceLatency, st.Quantiles)
	if n := res.ProduceLatency.Count; n < 299 || n > 301 {
		t.Fatalf("%d latencies, want the 300 records due in the measurement", n)
	}
	if res.Produced.Records != res.ProduceLatency.Count || res.Produced.Bytes != 1024*res.Produced.Records {
		t.Fatalf("produced %+v, want every measured record of 1 KiB", res.Produced)
	}
	if res.ProduceLatency.P50 <= 0 || res.ProduceLatency.Max < res.ProduceLatency.P50 {
		t.Fatalf("latency %v", res.ProduceLatency)
	}
	// Every measured record waits for one of the measured fdatasyncs, which
	// cover one record or more each.
	if st.Syncs < 1 || st.Syncs > float64(res.ProduceLatency.Count) || len(st.Quantiles) != 1 || st.Quantiles[0].P50 <= 0 {
		t.Fatalf("fdatasyncs %+v, want between 1 and one per record, timed", st)
	}
}

// TestStagesBetween turns two readings of the broker's histograms into
// means per request and per sync.
func TestStagesBetween(t *testing.T) {
	before := stageReading{histograms: map[string]histogram{
		"broker": {count: 100, sum: 1}, "fsync": {count: 50, sum: 0.5}}, waiters: histogram{sum: 100}}
	after := stageReading{histograms: map[string]histogram{
		"broker": {count: 1100, sum: 3}, "fsync": {count: 550, sum: 0.9}}, waiters: histogram{sum: 1100}}
	s, err := stagesBetween(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if s.ProduceRequests != 1000 || s.Syncs != 500 || s.Broker != 2 || s.WaitersPerSync != 2 || s.Sync < 0.7999 || s.Sync > 0.8001 {
		t.Fatalf("stages %+v, want 1000 requests of 2 ms, 500 syncs of 0.8 ms, 2 waiters each", s)
	}
	if _, err := stagesBetween(before, before); err == nil {
		t.Fatal("no requests in between, yet stages")
	}
}
