package loadgen

import (
	"fmt"
	"io"
	"time"
)

// progress prints one status line a second, rewritten in place.
type progress struct {
	w                   io.Writer
	mode                string
	measureStart, until time.Time
	records             int64
	printed             bool
}

func newProgress(w io.Writer, mode string, measureStart, until time.Time, records int64) *progress {
	return &progress{w: w, mode: mode, measureStart: measureStart, until: until, records: records}
}

func (p *progress) line(now time.Time, t Tick, c counts) {
	if p.w == nil {
		return
	}
	phase := "warm-up"
	if !t.Warmup {
		phase = fmt.Sprintf("%4.0fs", now.Sub(p.measureStart).Seconds())
	}
	s := fmt.Sprintf("\r%s %s", p.mode, phase)
	if t.ProducedPerSec > 0 || c.sent > 0 {
		s += fmt.Sprintf(" | prod %8.0f rec/s %7.1f MB/s p99 %7.2f ms", t.ProducedPerSec, t.ProducedMBPerSec, t.ProduceP99)
	}
	if t.ConsumedPerSec > 0 || c.consumed > 0 {
		s += fmt.Sprintf(" | cons %8.0f rec/s %7.1f MB/s", t.ConsumedPerSec, t.ConsumedMBPerSec)
		if t.EndToEndP99 > 0 {
			s += fmt.Sprintf(" e2e p99 %7.2f ms", t.EndToEndP99)
		}
	}
	if errs := c.produceErrors + c.fetchErrors; errs > 0 {
		s += fmt.Sprintf(" | errors %d", errs)
	}
	switch {
	case !p.until.IsZero():
		s += fmt.Sprintf(" | ETA %s", p.until.Sub(now).Round(time.Second))
	case p.records > 0 && t.ProducedPerSec > 0:
		left := float64(p.records-c.acked) / t.ProducedPerSec
		s += fmt.Sprintf(" | ETA %s", time.Duration(left*float64(time.Second)).Round(time.Second))
	}
	fmt.Fprint(p.w, s+"\033[K")
	p.printed = true
}

func (p *progress) done() {
	if p.w != nil && p.printed {
		fmt.Fprintln(p.w)
	}
}
