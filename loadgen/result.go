package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what a run measured. Rates and latency percentiles cover the
// measurement window (after the warm-up, until producing stopped; records
// still in flight then are waited for and their latencies counted); Totals
// cover the whole run, warm-up and drain included, for accounting.
type Result struct {
	Config Config    `json:"config"`
	Mode   string    `json:"mode"` // open-loop, closed-loop or consume
	Start  time.Time `json:"start"`
	// Seconds is the length of the measurement window.
	Seconds  float64    `json:"seconds"`
	Produced Throughput `json:"produced"`
	Consumed Throughput `json:"consumed"`
	// ProduceLatency is from the intended send time to the ack (open loop:
	// coordinated omission corrected; closed loop: the intended time is
	// when the record was handed to the client, so it includes waiting
	// for room in the client's buffer).
	ProduceLatency Percentiles `json:"produce_latency"`
	// SendDelay is the actual minus the intended send time (open loop).
	SendDelay Percentiles `json:"send_delay"`
	// EndToEnd is from the intended send time (carried in the record) to
	// a consumer receiving the record.
	EndToEnd Percentiles `json:"end_to_end_latency"`
	Totals   Totals      `json:"totals"`
	// CPUSeconds is the generator process's user + system CPU time over
	// the measurement window, all its threads: with Seconds, how many
	// cores it took, so that a generator near its CPUs' limit shows beside
	// the latencies it measured. Run inside another program (the bench
	// harness with one generator), it counts that program's work too.
	CPUSeconds float64 `json:"cpu_seconds"`
	// Raw is where raw mode's senders spent their time (nil: no raw
	// connections).
	Raw      *RawTimings `json:"raw,omitempty"`
	Timeline []Tick      `json:"timeline"`
	// Errors are the first distinct produce/fetch errors and client
	// warnings (retries, disconnects), for a human to read.
	Errors []string `json:"errors,omitempty"`

	// Histograms are the three below, encoded: set by WriteJSON, read
	// back by ReadResult.
	Histograms *EncodedHistograms `json:"histograms,omitempty"`

	ProduceHist   *hdrhistogram.Histogram `json:"-"`
	SendDelayHist *hdrhistogram.Histogram `json:"-"`
	EndToEndHist  *hdrhistogram.Histogram `json:"-"`
}

// RawTimings split raw mode's senders' time, summed over the connections
// and over the whole run (warm-up and drain included): each connection's
// one sender either waits for room in its window of InFlight requests
// (all of them unanswered), or writes a request (write(2) of about a
// batch, which blocks while the broker does not read the socket), or
// runs its loop (and waits for a CPU). A sender that waits little for
// room is the limit on its window: requests answered meanwhile leave
// slots free that it does not fill, so fewer than InFlight requests are
// in flight (the slots' idle time is in no latency).
type RawTimings struct {
	Requests        int64   `json:"requests"`
	SenderSeconds   float64 `json:"sender_seconds"`    // the senders' lifetimes
	SlotWaitSeconds float64 `json:"slot_wait_seconds"` // waiting for room in the window
	WriteSeconds    float64 `json:"write_seconds"`     // writing requests
}

// plus is t and o together.
func (t *RawTimings) plus(o *RawTimings) *RawTimings {
	if t == nil || o == nil {
		return cmp.Or(t, o)
	}
	return &RawTimings{Requests: t.Requests + o.Requests, SenderSeconds: t.SenderSeconds + o.SenderSeconds,
		SlotWaitSeconds: t.SlotWaitSeconds + o.SlotWaitSeconds, WriteSeconds: t.WriteSeconds + o.WriteSeconds}
}

// Throughput is records and value bytes over the measurement window.
// MB is 10^6 bytes of record values (keys, headers and framing excluded).
type Throughput struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
}

// Totals counts the whole run.
type Totals struct {
	Sent          int64 `json:"sent"`
	Acked         int64 `json:"acked"`
	AckedBytes    int64 `json:"acked_bytes"`
	ProduceErrors int64 `json:"produce_errors"`
	Consumed      int64 `json:"consumed"`
	ConsumedBytes int64 `json:"consumed_bytes"`
	FetchErrors   int64 `json:"fetch_errors"`
	// RequestErrors are requests that failed on the wire (the client
	// retries them); ClientWarnings are the client's warnings and retry
	// notices.
	RequestErrors  int64 `json:"request_errors"`
	ClientWarnings int64 `json:"client_warnings"`
}

// Tick is one second (or the last, shorter interval) of the run.
type Tick struct {
	Seconds          float64 `json:"t"` // since the start of the run
	Warmup           bool    `json:"warmup,omitempty"`
	ProducedPerSec   float64 `json:"produced_per_sec"`
	ProducedMBPerSec float64 `json:"produced_mb_per_sec"`
	ConsumedPerSec   float64 `json:"consumed_per_sec"`
	ConsumedMBPerSec float64 `json:"consumed_mb_per_sec"`
	ProduceP99       float64 `json:"produce_p99_ms"`
	EndToEndP99      float64 `json:"end_to_end_p99_ms"`
}

func throughput(records, bytes int64, seconds float64) Throughput {
	t := Throughput{Records: records, Bytes: bytes}
	if seconds > 0 {
		t.RecordsPerSec = float64(records) / seconds
		t.MBPerSec = float64(bytes) / seconds / 1e6
	}
	return t
}

// WriteJSON writes r as indented JSON to path, with its histograms.
func (r *Result) WriteJSON(path string) error {
	var err error
	if r.Histograms, err = encodeHistograms(r); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteHgrms writes <prefix>produce.hgrm, <prefix>send-delay.hgrm and
// <prefix>e2e.hgrm into dir for the histograms that have samples, and
// returns the paths written.
func (r *Result) WriteHgrms(dir, prefix string) ([]string, error) {
	var paths []string
	for _, h := range []struct {
		name string
		hist *hdrhistogram.Histogram
	}{{"produce", r.ProduceHist}, {"send-delay", r.SendDelayHist}, {"e2e", r.EndToEndHist}} {
		if h.hist == nil || h.hist.TotalCount() == 0 {
			continue
		}
		path := filepath.Join(dir, prefix+h.name+".hgrm")
		f, err := os.Create(path)
		if err != nil {
			return paths, err
		}
		err = WriteHgrm(f, h.hist)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return paths, fmt.Errorf("loadgen: %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// Summary is a few lines for a terminal.
func (r *Result) Summary() string {
	s := fmt.Sprintf("%s, %.1f s measured", r.Mode, r.Seconds)
	if r.Seconds > 0 {
		s += fmt.Sprintf(", the generator on %.2f cores", r.CPUSeconds/r.Seconds)
	}
	s += "\n"
	if r.Config.Producers > 0 {
		s += fmt.Sprintf("produced  %10.0f records/s %8.2f MB/s  (%d records, %d errors)\n",
			r.Produced.RecordsPerSec, r.Produced.MBPerSec, r.Produced.Records, r.Totals.ProduceErrors)
		s += "  produce latency  " + r.ProduceLatency.String() + "\n"
		if r.Mode == "open-loop" {
			s += "  send delay       " + r.SendDelay.String() + "\n"
		}
	}
	if r.Config.Consumers > 0 {
		s += fmt.Sprintf("consumed  %10.0f records/s %8.2f MB/s  (%d records, %d fetch errors)\n",
			r.Consumed.RecordsPerSec, r.Consumed.MBPerSec, r.Consumed.Records, r.Totals.FetchErrors)
		if r.EndToEnd.Count > 0 {
			s += "  end-to-end       " + r.EndToEnd.String() + "\n"
		}
	}
	s += fmt.Sprintf("totals: sent %d acked %d consumed %d; request errors %d, client warnings %d\n",
		r.Totals.Sent, r.Totals.Acked, r.Totals.Consumed, r.Totals.RequestErrors, r.Totals.ClientWarnings)
	for _, e := range r.Errors {
		s += "  ! " + e + "\n"
	}
	return s
}
