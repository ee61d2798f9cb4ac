package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"runnel/broker/clustertest"
	"runnel/loadgen"
)

// Options are one harness run.
type Options struct {
	// Runnel is the runnel binary: the harness runs `Runnel serve` for
	// Runnel. Self is the harness's own binary (cmd/runnel-bench): it runs
	// `Self peer` for the peers.
	Runnel, Self string
	// OutDir receives report.md, results.json, charts, .hgrm files,
	// profiles and broker logs.
	OutDir string
	Quick  bool
	// WorkDir holds the brokers' data directories and the disk baseline's
	// file ("" = the system temp directory); it should be the disk the
	// figures are about.
	WorkDir string
	// Transports runs every scenario against TargetRunnelStd too, right
	// after TargetRunnel, at the same derived rates.
	Transports bool
	// RunnelOverrides are extra --override properties for every Runnel
	// broker the harness starts (runnel.net=std, say), so that two
	// configurations can be compared under the identical matrix.
	RunnelOverrides []string
	// Only, when not empty, runs just the scenarios whose names start
	// with one of these (latency-floor, say), for a short A/B run.
	Only []string
	// Command is the command line, for the report.
	Command string
	// Log gets one line per step; Progress the load generator's live
	// line (nil: none).
	Log, Progress io.Writer
}

// RunResult is one scenario against one target.
type RunResult struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	// Round is 0 for the matrix's run, and 1, 2, … for the repeats of a
	// scenario's pairs (Scenario.Pairs), which Find does not return.
	Round   int             `json:"round,omitempty"`
	Result  *loadgen.Result `json:"result,omitempty"`
	Preload *loadgen.Result `json:"preload,omitempty"`
	CPU     *Hotspots       `json:"cpu,omitempty"`
	Heap    *Hotspots       `json:"heap,omitempty"`
	// BrokerCPUSeconds is the broker process's CPU time (user + system)
	// over the load's measurement window, and CPUSecondsPerGiB that
	// divided by the GiB (2^30 bytes) of record values produced plus
	// consumed in the window: the bytes behind the MB/s figures.
	BrokerCPUSeconds float64 `json:"broker_cpu_seconds,omitempty"`
	CPUSecondsPerGiB float64 `json:"cpu_seconds_per_gib,omitempty"`
	// MachineBusyCores is the machine's busy CPU time over the same
	// window (machineBusy: every process, the kernel's own work, not the
	// host's steal) divided by its seconds: how close broker, generator
	// and all else came to the machine's cores.
	MachineBusyCores float64 `json:"machine_busy_cores,omitempty"`
	// SinkCPUSecondsPerGiB is the sink's CPUSecondsPerGiB in the same
	// scenario, and CPUPerGiBVsSink this run's ÷ the sink's (setSinkCPU).
	SinkCPUSecondsPerGiB float64 `json:"sink_cpu_seconds_per_gib,omitempty"`
	CPUPerGiBVsSink      float64 `json:"cpu_per_gib_vs_sink,omitempty"`
	// Stages split Runnel's produce latency by where it was spent (nil
	// for peers and runs without produce requests or syncs).
	Stages *Stages `json:"stages,omitempty"`
	// ReplicationBytesOut are the bytes a cluster target's leaders sent to
	// followers during the load (nil: not a cluster, or no such metric).
	ReplicationBytesOut *float64 `json:"replication_bytes_out,omitempty"`
	// Idle is the idle-connections scenario's reading (Result is nil).
	Idle *IdleResult `json:"idle,omitempty"`
	// Partitions is a many-partitions scenario's reading of the broker.
	Partitions *PartitionsResult `json:"partitions,omitempty"`
	Err        string            `json:"error,omitempty"`
	// Settle is the disk's state at the run's start and what settling it
	// took (nil for a cluster kept from the run before).
	Settle *Settle `json:"settle,omitempty"`
	// DiskLoad is the disk's state as the load starts and as it ends
	// (after its drain): the discards and writeback the load overlapped.
	DiskLoad *[2]DiskState `json:"disk_load,omitempty"`
	// Freezes are the stretches in which the machine ran nothing during
	// the load (freeze.go; nil: the probe did not run).
	Freezes *Freezes `json:"freezes,omitempty"`
	// BrokerLog is the tail of the broker's log when it logged anything.
	BrokerLog string `json:"broker_log,omitempty"`
}

// Report is everything one harness run measured.
type Report struct {
	Machine Machine `json:"machine"`
	Command string  `json:"command"`
	Quick   bool    `json:"quick"`
	// Only are Options.Only: the run was part of the matrix.
	Only     []string  `json:"only,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// LoadStart and LoadEnd are /proc/loadavg's 1, 5 and 15 minute load
	// averages before and after the run: other work on the machine.
	LoadStart [3]float64   `json:"load_start"`
	LoadEnd   [3]float64   `json:"load_end"`
	Baselines Baselines    `json:"baselines"`
	Scenarios []Scenario   `json:"scenarios"`
	Runs      []*RunResult `json:"runs"`
	// CrossCheck is CrossCheckScenario measured with kcat too.
	CrossCheck *CrossCheck `json:"cross_check,omitempty"`
	// ClusterMetadata is the three-node quorum's metadata figures.
	ClusterMetadata *ClusterMetadata `json:"cluster_metadata,omitempty"`
}

// Find returns the matrix's run of scenario against target (round 0), or
// nil.
func (r *Report) Find(scenario, target string) *RunResult {
	return r.FindRound(scenario, target, 0)
}

// FindRound returns the run of scenario against target in round, or nil.
func (r *Report) FindRound(scenario, target string, round int) *RunResult {
	for _, run := range r.Runs {
		if run.Scenario == scenario && run.Target == target && run.Round == round {
			return run
		}
	}
	return nil
}

// Run measures the baselines, runs the matrix and writes the report into
// opts.OutDir. A scenario that fails is recorded and the matrix goes on.
func Run(ctx context.Context, opts Options) (*Report, error) {
	s := fullSizes
	if opts.Quick {
		s = quickSizes
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	workDir, release, err := makeWorkDir(opts.WorkDir, opts.Log)
	if err != nil {
		return nil, err
	}
	defer release()
	for _, d := range []string{opts.OutDir, filepath.Join(opts.OutDir, "profiles"), filepath.Join(opts.OutDir, "logs"), filepath.Join(opts.OutDir, "hgrm")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	rep := &Report{Machine: describeMachine(workDir), Command: opts.Command, Quick: opts.Quick, Only: opts.Only, Started: time.Now(), Scenarios: selected(matrix(s), opts.Only)}
	if opts.Transports {
		for i := range rep.Scenarios {
			rep.Scenarios[i].Targets = slices.Insert(rep.Scenarios[i].Targets, 1, TargetRunnelStd)
		}
	}
	rep.Scenarios = append(rep.Scenarios, selected(clusterScenarios(matrix(s)), opts.Only)...)
	rep.LoadStart = loadAverage()

	fmt.Fprintf(opts.Log, "baselines: %d MiB pwrite (page cache, then fdatasync per MiB, then per %d MiB) in %s, loopback TCP for %s\n",
		s.diskBaseline>>20, SustainedSyncBytes>>20, workDir, s.loopback)
	if rep.Baselines, err = measureBaselines(workDir, s.diskBaseline, s.loopback); err != nil {
		return nil, fmt.Errorf("bench: baselines: %w", err)
	}
	bl := rep.Baselines
	fmt.Fprintf(opts.Log, "  page cache %.0f MB/s, pwrite+fdatasync %.0f MB/s, sustained %.0f MB/s (%.2f CPU s/GiB), kept %.0f MB/s (%.2f CPU s/GiB), O_DIRECT %.0f MB/s, ingest ceiling %.0f MB/s, kept %.0f MB/s, loopback %.0f MB/s\n",
		bl.PageCacheWrite, bl.DurableWrite, bl.SustainedWrite, bl.SustainedCPU, bl.SustainedKept, bl.SustainedKeptCPU, bl.DirectWrite, bl.Ingest, bl.IngestKept, bl.Loopback)

	total := 0
	for _, sc := range rep.Scenarios {
		total += len(sc.Targets) + 2*max(sc.Pairs-1, 0)
	}
	n := 0
	var kept *target // a cluster kept for the scenario's next target (sameCluster)
	defer func() {
		if kept != nil {
			kept.stop()
		}
	}()
	// step runs sc against targets[i] as the given round (0: the
	// matrix's run, above 0: a repeat of a pair).
	step := func(sc Scenario, targets []string, i, round int) {
		kind := targets[i]
		n++
		pair := ""
		if round > 0 {
			pair = fmt.Sprintf(", pair %d", round+1)
		}
		fmt.Fprintf(opts.Log, "[%d/%d] %s on %s%s\n", n, total, sc.Name, kind, pair)
		if only := os.Getenv("RUNNEL_BENCH_TARGETS"); only != "" && !slices.Contains(strings.Split(only, ","), kind) {
			return
		}
		keep := i+1 < len(targets) && sameCluster(kind, targets[i+1])
		var settle *Settle
		if kept == nil { // a kept cluster's data is the run's own
			s := settleDisk(workDir)
			settle = &s
			fmt.Fprintf(opts.Log, "  %s\n", s)
		}
		run := runOne(ctx, opts, workDir, rep, sc, kind, round, &kept, keep)
		if settle != nil {
			settle.finish(readDiskState(workDir))
			run.Settle = settle
		}
		rep.Runs = append(rep.Runs, run)
		switch {
		case run.Err != "":
			fmt.Fprintf(opts.Log, "  FAILED: %s\n", run.Err)
		case run.Idle != nil:
			fmt.Fprint(opts.Log, indent(run.Idle.Summary(), "  "))
		default:
			fmt.Fprint(opts.Log, indent(run.Result.Summary(), "  "))
			fmt.Fprintf(opts.Log, "  broker CPU %.2f s over the measurement, %.2f s per GiB moved\n", run.BrokerCPUSeconds, run.CPUSecondsPerGiB)
		}
	}
	runnelOnly := []string{TargetRunnel}
	for _, sc := range rep.Scenarios {
		for i := range sc.Targets {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			step(sc, sc.Targets, i, 0)
		}
		paired := slices.IndexFunc(rep.Scenarios, func(o Scenario) bool { return o.Name == sc.PairedWith })
		for round := 1; round < sc.Pairs && paired >= 0; round++ {
			for _, s := range []Scenario{rep.Scenarios[paired], sc} {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				step(s, runnelOnly, 0, round)
			}
		}
	}
	if os.Getenv("RUNNEL_BENCH_TARGETS") == "" {
		rep.CrossCheck = runCrossCheck(ctx, opts, workDir, rep)
		measureClusterMetadataInto(ctx, opts, workDir, rep)
	}
	rep.Finished, rep.LoadEnd = time.Now(), loadAverage()
	return rep, WriteReport(rep, opts.OutDir)
}

// runOne starts a fresh target, applies the scenario's load (or holds its
// idle connections), records the broker's CPU time and, for Runnel,
// captures a CPU profile over the measurement and a heap profile after it.
// A cluster in *kept is used instead of a fresh one; with keep, the
// cluster is left running in *kept, for the scenario's next target, unless
// the run failed.
func runOne(ctx context.Context, opts Options, workDir string, rep *Report, sc Scenario, kind string, round int, kept **target, keep bool) *RunResult {
	run := &RunResult{Scenario: sc.Name, Target: kind, Round: round}
	if kind == TargetDiskFloor {
		var err error
		if run.Result, run.Stages, err = measureDiskFloor(ctx, workDir, sc.Load); err != nil {
			run.Err = err.Error()
		}
		return run
	}
	logPath := filepath.Join(opts.OutDir, "logs", sc.Name+"-"+kind+pairSuffix(round)+".log")
	t, err := *kept, error(nil)
	if t != nil {
		*kept, t.kind, t.logPath = nil, kind, logPath
	} else if t, err = startTarget(ctx, opts.Runnel, opts.Self, kind, workDir, logPath, brokerOverrides(opts, sc)); err != nil {
		run.Err = err.Error()
		return run
	}
	defer func() {
		if keep && run.Err == "" {
			*kept = t
			return
		}
		if err := t.stop(); err != nil && run.Err == "" {
			run.Err = err.Error()
		}
		if log := strings.TrimSpace(clustertest.Tail(logPath, 4000)); log != "" {
			run.BrokerLog = log
		} else {
			os.Remove(logPath)
		}
	}()
	if sc.IdleConnections > 0 {
		if run.Idle, err = measureIdle(ctx, t, sc.IdleConnections); err != nil {
			run.Err = err.Error()
		}
		return run
	}

	cfg := sc.Load
	cfg.Brokers, cfg.Topic = []string{t.addr}, sc.Name
	cfg.Progress = opts.Progress
	if cfg.Topic, err = t.createClusterTopic(ctx, cfg.Topic, cfg.Partitions); err != nil {
		run.Err = err.Error()
		return run
	}
	if sc.RateOf != "" {
		cfg.Rate = derivedRate(rep, sc)
	}
	if sc.PreloadBytes > 0 {
		pre := loadgen.DefaultConfig()
		pre.Brokers, pre.Topic, pre.Partitions = cfg.Brokers, cfg.Topic, cfg.Partitions
		pre.Producers, pre.Consumers, pre.Acks, pre.Idempotent = 2, 0, "1", false
		pre.Warmup, pre.Duration, pre.Records = 0, 0, sc.PreloadBytes/int64(pre.RecordSize)
		if run.Preload, err = loadgen.Run(ctx, pre); err != nil {
			run.Err = "preload: " + err.Error()
			return run
		}
		if run.Preload.Totals.ProduceErrors > 0 {
			run.Err = fmt.Sprintf("preload: %d produce errors: %v", run.Preload.Totals.ProduceErrors, run.Preload.Errors)
			return run
		}
	}

	if sc.manyPartitions() {
		took, err := timeTopicCreation(ctx, cfg)
		if err != nil {
			run.Err = "create topic: " + err.Error()
			return run
		}
		run.Partitions = &PartitionsResult{Partitions: cfg.Partitions, CreateSeconds: took.Seconds()}
	}

	var profiled sync.WaitGroup
	prefix := profilePrefix(sc.Name, kind) + pairSuffix(round)
	cpuPath := filepath.Join(opts.OutDir, "profiles", prefix+"-cpu.pprof")
	heapPath := filepath.Join(opts.OutDir, "profiles", prefix+"-heap.pprof")
	var cpuErr error
	if t.admin != "" { // Runnel, on either transport: both pay the profiler's cost
		secs, delay := profileWindow(cfg, sc)
		profiled.Go(func() {
			time.Sleep(delay)
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", t.admin, secs)
			cpuErr = fetch(ctx, url, cpuPath, time.Duration(secs+30)*time.Second)
		})
		// Where every goroutine is halfway through: when a run stalls,
		// this says on what.
		profiled.Go(func() {
			time.Sleep(delay + time.Duration(secs)*time.Second/2)
			url := "http://" + t.admin + "/debug/pprof/goroutine?debug=1"
			_ = fetch(ctx, url, filepath.Join(opts.OutDir, "profiles", prefix+"-goroutines.txt"), 30*time.Second)
		})
	}
	var stagesBefore *stageReading // nil: no stages for this run
	if t.admin != "" {
		if r, err := t.stageCounters(ctx); err == nil {
			stagesBefore = &r
		}
	}
	replicatedBefore := t.replicationBytes(ctx)
	cpu, machine := recordCPU(t.pids()...), recordMachineCPU()
	loadStart := readDiskState(workDir)
	probe, probeErr := startFreezeProbe(ctx)
	if probeErr != nil {
		fmt.Fprintf(opts.Log, "freeze probe not started: %v\n", probeErr)
	}
	var res *loadgen.Result
	if sc.Generators > 1 {
		res, err = runGenerators(ctx, opts.Runnel, workDir, cfg, sc.Generators)
	} else {
		res, err = loadgen.Run(ctx, cfg)
	}
	loadEnd := readDiskState(workDir)
	if probe != nil {
		run.Freezes = probe.end()
	}
	run.DiskLoad = &[2]DiskState{loadStart, loadEnd}
	samples, samplesErr := cpu.stop()
	machineSamples, machineErr := machine.stop()
	profiled.Wait()
	if err != nil {
		run.Err = err.Error()
		return run
	}
	run.Result = res
	if after := t.replicationBytes(ctx); replicatedBefore != nil && after != nil {
		run.ReplicationBytesOut = new(*after - *replicatedBefore)
	}
	if stagesBefore != nil {
		if after, err := t.stageCounters(ctx); err == nil {
			run.Stages, _ = stagesBetween(*stagesBefore, after) // nil without produce requests or syncs
		}
	}
	if samplesErr == nil {
		samplesErr = run.setCPU(samples)
	}
	if samplesErr != nil {
		run.Err = "broker CPU time: " + samplesErr.Error()
	}
	if machineErr == nil {
		machineErr = run.setMachineCPU(machineSamples)
	}
	if machineErr != nil && run.Err == "" {
		run.Err = "machine CPU time: " + machineErr.Error()
	}
	if run.Partitions != nil {
		if err := measurePartitions(ctx, t, run.Partitions); err != nil && run.Err == "" {
			run.Err = "broker reading: " + err.Error()
		}
	}
	if t.admin == "" {
		return run
	}
	if cpuErr == nil {
		if h, err := cpuHotspots(cpuPath); err == nil {
			run.CPU = &h
		} else {
			cpuErr = err
		}
	}
	if cpuErr == nil && run.Partitions != nil {
		run.Partitions.SyncOneSeconds, run.Partitions.SyncGroupSeconds, _ = syncPathSeconds(cpuPath)
	}
	if cpuErr != nil {
		run.Err = "cpu profile: " + cpuErr.Error()
	}
	if err := fetch(ctx, "http://"+t.admin+"/debug/pprof/heap", heapPath, 30*time.Second); err != nil {
		run.Err = "heap profile: " + err.Error()
	} else if h, err := readHotspots(heapPath, "alloc_space", 15); err == nil {
		run.Heap = &h
	}
	return run
}

// setCPU sets BrokerCPUSeconds and CPUSecondsPerGiB from the broker's CPU
// samples over run.Result's measurement window.
func (run *RunResult) setCPU(samples []cpuSample) error {
	r := run.Result
	from, to := measuredWindow(r)
	cpu, err := cpuBetween(samples, from, to)
	if err != nil {
		return err
	}
	run.BrokerCPUSeconds = cpu.Seconds()
	if moved := r.Produced.Bytes + r.Consumed.Bytes; moved > 0 {
		run.CPUSecondsPerGiB = run.BrokerCPUSeconds / (float64(moved) / (1 << 30))
	}
	return nil
}

// pairSuffix ends the names of a repeated pair's files (round above 0):
// -pair2 for the second pair.
func pairSuffix(round int) string {
	if round == 0 {
		return ""
	}
	return fmt.Sprintf("-pair%d", round+1)
}

// measuredWindow is r's measurement window, which starts after the
// warm-up and lasts Seconds.
func measuredWindow(r *loadgen.Result) (from, to time.Time) {
	from = r.Start.Add(max(r.Config.Warmup, 0))
	return from, from.Add(time.Duration(r.Seconds * float64(time.Second)))
}

// setMachineCPU sets MachineBusyCores from samples of the machine's busy
// CPU time (recordMachineCPU) over run.Result's measurement window.
func (run *RunResult) setMachineCPU(samples []cpuSample) error {
	from, to := measuredWindow(run.Result)
	busy, err := cpuBetween(samples, from, to)
	if err != nil {
		return err
	}
	if run.Result.Seconds > 0 {
		run.MachineBusyCores = busy.Seconds() / run.Result.Seconds
	}
	return nil
}

// profilePrefix names a run's profile files: the scenario's name for the
// default transport's run, followed by the target's for another.
func profilePrefix(scenario, kind string) string {
	if kind == TargetRunnel {
		return scenario
	}
	return scenario + "-" + kind
}

// profileWindow is how long the CPU profile runs and how long after the
// load starts it begins: the measurement window, or for a consume-only
// run an estimate of the read at 500 MB/s.
func profileWindow(cfg loadgen.Config, sc Scenario) (secs int, delay time.Duration) {
	if cfg.Duration > 0 {
		return max(1, int(cfg.Duration.Seconds())), cfg.Warmup + 200*time.Millisecond
	}
	return max(1, int(math.Ceil(float64(sc.PreloadBytes)/500e6))), 100 * time.Millisecond
}

// derivedRate is the open-loop rate of a latency scenario: a fraction of
// what Runnel reached in the scenario it refers to (1,000 records/s if
// that run failed).
func derivedRate(rep *Report, sc Scenario) float64 {
	if ref := rep.Find(sc.RateOf, TargetRunnel); ref != nil && ref.Result != nil && ref.Result.Produced.RecordsPerSec > 0 {
		return math.Round(ref.Result.Produced.RecordsPerSec * sc.RateFraction)
	}
	return 1000
}

// selected are the scenarios whose names start with one of prefixes (all
// of them when there are none), keeping also those their rates derive from
// and those they are paired with.
func selected(all []Scenario, prefixes []string) []Scenario {
	if len(prefixes) == 0 {
		return all
	}
	wanted := func(name string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool {
			if exact, ok := strings.CutSuffix(p, "$"); ok {
				return name == exact
			}
			return strings.HasPrefix(name, p)
		})
	}
	var out []Scenario
	for _, sc := range all {
		if wanted(sc.Name) || slices.ContainsFunc(all, func(o Scenario) bool { return (o.RateOf == sc.Name || o.PairedWith == sc.Name) && wanted(o.Name) }) {
			out = append(out, sc)
		}
	}
	return out
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}
