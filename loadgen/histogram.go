package loadgen

import (
	"fmt"
	"io"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms count microseconds from 1 µs to one minute with three
// significant digits; values outside are clamped so that a stall never
// drops a sample.
const (
	histMinMicros = 1
	histMaxMicros = int64(time.Minute / time.Microsecond)
	histDigits    = 3
)

// NewHistogram is an empty latency histogram of that range and precision.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histDigits)
}

// recorder is one worker's latency histogram. Workers record into it from
// their own goroutines (and client callbacks); the run loop drains it into
// the interval histogram once a tick, so workers never share a histogram and
// the lock is uncontended except for that moment.
//
// Each latency is recorded with its record's intended send time. Those of
// records intended from windowFrom on are also kept apart (window), for the
// run's totals: the measured window is the records intended in it,
// whatever the time they were acked or consumed. Were the totals made of
// what completed after the warm-up instead, a record intended during the
// warm-up would count once it completed late, and a stall in the warm-up
// would count in the end-to-end histogram (consumers receive later than
// producers are acked) but not in the produce one.
type recorder struct {
	mu         sync.Mutex
	hist       *hdrhistogram.Histogram // every latency since the last drain (the ticks)
	window     *hdrhistogram.Histogram // those of records intended from windowFrom on
	windowFrom int64                   // Unix nanoseconds; set before the workers start
}

func newRecorder() *recorder { return &recorder{hist: NewHistogram(), window: NewHistogram()} }

// Record adds one latency, of a record intended at intended.
func (r *recorder) Record(d time.Duration, intended time.Time) {
	r.RecordN(d, intended, 1)
}

// RecordN adds n equal latencies (the records of one request, intended at
// intended).
func (r *recorder) RecordN(d time.Duration, intended time.Time, n int64) {
	v := clampMicros(d)
	r.mu.Lock()
	_ = r.hist.RecordValues(v, n) // cannot fail: clamped into range
	if intended.UnixNano() >= r.windowFrom {
		_ = r.window.RecordValues(v, n)
	}
	r.mu.Unlock()
}

// drainInto merges what was recorded since the last drain into dst, and the
// window's part of it into window unless that is nil, and starts over.
func (r *recorder) drainInto(dst, window *hdrhistogram.Histogram) {
	r.mu.Lock()
	dst.Merge(r.hist)
	if window != nil {
		window.Merge(r.window)
	}
	r.hist.Reset()
	r.window.Reset()
	r.mu.Unlock()
}

// RecordLatency adds d to h, clamped into the histogram's range.
func RecordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	_ = h.RecordValue(clampMicros(d)) // cannot fail: clamped into range
}

func clampMicros(d time.Duration) int64 {
	v := d.Microseconds()
	if v < histMinMicros {
		return histMinMicros
	}
	if v > histMaxMicros {
		return histMaxMicros
	}
	return v
}

// Percentiles summarizes a latency histogram, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	P9999 float64 `json:"p99_99_ms"`
	Max   float64 `json:"max_ms"`
}

// Summarize reads the percentiles the report shows from h (microseconds).
func Summarize(h *hdrhistogram.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Percentiles{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		P9999: ms(h.ValueAtQuantile(99.99)),
		Max:   ms(h.Max()),
	}
}

func (p Percentiles) String() string {
	return fmt.Sprintf("p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f p99.99 %.3f max %.3f ms (n=%d)",
		p.P50, p.P90, p.P99, p.P999, p.P9999, p.Max, p.Count)
}

// WriteHgrm writes h as HdrHistogram's percentile distribution text (the
// .hgrm format its plotters read), values in milliseconds.
func WriteHgrm(w io.Writer, h *hdrhistogram.Histogram) error {
	if h == nil {
		h = NewHistogram()
	}
	_, err := h.PercentilesPrint(w, 5, 1000)
	return err
}
