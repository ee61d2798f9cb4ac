package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"runnel/broker/clustertest"
	"runnel/loadgen"
)

// CrossCheckScenario is the scenario whose produce throughput is measured
// a second time by an independent client, librdkafka through kcat, so that
// a flaw of the load generator's (counting records no broker stored,
// a cost its requests add or spare) shows as a disagreement. kcat's
// batches are capped at the generator's record count (kcatProperties), so
// that both send the same batches: the broker's cost is per batch and per
// request.
const CrossCheckScenario = "produce-acks1"

// crossCheckTolerance is how far apart, as a fraction, the two clients'
// figures may be and still agree.
const crossCheckTolerance = 0.10

// CrossCheck is CrossCheckScenario's load sent by kcat, against a fresh
// Runnel and against the sink (kcat's own ceiling), beside the load
// generator's figures from the scenario's runs.
type CrossCheck struct {
	Scenario string `json:"scenario"`
	// Skipped says why kcat was not run (not installed, say); Err why its
	// runs failed.
	Skipped string `json:"skipped,omitempty"`
	Err     string `json:"error,omitempty"`
	// Client is kcat's and librdkafka's versions; Properties the
	// librdkafka properties it ran with.
	Client     string   `json:"client,omitempty"`
	Properties []string `json:"properties,omitempty"`
	// Records of RecordSize bytes are sent by each run, by Processes
	// kcat processes at once (as many as the load generator's), each with
	// its share; Rounds runs go against each target, alternating Runnel
	// and the sink.
	Records    int64     `json:"records"`
	RecordSize int       `json:"record_size"`
	Processes  int       `json:"processes"`
	Rounds     int       `json:"rounds"`
	Runs       []KcatRun `json:"runs,omitempty"`
	// Kcat and KcatSink are the medians of kcat's MB/s against Runnel and
	// against the sink; Loadgen and LoadgenSink the load generator's in
	// the scenario, same harness run.
	Kcat        float64 `json:"kcat_mb_per_sec"`
	KcatSink    float64 `json:"kcat_sink_mb_per_sec"`
	Loadgen     float64 `json:"loadgen_mb_per_sec"`
	LoadgenSink float64 `json:"loadgen_sink_mb_per_sec"`
	// Ratio is Kcat / Loadgen (0 when either is missing); Agree says
	// whether it is within crossCheckTolerance of 1.
	Ratio float64 `json:"ratio"`
	Agree bool    `json:"agree"`
	// BrokerCPUSecondsPerGiB is Runnel's CPU per GiB over kcat's runs
	// (median), beside LoadgenBrokerCPUSecondsPerGiB, the scenario's.
	BrokerCPUSecondsPerGiB        float64 `json:"broker_cpu_seconds_per_gib"`
	LoadgenBrokerCPUSecondsPerGiB float64 `json:"loadgen_broker_cpu_seconds_per_gib"`
	// KcatRecordsPerRequest is the median over kcat's runs against Runnel
	// of the records per Produce request Runnel answered (librdkafka sends
	// one partition's batch a request), beside LoadgenRecordsPerRequest,
	// the generator's batch (one a request, always full).
	KcatRecordsPerRequest    float64 `json:"kcat_records_per_request"`
	LoadgenRecordsPerRequest int     `json:"loadgen_records_per_request"`
	// KcatCPUSecondsPerGiB is the median over kcat's runs against Runnel
	// of the kcat processes' own CPU (user + system) per GiB sent: on a
	// machine the client shares with the broker, what it spends is not
	// the broker's.
	KcatCPUSecondsPerGiB float64 `json:"kcat_cpu_seconds_per_gib"`
	// Capped is the broker-bound comparison (measureCapped): both
	// clients against a Runnel whose CPU a cgroup caps.
	Capped *CappedCheck `json:"capped,omitempty"`
}

// KcatRun is one run of the kcat processes: Records sent, timed from the
// first one's start to the last one's exit (kcat exits once librdkafka has
// flushed, after its last ack), and counted by the topic's end offsets.
type KcatRun struct {
	Target        string  `json:"target"`
	Seconds       float64 `json:"seconds"`
	Acked         int64   `json:"acked"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	// BrokerCPUSeconds is the broker's CPU time over the run and
	// ProduceRequests the Produce requests it answered (Runnel only).
	BrokerCPUSeconds float64 `json:"broker_cpu_seconds,omitempty"`
	ProduceRequests  int64   `json:"produce_requests,omitempty"`
	// ClientCPUSeconds is the kcat processes' CPU time, user + system.
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
}

// crossCheckSize is how many bytes of records each kcat run sends and how
// many runs go against each target.
func crossCheckSize(quick bool) (bytes int64, rounds int) {
	if quick {
		return 256 << 20, 2
	}
	return 1 << 30, 3
}

// runCrossCheck measures CrossCheckScenario with kcat when the scenario is
// in rep (nil otherwise). Without kcat it returns a CrossCheck that says
// so; a failure is recorded in it, never returned.
func runCrossCheck(ctx context.Context, opts Options, workDir string, rep *Report) *CrossCheck {
	i := slices.IndexFunc(rep.Scenarios, func(sc Scenario) bool { return sc.Name == CrossCheckScenario })
	if i < 0 {
		return nil
	}
	sc := rep.Scenarios[i]
	size, rounds := crossCheckSize(opts.Quick)
	processes := max(1, sc.Generators)
	perProcess := size / int64(sc.Load.RecordSize) / int64(processes)
	cc := &CrossCheck{Scenario: sc.Name, RecordSize: sc.Load.RecordSize, Records: perProcess * int64(processes), Processes: processes, Rounds: rounds,
		Properties: kcatProperties(sc.Load, processes), LoadgenRecordsPerRequest: sc.Load.BatchRecords}
	cc.setLoadgen(rep)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		cc.Skipped = "kcat is not on PATH (Debian's package kcat, which .ci/run installs)"
		fmt.Fprintf(opts.Log, "cross-check: skipped: %s\n", cc.Skipped)
		return cc
	}
	if cc.Client, err = kcatVersion(ctx, kcat); err != nil {
		cc.Err = err.Error()
		return cc
	}
	fmt.Fprintf(opts.Log, "cross-check: %s with %s, %d × %d records from %d processes against runnel and the sink\n", sc.Name, cc.Client, rounds, cc.Records, processes)
	if err := cc.measure(ctx, opts, workDir, sc, kcat); err != nil {
		cc.Err = err.Error()
		fmt.Fprintf(opts.Log, "  FAILED: %s\n", err)
		return cc
	}
	fmt.Fprintf(opts.Log, "  kcat %.1f MB/s against runnel, %.1f against the sink; runnel loadgen %.1f: kcat / loadgen %.2f\n",
		cc.Kcat, cc.KcatSink, cc.Loadgen, cc.Ratio)
	return cc
}

// setLoadgen copies the load generator's figures from the scenario's runs.
func (cc *CrossCheck) setLoadgen(rep *Report) {
	if r := rep.Find(cc.Scenario, TargetRunnel); r != nil && r.Result != nil {
		cc.Loadgen, cc.LoadgenBrokerCPUSecondsPerGiB = r.Result.Produced.MBPerSec, r.CPUSecondsPerGiB
	}
	if r := rep.Find(cc.Scenario, TargetSink); r != nil && r.Result != nil {
		cc.LoadgenSink = r.Result.Produced.MBPerSec
	}
}

// measure writes the records file, starts a fresh Runnel and a sink, and
// runs kcat against them in turn, Rounds times.
func (cc *CrossCheck) measure(ctx context.Context, opts Options, workDir string, sc Scenario, kcat string) error {
	file := filepath.Join(workDir, "kcat-records")
	if err := writeKcatRecords(file, cc.Records/int64(cc.Processes), cc.RecordSize); err != nil {
		return err
	}
	defer os.Remove(file)
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
			if strings.TrimSpace(clustertest.Tail(t.logPath, 100)) == "" {
				os.Remove(t.logPath)
			}
		}
	}()
	for _, kind := range []string{TargetRunnel, TargetSinkLibrdkafka} {
		logPath := filepath.Join(opts.OutDir, "logs", "cross-check-"+kind+".log")
		t, err := startTarget(ctx, opts.Runnel, opts.Self, kind, workDir, logPath, brokerOverrides(opts, sc))
		if err != nil {
			return err
		}
		targets = append(targets, t)
		cfg := sc.Load
		cfg.Brokers, cfg.Topic = []string{t.addr}, sc.Name
		if err := loadgen.PrepareTopic(ctx, cfg); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	for range cc.Rounds {
		for _, t := range targets {
			run, err := runKcat(ctx, kcat, t, sc.Name, file, cc)
			if err != nil {
				return fmt.Errorf("kcat against %s: %w: %s", t.kind, err, strings.TrimSpace(clustertest.Tail(t.logPath, 1000)))
			}
			cc.Runs = append(cc.Runs, run)
		}
	}
	cc.summarize()
	cc.Capped = cc.measureCapped(ctx, opts, workDir, sc, kcat)
	return nil
}

// summarize sets the medians, the ratio and the verdict from Runs.
func (cc *CrossCheck) summarize() {
	var runnel, sink, cpu, perRequest, client []float64
	for _, r := range cc.Runs {
		switch r.Target {
		case TargetRunnel:
			runnel = append(runnel, r.MBPerSec)
			if r.Acked > 0 {
				gib := float64(r.Acked*int64(cc.RecordSize)) / (1 << 30)
				cpu = append(cpu, r.BrokerCPUSeconds/gib)
				client = append(client, r.ClientCPUSeconds/gib)
			}
			if r.ProduceRequests > 0 {
				perRequest = append(perRequest, float64(r.Acked)/float64(r.ProduceRequests))
			}
		case TargetSinkLibrdkafka:
			sink = append(sink, r.MBPerSec)
		}
	}
	cc.Kcat, cc.KcatSink, cc.BrokerCPUSecondsPerGiB = median(runnel), median(sink), median(cpu)
	cc.KcatRecordsPerRequest, cc.KcatCPUSecondsPerGiB = median(perRequest), median(client)
	cc.Ratio, cc.Agree = agreement(cc.Kcat, cc.Loadgen)
}

// agreement is kcat ÷ loadgen (0 when either is missing) and whether it
// is within crossCheckTolerance of 1.
func agreement(kcat, loadgen float64) (ratio float64, agree bool) {
	if kcat <= 0 || loadgen <= 0 {
		return 0, false
	}
	ratio = kcat / loadgen
	return ratio, ratio >= 1-crossCheckTolerance && ratio <= 1+crossCheckTolerance
}

// median of vs (0 for none).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// runKcat runs cc.Processes kcat producers at once, each of file's
// records, into topic on t, and times them from their start to the last
// one's exit. The records must all be acked: the topic's end offsets must
// have gone up by cc.Records.
func runKcat(ctx context.Context, kcat string, t *target, topic, file string, cc *CrossCheck) (KcatRun, error) {
	run := KcatRun{Target: t.kind}
	before, err := endOffsetSum(ctx, t.addr, topic)
	if err != nil {
		return run, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmds := make([]*exec.Cmd, max(1, cc.Processes))
	stderrs := make([]bytes.Buffer, len(cmds))
	var cpu *cpuRecorder
	var counters *stageReading
	if t.admin != "" { // Runnel: its CPU and Produce requests over the run
		r, err := t.stageCounters(ctx)
		if err != nil {
			return run, err
		}
		counters, cpu = &r, recordCPU(t.pids()...)
	}
	start := time.Now()
	for i := range cmds {
		cmds[i] = exec.CommandContext(ctx, kcat, kcatArgs(t.addr, topic, file, cc.Properties)...)
		cmds[i].Stderr = &stderrs[i]
		if err = cmds[i].Start(); err != nil {
			cmds = cmds[:i]
			break
		}
	}
	for _, cmd := range cmds {
		if werr := cmd.Wait(); err == nil {
			err = werr
		}
		if ps := cmd.ProcessState; ps != nil {
			run.ClientCPUSeconds += (ps.UserTime() + ps.SystemTime()).Seconds()
		}
	}
	end := time.Now()
	var stderr strings.Builder
	for i := range stderrs {
		stderr.Write(stderrs[i].Bytes())
	}
	if cpu != nil {
		samples, cerr := cpu.stop()
		if cerr == nil {
			var c time.Duration
			c, cerr = cpuBetween(samples, start, end)
			run.BrokerCPUSeconds = c.Seconds()
		}
		if err == nil && cerr != nil {
			err = fmt.Errorf("broker CPU time: %w", cerr)
		}
	}
	if err != nil {
		return run, fmt.Errorf("%w: %s", err, tail(stderr.String(), 1000))
	}
	if counters != nil {
		later, err := t.stageCounters(ctx)
		if err != nil {
			return run, err
		}
		run.ProduceRequests = int64(later.produceRequests() - counters.produceRequests())
	}
	after, err := awaitEndOffsets(ctx, t.addr, topic, before+cc.Records, endOffsetsWait)
	if err != nil {
		return run, err
	}
	run.Acked, run.Seconds = after-before, end.Sub(start).Seconds()
	if run.Acked != cc.Records {
		return run, fmt.Errorf("%d of %d records acked (end offsets %s after the last exit): %s", run.Acked, cc.Records, endOffsetsWait, tail(stderr.String(), 1000))
	}
	run.RecordsPerSec = float64(run.Acked) / run.Seconds
	run.MBPerSec = run.RecordsPerSec * float64(cc.RecordSize) / 1e6
	return run, nil
}

// kcatProperties are the librdkafka properties under which processes
// kcat processes send the same workload as the generator's raw load: the
// same batches, the same requests in flight, nothing sent twice. Each was
// measured against a Runnel capped at 0.1 core (results/2026-12-02-kcat-capped):
//
//   - acks, enable.idempotence and compression.codec: the load's.
//   - batch.num.messages and batch.size: the generator's batch, BatchRecords
//     records (961 of 1 KiB), which fill librdkafka's default batch.size of
//     1 MB (loadgen.ClientBatchBytes); librdkafka sends one batch a request.
//   - max.in.flight.requests.per.connection: the generator's window, its
//     Connections × InFlight requests (4 × 4), shared out over the kcat
//     processes, each of which has one connection to the broker: 8 each.
//     librdkafka's default (1,000,000) pipelines every batch its queue
//     holds, so a batch is sent as soon as its linger ends, part full: 530–895
//     records a request, against 961.
//   - queue.buffering.max.messages: the window plus two full batches a
//     partition waiting behind it, so that a batch is full when a request
//     may go (librdkafka counts the records in flight as queued). The
//     default, 100,000 records, let each process hold 760 MB (its peak RSS),
//     six times the generator's window; an earlier 2 GB bound made the
//     broker's page-cache writes 5× dearer (results/2026-12-02-xcheck).
//   - linger.ms: how long a batch waits for its 961st record. With the
//     window bound, 5 ms closed batches at 596–816 records, 100 ms at
//     899–925, 1,000 ms at 944–952; but the run's last batches wait out the
//     linger (librdkafka 2.0.2's flush does not cut it short), which is in
//     kcat's timed run, so 100 ms: at most 0.1 s of a run of 1 GiB.
//   - message.send.max.retries=0: the generator never sends a batch twice.
//     A request librdkafka gave up on would be a delivery error, which the
//     end offsets count as missing records, instead of a duplicate the
//     broker writes (and pays for) again. None was seen with the window bound.
//   - message.timeout.ms: a minute, as before; request.timeout.ms keeps
//     its default, 30 s, far above a window's time at the capped broker
//     (8 MB at 16 MB/s or more).
func kcatProperties(load loadgen.Config, processes int) []string {
	processes = max(1, processes)
	batch := max(1, load.BatchRecords)
	window := max(1, load.Connections*load.InFlight/processes)
	queue := (window + 2*max(1, load.Partitions)) * batch
	return []string{
		"acks=" + load.Acks,
		"enable.idempotence=" + strconv.FormatBool(load.Idempotent),
		"compression.codec=" + load.Compression,
		"batch.num.messages=" + strconv.Itoa(batch),
		"batch.size=" + strconv.Itoa(loadgen.ClientBatchBytes),
		"max.in.flight.requests.per.connection=" + strconv.Itoa(window),
		"queue.buffering.max.messages=" + strconv.Itoa(queue),
		"linger.ms=" + strconv.FormatInt(kcatLinger.Milliseconds(), 10),
		"message.send.max.retries=0",
		"message.timeout.ms=60000",
	}
}

// kcatLinger is kcat's linger (see kcatProperties): long enough that its
// batches fill under the generator's window, short beside a run.
const kcatLinger = 100 * time.Millisecond

// kcatArgs are kcat's arguments to produce file's lines, one record each,
// to topic on addr with props, printing only errors; with no file, the
// lines of its standard input.
func kcatArgs(addr, topic, file string, props []string) []string {
	args := []string{"-P", "-q", "-b", addr, "-t", topic}
	if file != "" {
		args = append(args, "-l")
	}
	for _, p := range props {
		args = append(args, "-X", p)
	}
	if file == "" {
		return args
	}
	return append(args, file)
}

// kcatVersionLine matches kcat -V's version line, e.g. "Version 1.7.1
// (JSON, ... librdkafka 2.0.2 builtin.features=...)".
var kcatVersionLine = regexp.MustCompile(`Version (\S+) .*librdkafka (\S+)`)

// kcatVersion is "kcat 1.7.1, librdkafka 2.0.2".
func kcatVersion(ctx context.Context, kcat string) (string, error) {
	out, err := exec.CommandContext(ctx, kcat, "-V").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kcat -V: %w: %s", err, tail(string(out), 500))
	}
	m := kcatVersionLine.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("kcat -V: no version in %q", tail(string(out), 500))
	}
	return "kcat " + m[1] + ", librdkafka " + m[2], nil
}

// writeKcatRecords writes n records of size bytes, one a line: letters
// drawn from 16 (as the load generator's payloads), never a newline.
func writeKcatRecords(path string, n int64, size int) error {
	line := kcatLine(size)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for range n {
		if _, err := w.Write(line); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// kcatLine is one record of size bytes and its newline: letters drawn
// from 16 (as the load generator's payloads), never a newline.
func kcatLine(size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	line := make([]byte, size+1)
	for i := range size {
		line[i] = 'a' + byte(rng.IntN(16))
	}
	line[size] = '\n'
	return line
}

// lineRepeater reads as line over and over, without end: kcat's standard
// input in the capped comparison, where kcat is stopped when the window
// ends instead of running out of records.
type lineRepeater struct {
	line []byte
	off  int
}

func (r *lineRepeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.line[r.off:])
		n += c
		r.off = (r.off + c) % len(r.line)
	}
	return n, nil
}

// endOffsetsWait is how long the end offsets may take to count every
// acked record: under Runnel's durable flush policy the end offset (the
// high watermark) is the flushed offset, which trails an acks=1 ack by up
// to a flush.
const endOffsetsWait = 10 * time.Second

// awaitEndOffsets polls endOffsetSum until it reaches want or limit has
// passed, and returns the last sum.
func awaitEndOffsets(ctx context.Context, addr, topic string, want int64, limit time.Duration) (int64, error) {
	deadline := time.Now().Add(limit)
	for {
		sum, err := endOffsetSum(ctx, addr, topic)
		if err != nil || sum >= want || time.Now().After(deadline) {
			return sum, err
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// endOffsetSum is the sum of topic's partitions' end offsets on addr.
func endOffsetSum(ctx context.Context, addr, topic string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum, nil
}

// tail is the last n bytes of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// brokerOverrides are the --override properties of a Runnel broker the
// harness starts for sc: the durable flush policy, the scenario's and the
// run's.
func brokerOverrides(opts Options, sc Scenario) []string {
	overrides := append([]string{"runnel.flush.policy=durable"}, sc.Overrides...)
	return append(overrides, opts.RunnelOverrides...)
}

// crossCheckSection writes the report's cross-check section: the two
// clients' figures side by side and whether they agree.
func crossCheckSection(b *strings.Builder, rep *Report) {
	cc := rep.CrossCheck
	if cc == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Cross-check with an independent client (librdkafka through kcat)\n\n")
	switch {
	case cc.Skipped != "":
		w("Skipped: %s. The %s figures are the load generator's alone.\n\n", cc.Skipped, cc.Scenario)
		return
	case cc.Err != "":
		w("Failed: %s.\n\n", oneLine(cc.Err))
		return
	}
	defer cappedSection(b, cc)
	w("### Uncapped broker (client-bound)\n\n")
	loadgenLoad := "not run"
	if i := slices.IndexFunc(rep.Scenarios, func(sc Scenario) bool { return sc.Name == cc.Scenario }); i >= 0 {
		loadgenLoad = describeLoad(rep.Scenarios[i])
	}
	w("The %s load sent again by %s: %d records of %d B in each run, from %d kcat processes at once (as many as the load generator's), "+
		"each `kcat -P -l` of the same file of %d records, one a line, written before the clock starts (so read from the page cache), "+
		"with `-X %s`; each process has one connection to the broker. "+
		"A run is timed from the processes' start to the last one's exit, which comes after librdkafka's flush, that is after its last record's ack; "+
		"connecting and metadata requests are in that time, where the load generator's figure leaves out its warm-up. "+
		"Every run's records are counted by the topic's end offsets, which must have gone up by as many. "+
		"%d runs against each of a fresh Runnel (same properties as the scenario's) and the sink, alternating; kcat's figures are their medians. "+
		"kcat's sink (`%s`) also lists Fetch v4 in its ApiVersions, which it does not serve: without it librdkafka sends v0 message sets, not v2 batches. "+
		"Runnel's CPU per GiB under kcat is over each whole run. The load generator's load was: %s.\n\n",
		cc.Scenario, cc.Client, cc.Records, cc.RecordSize, cc.Processes, cc.Records/int64(max(1, cc.Processes)), strings.Join(cc.Properties, "`, `-X "),
		cc.Rounds, TargetSinkLibrdkafka, loadgenLoad)
	f := func(v float64, format string) string {
		if v == 0 {
			return "—"
		}
		return fmt.Sprintf(format, v)
	}
	w("Both clients' batches have the same cap, so that the broker does about the same work per record: its cost is per batch and per request, "+
		"and a client that sends smaller batches (16 KiB, say) measures a slower broker. "+
		"The generator sends batches of %d records, one a Produce request, always full: about %.1f MB, what librdkafka (batch.size) and franz-go (ProducerBatchMaxBytes) cap a batch at by default, and what they send when the broker is the limit. "+
		"kcat's batches are capped at the same %d records (`batch.num.messages`), and its requests in flight at the generator's window shared over its processes (`max.in.flight.requests.per.connection`, one connection each), with room in its queue for that window and two batches a partition behind it, and it never sends a batch twice (`message.send.max.retries=0`). "+
		"librdkafka also sends one batch a request, and closes a batch at %d records or when its linger ends, so not every one is full: "+
		"Runnel answered %s records per Produce request from kcat (median over its runs; Runnel's request count over the records acked).\n\n",
		cc.LoadgenRecordsPerRequest, float64(loadgen.ClientBatchBytes)/1e6, cc.LoadgenRecordsPerRequest, cc.LoadgenRecordsPerRequest, f(cc.KcatRecordsPerRequest, "%.0f"))
	div := func(a, b float64) float64 {
		if a == 0 || b == 0 {
			return 0
		}
		return a / b
	}
	w("| client | against Runnel (MB/s) | against the sink (MB/s) | Runnel ÷ sink | Runnel CPU s/GiB |\n|---|---:|---:|---:|---:|\n")
	for _, r := range []struct {
		name              string
		runnel, sink, cpu float64
	}{{"`runnel loadgen`", cc.Loadgen, cc.LoadgenSink, cc.LoadgenBrokerCPUSecondsPerGiB}, {"kcat", cc.Kcat, cc.KcatSink, cc.BrokerCPUSecondsPerGiB}} {
		w("| %s | %s | %s | %s | %s |\n", r.name, f(r.runnel, "%.1f"), f(r.sink, "%.1f"), ratio(div(r.runnel, r.sink)), f(r.cpu, "%.2f"))
	}
	w("| kcat ÷ `runnel loadgen` | %s | %s | | %s |\n\n", ratio(cc.Ratio), ratio(div(cc.KcatSink, cc.LoadgenSink)),
		ratio(div(cc.BrokerCPUSecondsPerGiB, cc.LoadgenBrokerCPUSecondsPerGiB)))
	verdict := "they do not agree within 10%"
	if cc.Agree {
		verdict = "they agree within 10%"
	}
	w("Against Runnel, kcat reached %s the load generator's throughput: **%s**.", ratio(cc.Ratio), verdict)
	if both := cc.KcatCPUSecondsPerGiB + cc.BrokerCPUSecondsPerGiB; cc.KcatCPUSecondsPerGiB > 0 && rep.Machine.Cores > 0 {
		bound := float64(rep.Machine.Cores) / both * (1 << 30) / 1e6
		w(" kcat's processes spent %.2f CPU s per GiB they sent and Runnel %.2f: on %d cores the two can move at most %.0f MB/s together (cores ÷ their CPU per byte), "+
			"and kcat reached %s of that bound.", cc.KcatCPUSecondsPerGiB, cc.BrokerCPUSecondsPerGiB, rep.Machine.Cores, bound, ratio(cc.Kcat/bound))
	}
	if cc.KcatSink > 0 && cc.Kcat >= (1-crossCheckTolerance)*cc.KcatSink {
		w(" kcat ran about as fast against Runnel as against the sink, which stores nothing: kcat itself was the limit, so its figure bounds Runnel's from below.")
	}
	w("\n\n| round | target | seconds | records acked | MB/s | broker CPU s | Produce requests |\n|---:|---|---:|---:|---:|---:|---:|\n")
	for i, r := range cc.Runs {
		w("| %d | %s | %.2f | %d | %.1f | %s | %s |\n", i/2+1, r.Target, r.Seconds, r.Acked, r.MBPerSec, f(r.BrokerCPUSeconds, "%.2f"), f(float64(r.ProduceRequests), "%.0f"))
	}
	w("\n")
}

// cappedCores is the CPU the broker gets in the capped comparison: little
// enough that the broker, not either client, is the limit. Capped at 0.25
// cores Runnel took 222 MB/s from the generator (1.2 CPU s per GiB), more
// than kcat reached against the sink in the same run (196); at 0.1 it
// takes 82–104 MB/s, with its quota used up in 98–100% of the periods
// under both clients (results/2026-12-02-xcheck, "Capped broker").
const cappedCores = 0.1

// cappedWeight is how many times the default's share of contended cores
// the capped broker's cgroup and the clients' get (cpu.shares, cpu.weight).
// On a machine that other work keeps busy, the capped Runnel otherwise
// fell short of its 0.1 core and kcat, which spends about 4 CPU s per GiB,
// of what it needed to keep that broker busy: at load 27 on 2 cores, the
// broker used up its quota in 35–61% of the periods under kcat
// (results/2026-12-02-kcat-capped). The weight changes nothing on an idle
// machine; the quota still caps the broker.
const cappedWeight = 10

// cappedClient names the clients of the capped comparison.
const (
	cappedLoadgen = "runnel loadgen"
	cappedKcat    = "kcat"
)

// CappedCheck is the broker-bound cross-check: the load generator and kcat
// alternating against one Runnel whose CPU a cgroup caps at Cores, so
// that both should measure the same broker-bound throughput. The uncapped
// comparison beside it is client-bound: kcat's own CPU sets its figure.
type CappedCheck struct {
	// Skipped says why it did not run (no usable cgroup, say); Err why
	// it failed.
	Skipped string  `json:"skipped,omitempty"`
	Err     string  `json:"error,omitempty"`
	Cores   float64 `json:"cores"`
	// CgroupVersion is 1 (cpu.cfs_quota_us) or 2 (cpu.max).
	CgroupVersion int `json:"cgroup_version,omitempty"`
	// Weight is how many times the default's share of contended cores
	// the broker's and the clients' cgroups had (cappedWeight).
	Weight int `json:"weight,omitempty"`
	// Warmup and Duration are each run's window (cappedMeter): it opens
	// Warmup after the client starts and lasts Duration. Rounds is how
	// many runs of each client, the first client alternating
	// (cappedOrder).
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	Rounds   int           `json:"rounds"`
	Runs     []CappedRun   `json:"runs,omitempty"`
	// Loadgen and Kcat are the medians of each client's MB/s, and
	// LoadgenCPUSecondsPerGiB and KcatCPUSecondsPerGiB of the capped
	// broker's CPU per GiB under each.
	Loadgen                 float64 `json:"loadgen_mb_per_sec"`
	Kcat                    float64 `json:"kcat_mb_per_sec"`
	LoadgenCPUSecondsPerGiB float64 `json:"loadgen_broker_cpu_seconds_per_gib"`
	KcatCPUSecondsPerGiB    float64 `json:"kcat_broker_cpu_seconds_per_gib"`
	// Ratio is Kcat / Loadgen; Agree says whether it is within
	// crossCheckTolerance of 1.
	Ratio float64 `json:"ratio"`
	Agree bool    `json:"agree"`
}

// CappedRun is one client's run against the capped broker, measured by
// the broker over the run's window (cappedMeter), the same way for both
// clients.
type CappedRun struct {
	Client string `json:"client"`
	// MBPerSec is the record values the broker appended in the window,
	// per second.
	MBPerSec float64 `json:"mb_per_sec"`
	// ClientMBPerSec is the generator's own figure (its acks over its
	// measurement, which spans the window), beside the broker's; 0 for
	// kcat, which counts nothing.
	ClientMBPerSec float64 `json:"client_mb_per_sec,omitempty"`
	// BrokerCPUSeconds is the broker's CPU over the window and
	// CPUSecondsPerGiB that per GiB of record values appended in it.
	BrokerCPUSeconds float64 `json:"broker_cpu_seconds"`
	CPUSecondsPerGiB float64 `json:"cpu_seconds_per_gib"`
	// Throttled is the fraction of the cgroup's CFS periods over the
	// window in which the broker used up its quota: near 1, the cap was
	// the limit.
	Throttled float64 `json:"throttled"`
	// RecordsPerRequest is the records appended per Produce request
	// Runnel answered over the window.
	RecordsPerRequest float64 `json:"records_per_request"`
}

// cappedSize is the window of each run in the capped comparison (opening
// warmup after the client starts, lasting duration), and how many rounds
// (one run of each client) it makes: an even number, so that each client
// goes first as often as the other. Six rounds, so that a client's median
// holds against two runs of one client that the machine slowed: an
// episode of dear page-cache writes lasts a run or two, and the order puts
// runs of one client side by side (results/2026-12-03-kcatcpu, h4).
func cappedSize(quick bool) (warmup, duration time.Duration, rounds int) {
	if quick {
		return time.Second, 4 * time.Second, 2
	}
	return 2 * time.Second, 10 * time.Second, 6
}

// measureCapped runs the capped comparison: a fresh Runnel in a new
// cgroup capped at cappedCores, then the generator and kcat (the same
// records and properties as in the uncapped part) against it, alternating
// which goes first, each measured by the broker over the same window
// (cappedMeter). Without a
// usable cgroup it returns a CappedCheck that says it was skipped; a
// failure is recorded in it, never returned.
func (cc *CrossCheck) measureCapped(ctx context.Context, opts Options, workDir string, sc Scenario, kcat string) *CappedCheck {
	cp := &CappedCheck{Cores: cappedCores}
	cp.Warmup, cp.Duration, cp.Rounds = cappedSize(opts.Quick)
	name := fmt.Sprintf("runnel-bench-%d-%d", os.Getpid(), time.Now().UnixNano())
	cg, err := newCPUCap(name, cappedCores, cappedWeight)
	if err != nil {
		cp.Skipped = err.Error()
		fmt.Fprintf(opts.Log, "cross-check, capped broker: skipped: %s\n", cp.Skipped)
		return cp
	}
	defer func() {
		if err := cg.remove(); err != nil && cp.Err == "" {
			cp.Err = err.Error()
		}
	}()
	// The clients are started by the harness: while it is in clients,
	// so are they.
	clients, err := newCPUCap(name+"-clients", 0, cappedWeight)
	if err == nil {
		if err = clients.enter(); err != nil {
			clients.remove()
		}
	}
	if err != nil {
		cp.Err = err.Error()
		return cp
	}
	defer func() {
		err := clients.leave()
		if err == nil {
			err = clients.remove()
		}
		if err != nil && cp.Err == "" {
			cp.Err = err.Error()
		}
	}()
	cp.CgroupVersion, cp.Weight = cg.version, cappedWeight
	fmt.Fprintf(opts.Log, "cross-check, capped broker: runnel in a cgroup v%d capped at %.2f cores, %d rounds of runnel loadgen and kcat, broker and clients weighted %d× the default\n", cg.version, cappedCores, cp.Rounds, cappedWeight)
	if err := cp.measure(ctx, opts, workDir, sc, cg, kcat, cc); err != nil {
		cp.Err = err.Error()
		fmt.Fprintf(opts.Log, "  FAILED: %s\n", err)
	} else {
		fmt.Fprintf(opts.Log, "  capped: runnel loadgen %.1f MB/s (broker %.2f CPU s/GiB), kcat %.1f (%.2f): kcat / loadgen %.2f\n",
			cp.Loadgen, cp.LoadgenCPUSecondsPerGiB, cp.Kcat, cp.KcatCPUSecondsPerGiB, cp.Ratio)
	}
	return cp
}

// measure starts the capped Runnel in cg and runs the rounds; the broker
// is stopped (so that cg is empty) before it returns.
func (cp *CappedCheck) measure(ctx context.Context, opts Options, workDir string, sc Scenario, cg *cpuCap, kcat string, cc *CrossCheck) error {
	logPath := filepath.Join(opts.OutDir, "logs", "cross-check-capped-runnel.log")
	t, err := startTarget(ctx, opts.Runnel, opts.Self, TargetRunnel, workDir, logPath, brokerOverrides(opts, sc))
	if err != nil {
		return err
	}
	defer func() {
		t.stop()
		if strings.TrimSpace(clustertest.Tail(logPath, 100)) == "" {
			os.Remove(logPath)
		}
	}()
	if err := cg.add(t.cmd.Process.Pid); err != nil {
		return err
	}
	cfg := sc.Load
	cfg.Brokers, cfg.Topic = []string{t.addr}, sc.Name
	// The generator sends past the window's end, so that, like kcat, it
	// is still sending when the window closes.
	cfg.Warmup, cfg.Duration, cfg.Rate = cp.Warmup, cp.Duration+cappedOverrun, 0
	if err := loadgen.PrepareTopic(ctx, cfg); err != nil {
		return err
	}
	m := &cappedMeter{t: t, cg: cg, topic: sc.Name, recordSize: sc.Load.RecordSize, warmup: cp.Warmup, duration: cp.Duration}
	// One run that is not counted, so that the first counted run does not
	// get a fresh broker: the first run on one cost 2-11% less CPU per GiB
	// than the later ones in 8 of 10 series (results/2026-12-03-kcatcpu;
	// likely because its logs' keep windows were still filling, so
	// drop-behind dropped nothing at first).
	if err := m.settle(ctx); err != nil {
		return err
	}
	warm, err := m.generators(ctx, opts, workDir, cfg, max(1, sc.Generators))
	if err != nil {
		return fmt.Errorf("the warm-up run against the capped runnel: %w: %s", err, strings.TrimSpace(clustertest.Tail(logPath, 1000)))
	}
	fmt.Fprintf(opts.Log, "  warm-up (not counted), %s: %.1f MB/s, broker %.2f CPU s/GiB\n", cappedLoadgen, warm.MBPerSec, warm.CPUSecondsPerGiB)
	for round := range cp.Rounds {
		for _, client := range cappedOrder(round) {
			if err := m.settle(ctx); err != nil {
				return err
			}
			var run CappedRun
			if client == cappedLoadgen {
				run, err = m.generators(ctx, opts, workDir, cfg, max(1, sc.Generators))
			} else {
				run, err = m.kcat(ctx, kcat, cc)
			}
			if err != nil {
				return fmt.Errorf("%s against the capped runnel: %w: %s", client, err, strings.TrimSpace(clustertest.Tail(logPath, 1000)))
			}
			cp.Runs = append(cp.Runs, run)
			fmt.Fprintf(opts.Log, "  %s: %.1f MB/s, broker %.2f CPU s/GiB, throttled in %.0f%% of periods, %.0f records a request\n",
				client, run.MBPerSec, run.CPUSecondsPerGiB, 100*run.Throttled, run.RecordsPerRequest)
		}
	}
	cp.summarize()
	return nil
}

// cappedOrder is the order of the two clients in round i: the generator
// first in even rounds, kcat first in odd ones, so that what a run leaves
// behind in the broker, and any drift over the rounds, falls on both
// clients alike. (With the generator always first, kcat's runs were
// always the ones after a generator's; results/2026-12-03-kcatcpu.)
func cappedOrder(round int) []string {
	if round%2 == 1 {
		return []string{cappedKcat, cappedLoadgen}
	}
	return []string{cappedLoadgen, cappedKcat}
}

// cappedOverrun is how long the generator sends past the capped window's
// end: its own clock starts when its connections are up, a little after
// the harness starts it, and it must not stop inside the window.
const cappedOverrun = time.Second

// cappedMeter measures a client's run against the capped broker, the same
// way for both clients: by the broker, over a window that opens warmup
// after the client's processes start and lasts duration, while the client
// is still sending (the generator past its measurement's end, kcat until
// it is stopped). The records are the topic's log end offsets summed
// (runnel_log_end_offset, what the broker appended), read from /metrics at
// the window's two ends, and the broker's CPU, its throttled periods and
// Produce requests are over the same window. Start-up, connection and the
// last batches are outside it for both.
type cappedMeter struct {
	t                *target
	cg               *cpuCap
	topic            string
	recordSize       int
	warmup, duration time.Duration
}

// meterReading is one reading of the broker: at is the middle of the
// /metrics request.
type meterReading struct {
	at                 time.Time
	records, requests  float64
	periods, throttled int64
}

// read reads the broker's log end offsets of the topic, its Produce
// requests and its cgroup's CFS periods.
func (m *cappedMeter) read(ctx context.Context) (meterReading, error) {
	var r meterReading
	before := time.Now()
	e, err := scrape(ctx, m.t.admin, 30*time.Second)
	if err != nil {
		return r, err
	}
	after := time.Now()
	r.at = before.Add(after.Sub(before) / 2)
	if r.periods, r.throttled, err = m.cg.throttled(); err != nil {
		return r, err
	}
	return r, readMeter(e, m.topic, &r)
}

// readMeter sums e's runnel_log_end_offset samples of topic into
// r.records and reads the Produce requests answered into r.requests.
func readMeter(e exposition, topic string, r *meterReading) error {
	var ok bool
	if r.records, ok = e.value("runnel_log_end_offset", "topic", topic); !ok {
		return fmt.Errorf("bench: metrics: no runnel_log_end_offset of %s", topic)
	}
	r.requests = readStages(e).produceRequests()
	return nil
}

// settle waits, at most 10 s, until the broker's log end offsets stop
// moving: the previous run's requests in flight are all appended.
func (m *cappedMeter) settle(ctx context.Context) error {
	prev, err := m.read(ctx)
	for range 100 {
		if err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
		var r meterReading
		if r, err = m.read(ctx); err == nil && r.records == prev.records {
			return nil
		}
		prev = r
	}
	return err
}

// window runs the meter over one client's run started at start: it reads
// the broker at start+warmup and at start+warmup+duration, checking with
// sending that the client is still sending then, and fills run from the
// two readings and cpu's samples.
func (m *cappedMeter) window(ctx context.Context, start time.Time, cpu *cpuRecorder, sending func() error, run *CappedRun) error {
	var r [2]meterReading
	for i, at := range []time.Duration{m.warmup, m.warmup + m.duration} {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(start.Add(at))):
		}
		var err error
		if r[i], err = m.read(ctx); err != nil {
			return err
		}
		if err := sending(); err != nil {
			return err
		}
	}
	samples, err := cpu.stop()
	if err != nil {
		return err
	}
	c, err := cpuBetween(samples, r[0].at, r[1].at)
	if err != nil {
		return err
	}
	records, secs := r[1].records-r[0].records, r[1].at.Sub(r[0].at).Seconds()
	if records <= 0 || secs <= 0 {
		return fmt.Errorf("no records appended in the window (%.0f in %.2f s)", records, secs)
	}
	run.MBPerSec = records * float64(m.recordSize) / 1e6 / secs
	run.BrokerCPUSeconds = c.Seconds()
	run.CPUSecondsPerGiB = run.BrokerCPUSeconds / (records * float64(m.recordSize) / (1 << 30))
	if r[1].requests > r[0].requests {
		run.RecordsPerRequest = records / (r[1].requests - r[0].requests)
	}
	if p := r[1].periods - r[0].periods; p > 0 {
		run.Throttled = float64(r[1].throttled-r[0].throttled) / float64(p)
	}
	return nil
}

// generators runs the generator's n processes against the broker and
// meters them. The records the generator counts as acked must all reach
// the topic's end offsets before it returns.
func (m *cappedMeter) generators(ctx context.Context, opts Options, workDir string, cfg loadgen.Config, n int) (CappedRun, error) {
	run := CappedRun{Client: cappedLoadgen}
	before, err := endOffsetSum(ctx, m.t.addr, cfg.Topic)
	if err != nil {
		return run, err
	}
	cpu := recordCPU(m.t.pids()...)
	start := time.Now()
	type result struct {
		res *loadgen.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := runGenerators(ctx, opts.Runnel, workDir, cfg, n)
		done <- result{res, err}
	}()
	var finished *result
	sending := func() error {
		select {
		case r := <-done:
			finished = &r
			return fmt.Errorf("the generator stopped inside the window: %v", r.err)
		default:
			return nil
		}
	}
	werr := m.window(ctx, start, cpu, sending, &run)
	if finished == nil {
		r := <-done
		finished = &r
	}
	if werr != nil {
		return run, werr
	}
	res := finished.res
	if finished.err != nil {
		return run, finished.err
	}
	if res.Totals.ProduceErrors > 0 {
		return run, fmt.Errorf("%d produce errors", res.Totals.ProduceErrors)
	}
	after, err := awaitEndOffsets(ctx, m.t.addr, cfg.Topic, before+res.Totals.Acked, endOffsetsWait)
	if err != nil {
		return run, err
	}
	if after-before != res.Totals.Acked {
		return run, fmt.Errorf("the generator counted %d records acked, the end offsets went up by %d", res.Totals.Acked, after-before)
	}
	run.ClientMBPerSec = res.Produced.MBPerSec
	return run, nil
}

// kcat runs cc.Processes kcat producers against the broker, each fed
// the cross-check's record line over and over on its standard input, with
// cc.Properties, meters them, and stops them at the window's end.
func (m *cappedMeter) kcat(ctx context.Context, kcat string, cc *CrossCheck) (CappedRun, error) {
	run := CappedRun{Client: cappedKcat}
	cmds := make([]*exec.Cmd, max(1, cc.Processes))
	stderrs := make([]bytes.Buffer, len(cmds))
	exited := make(chan int, len(cmds))
	defer func() {
		for _, cmd := range cmds {
			if cmd != nil && cmd.Process != nil {
				cmd.Process.Kill()
			}
		}
		for _, cmd := range cmds {
			if cmd != nil && cmd.Process != nil {
				<-exited
			}
		}
	}()
	cpu := recordCPU(m.t.pids()...)
	start := time.Now()
	for i := range cmds {
		cmd := exec.CommandContext(ctx, kcat, kcatArgs(m.t.addr, m.topic, "", cc.Properties)...)
		cmd.Stdin, cmd.Stderr = &lineRepeater{line: kcatLine(m.recordSize)}, &stderrs[i]
		if err := cmd.Start(); err != nil {
			cpu.stop()
			return run, err
		}
		cmds[i] = cmd
		go func() { cmd.Wait(); exited <- i }()
	}
	sending := func() error {
		select {
		case i := <-exited:
			exited <- i // for the deferred wait
			return fmt.Errorf("kcat exited inside the window (%v): %s", cmds[i].ProcessState, tail(stderrs[i].String(), 1000))
		default:
			return nil
		}
	}
	return run, m.window(ctx, start, cpu, sending, &run)
}

// summarize sets the medians, the ratio and the verdict from Runs.
func (cp *CappedCheck) summarize() {
	mb := map[string][]float64{}
	cpu := map[string][]float64{}
	for _, r := range cp.Runs {
		mb[r.Client] = append(mb[r.Client], r.MBPerSec)
		cpu[r.Client] = append(cpu[r.Client], r.CPUSecondsPerGiB)
	}
	cp.Loadgen, cp.Kcat = median(mb[cappedLoadgen]), median(mb[cappedKcat])
	cp.LoadgenCPUSecondsPerGiB, cp.KcatCPUSecondsPerGiB = median(cpu[cappedLoadgen]), median(cpu[cappedKcat])
	cp.Ratio, cp.Agree = agreement(cp.Kcat, cp.Loadgen)
}

// cappedSection writes the report's broker-bound comparison, after the
// client-bound one.
func cappedSection(b *strings.Builder, cc *CrossCheck) {
	cp := cc.Capped
	if cp == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("### Capped broker (broker-bound)\n\n")
	switch {
	case cp.Skipped != "":
		w("Skipped: %s. Only the client-bound comparison above was made.\n\n", oneLine(cp.Skipped))
		return
	case cp.Err != "":
		w("Failed: %s.\n\n", oneLine(cp.Err))
		return
	}
	weighted := ""
	if cp.Weight > 1 {
		weighted = fmt.Sprintf("Runnel's cgroup and the clients' had %d× the default share of contended cores, so that other work on the machine did not take the CPU they needed (the quota still caps Runnel). ", cp.Weight)
	}
	w("On a machine whose cores the clients share with the broker, a client that costs more CPU per byte than the broker measures itself. "+
		"So a fresh Runnel (same properties) ran in a cgroup v%d capped at %.2f cores (CFS quota %.0f ms every %.0f ms), "+
		"and `runnel loadgen` and kcat (the same records and properties as above, the records on kcat's standard input, without end) ran against it in turn, %d rounds, "+
		"the generator first in odd rounds and kcat first in even ones, after one run of the generator that is not counted (a fresh broker is cheaper until its logs' keep windows fill); the figures are medians. %s"+
		"Both clients are measured the same way, by the broker: over a window that opens %s after the client's processes start and lasts %s, "+
		"while the client is still sending (the generator sends %s past it; kcat is stopped at its end), "+
		"the record values Runnel appended (its log end offsets, read from /metrics at the window's two ends), its CPU and its Produce requests. "+
		"Start-up, connection and the last batches are outside the window for both. "+
		"The generator's own figure (its acks over its measurement, which spans the window) is beside the broker's below, as a check of the meter. "+
		"\"Throttled\" is the share of the cgroup's periods in the window in which Runnel used up its quota: near 100%%, the cap was the limit.\n\n",
		cp.CgroupVersion, cp.Cores, cp.Cores*float64(cpuCapPeriod.Milliseconds()), float64(cpuCapPeriod.Milliseconds()),
		cp.Rounds, weighted, cp.Warmup, cp.Duration, cappedOverrun)
	w("| client | against the capped Runnel (MB/s) | Runnel CPU s/GiB |\n|---|---:|---:|\n")
	w("| `runnel loadgen` | %.1f | %.2f |\n| kcat | %.1f | %.2f |\n", cp.Loadgen, cp.LoadgenCPUSecondsPerGiB, cp.Kcat, cp.KcatCPUSecondsPerGiB)
	cpuRatio, _ := agreement(cp.KcatCPUSecondsPerGiB, cp.LoadgenCPUSecondsPerGiB)
	w("| kcat ÷ `runnel loadgen` | %s | %s |\n\n", ratio(cp.Ratio), ratio(cpuRatio))
	verdict := "they do not agree within 10%"
	if cp.Agree {
		verdict = "they agree within 10%"
	}
	w("Against the capped Runnel, kcat reached %s the load generator's throughput: **%s**.", ratio(cp.Ratio), verdict)
	if cc.KcatSink > 0 {
		w(" The capped Runnel's figure under the generator is %s of kcat's against the sink (%.1f MB/s, above), kcat's ceiling.", ratio(cp.Loadgen/cc.KcatSink), cc.KcatSink)
	}
	w("\n\n| round | client | MB/s | client's own MB/s | broker CPU s | CPU s/GiB | throttled | records a request |\n|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for i, r := range cp.Runs {
		own := "—"
		if r.ClientMBPerSec > 0 {
			own = fmt.Sprintf("%.1f", r.ClientMBPerSec)
		}
		w("| %d | %s | %.1f | %s | %.2f | %.2f | %.0f%% | %.0f |\n", i/2+1, r.Client, r.MBPerSec, own, r.BrokerCPUSeconds, r.CPUSecondsPerGiB, 100*r.Throttled, r.RecordsPerRequest)
	}
	w("\n")
}
