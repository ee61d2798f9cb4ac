package bench

import (
	"fmt"
	"slices"
	"strings"

	"runnel/loadgen"
)

// pair is one round of a paired scenario (Scenario.Pairs): Runnel's MB/s
// produced in the scenario and in the one it is paired with, run one
// after the other, the MB/s each produced during its warm-up, and the
// milliseconds the machine froze in each one's measured window.
type pair struct {
	round                  int
	value, baseline        float64
	warmup, baselineWarmup float64
	frozen, baselineFrozen float64
}

func (p pair) ratio() float64 { return p.value / p.baseline }

// pairRatios are sc's complete pairs with sc.PairedWith, in the order run:
// those whose two runs both produced.
func pairRatios(rep *Report, sc Scenario) []pair {
	var ps []pair
	for round := range max(sc.Pairs, 1) {
		num, den := rep.FindRound(sc.Name, TargetRunnel, round), rep.FindRound(sc.PairedWith, TargetRunnel, round)
		if num == nil || den == nil || num.Result == nil || den.Result == nil ||
			num.Result.Produced.MBPerSec <= 0 || den.Result.Produced.MBPerSec <= 0 {
			continue
		}
		p := pair{round: round, value: num.Result.Produced.MBPerSec, baseline: den.Result.Produced.MBPerSec,
			warmup: warmupMBPerSec(num.Result), baselineWarmup: warmupMBPerSec(den.Result)}
		p.frozen, p.baselineFrozen = measuredFrozen(num), measuredFrozen(den)
		ps = append(ps, p)
	}
	return ps
}

// measuredFrozen is how long, in ms, the machine froze during run's
// measured window (its warm-up left out); 0 without a probe.
func measuredFrozen(run *RunResult) float64 {
	if run.Freezes == nil {
		return 0
	}
	return run.Freezes.Within(measuredWindow(run.Result))
}

// warmupMBPerSec is the mean of r's produced MB/s over its timeline's
// warm-up seconds; 0 if it has none.
func warmupMBPerSec(r *loadgen.Result) float64 {
	var sum float64
	var n int
	for _, t := range r.Timeline {
		if t.Warmup {
			sum += t.ProducedMBPerSec
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// medianPair is the pair whose ratio is the median of ps's (of an even
// number, the lower of the middle two), and the smallest and largest
// ratios.
func medianPair(ps []pair) (median pair, lo, hi float64) {
	sorted := slices.Clone(ps)
	slices.SortFunc(sorted, func(a, b pair) int {
		switch {
		case a.ratio() < b.ratio():
			return -1
		case a.ratio() > b.ratio():
			return 1
		}
		return 0
	})
	return sorted[(len(sorted)-1)/2], sorted[0].ratio(), sorted[len(sorted)-1].ratio()
}

// pairsTable is a paired scenario's table: a row per pair.
func pairsTable(b *strings.Builder, rep *Report, sc Scenario) {
	ps := pairRatios(rep, sc)
	if sc.Pairs < 2 || len(ps) == 0 {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\nRunnel in %d pairs, each this scenario right after %s (the first pair is the matrix's runs, the others repeat them): one pair cannot judge the ratio, which moved from 0.74× to 1.00× between single pairs of the same binary (results/2026-12-04-10k-spread). Each run's warm-up (its length is in the load line) is not measured; the warm-up column is what it produced then, while the broker's page cache grew to its working set.\n\n",
		sc.Pairs, sc.PairedWith)
	w("| pair | %s (MB/s) | %s (MB/s) | ratio | during each warm-up (MB/s) | frozen during each measured window (ms) |\n|---:|---:|---:|---:|---|---|\n", sc.Name, sc.PairedWith)
	for _, p := range ps {
		w("| %d | %.0f | %.0f | %s | %.0f / %.0f | %.0f / %.0f |\n", p.round+1, p.value, p.baseline, ratio(p.ratio()), p.warmup, p.baselineWarmup, p.frozen, p.baselineFrozen)
	}
	if len(ps) > 1 {
		m, lo, hi := medianPair(ps)
		w("\nMedian %s (pair %d), range %s–%s.\n", ratio(m.ratio()), m.round+1, ratio(lo), ratio(hi))
	}
}
