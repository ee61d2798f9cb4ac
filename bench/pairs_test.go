package bench

import (
	"strings"
	"testing"
	"time"
)

// TestPairedRatioIsTheMedianPair: many-partitions-10k ÷ many-partitions-8
// is the median of its pairs, with their range, and the matrix's own
// runs (Find) are the first pair's. Each pair shows the two runs'
// warm-up throughput, the mean of their warm-up seconds, and how long the
// machine froze in their measured windows, not in their warm-ups.
func TestPairedRatioIsTheMedianPair(t *testing.T) {
	rep := &Report{Scenarios: selected(matrix(fullSizes), []string{ManyPartitions10k + "$"})}
	if len(rep.Scenarios) != 2 || rep.Scenarios[0].Name != ManyPartitions8 || rep.Scenarios[1].Pairs != 3 {
		t.Fatalf("selecting %s kept %+v, want %s before it, with 3 pairs", ManyPartitions10k, rep.Scenarios, ManyPartitions8)
	}
	sc8, sc10k := rep.Scenarios[0], rep.Scenarios[1]
	// The three pairs of results/2026-12-04-10k-spread: 0.75x, 1.00x, 0.80x.
	for round, mb := range [][2]float64{{190, 254}, {230, 231}, {189, 237}} {
		for i, sc := range []Scenario{sc8, sc10k} {
			run := &RunResult{Scenario: sc.Name, Target: TargetRunnel, Round: round, Result: fakeResult(sc.Load, mb[1-i], time.Millisecond),
				Freezes: &Freezes{Stretches: []Frozen{
					{At: time.Time{}.Add(time.Second), Millis: 1000}, // in the warm-up
					{At: time.Time{}.Add(sc.Load.Warmup + time.Second), Millis: float64(10 * (round + 1))}}}}
			if sc.Name == ManyPartitions10k { // warm-up seconds of 100 and 140 MB/s
				run.Result.Timeline[0].ProducedMBPerSec, run.Result.Timeline[1].ProducedMBPerSec = 100, 140
			}
			rep.Runs = append(rep.Runs, run)
		}
	}
	if got := rep.Find(ManyPartitions10k, TargetRunnel).Result.Produced.MBPerSec; got != 190 {
		t.Errorf("Find returned the run of %v MB/s, want the first pair's (190)", got)
	}
	var found bool
	for _, h := range Headlines(rep) {
		if !strings.Contains(h.Figure, "median") {
			continue
		}
		found = true
		if h.Figure != "10000 partitions acks=1, the median of 3 pairs (0.75×–1.00×)" || h.Value != 189 || h.BaseValue != 237 {
			t.Errorf("headline %+v, want the third pair's 189 / 237 MB/s, the range 0.75×–1.00×", h)
		}
	}
	if !found {
		t.Fatalf("no median headline in %+v", Headlines(rep))
	}
	var b strings.Builder
	pairsTable(&b, rep, sc10k)
	for _, want := range []string{"| 2 | 230 | 231 | 1.00× | 120 / 231 | 20 / 20 |", "Median 0.80× (pair 3), range 0.75×–1.00×."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("pairs table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPairedRatioOfOnePair: with one pair complete the headline is that
// pair's ratio, as before pairs.
func TestPairedRatioOfOnePair(t *testing.T) {
	rep := &Report{Scenarios: selected(matrix(fullSizes), []string{ManyPartitions10k + "$"})}
	for i, sc := range rep.Scenarios {
		rep.Runs = append(rep.Runs, &RunResult{Scenario: sc.Name, Target: TargetRunnel, Result: fakeResult(sc.Load, float64(100*(2-i)), time.Millisecond)})
	}
	rep.Runs = append(rep.Runs, &RunResult{Scenario: ManyPartitions8, Target: TargetRunnel, Round: 1, Err: "boom"})
	for _, h := range Headlines(rep) {
		if strings.HasPrefix(h.Figure, "10000 partitions") && h.Baseline == "Runnel with 8 partitions, same load" {
			if h.Ratio != 0.5 {
				t.Errorf("%+v: ratio %v, want 0.5", h, h.Ratio)
			}
			return
		}
	}
	t.Fatalf("no single-pair headline in %+v", Headlines(rep))
}
