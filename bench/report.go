package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"runnel/loadgen"
)

// Headline is one figure of the report beside the baseline it is divided by.
type Headline struct {
	Figure    string  `json:"figure"`
	Unit      string  `json:"unit"`
	Value     float64 `json:"value"`
	Baseline  string  `json:"baseline"`
	BaseValue float64 `json:"baseline_value"`
	// Ratio is Value / BaseValue (0 when either is missing).
	Ratio float64 `json:"ratio"`
	// LowerIsBetter marks latencies.
	LowerIsBetter bool `json:"lower_is_better,omitempty"`
}

// sustainedName names Baselines.SustainedWrite in the report, ingestName
// Baselines.Ingest, and the kept names their variants that keep their
// files (Baselines.SustainedKept, IngestKept), whose page cache grows as
// Runnel's does with runnel.segment.drop.behind=false; the reusing ones
// match its default, which drops synced pages behind a keep window and
// reuses them, as the report says under the baselines (likeForLike).
const (
	sustainedName     = "disk sustained rate"
	ingestName        = "ingest ceiling (loopback TCP into the sustained writes)"
	sustainedKeptName = "disk sustained rate, files kept (page cache grows)"
	ingestKeptName    = "ingest ceiling, files kept (page cache grows)"
)

// Headlines computes the report's headline figures, each as a ratio to
// the baselines measured in the same run.
func Headlines(rep *Report) []Headline {
	var hs []Headline
	add := func(figure, unit string, v float64, baseline string, b float64, lower bool) {
		h := Headline{Figure: figure, Unit: unit, Value: v, Baseline: baseline, BaseValue: b, LowerIsBetter: lower}
		if v > 0 && b > 0 {
			h.Ratio = v / b
		}
		hs = append(hs, h)
	}
	get := func(scenario, target string) *loadgen.Result {
		if r := rep.Find(scenario, target); r != nil {
			return r.Result
		}
		return nil
	}
	mbps := func(r *loadgen.Result, consumed bool) float64 {
		switch {
		case r == nil:
			return 0
		case consumed:
			return r.Consumed.MBPerSec
		}
		return r.Produced.MBPerSec
	}
	recs := func(r *loadgen.Result) float64 {
		if r == nil {
			return 0
		}
		return r.Produced.RecordsPerSec
	}
	b := rep.Baselines

	acks1 := get("produce-acks1", TargetRunnel)
	add("produce 1 KiB acks=1", "MB/s", mbps(acks1, false), "kfake, same load", mbps(get("produce-acks1", TargetKfake), false), false)
	add("produce 1 KiB acks=1", "MB/s", mbps(acks1, false), "load generator ceiling (sink)", mbps(get("produce-acks1", TargetSink), false), false)
	add("produce 1 KiB acks=1", "MB/s", mbps(acks1, false), "pwrite to page cache", b.PageCacheWrite, false)
	add("produce 1 KiB acks=1", "MB/s", mbps(acks1, false), "loopback TCP, one stream", b.Loopback, false)
	all := get("produce-acksall", TargetRunnel)
	add("produce 1 KiB acks=all (durable)", "MB/s", mbps(all, false), "kfake, same load (no fsync)", mbps(get("produce-acksall", TargetKfake), false), false)
	add("produce 1 KiB acks=all (durable)", "MB/s", mbps(all, false), "pwrite+fdatasync per MiB", b.DurableWrite, false)
	add("produce 1 KiB acks=all (durable)", "MB/s", mbps(all, false), sustainedName, b.SustainedWrite, false)
	add("produce 1 KiB acks=all (durable)", "MB/s", mbps(all, false), sustainedKeptName, b.SustainedKept, false)
	add("produce 1 KiB acks=all (durable)", "MB/s", mbps(all, false), ingestName, b.Ingest, false)
	add("produce 1 KiB acks=all (durable)", "MB/s", mbps(all, false), ingestKeptName, b.IngestKept, false)
	kept := mbps(get(ProduceAcksAllKeep, TargetRunnel), false)
	add("produce 1 KiB acks=all (durable), drop-behind off", "MB/s", kept, sustainedKeptName, b.SustainedKept, false)
	add("produce 1 KiB acks=all (durable), drop-behind off", "MB/s", kept, "the default broker, same load", mbps(all, false), false)
	for _, sc := range rep.Scenarios {
		if strings.HasPrefix(sc.Name, ProduceAcksAllMany) {
			figure := fmt.Sprintf("produce 1 KiB acks=all (durable), %d partitions", sc.Load.Partitions)
			many := mbps(get(sc.Name, TargetRunnel), false)
			add(figure, "MB/s", many, sustainedName, b.SustainedWrite, false)
			add(figure, "MB/s", many, sustainedKeptName, b.SustainedKept, false)
			add(figure, "MB/s", many, ingestName, b.Ingest, false)
			add(figure, "MB/s", many, ingestKeptName, b.IngestKept, false)
		}
	}
	rf3 := mbps(get(clusterAcksAll, TargetRunnelClusterRF3), false)
	add("3 brokers, acks=all (durable), RF=3", "MB/s", rf3, "RF=1, same brokers and load", mbps(get(clusterAcksAll, TargetRunnelCluster), false), false)
	add("3 brokers, acks=all (durable), RF=3, no follower fsync", "MB/s", mbps(get(clusterAcksAll, TargetRunnelClusterRF3NoFsync), false), "followers fsyncing, same load", rf3, false)
	small := get("small-100b", TargetRunnel)
	add("produce 100 B acks=1", "records/s", recs(small), "kfake, same load", recs(get("small-100b", TargetKfake)), false)
	add("produce 100 B acks=1", "records/s", recs(small), "load generator ceiling (sink)", recs(get("small-100b", TargetSink)), false)
	catchUp := get("catch-up", TargetRunnel)
	add("catch-up read", "MB/s", mbps(catchUp, true), "kfake, same load", mbps(get("catch-up", TargetKfake), true), false)
	add("catch-up read", "MB/s", mbps(catchUp, true), "loopback TCP, one stream", b.Loopback, false)
	for _, sc := range rep.Scenarios {
		if sc.RateOf == "" {
			continue
		}
		r, k := get(sc.Name, TargetRunnel), get(sc.Name, TargetKfake)
		rate := ""
		if r != nil {
			rate = fmt.Sprintf(" at %.0f rec/s", r.Config.Rate)
		}
		lat := func(r *loadgen.Result, e2e bool, p999 bool) float64 {
			if r == nil {
				return 0
			}
			p := r.ProduceLatency
			if e2e {
				p = r.EndToEnd
			}
			if p999 {
				return p.P999
			}
			return p.P99
		}
		add(sc.Name+" produce p99"+rate, "ms", lat(r, false, false), "kfake p99, same rate", lat(k, false, false), true)
		add(sc.Name+" produce p99.9"+rate, "ms", lat(r, false, true), "kfake p99.9, same rate", lat(k, false, true), true)
		add(sc.Name+" end-to-end p99"+rate, "ms", lat(r, true, false), "kfake p99, same rate", lat(k, true, false), true)
		// What the p99 is when the machine runs (freeze.go): an upper
		// bound, the largest of the clear seconds' p99s.
		if run := rep.Find(sc.Name, TargetRunnel); r != nil && run.Freezes != nil && len(run.Freezes.Stretches) > 0 {
			// An upper bound above the p99 of all seconds says nothing.
			if clear, clearP99, _, _ := clearSeconds(r, run.Freezes); clear > 0 && clearP99 < lat(r, false, false) {
				add(fmt.Sprintf("%s produce p99%s, the %d seconds clear of machine freezes (at most)", sc.Name, rate, clear), "ms", clearP99,
					"p99 of all seconds", lat(r, false, false), true)
			}
		}
	}
	for _, sc := range rep.Scenarios {
		if !slices.Contains(sc.Targets, TargetDiskFloor) {
			continue
		}
		r, d := get(sc.Name, TargetRunnel), get(sc.Name, TargetDiskFloor)
		name := fmt.Sprintf("%s produce at %.0f rec/s", sc.Name, sc.Load.Rate)
		for _, q := range []struct {
			name string
			of   func(loadgen.Percentiles) float64
		}{{"p50", func(p loadgen.Percentiles) float64 { return p.P50 }},
			{"p99", func(p loadgen.Percentiles) float64 { return p.P99 }},
			{"p99.9", func(p loadgen.Percentiles) float64 { return p.P999 }}} {
			lat := func(r *loadgen.Result) float64 {
				if r == nil {
					return 0
				}
				return q.of(r.ProduceLatency)
			}
			add(name+" "+q.name, "ms", lat(r), "pwrite+fdatasync "+q.name+", same rate", lat(d), true)
		}
	}
	for _, sc := range rep.Scenarios {
		if !slices.Contains(sc.Targets, TargetSink) {
			continue
		}
		figure := mbps
		unit := "MB/s"
		if sc.Load.RecordSize < 1024 {
			figure, unit = func(r *loadgen.Result, _ bool) float64 { return recs(r) }, "records/s"
		}
		add(sc.Name+" load generator ceiling (sink)", unit, figure(get(sc.Name, TargetSink), false), "Runnel, same load", figure(get(sc.Name, TargetRunnel), false), false)
	}
	many := get(ManyPartitions, TargetRunnel)
	manyName := ManyPartitions
	if many != nil {
		manyName = fmt.Sprintf("%d partitions acks=1", many.Config.Partitions)
	}
	add(manyName, "MB/s", mbps(many, false), "kfake, same load", mbps(get(ManyPartitions, TargetKfake), false), false)
	add(manyName, "MB/s", mbps(many, false), "Runnel with 8 partitions", mbps(acks1, false), false)
	many8 := get(ManyPartitions8, TargetRunnel)
	if many8 != nil {
		add(manyName, "MB/s", mbps(many, false), "Runnel with 8 partitions, same load", mbps(many8, false), false)
	}
	if many10k := get(ManyPartitions10k, TargetRunnel); many10k != nil {
		name := fmt.Sprintf("%d partitions acks=1", many10k.Config.Partitions)
		add(name, "MB/s", mbps(many10k, false), "Runnel with 8 partitions", mbps(acks1, false), false)
		var ps []pair
		if i := slices.IndexFunc(rep.Scenarios, func(sc Scenario) bool { return sc.Name == ManyPartitions10k }); i >= 0 {
			ps = pairRatios(rep, rep.Scenarios[i])
		}
		if len(ps) > 1 {
			m, lo, hi := medianPair(ps)
			add(fmt.Sprintf("%s, the median of %d pairs (%s–%s)", name, len(ps), ratio(lo), ratio(hi)), "MB/s", m.value,
				"Runnel with 8 partitions, same load, run just before", m.baseline, false)
		} else if many8 != nil {
			add(name, "MB/s", mbps(many10k, false), "Runnel with 8 partitions, same load", mbps(many8, false), false)
		}
	}
	idle := func(target string) float64 {
		if r := rep.Find(IdleConnections, target); r != nil && r.Idle != nil {
			return r.Idle.RSSPerConnection / 1024
		}
		return 0
	}
	add("RSS per idle connection", "KiB", idle(TargetRunnel), "kfake, same connections", idle(TargetKfake), true)

	// The default transport (epoll) against std, when both ran.
	for _, sc := range rep.Scenarios {
		if sc.IdleConnections > 0 && slices.Contains(sc.Targets, TargetRunnelStd) {
			add("RSS per idle connection, epoll", "KiB", idle(TargetRunnel), "std transport, same connections", idle(TargetRunnelStd), true)
			continue
		}
		e, r := get(sc.Name, TargetRunnel), get(sc.Name, TargetRunnelStd)
		if e == nil || r == nil {
			continue
		}
		switch {
		case sc.openLoop():
			rate := fmt.Sprintf(" at %.0f rec/s", e.Config.Rate)
			add(sc.Name+" produce p99"+rate+", epoll", "ms", e.ProduceLatency.P99, "std transport p99, same rate", r.ProduceLatency.P99, true)
			add(sc.Name+" produce p99.9"+rate+", epoll", "ms", e.ProduceLatency.P999, "std transport p99.9, same rate", r.ProduceLatency.P999, true)
		case sc.PreloadBytes > 0:
			add(sc.Name+", epoll", "MB/s", mbps(e, true), "std transport, same load", mbps(r, true), false)
		default:
			add(sc.Name+", epoll", "MB/s", mbps(e, false), "std transport, same load", mbps(r, false), false)
		}
	}
	return hs
}

// WriteReport writes report.md, results.json, the .hgrm files and the
// charts of rep into dir.
func WriteReport(rep *Report, dir string) error {
	setSinkCPU(rep)
	for _, d := range []string{"charts", "hgrm"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(struct {
		*Report
		Headlines []Headline `json:"headlines"`
	}{rep, Headlines(rep)}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	for _, run := range rep.Runs {
		if run.Result == nil {
			continue
		}
		if _, err := run.Result.WriteHgrms(filepath.Join(dir, "hgrm"), run.Scenario+"-"+run.Target+pairSuffix(run.Round)+"-"); err != nil {
			return err
		}
	}
	charts, err := writeCharts(rep, filepath.Join(dir, "charts"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(markdown(rep, charts)), 0o644)
}

// writeCharts draws, per scenario, latency percentile curves and
// throughput over time, and returns the files drawn by scenario.
func writeCharts(rep *Report, dir string) (map[string][]string, error) {
	drawn := map[string][]string{}
	for _, sc := range rep.Scenarios {
		var lat, thr []series
		for _, kind := range sc.Targets {
			run := rep.Find(sc.Name, kind)
			if run == nil || run.Result == nil {
				continue
			}
			r := run.Result
			lat = append(lat,
				series{name: kind + " produce", target: kind, points: percentileCurve(r.ProduceHist)},
				series{name: kind + " end-to-end", target: kind, dashed: true, points: percentileCurve(r.EndToEndHist)})
			var prod, cons plotter.XYs
			for _, t := range r.Timeline {
				prod = append(prod, plotter.XY{X: t.Seconds, Y: t.ProducedMBPerSec})
				cons = append(cons, plotter.XY{X: t.Seconds, Y: t.ConsumedMBPerSec})
			}
			if r.Config.Producers > 0 {
				thr = append(thr, series{name: kind + " produced", target: kind, points: prod})
			}
			if r.Config.Consumers > 0 {
				thr = append(thr, series{name: kind + " consumed", target: kind, dashed: true, points: cons})
			}
		}
		for _, c := range []struct {
			file string
			draw func(string, []series, string) error
			s    []series
		}{
			{sc.Name + "-latency.svg", latencyChart, lat},
			{sc.Name + "-throughput.svg", throughputChart, thr},
		} {
			path := filepath.Join(dir, c.file)
			if err := c.draw(sc.Name, c.s, path); err != nil {
				return nil, err
			}
			if _, err := os.Stat(path); err == nil {
				drawn[sc.Name] = append(drawn[sc.Name], c.file)
			}
		}
	}
	return drawn, nil
}

func markdown(rep *Report, charts map[string][]string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	kind := "full matrix (`make bench`)"
	if rep.Quick {
		kind = "quick matrix (`make bench-quick`: short runs, for smoke-testing the harness more than for figures)"
	}
	if len(rep.Only) > 0 {
		kind = "part of the " + kind + ": the scenarios starting with " + strings.Join(rep.Only, ", ") + " (`--only`)"
	}
	w("# Runnel benchmark, %s\n\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"))
	w("%s, %s in all. Every broker ran as its own child process on loopback with a fresh data directory; "+
		"the load generator (`runnel loadgen`: franz-go's producer, or raw pre-encoded batches) ran in the harness process or, where a scenario says so, in several processes of its own, on the same machine, "+
		"so broker and load generator share the CPUs. Figures mean something only beside the baselines taken in the same run.\n\n",
		kind, rep.Finished.Sub(rep.Started).Round(time.Second))

	w("Load average (1/5/15 min) before the run %.1f / %.1f / %.1f, after %.1f / %.1f / %.1f on %d cores.",
		rep.LoadStart[0], rep.LoadStart[1], rep.LoadStart[2], rep.LoadEnd[0], rep.LoadEnd[1], rep.LoadEnd[2], rep.Machine.Cores)
	if busy := max(rep.LoadStart[0], rep.LoadEnd[0]); busy > 0.5*float64(rep.Machine.Cores) {
		w(" **Other work was running on this machine: the figures are noisy, and runs of the same scenario against different brokers " +
			"(taken one after another) may have seen different interference. Compare ratios with care and rerun on an idle machine.**")
	}
	w("\n\nClosed-loop latencies include the time a record waits for room in the client's buffer (franz-go's default, 50,000 records per producer in v1.22), " +
		"so they measure queueing more than the broker; the open-loop latency scenarios are the ones to read for latency.\n\n")
	m := rep.Machine
	w("## Machine\n\n| | |\n|---|---|\n")
	w("| host | %s |\n| CPU | %s, %d cores |\n| memory | %d MiB |\n| kernel | %s |\n| data filesystem | %s |\n| Go | %s |\n| Runnel | %s |\n",
		m.Host, m.CPU, m.Cores, m.MemoryMiB, m.Kernel, m.Filesystem, m.Go, m.Commit)
	mods := make([]string, 0, len(m.Modules))
	for k, v := range m.Modules {
		mods = append(mods, k+" "+v)
	}
	sort.Strings(mods)
	w("| client and peer | %s |\n\n", strings.Join(mods, ", "))
	w("Command: `%s`\n\n", rep.Command)

	bl := rep.Baselines
	w("## Baselines (same run, same disk)\n\nCPU s/GiB is the harness process's user + system CPU time (getrusage) per GiB written.\n\n")
	w("| baseline | MB/s | CPU s/GiB |\n|---|---:|---:|\n")
	w("| sequential 1 MiB pwrite, page cache (%d MiB) | %.0f | %.2f |\n", bl.Bytes>>20, bl.PageCacheWrite, bl.PageCacheCPU)
	w("| sequential 1 MiB pwrite + fdatasync each (%d MiB) | %.0f | %.2f |\n", bl.Bytes>>20, bl.DurableWrite, bl.DurableCPU)
	w("| %s: sequential 1 MiB pwrite, fdatasync every %d MiB (%d MiB) | %.0f | %.2f |\n", sustainedName, SustainedSyncBytes>>20, bl.Bytes>>20, bl.SustainedWrite, bl.SustainedCPU)
	w("| the same with O_DIRECT: the disk without the page cache (%d MiB) | %.0f | %.2f |\n", bl.Bytes>>20, bl.DirectWrite, bl.DirectCPU)
	w("| %s: a sender's 1 MiB writes over one connection, each MiB read and written as above with each fdatasync behind the next reads, sender and receiver in one process (%d MiB) | %.0f | %.2f |\n",
		ingestName, bl.Bytes>>20, bl.Ingest, bl.IngestCPU)
	w("| %s: the sustained writes with the file kept, run first (%d MiB) | %.0f | %.2f |\n", sustainedKeptName, bl.Bytes>>20, bl.SustainedKept, bl.SustainedKeptCPU)
	w("| %s: the ingest ceiling with the file kept, run second (%d MiB) | %.0f | %.2f |\n", ingestKeptName, bl.Bytes>>20, bl.IngestKept, bl.IngestKeptCPU)
	w("| loopback TCP, one stream, 1 MiB writes | %.0f | — |\n\n", bl.Loopback)
	w("%s The ingest ceiling kept %.2f of %d cores busy.\n\n", sustainedLimit(bl), coresBusy(bl.Ingest, bl.IngestCPU), rep.Machine.Cores)
	w("%s\n\n", likeForLike(bl))

	w("## Headline figures\n\nEach figure divided by its baseline. For throughput higher is better; for latency (ms) and memory (KiB) lower is better, so a ratio above 1 means Runnel is slower, or uses more, than the baseline.\n\n")
	w("| figure | Runnel | baseline | baseline value | ratio |\n|---|---:|---|---:|---:|\n")
	for _, h := range Headlines(rep) {
		w("| %s | %s | %s | %s | %s |\n", h.Figure, num(h.Value, h.Unit), h.Baseline, num(h.BaseValue, h.Unit), ratio(h.Ratio))
	}
	w("\nMB is 10^6 bytes of record values. The sink is a minimal Kafka server that acks produce requests without storing them (bench/sink.go): " +
		"a Runnel figure close to it is limited by the load generator, not by Runnel.\n\n")

	crossCheckSection(&b, rep)
	transports(&b, rep)
	clusterMetadataSection(&b, rep)

	w("## Scenarios\n\n")
	w("Broker CPU s/GiB is the broker process's user + system CPU time (/proc/<pid>/stat) over the measurement window divided by the GiB (2^30 bytes) " +
		"of record values produced plus consumed in that window; the load generator's CPU is not in it. " +
		"CPU time comes in 10 ms ticks, so a window well under a second gives a coarse figure (results.json has the seconds behind each, broker_cpu_seconds). " +
		"Runnel (`runnel`, and `runnel-std` when it ran) is CPU-profiled at 100 Hz during each measurement, so its figures include the profiler's cost. " +
		"Where the sink ran, the broker's CPU per GiB is also divided by the sink's under the same load, the cost of the Kafka protocol alone: " +
		"the sink reads only each request's framing and batch headers and discards the record bytes in the kernel (recv with MSG_TRUNC), so it is below any broker's floor of one copy of each byte " +
		"(results.json: sink_cpu_seconds_per_gib, cpu_per_gib_vs_sink).\n\n")
	for _, sc := range rep.Scenarios {
		w("### %s\n\n%s.\n\n", sc.Name, sc.Title)
		w("Load: %s.", describeLoad(sc))
		if len(sc.Overrides) > 0 {
			w(" Runnel properties: `%s`.", strings.Join(sc.Overrides, "`, `"))
		}
		w("\n\n")
		if sc.IdleConnections > 0 {
			idleTable(&b, rep, sc)
		} else {
			loadTable(&b, rep, sc)
			replicationTable(&b, rep, sc)
		}
		if sc.openLoop() || sc.Load.Acks == "all" {
			stagesTable(&b, rep, sc)
		}
		if sc.manyPartitions() {
			partitionsTable(&b, rep, sc)
		}
		pairsTable(&b, rep, sc)
		w("\n")
		for _, f := range charts[sc.Name] {
			w("![%s](charts/%s)\n", f, f)
		}
		if len(charts[sc.Name]) > 0 {
			w("\n")
		}
		for _, kind := range sc.Targets {
			run := rep.Find(sc.Name, kind)
			if run == nil {
				continue
			}
			var notes []string
			if run.Result != nil {
				notes = run.Result.Errors
			}
			if len(notes) > 0 || run.BrokerLog != "" {
				w("Problems on %s:\n\n```\n", kind)
				for _, e := range notes {
					w("%s\n", e)
				}
				if run.BrokerLog != "" {
					w("--- broker log (tail) ---\n%s\n", run.BrokerLog)
				}
				w("```\n\n")
			}
		}
		for _, kind := range []string{TargetRunnel, TargetRunnelStd} {
			run := rep.Find(sc.Name, kind)
			if run == nil {
				continue
			}
			prefix, of := profilePrefix(sc.Name, kind), ""
			if kind != TargetRunnel {
				of = " (" + kind + ")"
			}
			hotspots(&b, "CPU"+of, run.CPU, prefix+"-cpu.pprof")
			hotspots(&b, "Allocations (alloc_space since start)"+of, run.Heap, prefix+"-heap.pprof")
		}
	}
	w("## Files\n\n- `results.json`: everything above, with per-second timelines.\n" +
		"- `hgrm/<scenario>-<target>-{produce,send-delay,e2e}.hgrm`: HdrHistogram percentile distributions (ms).\n" +
		"- `charts/`: latency percentile curves and throughput over time per scenario.\n" +
		"- `profiles/<scenario>-{cpu,heap}.pprof`: Runnel's profiles, for `go tool pprof` (`<scenario>-runnel-std-…` for the std transport's); " +
		"`profiles/<scenario>-cpu.svg`: a flame graph of each CPU profile; " +
		"`profiles/<scenario>-goroutines.txt`: its goroutines halfway through the measurement.\n" +
		"- `logs/`: broker logs of runs that logged anything.\n")
	return b.String()
}

// transportRow is one figure of the std transport (TargetRunnelStd) beside
// the same figure of the default, epoll (TargetRunnel); 0 is not measured.
type transportRow struct {
	figure, unit  string
	std, epoll    float64
	lowerIsBetter bool
}

// transportRows are the figures the transports are compared by, for
// every scenario run on both: maximum throughput, latency at a fixed
// rate, broker CPU per GiB moved and memory per idle connection.
func transportRows(rep *Report) []transportRow {
	var both []Scenario
	for _, sc := range rep.Scenarios {
		if slices.Contains(sc.Targets, TargetRunnel) && slices.Contains(sc.Targets, TargetRunnelStd) {
			both = append(both, sc)
		}
	}
	var rows []transportRow
	// add reads figure from each transport's run that has its measurement.
	add := func(sc Scenario, figure, unit string, lower bool, f func(*RunResult) float64) {
		row := transportRow{figure: figure, unit: unit, lowerIsBetter: lower}
		for _, t := range []struct {
			kind string
			v    *float64
		}{{TargetRunnelStd, &row.std}, {TargetRunnel, &row.epoll}} {
			if run := rep.Find(sc.Name, t.kind); run != nil && (run.Result != nil || run.Idle != nil) {
				*t.v = f(run)
			}
		}
		rows = append(rows, row)
	}
	load := func(sc Scenario) bool { return sc.IdleConnections == 0 }
	for _, sc := range both {
		switch {
		case !load(sc) || sc.openLoop(): // no maximum throughput
		case sc.PreloadBytes > 0:
			add(sc, sc.Name+" fetch throughput", "MB/s", false, func(r *RunResult) float64 { return r.Result.Consumed.MBPerSec })
		default:
			add(sc, sc.Name+" produce throughput", "MB/s", false, func(r *RunResult) float64 { return r.Result.Produced.MBPerSec })
		}
	}
	for _, sc := range both {
		if sc.openLoop() {
			add(sc, sc.Name+" produce p99", "ms", true, func(r *RunResult) float64 { return r.Result.ProduceLatency.P99 })
			add(sc, sc.Name+" produce p99.9", "ms", true, func(r *RunResult) float64 { return r.Result.ProduceLatency.P999 })
		}
	}
	for _, sc := range both {
		if load(sc) {
			add(sc, sc.Name+" broker CPU per GiB moved", "s/GiB", true, func(r *RunResult) float64 { return r.CPUSecondsPerGiB })
		}
	}
	for _, sc := range both {
		if !load(sc) {
			add(sc, "RSS per idle connection", "KiB", true, func(r *RunResult) float64 { return r.Idle.RSSPerConnection / 1024 })
			add(sc, "Go heap per idle connection", "KiB", true, func(r *RunResult) float64 { return r.Idle.HeapPerConnection / 1024 })
		}
	}
	return rows
}

// winner is the transport whose figure is better, "std" or "epoll", and
// by what factor (above 1); "" and 1 when the figures are equal, "" and 0
// unless both are positive.
func (r transportRow) winner() (string, float64) {
	if r.std <= 0 || r.epoll <= 0 {
		return "", 0
	}
	q := r.epoll / r.std // how much better epoll is
	if r.lowerIsBetter {
		q = 1 / q
	}
	switch {
	case q > 1:
		return "epoll", q
	case q < 1:
		return "std", 1 / q
	}
	return "", 1
}

// transports writes the Transports section when the epoll transport ran:
// every figure of transportRows with epoll / std and the better of the two.
func transports(b *strings.Builder, rep *Report) {
	rows := transportRows(rep)
	if len(rows) == 0 {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Transports: std vs epoll\n\n")
	w("Runnel on its default transport (epoll, target `%s`) and on `runnel.net=std` (target `%s`), one after the other under the identical load "+
		"at the same rates. epoll / std above 1 is better for throughput, below 1 for latency, CPU and memory; the last column names the better "+
		"transport and by what factor. Each figure is one run.\n\n", TargetRunnel, TargetRunnelStd)
	w("| figure | std | epoll | epoll / std | better |\n|---|---:|---:|---:|---|\n")
	compared, epollWins := 0, 0
	for _, r := range rows {
		q := 0.0
		if r.std > 0 && r.epoll > 0 {
			q = r.epoll / r.std
		}
		verdict := "—"
		switch winner, by := r.winner(); {
		case winner != "":
			verdict = winner + ", " + ratio(by)
			compared++
			if winner == "epoll" {
				epollWins++
			}
		case by == 1:
			verdict = "equal"
			compared++
		}
		w("| %s | %s | %s | %s | %s |\n", r.figure, num(r.std, r.unit), num(r.epoll, r.unit), ratio(q), verdict)
	}
	w("\nepoll was better in %d of the %d figures measured on both transports. "+
		"Both were CPU-profiled the same way (at 100 Hz, during each measurement).\n\n", epollWins, compared)
}

// loadTable is a load scenario's table: a row per target with its
// throughput, latencies, broker CPU per GiB moved and errors.
func loadTable(b *strings.Builder, rep *Report, sc Scenario) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	sinkHeader, sinkAlign := sinkCPUColumn(sc)
	w("| target | produced rec/s | MB/s | consumed rec/s | MB/s | produce p50 / p90 / p99 / p99.9 / p99.99 / max (ms) | end-to-end p50 / p99 / p99.9 / max (ms) | send delay p99 / max (ms) | broker CPU s/GiB (× %s) |%s errors |\n", sc.Targets[0], sinkHeader)
	w("|---|---:|---:|---:|---:|---|---|---|---:|%s---|\n", sinkAlign)
	for _, kind := range sc.Targets {
		run := rep.Find(sc.Name, kind)
		if run == nil {
			continue
		}
		r := run.Result
		if r == nil {
			w("| %s | failed: %s ||||||||| |\n", kind, oneLine(run.Err))
			continue
		}
		pl, e2e, sd := r.ProduceLatency, r.EndToEnd, r.SendDelay
		prodLat, e2eLat, send := "—", "—", "—"
		if pl.Count > 0 {
			prodLat = fmt.Sprintf("%s / %s / %s / %s / %s / %s", ms(pl.P50), ms(pl.P90), ms(pl.P99), ms(pl.P999), ms(pl.P9999), ms(pl.Max))
		}
		if e2e.Count > 0 {
			e2eLat = fmt.Sprintf("%s / %s / %s / %s", ms(e2e.P50), ms(e2e.P99), ms(e2e.P999), ms(e2e.Max))
		}
		if sd.Count > 0 {
			send = fmt.Sprintf("%s / %s", ms(sd.P99), ms(sd.Max))
		}
		t := r.Totals
		errs := fmt.Sprintf("%d produce, %d fetch, %d request, %d client warnings", t.ProduceErrors, t.FetchErrors, t.RequestErrors, t.ClientWarnings)
		if run.Err != "" {
			errs += "; " + oneLine(run.Err)
		}
		w("| %s | %s | %s | %s | %s | %s | %s |%s %s |\n", kind, rates(r.Produced, r.Config.Producers), rates(r.Consumed, r.Config.Consumers), prodLat, e2eLat, send,
			vsFirst(rep, sc, run, func(r *RunResult) float64 { return r.CPUSecondsPerGiB }, "%.2f"), sinkCPUCell(sc, run), errs)
	}
	generatorCores(b, rep, sc)
	freezeLine(b, rep, sc)
	settleLine(b, rep, sc)
}

// settleLine says what each target's run started from: the disk's leftover
// writeback and what settling it took, and the discards its load overlapped.
func settleLine(b *strings.Builder, rep *Report, sc Scenario) {
	var parts []string
	for _, kind := range sc.Targets {
		run := rep.Find(sc.Name, kind)
		if run == nil || run.Settle == nil {
			continue
		}
		s := run.Settle
		part := fmt.Sprintf("%s: %.0f MiB dirty and %.0f MiB under writeback before", kind, float64(s.Before.DirtyKiB)/1024, float64(s.Before.WritebackKiB)/1024)
		if s.Skipped {
			part += ", not settled"
		} else {
			part += fmt.Sprintf(", syncfs %.2f s then %.2f s for the device", s.SyncSeconds, s.WaitSeconds)
		}
		if d := run.DiskLoad; d != nil && d[0].DiscardSectors >= 0 && d[1].DiscardSectors >= 0 {
			part += fmt.Sprintf("; %.0f MiB discarded during the load", float64(d[1].DiscardSectors-d[0].DiscardSectors)*512/(1<<20))
		}
		parts = append(parts, part)
	}
	if len(parts) > 0 {
		fmt.Fprintf(b, "\nThe disk at each run's start (after the previous target's data directory was removed) and during its load: %s.\n", strings.Join(parts, "; "))
	}
}

// generatorCores says how many cores the load generator took over each
// target's window, and how many the whole machine was busy, so that a
// generator or a machine short of CPU, which would cap a throughput or add
// to a latency, shows beside the figures.
func generatorCores(b *strings.Builder, rep *Report, sc Scenario) {
	var cores []string
	for _, kind := range sc.Targets {
		if run := rep.Find(sc.Name, kind); run != nil && run.Result != nil && run.Result.CPUSeconds > 0 && run.Result.Seconds > 0 {
			cores = append(cores, fmt.Sprintf("%s %.2f", kind, run.Result.CPUSeconds/run.Result.Seconds))
		}
	}
	if len(cores) > 0 {
		fmt.Fprintf(b, "\nThe load generator's CPU over the window, in cores (user + system time of its processes; with one generator, of the harness process): %s.\n",
			strings.Join(cores, ", "))
	}
	var busy []string
	for _, kind := range sc.Targets {
		if run := rep.Find(sc.Name, kind); run != nil && run.MachineBusyCores > 0 {
			busy = append(busy, fmt.Sprintf("%s %.2f", kind, run.MachineBusyCores))
		}
	}
	if len(busy) > 0 {
		fmt.Fprintf(b, "\nThe machine's CPUs busy over the window, in cores of its %d (/proc/stat: broker, generator, harness, kernel and all else, less idle, I/O wait and the host's steal): %s.\n",
			rep.Machine.Cores, strings.Join(busy, ", "))
	}
}

// freezeLine says, for each target's run, how long the machine ran nothing
// during the load (freeze.go) and, for open-loop runs, the produce p99 of
// the seconds clear of freezes beside that of the others.
func freezeLine(b *strings.Builder, rep *Report, sc Scenario) {
	var parts []string
	realTime := true
	for _, kind := range sc.Targets {
		run := rep.Find(sc.Name, kind)
		if run == nil || run.Freezes == nil || run.Result == nil {
			continue
		}
		f := run.Freezes
		realTime = realTime && f.RealTime
		total, longest := f.Total()
		part := fmt.Sprintf("%s: %d, %.0f ms in all (%.0f ms in the measured window), longest %.0f ms", kind, len(f.Stretches), total, measuredFrozen(run), longest)
		if run.Result.Config.Rate > 0 && len(f.Stretches) > 0 {
			clear, clearP99, frozenP99, frozen := clearSeconds(run.Result, f)
			if clear > 0 {
				part += fmt.Sprintf("; produce p99 at most %s ms in the %d seconds clear of freezes, %s ms in the %d others", ms(clearP99), clear, ms(frozenP99), frozen)
			} else {
				part += fmt.Sprintf("; no second clear of freezes (produce p99 at most %s ms)", ms(frozenP99))
			}
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return
	}
	how := "a probe thread at real-time priority, due every 2 ms, woke at least 5 ms late: no CPU ran anything"
	if !realTime {
		how = "a probe thread due every 2 ms woke at least 5 ms late; the probe could not take real-time priority, so a busy CPU delays it too"
	}
	fmt.Fprintf(b, "\nMachine freezes during the load (%s; a second is clear when neither it nor the one before froze, and a second's p99 is the timeline's): %s.\n",
		how, strings.Join(parts, "; "))
}

// idleTable is the idle-connections scenario's table: a row per target
// with its memory before and after the connections and per connection.
func idleTable(b *strings.Builder, rep *Report, sc Scenario) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("| target | RSS before / after (MiB) | RSS per connection (KiB, × %s) | Go heap in use before / after (MiB) | heap per connection (KiB, × %s) | goroutines before / after | connect time (s) | errors |\n",
		sc.Targets[0], sc.Targets[0])
	w("|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, kind := range sc.Targets {
		run := rep.Find(sc.Name, kind)
		switch {
		case run == nil:
			continue
		case run.Idle == nil:
			w("| %s | failed: %s |||||| |\n", kind, oneLine(run.Err))
			continue
		}
		r := run.Idle
		heap, goroutines, errs := "—", "—", "none"
		if r.GCForced { // Runnel: the GC and the metrics are its admin listener's
			heap = mib(r.Before.HeapInUse) + " / " + mib(r.After.HeapInUse)
			goroutines = fmt.Sprintf("%d / %d", r.Before.Goroutines, r.After.Goroutines)
		}
		if run.Err != "" {
			errs = oneLine(run.Err)
		}
		w("| %s | %s / %s | %s | %s | %s | %s | %.1f | %s |\n", kind, mib(r.Before.RSS), mib(r.After.RSS),
			vsFirst(rep, sc, run, func(r *RunResult) float64 { return r.Idle.RSSPerConnection / 1024 }, "%.1f"),
			heap, vsFirst(rep, sc, run, func(r *RunResult) float64 { return r.Idle.HeapPerConnection / 1024 }, "%.1f"),
			goroutines, r.ConnectSeconds, errs)
	}
}

// vsFirst formats figure(run) and, unless run is the scenario's first
// target, its ratio to the first target's: "2.50 (1.25×)". A figure of 0
// (not measured) is "—"; a first target without the figure gets no ratio.
func vsFirst(rep *Report, sc Scenario, run *RunResult, figure func(*RunResult) float64, format string) string {
	v := figure(run)
	if v == 0 {
		return "—"
	}
	s := fmt.Sprintf(format, v)
	if first := rep.Find(sc.Name, sc.Targets[0]); first != nil && first != run && (first.Result != nil || first.Idle != nil) {
		if f := figure(first); f != 0 {
			s += " (" + ratio(v/f) + ")"
		}
	}
	return s
}

func hotspots(b *strings.Builder, title string, h *Hotspots, file string) {
	if h == nil || len(h.Top) == 0 {
		return
	}
	if h.Flame != "" {
		fmt.Fprintf(b, "Runnel %s flame graph: [profiles/%s](profiles/%s).\n\n", title, h.Flame, h.Flame)
	}
	fmt.Fprintf(b, "Runnel %s hot spots (`profiles/%s`, total %s):\n\n| flat %% | cum %% | function |\n|---:|---:|---|\n",
		title, file, amount(h.Total, h.Unit))
	for _, f := range h.Top[:min(10, len(h.Top))] {
		fmt.Fprintf(b, "| %.1f | %.1f | `%s` |\n", f.FlatPct, f.CumPct, f.Name)
	}
	if len(h.Own) > 0 {
		b.WriteString("\nThe same charged to the innermost Runnel function on each stack (its callees in the runtime, syscalls and libraries included):\n\n| charged % | cum % | function |\n|---:|---:|---|\n")
		for _, f := range h.Own[:min(10, len(h.Own))] {
			fmt.Fprintf(b, "| %.1f | %.1f | `%s` |\n", f.FlatPct, f.CumPct, f.Name)
		}
	}
	b.WriteString("\n")
}

// rates are the records/s and MB/s cells of a table row ("—" for a side
// the load did not have).
func rates(t loadgen.Throughput, clients int) string {
	if clients == 0 {
		return "— | —"
	}
	return fmt.Sprintf("%.0f | %.1f", t.RecordsPerSec, t.MBPerSec)
}

func describeLoad(sc Scenario) string {
	if sc.IdleConnections > 0 {
		return fmt.Sprintf("no records; %d TCP connections from the harness, %d at a time, each sending one ApiVersions v3 request and reading its response, "+
			"then all held open and idle for %s. The broker's VmRSS is read before the connections and after the idle time; "+
			"for Runnel a GC is forced first (/debug/pprof/heap?gc=1) and its Go heap in use and goroutines come from its /metrics. "+
			"kfake's readings include garbage not yet collected. The Go heap in use counts whole allocated spans, "+
			"pages never written to included, so it can grow by more than the RSS", sc.IdleConnections, idleDialers, idleFor)
	}
	c := sc.Load
	parts := []string{fmt.Sprintf("%d producers, %d consumers, %d partitions, %d B values", c.Producers, c.Consumers, c.Partitions, c.RecordSize)}
	if c.Producers > 0 {
		parts = append(parts, "acks="+c.Acks, "linger "+c.Linger.String(), "compression "+c.Compression)
		if c.Idempotent {
			parts = append(parts, "idempotent")
		}
	}
	if c.Keys > 0 {
		parts = append(parts, fmt.Sprintf("%d keys", c.Keys))
	}
	if c.Raw {
		parts = append(parts, fmt.Sprintf("raw batches of %d records encoded once, %d connections with %d requests in flight each", c.BatchRecords, c.Connections, c.InFlight))
	}
	if sc.Generators > 1 {
		processes := fmt.Sprintf("from %d `runnel loadgen` processes", sc.Generators)
		if len(generatorShares(c, sc.Generators)) > sc.Generators {
			processes = fmt.Sprintf("producers from %d `runnel loadgen` processes, consumers from one more", sc.Generators)
		}
		parts = append(parts, processes+", histograms merged")
	}
	switch {
	case sc.RateOf != "":
		parts = append(parts, fmt.Sprintf("open loop at %.0f%% of Runnel's records/s in %s", 100*sc.RateFraction, sc.RateOf))
	case c.Rate > 0:
		parts = append(parts, fmt.Sprintf("open loop at %.0f records/s", c.Rate))
	case c.Producers > 0 && c.MaxLag > 0:
		parts = append(parts, fmt.Sprintf("closed loop, the producers waiting while the consumers lag by more than %d records", c.MaxLag))
	case c.Producers > 0:
		parts = append(parts, "closed loop")
	}
	if sc.PreloadBytes > 0 {
		parts = append(parts, fmt.Sprintf("%d MiB preloaded then read from the start", sc.PreloadBytes>>20))
	}
	if c.Duration > 0 {
		parts = append(parts, fmt.Sprintf("%s warm-up + %s measured", c.Warmup, c.Duration))
	}
	return strings.Join(parts, ", ")
}

func num(v float64, unit string) string {
	switch {
	case v == 0:
		return "—"
	case unit == "ms":
		return ms(v) + " ms"
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

func ms(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	if v >= 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ratio(r float64) string {
	switch {
	case r == 0:
		return "—"
	case r < 0.1:
		return fmt.Sprintf("%.3f×", r) // two decimals would round a collapse to 0.00
	}
	return fmt.Sprintf("%.2f×", r)
}

func amount(v float64, unit string) string {
	switch unit {
	case "nanoseconds":
		return fmt.Sprintf("%.1f s", v/1e9)
	case "bytes":
		return fmt.Sprintf("%.1f MB", v/1e6)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
