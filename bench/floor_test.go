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
	res, err := measureDiskFloor(context.Background(), t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", res.ProduceLatency)
	if n := res.ProduceLatency.Count; n < 299 || n > 301 {
		t.Fatalf("%d latencies, want the 300 records due in the measurement", n)
	}
	if res.Produced.Records != res.ProduceLatency.Count || res.Produced.Bytes != 1024*res.Produced.Records {
		t.Fatalf("produced %+v, want every measured record of 1 KiB", res.Produced)
	}
	if res.ProduceLatency.P50 <= 0 || res.ProduceLatency.Max < res.ProduceLatency.P50 {
		t.Fatalf("latency %v", res.ProduceLatency)
	}
}
