package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"runnel/loadgen"
)

// fakeResult is a loadgen result with round figures: mb MB/s of 1 KiB
// records over 10 s and produce latencies of exactly latency.
func fakeResult(cfg loadgen.Config, mb float64, latency time.Duration) *loadgen.Result {
	h := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	for range 1000 {
		_ = h.RecordValue(latency.Microseconds())
	}
	recs := mb * 1e6 / 1024
	r := &loadgen.Result{
		Config: cfg, Mode: "closed-loop", Seconds: 10, CPUSeconds: 7.5,
		Produced:       loadgen.Throughput{Records: int64(recs * 10), Bytes: int64(mb * 1e7), RecordsPerSec: recs, MBPerSec: mb},
		Consumed:       loadgen.Throughput{Records: int64(recs * 10), Bytes: int64(mb * 1e7), RecordsPerSec: recs, MBPerSec: mb},
		ProduceLatency: loadgen.Summarize(h), EndToEnd: loadgen.Summarize(h),
		ProduceHist: h, EndToEndHist: h,
	}
	for i := range 12 {
		r.Timeline = append(r.Timeline, loadgen.Tick{Seconds: float64(i + 1), Warmup: i < 2, ProducedMBPerSec: mb, ConsumedMBPerSec: mb})
	}
	return r
}

// fakeReport is a quick matrix with round figures: Runnel at 100 MB/s,
// 8 ms, 2 CPU s/GiB and 40 KiB per idle connection, kfake at twice the
// throughput, a quarter of the latency and half the CPU, the sink faster
// still. With transports, those are Runnel's on std (runnel-std), and Runnel
// on its default, epoll, runs at 150 MB/s (but 80 in small-100b), 4 ms,
// 1 s/GiB and 10 KiB per idle connection.
func fakeReport(transports bool) *Report {
	rep := &Report{
		Machine:   Machine{Host: "test", CPU: "cpu", Cores: 2, Go: "go", Modules: map[string]string{"m": "v1"}},
		Command:   "runnel bench --quick",
		Quick:     true,
		Started:   time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		Finished:  time.Date(2026, 11, 25, 12, 1, 30, 0, time.UTC),
		Baselines: Baselines{PageCacheWrite: 2000, DurableWrite: 500, SustainedWrite: 400, SustainedKept: 200, SustainedCPU: 2, SustainedOnCPU: 0.3, SustainedQueued: 0.1, Ingest: 200, IngestKept: 100, IngestCPU: 3, Loopback: 4000, Bytes: 256 << 20},
		Scenarios: matrix(quickSizes),
	}
	// Without transports these "std" figures are Runnel's (TargetRunnel);
	// with them they are the std transport's (TargetRunnelStd), and the
	// default transport (epoll, TargetRunnel) gets the "epoll" ones.
	std, epoll := TargetRunnel, "epoll"
	if transports {
		std, epoll = TargetRunnelStd, TargetRunnel
	}
	mb := map[string]float64{std: 100, TargetKfake: 200, TargetSink: 400, epoll: 150}
	lat := map[string]time.Duration{std: 8 * time.Millisecond, TargetKfake: 2 * time.Millisecond, TargetSink: time.Millisecond, TargetDiskFloor: 2 * time.Millisecond, epoll: 4 * time.Millisecond}
	cpu := map[string]float64{std: 2, TargetKfake: 1, TargetSink: 0.5, epoll: 1}
	perConn := map[string]float64{std: 40 << 10, TargetKfake: 20 << 10, epoll: 10 << 10}
	for i, sc := range rep.Scenarios {
		if transports {
			rep.Scenarios[i].Targets = slices.Insert(sc.Targets, 1, TargetRunnelStd)
			sc = rep.Scenarios[i]
		}
		for _, kind := range sc.Targets {
			run := &RunResult{Scenario: sc.Name, Target: kind}
			rep.Runs = append(rep.Runs, run)
			if sc.IdleConnections > 0 {
				n := sc.IdleConnections
				run.Idle = &IdleResult{Connections: n, ConnectSeconds: 0.5, GCForced: kind != TargetKfake,
					Before: BrokerMemory{RSS: 10 << 20}, After: BrokerMemory{RSS: 10<<20 + int64(perConn[kind])*int64(n)},
					RSSPerConnection: perConn[kind]}
				if run.Idle.GCForced {
					run.Idle.Before.HeapInUse, run.Idle.Before.Goroutines = 4<<20, 10
					run.Idle.After.HeapInUse, run.Idle.After.Goroutines = 4<<20+int64(perConn[kind]/4)*int64(n), 10+n
					run.Idle.HeapPerConnection = perConn[kind] / 4
				}
				continue
			}
			mbps := mb[kind]
			if sc.Name == "small-100b" && kind == epoll {
				mbps = 80
			}
			run.Result, run.CPUSecondsPerGiB = fakeResult(sc.Load, mbps, lat[kind]), cpu[kind]
			run.MachineBusyCores = 1.5 + cpu[kind]/10
			run.BrokerCPUSeconds = cpu[kind] * float64(run.Result.Produced.Bytes+run.Result.Consumed.Bytes) / (1 << 30)
			if sc.Name == "small-100b" && kind == TargetKfake {
				run.Result, run.Err = nil, "boom | broke"
			}
			if kind == TargetRunnel {
				run.CPU = &Hotspots{Sample: "cpu", Unit: "nanoseconds", Total: 2e9, Top: []FuncCost{{Name: "runtime.memmove", FlatPct: 40, CumPct: 40}},
					Own: []FuncCost{{Name: "runnel/segment.(*Log).Append", FlatPct: 1, CumPct: 55}}}
			}
		}
	}
	return rep
}

func TestHeadlinesAreRatiosToBaselines(t *testing.T) {
	hs := Headlines(fakeReport(false))
	want := map[string]float64{ // figure + baseline -> ratio
		"produce 1 KiB acks=1|kfake, same load":                                            0.5,
		"produce 1 KiB acks=1|load generator ceiling (sink)":                               0.25,
		"produce 1 KiB acks=1|loopback TCP, one stream":                                    0.025,
		"produce 1 KiB acks=all (durable)|pwrite+fdatasync per MiB":                        0.2,
		"produce 1 KiB acks=all (durable)|disk sustained rate":                             0.25,
		"produce 1 KiB acks=all (durable), 100 partitions|disk sustained rate":             0.25,
		"produce 1 KiB acks=all (durable)|" + ingestName:                                   0.5,
		"produce 1 KiB acks=all (durable)|" + sustainedKeptName:                            0.5,
		"produce 1 KiB acks=all (durable), 100 partitions|" + ingestKeptName:               1,
		"produce 1 KiB acks=all (durable), 100 partitions|" + ingestName:                   0.5,
		"produce-acksall load generator ceiling (sink)|Runnel, same load":                  4,
		"latency-floor-10k produce at 10000 rec/s p99.9|pwrite+fdatasync p99.9, same rate": 4,
		"catch-up read|kfake, same load":                                                   0.5,
		"100 partitions acks=1|Runnel with 8 partitions":                                   1,
		"produce 100 B acks=1|kfake, same load":                                            0, // kfake failed: no ratio
		"RSS per idle connection|kfake, same connections":                                  2,
	}
	found := 0
	for _, h := range hs {
		if strings.HasPrefix(h.Figure, "latency-50 produce p99 ") {
			found++
			if h.Ratio < 3.99 || h.Ratio > 4.01 || !h.LowerIsBetter {
				t.Errorf("%s: ratio %.3f (lower is better %v), want 4 (8 ms vs 2 ms)", h.Figure, h.Ratio, h.LowerIsBetter)
			}
		}
		r, ok := want[h.Figure+"|"+h.Baseline]
		if !ok {
			continue
		}
		found++
		if d := h.Ratio - r; d > 1e-3*r+1e-9 || d < -1e-3*r-1e-9 {
			t.Errorf("%s / %s: ratio %.4f, want %.4f", h.Figure, h.Baseline, h.Ratio, r)
		}
	}
	if found != len(want)+1 {
		t.Fatalf("found %d of the %d expected headlines in %+v", found, len(want)+1, hs)
	}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	rep := fakeReport(false)
	if err := WriteReport(rep, dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# Runnel benchmark, 2026-11-25 12:00 UTC",
		"quick matrix",
		"| sequential 1 MiB pwrite + fdatasync each (256 MiB) | 500 |",
		"| produce 1 KiB acks=1 | 100 MB/s | kfake, same load | 200 MB/s | 0.50× |",
		"| produce 1 KiB acks=all (durable) | 100 MB/s | pwrite+fdatasync per MiB | 500 MB/s | 0.20× |",
		"| disk sustained rate: sequential 1 MiB pwrite, fdatasync every 16 MiB (256 MiB) | 400 | 2.00 |",
		"(256 MiB) | 200 | 3.00 |", // the ingest ceiling
		"| produce 1 KiB acks=all (durable) | 100 MB/s | " + ingestName + " | 200 MB/s | 0.50× |",
		"ran on a CPU 30% of its time, waited for one 10% and for the disk 60% (2.00 CPU s/GiB). **The disk binds it**",
		"The ingest ceiling kept 0.56 of 2 cores busy.",
		"| produce 1 KiB acks=all (durable), 100 partitions | 100 MB/s | disk sustained rate | 400 MB/s | 0.25× |",
		"| kfake | failed: boom / broke |", // a pipe would break the table
		"![produce-acks1-latency.svg](charts/produce-acks1-latency.svg)",
		"| 40.0 | 40.0 | `runtime.memmove` |",
		"| 1.0 | 55.0 | `runnel/segment.(*Log).Append` |",
		"| runnel | 97656 | 100.0 | 97656 | 100.0 | 8.00 / 8.00 / 8.00 / 8.00 / 8.00 / 8.00 |", // a scenario table row
		"| 2.00 | 0 produce,",         // Runnel's CPU s/GiB
		"| 1.00 (0.50×) | 0 produce,", // kfake's, as a ratio to Runnel's
		"| runnel | 10.0 / 49.1 | 40.0 | 4.0 / 13.8 | 10.0 | 10 / 1010 | 0.5 | none |",
		"| kfake | 10.0 / 29.5 | 20.0 (0.50×) | — | — | — | 0.5 | none |",
		"The load generator's CPU over the window, in cores (user + system time of its processes; with one generator, of the harness process): runnel 0.75, kfake 0.75", // after each load table
		"The machine's CPUs busy over the window, in cores of its 2 (/proc/stat: broker, generator, harness, kernel and all else, less idle, I/O wait and the host's steal): runnel 1.70, kfake 1.60",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Contains(string(md), "## Transports") {
		t.Error("report.md has a Transports section without the epoll transport")
	}
	for _, sc := range rep.Scenarios {
		if sc.IdleConnections > 0 {
			continue // no load: no charts
		}
		for _, f := range []string{"charts/" + sc.Name + "-latency.svg", "charts/" + sc.Name + "-throughput.svg", "hgrm/" + sc.Name + "-runnel-produce.hgrm"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			if strings.HasSuffix(f, ".svg") && !strings.Contains(string(b[:min(len(b), 300)]), "<svg") {
				t.Errorf("%s is not an SVG: %.80q", f, b)
			}
			if strings.HasSuffix(f, ".hgrm") && (!strings.Contains(string(b), "Percentile") || !strings.Contains(string(b), "#[Max")) {
				t.Errorf("%s is not a percentile distribution: %.200q", f, b)
			}
		}
	}
	var back struct {
		Runs      []RunResult `json:"runs"`
		Headlines []Headline  `json:"headlines"`
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err == nil {
		err = json.Unmarshal(js, &back)
	}
	if err != nil || len(back.Runs) != len(rep.Runs) || len(back.Headlines) == 0 {
		t.Fatalf("results.json: %v, %d runs (want %d), %d headlines", err, len(back.Runs), len(rep.Runs), len(back.Headlines))
	}
	for i, run := range back.Runs {
		if run.CPUSecondsPerGiB != rep.Runs[i].CPUSecondsPerGiB || (run.Idle == nil) != (rep.Runs[i].Idle == nil) ||
			(run.Idle != nil && *run.Idle != *rep.Runs[i].Idle) {
			t.Errorf("results.json: %s on %s: CPU %v s/GiB, idle %+v; want %v, %+v", run.Scenario, run.Target,
				run.CPUSecondsPerGiB, run.Idle, rep.Runs[i].CPUSecondsPerGiB, rep.Runs[i].Idle)
		}
	}
}

func TestTransportsSection(t *testing.T) {
	md := markdown(fakeReport(true), nil)
	i := strings.Index(md, "## Transports: std vs epoll")
	j := strings.Index(md, "## Scenarios")
	if i < 0 || j < i {
		t.Fatalf("no Transports section before the scenarios in\n%s", md)
	}
	section := md[i:j]
	for _, want := range []string{
		"| figure | std | epoll | epoll / std | better |",
		"| produce-acks1 produce throughput | 100 MB/s | 150 MB/s | 1.50× | epoll, 1.50× |",
		"| small-100b produce throughput | 100 MB/s | 80.00 MB/s | 0.80× | std, 1.25× |",
		"| catch-up fetch throughput | 100 MB/s | 150 MB/s | 1.50× | epoll, 1.50× |",
		"| latency-50 produce p99 | 8.00 ms | 4.00 ms | 0.50× | epoll, 2.00× |",
		"| latency-75 produce p99.9 | 8.00 ms | 4.00 ms | 0.50× | epoll, 2.00× |",
		"| many-partitions broker CPU per GiB moved | 2.00 s/GiB | 1.00 s/GiB | 0.50× | epoll, 2.00× |",
		"| RSS per idle connection | 40.00 KiB | 10.00 KiB | 0.25× | epoll, 4.00× |",
		"| Go heap per idle connection | 10.00 KiB | 2.50 KiB | 0.25× | epoll, 4.00× |",
		"| latency-floor-1k produce p99 | 8.00 ms | 4.00 ms | 0.50× | epoll, 2.00× |",
		"| many-partitions-10k produce throughput | 100 MB/s | 150 MB/s | 1.50× | epoll, 1.50× |",
		"| many-partitions-8 broker CPU per GiB moved | 2.00 s/GiB | 1.00 s/GiB | 0.50× | epoll, 2.00× |",
		// 10 throughputs (latency-max's among them), 14 latencies, 17 CPU
		// and 2 memory figures; std wins small-100b's throughput only.
		"epoll was better in 42 of the 43 figures measured on both transports.",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("the Transports section lacks %q:\n%s", want, section)
		}
	}
	if n := strings.Count(section, "\n| ") - 1; n != 43 {
		t.Errorf("the Transports section has %d figures, want 43:\n%s", n, section)
	}
}

func TestTransportRowWinner(t *testing.T) {
	for _, c := range []struct {
		row    transportRow
		winner string
		by     float64
	}{
		{transportRow{std: 100, epoll: 150}, "epoll", 1.5},
		{transportRow{std: 100, epoll: 50}, "std", 2},
		{transportRow{std: 8, epoll: 4, lowerIsBetter: true}, "epoll", 2},
		{transportRow{std: 4, epoll: 5, lowerIsBetter: true}, "std", 1.25},
		{transportRow{std: 3, epoll: 3}, "", 1},
		{transportRow{std: 3}, "", 0},                                 // epoll failed
		{transportRow{std: 3, epoll: -1, lowerIsBetter: true}, "", 0}, // memory shrank: no ratio
	} {
		if w, by := c.row.winner(); w != c.winner || by != c.by {
			t.Errorf("%+v: winner %q by %v, want %q by %v", c.row, w, by, c.winner, c.by)
		}
	}
}

//go:noinline
func burnCPU(until time.Time) (x uint64) {
	for time.Now().Before(until) {
		for i := range 10000 {
			x = x*6364136223846793005 + uint64(i)
		}
	}
	return x
}

func TestReadHotspots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	burnCPU(time.Now().Add(400 * time.Millisecond))
	pprof.StopCPUProfile()
	f.Close()
	h, err := readHotspots(path, "cpu", 5)
	if err != nil {
		t.Fatal(err)
	}
	if h.Sample != "cpu" || h.Unit != "nanoseconds" || h.Total <= 0 || len(h.Top) == 0 {
		t.Fatalf("hotspots %+v", h)
	}
	var own *FuncCost
	for i := range h.Own {
		if h.Own[i].Name == "runnel/bench.burnCPU" {
			own = &h.Own[i]
		}
	}
	if own == nil || own.CumPct < 50 || own.FlatPct < 50 {
		t.Fatalf("burnCPU should dominate the profile: own %+v, top %+v", h.Own, h.Top)
	}
}
