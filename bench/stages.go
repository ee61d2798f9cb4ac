package bench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// Stages split Runnel's produce latency in a run by where it was spent,
// from the broker's own /metrics read before and after the load: means
// over every produce request and every sync of the run (warm-up
// included), in ms, and the quantiles of each stage's histogram.
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
	// Seconds is the wall time between the two readings (0 in runs
	// recorded before it was kept): with it the means give, by Little's
	// law, how many requests were in the broker and how many syncs in
	// flight at once on average (InBroker, SyncsInFlight).
	Seconds float64 `json:"seconds,omitempty"`
	// Quantiles are p50 and p99 of each produce stage
	// (runnel_produce_stage_seconds, in the broker's order), then of the
	// whole time in the broker ("broker") and of one sync ("fsync"), over
	// the run. Each stage's p99 is its own: they do not add up to the
	// request's.
	Quantiles []StageQuantiles `json:"quantiles,omitempty"`
}

// StageQuantiles are one histogram's quantiles over a run, in ms,
// interpolated linearly within the bucket they fall in (as Prometheus'
// histogram_quantile), so they are as coarse as its buckets (× 2 apart).
type StageQuantiles struct {
	Stage string  `json:"stage"`
	Count float64 `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
}

// stageHistograms are the histograms the stages are computed from: a name
// for the report, the family and its labels. The produce stages come
// first, in the broker's order; "broker" and "fsync" also give the means.
var stageHistograms = []struct {
	name, family string
	labels       []string
}{
	{"queue", "runnel_produce_stage_seconds", []string{"stage", "queue"}},
	{"decode", "runnel_produce_stage_seconds", []string{"stage", "decode"}},
	{"append", "runnel_produce_stage_seconds", []string{"stage", "append"}},
	{"sync_wait", "runnel_produce_stage_seconds", []string{"stage", "sync_wait"}},
	{"respond", "runnel_produce_stage_seconds", []string{"stage", "respond"}},
	{"broker", "runnel_request_duration_seconds", []string{"api", "Produce"}},
	{"fsync", "runnel_fsync_duration_seconds", nil},
}

// stageReading is one reading of Runnel's stage histograms (by the names
// of stageHistograms) and of runnel_fsync_waiters; a broker that has not
// answered a produce yet lacks the labelled ones, which read as empty.
type stageReading struct {
	histograms map[string]histogram
	waiters    histogram // produce requests answered per sync
	at         time.Time // when it was read (zero: unknown)
}

// produceRequests are the Produce requests Runnel had answered.
func (r stageReading) produceRequests() float64 { return r.histograms["broker"].count }

// stageCounters reads Runnel's stage histograms.
func (t *target) stageCounters(ctx context.Context) (stageReading, error) {
	e, err := scrape(ctx, t.admin, 30*time.Second)
	if err != nil {
		return stageReading{}, err
	}
	r := readStages(e)
	r.at = time.Now()
	return r, nil
}

// readStages picks the stage histograms out of e.
func readStages(e exposition) stageReading {
	r := stageReading{histograms: map[string]histogram{}, waiters: e.histogram("runnel_fsync_waiters")}
	for _, h := range stageHistograms {
		r.histograms[h.name] = e.histogram(h.family, h.labels...)
	}
	return r
}

// stagesBetween are the Stages of what happened between two readings of
// stageCounters.
func stagesBetween(before, after stageReading) (*Stages, error) {
	d := func(name string) histogram { return after.histograms[name].minus(before.histograms[name]) }
	broker, fsync := d("broker"), d("fsync")
	s := &Stages{ProduceRequests: broker.count, Syncs: fsync.count}
	if s.ProduceRequests <= 0 || s.Syncs <= 0 {
		return nil, fmt.Errorf("bench: stages: %.0f produce requests and %.0f syncs in the run", s.ProduceRequests, s.Syncs)
	}
	s.Broker = 1000 * broker.sum / s.ProduceRequests
	s.Sync = 1000 * fsync.sum / s.Syncs
	s.WaitersPerSync = after.waiters.minus(before.waiters).sum / s.Syncs
	if !before.at.IsZero() && after.at.After(before.at) {
		s.Seconds = after.at.Sub(before.at).Seconds()
	}
	for _, h := range stageHistograms {
		if q, ok := quantiles(h.name, d(h.name)); ok {
			s.Quantiles = append(s.Quantiles, q)
		}
	}
	return s, nil
}

// InBroker is how many produce requests were in the broker at once on
// average over the run (arrival to response ready), by Little's law; 0
// without Seconds.
func (s *Stages) InBroker() float64 { return s.atOnce(s.ProduceRequests, s.Broker) }

// SyncsInFlight is how many syncs were running at once on average over
// the run, by Little's law; 0 without Seconds.
func (s *Stages) SyncsInFlight() float64 { return s.atOnce(s.Syncs, s.Sync) }

// atOnce is n events of meanMs each over s.Seconds, as a mean count at once.
func (s *Stages) atOnce(n, meanMs float64) float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return n * meanMs / 1000 / s.Seconds
}

// quantiles are the p50 and p99 of the observations of h, a histogram's
// difference between two readings; false when it got none.
func quantiles(name string, h histogram) (StageQuantiles, bool) {
	buckets := h.buckets
	if len(buckets) == 0 || buckets[len(buckets)-1].count <= 0 {
		return StageQuantiles{}, false
	}
	return StageQuantiles{Stage: name, Count: buckets[len(buckets)-1].count,
		P50: 1000 * bucketQuantile(0.5, buckets), P99: 1000 * bucketQuantile(0.99, buckets)}, true
}

// bucketQuantile is the q quantile of cumulative buckets sorted by le (the
// last +Inf), linear within the bucket it falls in, from 0 in the first;
// in the +Inf bucket, the largest finite bound.
func bucketQuantile(q float64, buckets []bucket) float64 {
	rank := q * buckets[len(buckets)-1].count
	lower, below := 0.0, 0.0
	for _, b := range buckets {
		if b.count >= rank && b.count > below {
			if math.IsInf(b.le, 1) {
				return lower
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below)
		}
		lower, below = b.le, b.count
	}
	return lower
}

// stagesTable splits Runnel's produce latency in an open-loop or acks=all
// scenario by where it was spent: means, then each stage's p50 and p99, beside the
// client's figures and, in a latency floor scenario, the disk floor's.
func stagesTable(b *strings.Builder, rep *Report, sc Scenario) {
	run, floor := rep.Find(sc.Name, TargetRunnel), rep.Find(sc.Name, TargetDiskFloor)
	if run == nil || run.Result == nil || run.Stages == nil {
		return
	}
	st, client := run.Stages, run.Result.ProduceLatency.Mean
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\nWhere Runnel's produce latency went (means in ms, from the client's histogram and the broker's /metrics over the run, warm-up included; "+
		"%.0f produce requests, %.0f syncs, %.2f requests answered per sync):\n\n| stage | mean (ms) |\n|---|---:|\n", st.ProduceRequests, st.Syncs, st.WaitersPerSync)
	w("| client: intended send time to ack (`runnel loadgen`) | %s |\n", ms(client))
	w("| outside the broker: client batching and scheduling, loopback, reading the request, writing the response | %s |\n", ms(client-st.Broker))
	// An open loop's latency counts from the intended send time: a
	// generator starved of CPU sends late, and that lateness is the
	// harness's, not the broker's.
	sd := run.Result.SendDelay
	if sd.Count > 0 {
		w("| of which the generator sending late (send delay: intended to actual send, the harness's own) | %s |\n", ms(sd.Mean))
	}
	w("| in the broker: arrival to response ready | %s |\n", ms(st.Broker))
	w("| of which one sync (fdatasync of the log), mean per sync | %s |\n", ms(st.Sync))
	w("| in the broker besides the sync: decode, validate, append, waiting for a sync to start, hand-offs | %s |\n", ms(st.Broker-st.Sync))
	if floor != nil && floor.Result != nil {
		w("| disk floor: pwrite+fdatasync at the same rate, due time to durable | %s |\n", ms(floor.Result.ProduceLatency.Mean))
	}
	if st.Seconds > 0 {
		w("\nOn average over the run, by Little's law (count ÷ seconds × mean): %.1f produce requests were in the broker at once, and %.1f syncs in flight.\n",
			st.InBroker(), st.SyncsInFlight())
	}
	if len(st.Quantiles) > 0 {
		pl := run.Result.ProduceLatency
		w("\nThe same by quantile: each stage's own p50 and p99 over the run (ms; the broker's histograms, buckets × 2 apart, " +
			"interpolated linearly within a bucket, so ±50%%), which do not add up to a request's p99. " +
			"The client's are per record, the broker's per request.\n\n| stage | requests | p50 (ms) | p99 (ms) |\n|---|---:|---:|---:|\n")
		w("| client: intended send time to ack | %d | %s | %s |\n", pl.Count, ms(pl.P50), ms(pl.P99))
		if sd.Count > 0 {
			w("| client: send delay (the generator late, before the client) | %d | %s | %s |\n", sd.Count, ms(sd.P50), ms(sd.P99))
		}
		for _, q := range st.Quantiles {
			w("| %s | %.0f | %s | %s |\n", stageTitles[q.Stage], q.Count, ms(q.P50), ms(q.P99))
		}
		if floor != nil && floor.Result != nil && floor.Stages != nil {
			fl := floor.Result.ProduceLatency
			w("| disk floor: due time to durable | %d | %s | %s |\n", fl.Count, ms(fl.P50), ms(fl.P99))
			for _, q := range floor.Stages.Quantiles {
				w("| disk floor: %s (exact, not bucketed) | %.0f | %s | %s |\n", stageTitles[q.Stage], q.Count, ms(q.P50), ms(q.P99))
			}
		}
	}
	w("\n")
}

// stageTitles describe the quantiles' stages in the report.
var stageTitles = map[string]string{
	"queue":     "queue: frame read (the event loop's wake-up) to decoding",
	"decode":    "decode: the request's decoding",
	"append":    "append: the handler (validate, append, ask the flusher)",
	"sync_wait": "sync_wait: handler's return to reply finished (the fsync)",
	"respond":   "respond: reply finished to response written",
	"broker":    "in the broker: arrival to response ready",
	"fsync":     "one sync (fdatasync of a log), per sync",
}
