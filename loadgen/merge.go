package loadgen

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// EncodedHistograms are a result's histograms in HdrHistogram's compressed
// V2 encoding (base64), so that the results of several generator processes
// can be merged exactly (Merge) rather than averaged from percentiles.
type EncodedHistograms struct {
	Produce   string `json:"produce,omitempty"`
	SendDelay string `json:"send_delay,omitempty"`
	EndToEnd  string `json:"end_to_end,omitempty"`
}

func encodeHistograms(r *Result) (*EncodedHistograms, error) {
	var e EncodedHistograms
	for _, h := range []struct {
		hist *hdrhistogram.Histogram
		dst  *string
	}{{r.ProduceHist, &e.Produce}, {r.SendDelayHist, &e.SendDelay}, {r.EndToEndHist, &e.EndToEnd}} {
		if h.hist == nil || h.hist.TotalCount() == 0 {
			continue
		}
		b, err := h.hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("loadgen: encoding a histogram: %w", err)
		}
		*h.dst = string(b)
	}
	return &e, nil
}

// ReadResult reads a result written by WriteJSON, histograms included.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", path, err)
	}
	if e := r.Histograms; e != nil {
		for _, h := range []struct {
			enc string
			dst **hdrhistogram.Histogram
		}{{e.Produce, &r.ProduceHist}, {e.SendDelay, &r.SendDelayHist}, {e.EndToEnd, &r.EndToEndHist}} {
			if h.enc == "" {
				continue
			}
			if *h.dst, err = hdrhistogram.Decode([]byte(h.enc)); err != nil {
				return nil, fmt.Errorf("loadgen: %s: histogram: %w", path, err)
			}
		}
	}
	return &r, nil
}

// Merge is the result of several generators that ran the same load at
// the same time (each a share of the producers, connections and rate):
// counts, rates and timelines added up, histograms merged, the window the
// longest of theirs, the configuration the first's with the rate, producers
// and consumers of all.
func Merge(parts ...*Result) *Result {
	if len(parts) == 0 {
		return nil
	}
	m := &Result{Config: parts[0].Config, Mode: parts[0].Mode, Start: parts[0].Start,
		ProduceHist: NewHistogram(), SendDelayHist: NewHistogram(), EndToEndHist: NewHistogram()}
	m.Config.Rate, m.Config.Producers, m.Config.Consumers, m.Config.Connections = 0, 0, 0, 0
	for _, p := range parts {
		m.Config.Rate += p.Config.Rate
		m.Config.Producers += p.Config.Producers
		m.Config.Consumers += p.Config.Consumers
		m.Config.Connections += p.Config.Connections
		if p.Start.Before(m.Start) {
			m.Start = p.Start
		}
		m.Seconds = max(m.Seconds, p.Seconds)
		m.Produced = m.Produced.plus(p.Produced)
		m.Consumed = m.Consumed.plus(p.Consumed)
		for _, h := range []struct{ dst, src *hdrhistogram.Histogram }{
			{m.ProduceHist, p.ProduceHist}, {m.SendDelayHist, p.SendDelayHist}, {m.EndToEndHist, p.EndToEndHist}} {
			if h.src != nil {
				h.dst.Merge(h.src)
			}
		}
		m.Totals = m.Totals.plus(p.Totals)
		m.CPUSeconds += p.CPUSeconds
		m.Raw = m.Raw.plus(p.Raw)
		for i, tick := range p.Timeline {
			if i == len(m.Timeline) {
				m.Timeline = append(m.Timeline, Tick{Seconds: tick.Seconds, Warmup: tick.Warmup})
			}
			mt := &m.Timeline[i]
			mt.ProducedPerSec += tick.ProducedPerSec
			mt.ProducedMBPerSec += tick.ProducedMBPerSec
			mt.ConsumedPerSec += tick.ConsumedPerSec
			mt.ConsumedMBPerSec += tick.ConsumedMBPerSec
			mt.ProduceP99 = max(mt.ProduceP99, tick.ProduceP99) // the worst generator's
			mt.EndToEndP99 = max(mt.EndToEndP99, tick.EndToEndP99)
		}
		for _, e := range p.Errors {
			if !slices.Contains(m.Errors, e) && len(m.Errors) < maxNotedErrors {
				m.Errors = append(m.Errors, e)
			}
		}
	}
	m.ProduceLatency, m.SendDelay, m.EndToEnd = Summarize(m.ProduceHist), Summarize(m.SendDelayHist), Summarize(m.EndToEndHist)
	return m
}

// plus is t and o together: throughputs of generators that ran at once.
func (t Throughput) plus(o Throughput) Throughput {
	return Throughput{Records: t.Records + o.Records, Bytes: t.Bytes + o.Bytes,
		RecordsPerSec: t.RecordsPerSec + o.RecordsPerSec, MBPerSec: t.MBPerSec + o.MBPerSec}
}

// plus is t and o together.
func (t Totals) plus(o Totals) Totals {
	return Totals{
		Sent: t.Sent + o.Sent, Acked: t.Acked + o.Acked, AckedBytes: t.AckedBytes + o.AckedBytes,
		ProduceErrors: t.ProduceErrors + o.ProduceErrors, Consumed: t.Consumed + o.Consumed,
		ConsumedBytes: t.ConsumedBytes + o.ConsumedBytes, FetchErrors: t.FetchErrors + o.FetchErrors,
		RequestErrors: t.RequestErrors + o.RequestErrors, ClientWarnings: t.ClientWarnings + o.ClientWarnings,
	}
}
