package loadgen

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A recorder's window holds the latencies of the records intended from
// its windowFrom on, whenever they completed; its ticks hold every one. A
// stall during the warm-up whose records complete after it (late, and later
// still at a consumer than at the producer) must not reach the totals of
// one histogram and not the other's.
func TestRecorderWindowByIntendedTime(t *testing.T) {
	from := time.Now()
	r := newRecorder()
	r.windowFrom = from.UnixNano()
	r.Record(900*time.Millisecond, from.Add(-time.Millisecond)) // intended in the warm-up, completing in the window
	r.RecordN(5*time.Millisecond, from, 3)
	r.Record(7*time.Millisecond, from.Add(time.Second))
	tick, window := NewHistogram(), NewHistogram()
	r.drainInto(tick, window)
	if tick.TotalCount() != 5 || tick.Max() < 899000 {
		t.Errorf("tick: %d latencies, max %d µs; want all 5, max 900 ms", tick.TotalCount(), tick.Max())
	}
	if window.TotalCount() != 4 || window.Max() > 7100 {
		t.Errorf("window: %d latencies, max %d µs; want the 4 intended from the window's start, max 7 ms", window.TotalCount(), window.Max())
	}
	r.drainInto(tick, window)
	if tick.TotalCount() != 5 || window.TotalCount() != 4 {
		t.Errorf("a second drain added latencies: tick %d, window %d", tick.TotalCount(), window.TotalCount())
	}
}

func TestSummarizePercentiles(t *testing.T) {
	h := NewHistogram()
	r := newRecorder()
	now := time.Now()
	for ms := 1; ms <= 1000; ms++ { // 1..1000 ms, one each
		r.Record(time.Duration(ms)*time.Millisecond, now)
	}
	r.Record(-time.Second, now)  // clamped to 1 µs
	r.Record(2*time.Minute, now) // clamped to 1 min
	r.drainInto(h, nil)
	r.drainInto(h, nil) // drained once: the second drain adds nothing
	p := Summarize(h)
	if p.Count != 1002 {
		t.Fatalf("count %d, want 1002", p.Count)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", p.P50, 500}, {"p90", p.P90, 900}, {"p99", p.P99, 990}, {"p99.9", p.P999, 1000}, {"max", p.Max, 60000}} {
		if c.got < c.want*0.99 || c.got > c.want*1.01 {
			t.Errorf("%s = %.3f ms, want %.0f ±1%%", c.name, c.got, c.want)
		}
	}
	if h.Min() != histMinMicros {
		t.Errorf("min %d µs, want the clamp %d", h.Min(), histMinMicros)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "bootstrap"},
		{"tiny records", func(c *Config) { c.RecordSize = 4 }, "at least 8"},
		{"acks", func(c *Config) { c.Acks = "2" }, "acks"},
		{"codec", func(c *Config) { c.Compression = "brotli" }, "compression"},
		{"idempotent acks=1", func(c *Config) { c.Acks = "1" }, "idempotent"},
		{"nothing to do", func(c *Config) { c.Producers, c.Consumers = 0, 0 }, "at least one"},
		{"max lag open loop", func(c *Config) { c.MaxLag, c.Rate = 100, 1000 }, "max lag"},
		{"max lag without consumers", func(c *Config) { c.MaxLag, c.Consumers = 100, 0 }, "max lag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.edit(&cfg)
			err := cfg.Validate()
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, c.want)
			}
		})
	}
}

// fakeCluster is an in-memory kfake cluster; hooks may delay produces.
func fakeCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testConfig(c *kfake.Cluster) Config {
	cfg := DefaultConfig()
	cfg.Brokers = c.ListenAddrs()
	cfg.Partitions = 4
	cfg.RecordSize = 100
	cfg.Linger = 0
	cfg.Warmup = 0
	cfg.Duration = 0
	cfg.DrainTimeout = 5 * time.Second
	return cfg
}

// delayProduce makes every produce request wait delay(now) before the
// cluster handles it. kfake runs control functions one at a time, so a
// delay stalls the whole cluster, like a broker stuck in a long fsync.
func delayProduce(c *kfake.Cluster, delay func(now time.Time) time.Duration) {
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if d := delay(time.Now()); d > 0 {
			time.Sleep(d) // the stall is real time on purpose: the generator measures latency on the wall clock
		}
		return nil, nil, false
	})
}

func TestRunCountsEveryRecord(t *testing.T) {
	c := fakeCluster(t)
	cfg := testConfig(c)
	cfg.Topic = "counts"
	cfg.Producers, cfg.Consumers = 2, 2
	cfg.Records = 3000
	cfg.Keys, cfg.Headers = 10, 2
	cfg.RecordSizeMax = 300
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tot := res.Totals
	if tot.Sent != 3000 || tot.Acked != 3000 || tot.Consumed != 3000 || tot.ProduceErrors+tot.FetchErrors != 0 {
		t.Fatalf("totals %+v, want 3000 sent, acked and consumed, no errors; %v", tot, res.Errors)
	}
	if res.Produced.Records != 3000 || res.ProduceLatency.Count != 3000 || res.EndToEnd.Count != 3000 {
		t.Fatalf("measured %d produced, %d produce latencies, %d end-to-end, want 3000 each",
			res.Produced.Records, res.ProduceLatency.Count, res.EndToEnd.Count)
	}
	if tot.AckedBytes < 3000*100 || tot.AckedBytes > 3000*300 || tot.ConsumedBytes != tot.AckedBytes || res.Produced.Bytes != tot.AckedBytes {
		t.Fatalf("bytes acked %d (measured %d), consumed %d; want all equal, within sizes 100..300",
			tot.AckedBytes, res.Produced.Bytes, tot.ConsumedBytes)
	}
	if res.CPUSeconds <= 0 {
		t.Fatalf("the generator's CPU over the window: %v s, want some", res.CPUSeconds)
	}
	if res.Mode != "closed-loop" || res.SendDelay.Count != 0 {
		t.Fatalf("mode %s with %d send delays, want closed-loop without", res.Mode, res.SendDelay.Count)
	}

	// Reading it all back from the start: a consume-only run stops at the
	// end offsets it found.
	cfg.Producers, cfg.Records, cfg.FromStart = 0, 0, true
	back, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if back.Mode != "consume" || back.Consumed.Records != 3000 || back.Totals.Consumed != 3000 || back.EndToEnd.Count != 0 {
		t.Fatalf("catch-up %s read %d (total %d) with %d end-to-end samples, want consume, 3000, none",
			back.Mode, back.Consumed.Records, back.Totals.Consumed, back.EndToEnd.Count)
	}
}

func TestRunMeasuresInjectedLatency(t *testing.T) {
	const injected = 20 * time.Millisecond
	c := fakeCluster(t)
	delayProduce(c, func(time.Time) time.Duration { return injected })
	cfg := testConfig(c)
	cfg.Topic = "latency"
	cfg.Producers, cfg.Consumers = 1, 1
	cfg.Acks, cfg.Idempotent = "1", false
	cfg.Rate = 200
	cfg.Duration = 1500 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "open-loop" || res.Totals.Acked < 250 || res.Totals.Acked > 320 {
		t.Fatalf("%s run acked %d, want open-loop with about 300 (200/s for 1.5 s)", res.Mode, res.Totals.Acked)
	}
	minMs := float64(res.ProduceHist.Min()) / 1000
	p := res.ProduceLatency
	if minMs < 20 || p.P50 < 20 || p.P50 > 80 {
		t.Fatalf("produce latency min %.1f ms, %v; want all >= 20 ms and the median near it", minMs, p)
	}
	// A record cannot be read before the cluster stored it.
	if e2eMin := float64(res.EndToEndHist.Min()) / 1000; res.EndToEnd.Count != res.Totals.Acked || e2eMin < 20 {
		t.Fatalf("end-to-end: %d samples for %d acked records, min %.1f ms; want all, >= 20 ms",
			res.EndToEnd.Count, res.Totals.Acked, e2eMin)
	}
}

// A broker that stalls for a second while records are due every
// millisecond delays about a thousand records; their latencies spread
// evenly from about 1 s down to 0. A generator that timed each record from
// when it actually sent it would see one slow request and a clean p90.
func TestRunCorrectsCoordinatedOmission(t *testing.T) {
	const stall = time.Second
	c := fakeCluster(t)
	var (
		mu    sync.Mutex
		first time.Time
	)
	delayProduce(c, func(now time.Time) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			first = now
		}
		from, to := first.Add(time.Second), first.Add(time.Second+stall)
		if now.After(from) && now.Before(to) {
			return to.Sub(now)
		}
		return 0
	})
	cfg := testConfig(c)
	cfg.Topic = "stall"
	cfg.Producers, cfg.Consumers = 1, 0
	cfg.Acks, cfg.Idempotent = "1", false
	cfg.Rate = 1000
	cfg.Duration = 3 * time.Second
	cfg.MaxBuffered = 10 // the send loop blocks during the stall
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, sd := res.ProduceLatency, res.SendDelay
	t.Logf("latency %v\nsend delay %v", p, sd)
	if p.Count < 2500 {
		t.Fatalf("only %d latencies for about 3000 records", p.Count)
	}
	if sd.Max < 800 {
		t.Fatalf("send delay max %.1f ms, want about the stall (the loop was blocked)", sd.Max)
	}
	// About a sixth of the records were due during the stall.
	slow := p.Count - countBelow(res, 500)
	if frac := float64(slow) / float64(p.Count); frac < 0.08 || frac > 0.3 {
		t.Fatalf("%.1f%% of latencies >= 500 ms (%v), want about 17%%", 100*frac, p)
	}
	if p.Max < 900 || p.P90 < 200 {
		t.Fatalf("latency %v: the stall is missing from the tail", p)
	}
}

func countBelow(res *Result, ms int64) int64 {
	var n int64
	for _, b := range res.ProduceHist.Distribution() {
		if b.To < ms*1000 {
			n += b.Count
		}
	}
	return n
}

// TestRawModeStoresEveryAckedRecord sends pre-encoded batches over raw
// connections, idempotent, and reads the topic back: every acked record is
// there, none twice, and the latencies count each record.
func TestRawModeStoresEveryAckedRecord(t *testing.T) {
	for _, acks := range []string{"all", "1"} {
		t.Run("acks="+acks, func(t *testing.T) {
			c := fakeCluster(t)
			cfg := testConfig(c)
			cfg.Topic = "raw"
			cfg.Raw, cfg.Acks, cfg.Idempotent = true, acks, acks == "all"
			cfg.Producers, cfg.Consumers, cfg.Connections, cfg.InFlight, cfg.BatchRecords = 1, 0, 3, 4, 10
			cfg.Duration = 500 * time.Millisecond
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			tot := res.Totals
			if tot.Acked == 0 || tot.Acked != tot.Sent || tot.ProduceErrors != 0 || tot.Acked%10 != 0 || len(res.Errors) > 0 {
				t.Fatalf("totals %+v, errors %v: want every sent record acked, in batches of 10", tot, res.Errors)
			}
			// Requests in flight when the window closed are counted in the
			// latencies, not in the window's records: at most 3 × 4 of 10.
			if n, m := res.ProduceLatency.Count, res.Produced.Records; n < m || n > m+120 || res.Produced.Bytes != 100*m {
				t.Fatalf("%d latencies for %d records of %d bytes", n, m, res.Produced.Bytes)
			}
			// The senders' time: every request sent, its parts within
			// the senders' lifetimes (3 connections).
			if r := res.Raw; r == nil || r.Requests != tot.Sent/10 || r.SenderSeconds <= 0 || r.SenderSeconds > 3*5 ||
				r.SlotWaitSeconds < 0 || r.WriteSeconds <= 0 || r.SlotWaitSeconds+r.WriteSeconds > r.SenderSeconds {
				t.Fatalf("raw timings %+v for %d requests sent", r, tot.Sent/10)
			}
			back := testConfig(c)
			back.Topic, back.Producers, back.Consumers, back.FromStart = "raw", 0, 2, true
			read, err := Run(context.Background(), back)
			if err != nil {
				t.Fatal(err)
			}
			if read.Totals.Consumed != tot.Acked {
				t.Fatalf("read back %d records, %d were acked", read.Totals.Consumed, tot.Acked)
			}
		})
	}
}

func TestRawPartitions(t *testing.T) {
	ps := []int32{0, 1, 2, 3, 4}
	for _, c := range []struct {
		i, n int
		want []int32
	}{{0, 2, []int32{0, 2, 4}}, {1, 2, []int32{1, 3}}, {1, 7, []int32{1, 2, 3, 4, 0}}} {
		if got := rawPartitions(ps, c.i, c.n); !slices.Equal(got, c.want) {
			t.Errorf("rawPartitions(%v, %d, %d) = %v, want %v", ps, c.i, c.n, got, c.want)
		}
	}
}

// TestMergeOfWrittenResults writes two runs' results as JSON, reads them
// back and merges them: counts add up and the histograms merge exactly.
func TestMergeOfWrittenResults(t *testing.T) {
	c := fakeCluster(t)
	var parts []*Result
	for i := range 2 {
		cfg := testConfig(c)
		cfg.Topic, cfg.Records, cfg.Consumers = "merge", int64(500*(i+1)), 0
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		path := t.TempDir() + "/r.json"
		if err := res.WriteJSON(path); err != nil {
			t.Fatal(err)
		}
		back, err := ReadResult(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.ProduceHist.TotalCount() != res.ProduceHist.TotalCount() || back.ProduceLatency != res.ProduceLatency {
			t.Fatalf("read back %v, wrote %v", back.ProduceLatency, res.ProduceLatency)
		}
		parts = append(parts, back)
	}
	m := Merge(parts...)
	if m.Totals.Acked != 1500 || m.ProduceLatency.Count != 1500 || m.Produced.Records != 1500 || m.Config.Producers != 2 {
		t.Fatalf("merged totals %+v, %d latencies, %d records, %d producers; want 1500 and 2", m.Totals, m.ProduceLatency.Count, m.Produced.Records, m.Config.Producers)
	}
	if want := parts[0].CPUSeconds + parts[1].CPUSeconds; m.CPUSeconds != want {
		t.Fatalf("merged CPU %v s, want the parts' sum %v", m.CPUSeconds, want)
	}
	if m.ProduceLatency.Max < max(parts[0].ProduceLatency.Max, parts[1].ProduceLatency.Max) {
		t.Fatalf("merged max %.3f below a part's", m.ProduceLatency.Max)
	}
}

// TestMergeRawTimings: raw timings add up; a part without them counts
// as none.
func TestMergeRawTimings(t *testing.T) {
	a := &Result{Raw: &RawTimings{Requests: 3, SenderSeconds: 2, SlotWaitSeconds: 0.5, WriteSeconds: 1}}
	b := &Result{Raw: &RawTimings{Requests: 4, SenderSeconds: 3, SlotWaitSeconds: 1, WriteSeconds: 1.5}}
	if got, want := *Merge(a, &Result{}, b).Raw, (RawTimings{7, 5, 1.5, 2.5}); got != want {
		t.Fatalf("merged %+v, want %+v", got, want)
	}
	if m := Merge(&Result{}, &Result{}); m.Raw != nil {
		t.Fatalf("merged %+v from parts without raw timings", m.Raw)
	}
}

// TestPaceBatch: the floor scenarios' rates are paced per record; latency-50's 86,000
// records/s per producer wake once per paceQuantum.
func TestPaceBatch(t *testing.T) {
	for _, c := range []struct {
		rate float64
		want int64
	}{{0, 1}, {1000, 1}, {10000, 1}, {20000, 1}, {86000, 43}, {1e6, 500}} {
		var interval time.Duration
		if c.rate > 0 {
			interval = time.Duration(float64(time.Second) / c.rate)
		}
		if got := paceBatch(interval); got != c.want {
			t.Errorf("paceBatch at %.0f records/s = %d, want %d", c.rate, got, c.want)
		}
	}
}

// slowFetches is a hook that makes a consumer slow: it sleeps on every
// batch a fetch read.
type slowFetches struct{ per time.Duration }

func (s slowFetches) OnFetchBatchRead(kgo.BrokerMetadata, string, int32, kgo.FetchBatchMetrics) {
	time.Sleep(s.per)
}

// TestMaxLagHoldsProducersToTheConsumers: with a consumer slower than
// the producers, a closed loop without MaxLag produces far more than it
// consumes in its window, and with one produces at most MaxLag (and a
// check's worth per producer) more.
func TestMaxLagHoldsProducersToTheConsumers(t *testing.T) {
	c := fakeCluster(t)
	const maxLag = 2000
	gaps := map[int64]int64{}
	for _, lag := range []int64{0, maxLag} {
		cfg := testConfig(c)
		cfg.Topic = fmt.Sprintf("lag-%d", lag)
		cfg.Producers, cfg.Consumers, cfg.Duration, cfg.MaxLag = 2, 1, 1500*time.Millisecond, lag
		cfg.ClientOpts = []kgo.Opt{kgo.FetchMaxPartitionBytes(2000), kgo.WithHooks(slowFetches{per: 2 * time.Millisecond})}
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Produced.Records == 0 || res.Consumed.Records == 0 {
			t.Fatalf("max lag %d: produced %d and consumed %d records, want some of each", lag, res.Produced.Records, res.Consumed.Records)
		}
		gaps[lag] = res.Produced.Records - res.Consumed.Records
		t.Logf("max lag %d: produced %d, consumed %d", lag, res.Produced.Records, res.Consumed.Records)
	}
	if slack := int64(2 * lagCheckEvery); gaps[maxLag] > maxLag+slack {
		t.Errorf("with max lag %d, produced %d records more than consumed, want at most %d", maxLag, gaps[maxLag], maxLag+slack)
	}
	if gaps[0] < 5*maxLag {
		t.Errorf("without a max lag, produced only %d more than consumed: the consumer is not slow, and the test shows nothing", gaps[0])
	}
}
