package bench

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// exposition is one reading of a broker's /metrics, its metric families by
// name. parseExposition (Prometheus' own text parser) is the one reader of
// the format in bench.
type exposition map[string]*dto.MetricFamily

// parseExposition parses the Prometheus text format.
func parseExposition(r io.Reader) (exposition, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("bench: metrics: %w", err)
	}
	return families, nil
}

// scrape reads and parses the /metrics of the admin listener at addr,
// waiting at most limit.
func scrape(ctx context.Context, addr string, limit time.Duration) (exposition, error) {
	var text bytes.Buffer
	if err := get(ctx, "http://"+addr+"/metrics", &text, limit); err != nil {
		return nil, err
	}
	return parseExposition(&text)
}

// samples are the metrics of family name whose labels include each pair
// of labels ("name", "value", ...).
func (e exposition) samples(name string, labels ...string) []*dto.Metric {
	f := e[name]
	if f == nil {
		return nil
	}
	var got []*dto.Metric
	for _, m := range f.GetMetric() {
		if hasLabels(m, labels) {
			got = append(got, m)
		}
	}
	return got
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
		}) {
			return false
		}
	}
	return true
}

// value is the sum of the gauge, counter or untyped samples of name with
// labels; false if there is none.
func (e exposition) value(name string, labels ...string) (float64, bool) {
	ms := e.samples(name, labels...)
	var sum float64
	for _, m := range ms {
		switch {
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		default:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, len(ms) > 0
}

// values are the values of the names (unlabelled samples); it fails if
// one is missing.
func (e exposition) values(names ...string) (map[string]float64, error) {
	got := make(map[string]float64, len(names))
	for _, name := range names {
		v, ok := e.value(name)
		if !ok {
			return nil, fmt.Errorf("bench: metrics lack %s", name)
		}
		got[name] = v
	}
	return got, nil
}

// histogram is one reading of a Prometheus histogram.
type histogram struct {
	count, sum float64
	buckets    []bucket // cumulative, by le, the last +Inf
}

// bucket is a histogram bucket's upper bound (le) and cumulative count.
type bucket struct{ le, count float64 }

// histogram is the histogram name with labels (the first if several
// match); the zero histogram if there is none.
func (e exposition) histogram(name string, labels ...string) histogram {
	ms := e.samples(name, labels...)
	if len(ms) == 0 || ms[0].Histogram == nil {
		return histogram{}
	}
	h := ms[0].GetHistogram()
	r := histogram{count: float64(h.GetSampleCount()), sum: h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		r.buckets = append(r.buckets, bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
	}
	slices.SortFunc(r.buckets, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	if n := len(r.buckets); n == 0 || !math.IsInf(r.buckets[n-1].le, 1) {
		r.buckets = append(r.buckets, bucket{math.Inf(1), r.count})
	}
	return r
}

// minus is what h got since earlier, a reading of the same histogram
// (buckets earlier lacks count from zero).
func (h histogram) minus(earlier histogram) histogram {
	d := histogram{count: h.count - earlier.count, sum: h.sum - earlier.sum}
	for _, b := range h.buckets {
		var before float64
		if i := slices.IndexFunc(earlier.buckets, func(e bucket) bool { return e.le == b.le }); i >= 0 {
			before = earlier.buckets[i].count
		}
		d.buckets = append(d.buckets, bucket{b.le, b.count - before})
	}
	return d
}
