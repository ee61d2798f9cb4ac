package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"runnel/loadgen"
)

// crossCheckScenario is CrossCheckScenario as the quick matrix has it.
func crossCheckScenario(t *testing.T) Scenario {
	i := slices.IndexFunc(matrix(quickSizes), func(sc Scenario) bool { return sc.Name == CrossCheckScenario })
	if i < 0 {
		t.Fatalf("no %s in the matrix", CrossCheckScenario)
	}
	return matrix(quickSizes)[i]
}

func TestKcatPropertiesMatchTheLoad(t *testing.T) {
	sc := crossCheckScenario(t)
	props := kcatProperties(sc.Load, sc.Generators)
	// Both clients send batches of the same cap: the generator's record
	// count, which fills librdkafka's default batch.size.
	batch := "batch.num.messages=" + strconv.Itoa(sc.Load.BatchRecords)
	if sc.Load.BatchRecords != loadgen.ClientBatchRecords(1024) {
		t.Errorf("the generator's batches are %d records of 1 KiB, want %d", sc.Load.BatchRecords, loadgen.ClientBatchRecords(1024))
	}
	// The same requests in flight: the generator's 4 connections × 4
	// requests over its 2 processes, 8 a kcat process (one connection
	// each); a queue of that window and two batches a partition (8) behind
	// it; nothing sent twice.
	if sc.Load.Connections != 4 || sc.Load.InFlight != 4 || sc.Generators != 2 || sc.Load.Partitions != 8 {
		t.Fatalf("the generator's window is %d connections × %d in flight from %d processes, %d partitions; the expectations below assume 4 × 4, 2, 8",
			sc.Load.Connections, sc.Load.InFlight, sc.Generators, sc.Load.Partitions)
	}
	queue := "queue.buffering.max.messages=" + strconv.Itoa((8+2*8)*sc.Load.BatchRecords)
	for _, want := range []string{"acks=1", "enable.idempotence=false", "compression.codec=none", "linger.ms=100", batch, "batch.size=1000000",
		"max.in.flight.requests.per.connection=8", queue, "message.send.max.retries=0"} {
		if !slices.Contains(props, want) {
			t.Errorf("properties %v lack %s", props, want)
		}
	}
	args := strings.Join(kcatArgs("127.0.0.1:9092", "t", "/tmp/f", props), " ")
	if !strings.HasPrefix(args, "-P -q -b 127.0.0.1:9092 -t t -l -X acks=1 ") || !strings.HasSuffix(args, " /tmp/f") {
		t.Errorf("kcat %s", args)
	}
	// Without a file, kcat reads its records from standard input.
	args = strings.Join(kcatArgs("127.0.0.1:9092", "t", "", props), " ")
	if !strings.HasPrefix(args, "-P -q -b 127.0.0.1:9092 -t t -X acks=1 ") || !strings.HasSuffix(args, " -X message.timeout.ms=60000") {
		t.Errorf("kcat on stdin %s", args)
	}
}

// TestKcatLineRepeater: kcat's standard input in the capped comparison
// is the file's line over and over, across reads of any size.
func TestKcatLineRepeater(t *testing.T) {
	line := kcatLine(1024)
	path := filepath.Join(t.TempDir(), "records")
	if err := writeKcatRecords(path, 3, 1024); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file[:1025], line) {
		t.Fatal("the file's line is not kcatLine")
	}
	r := &lineRepeater{line: line}
	var got []byte
	for _, n := range []int{1, 700, 1025, 3000, 7} {
		p := make([]byte, n)
		if k, err := r.Read(p); k != n || err != nil {
			t.Fatalf("read %d: %d, %v", n, k, err)
		}
		got = append(got, p...)
	}
	want := bytes.Repeat(line, len(got)/len(line)+1)[:len(got)]
	if !bytes.Equal(got, want) {
		t.Fatal("the repeated lines differ from the line")
	}
}

// TestCappedOrder: each client goes first in every other round.
func TestCappedOrder(t *testing.T) {
	first := map[string]int{}
	_, _, rounds := cappedSize(false)
	_, _, quick := cappedSize(true)
	if rounds%2 != 0 || quick%2 != 0 {
		t.Fatalf("%d and %d rounds: each client must go first as often", rounds, quick)
	}
	for i := range rounds {
		o := cappedOrder(i)
		if len(o) != 2 || o[0] == o[1] {
			t.Fatalf("round %d: %v", i, o)
		}
		first[o[0]]++
	}
	if first[cappedLoadgen] != rounds/2 || first[cappedKcat] != rounds/2 {
		t.Fatalf("went first: %v", first)
	}
}

// TestReadMeter: the capped meter sums the topic's log end offsets (not
// another topic's) and reads the Produce requests.
func TestReadMeter(t *testing.T) {
	text := `# HELP runnel_log_end_offset Next offset to be written.
# TYPE runnel_log_end_offset gauge
runnel_log_end_offset{partition="0",topic="__consumer_offsets"} 7
runnel_log_end_offset{partition="0",topic="produce-acks1"} 1000
runnel_log_end_offset{partition="1",topic="produce-acks1"} 2500
# TYPE runnel_request_duration_seconds histogram
runnel_request_duration_seconds_bucket{api="Fetch",le="+Inf"} 3
runnel_request_duration_seconds_sum{api="Fetch"} 0.3
runnel_request_duration_seconds_count{api="Fetch"} 3
runnel_request_duration_seconds_bucket{api="Produce",le="+Inf"} 42
runnel_request_duration_seconds_sum{api="Produce"} 0.1
runnel_request_duration_seconds_count{api="Produce"} 42
`
	e, err := parseExposition(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var r meterReading
	if err := readMeter(e, "produce-acks1", &r); err != nil || r.records != 3500 || r.requests != 42 {
		t.Fatalf("%+v, %v", r, err)
	}
	if err := readMeter(e, "other", &r); err == nil {
		t.Fatal("no error for a topic without end offsets")
	}
}

func TestWriteKcatRecordsOneALine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records")
	if err := writeKcatRecords(path, 100, 1024); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(b) != 100*1025 || len(lines) != 100 {
		t.Fatalf("%d bytes in %d lines, want 100 lines of 1024 B and a newline", len(b), len(lines))
	}
	for i, l := range lines {
		if len(l) != 1024 || bytes.ContainsFunc(l, func(r rune) bool { r -= 'a'; return r < 0 || r >= 16 }) {
			t.Fatalf("line %d: %d bytes %.40q…", i, len(l), l)
		}
	}
}

func TestCrossCheckSummarize(t *testing.T) {
	for _, c := range []struct {
		kcat  []float64 // MB/s of the runs against Runnel
		agree bool
		ratio float64
	}{
		{[]float64{90, 200, 95}, true, 0.95}, // median, not mean
		{[]float64{90}, true, 0.9},           // the edge agrees
		{[]float64{89}, false, 0.89},
		{[]float64{111}, false, 1.11},
		{[]float64{100, 120}, true, 1.1},
	} {
		cc := &CrossCheck{Loadgen: 100, RecordSize: 1024}
		for _, mb := range c.kcat {
			cc.Runs = append(cc.Runs, KcatRun{Target: TargetRunnel, MBPerSec: mb, Acked: 1 << 20, BrokerCPUSeconds: 2, ClientCPUSeconds: 6, ProduceRequests: 2048},
				KcatRun{Target: TargetSinkLibrdkafka, MBPerSec: 2 * mb})
		}
		cc.summarize()
		if d := cc.Ratio - c.ratio; d > 1e-9 || d < -1e-9 || cc.Agree != c.agree {
			t.Errorf("runs %v: ratio %.3f agree %v, want %.3f %v", c.kcat, cc.Ratio, cc.Agree, c.ratio, c.agree)
		}
		if cc.KcatSink != 2*cc.Kcat || cc.BrokerCPUSecondsPerGiB != 2 || cc.KcatCPUSecondsPerGiB != 6 || cc.KcatRecordsPerRequest != 512 { // over 1 GiB
			t.Errorf("runs %v: sink %.1f MB/s, broker %.2f s/GiB, kcat %.2f s/GiB, %.0f records a request",
				c.kcat, cc.KcatSink, cc.BrokerCPUSecondsPerGiB, cc.KcatCPUSecondsPerGiB, cc.KcatRecordsPerRequest)
		}
	}
}

func TestCrossCheckSkippedWithoutKcat(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	rep := fakeReport(false)
	cc := runCrossCheck(context.Background(), Options{Quick: true, Log: os.Stderr}, t.TempDir(), rep)
	if cc == nil || !strings.Contains(cc.Skipped, "kcat is not on PATH") || cc.Err != "" || len(cc.Runs) != 0 {
		t.Fatalf("cross-check %+v", cc)
	}
	if cc.Processes != 2 || cc.Records != 256<<10 || cc.Rounds != 2 { // the quick size, from the load generator's 2 processes
		t.Errorf("cross-check of %d records from %d processes, %d rounds", cc.Records, cc.Processes, cc.Rounds)
	}
	rep.CrossCheck = cc
	md := markdown(rep, nil)
	if !strings.Contains(md, "## Cross-check with an independent client (librdkafka through kcat)\n\nSkipped: kcat is not on PATH") {
		t.Errorf("report.md does not say the cross-check was skipped:\n%s", md[:min(len(md), 3000)])
	}
	if rep.Only = []string{"latency-floor"}; runCrossCheck(context.Background(), Options{}, t.TempDir(), &Report{Scenarios: selected(matrix(quickSizes), rep.Only)}) != nil {
		t.Error("a cross-check without its scenario in the run")
	}
}

func TestCrossCheckSection(t *testing.T) {
	rep := fakeReport(false)
	rep.CrossCheck = &CrossCheck{Scenario: CrossCheckScenario, Client: "kcat 1.7.1, librdkafka 2.0.2", Records: 1 << 18, RecordSize: 1024, Processes: 2, Rounds: 1,
		Properties: []string{"acks=1", "linger.ms=5"}, Runs: []KcatRun{
			{Target: TargetRunnel, Seconds: 2, Acked: 1 << 18, MBPerSec: 80, BrokerCPUSeconds: 0.75, ClientCPUSeconds: 1.25, ProduceRequests: 512},
			{Target: TargetSinkLibrdkafka, Seconds: 1, Acked: 1 << 18, MBPerSec: 300},
		}}
	rep.CrossCheck.setLoadgen(rep)
	rep.CrossCheck.summarize()
	md := markdown(rep, nil)
	for _, want := range []string{
		"262144 records of 1024 B in each run, from 2 kcat processes at once",
		"each `kcat -P -l` of the same file of 131072 records, one a line",
		"with `-X acks=1`, `-X linger.ms=5`",
		"| `runnel loadgen` | 100.0 | 400.0 | 0.25× | 2.00 |",
		"| kcat | 80.0 | 300.0 | 0.27× | 3.00 |",
		"| kcat ÷ `runnel loadgen` | 0.80× | 0.75× | | 1.50× |",
		"kcat reached 0.80× the load generator's throughput: **they do not agree within 10%**.",
		"| 1 | runnel | 2.00 | 262144 | 80.0 | 0.75 | 512 |",
		"| 1 | sink-librdkafka | 1.00 | 262144 | 300.0 | — | — |",
		"Runnel answered 512 records per Produce request from kcat",
		// 2 cores ÷ (5 + 3 s/GiB) is 268 MB/s.
		"kcat's processes spent 5.00 CPU s per GiB they sent and Runnel 3.00: on 2 cores the two can move at most 268 MB/s together",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	const limited = "kcat itself was the limit"
	if strings.Contains(md, limited) {
		t.Errorf("report.md says %q of kcat at 80 MB/s against a sink taking 300", limited)
	}
	rep.CrossCheck.Runs[1].MBPerSec = 85 // kcat as fast (within 10%) against the sink as against Runnel
	rep.CrossCheck.summarize()
	if md := markdown(rep, nil); !strings.Contains(md, limited) {
		t.Errorf("report.md does not say %q of kcat at 80 MB/s against a sink taking 85", limited)
	}
}

// TestRunKcatAgainstSink runs two real kcat processes against an
// in-process sink: the records are all acked and counted, and a file
// short of records fails the count.
func TestRunKcatAgainstSink(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed")
	}
	if v, err := kcatVersion(context.Background(), kcat); err != nil || !strings.Contains(v, "librdkafka") {
		t.Fatalf("version %q: %v", v, err)
	}
	s, err := NewLibrdkafkaSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	sc := crossCheckScenario(t)
	cfg := sc.Load
	cfg.Brokers, cfg.Topic = []string{s.Addr()}, "cross"
	if err := loadgen.PrepareTopic(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "records")
	if err := writeKcatRecords(file, 2500, 1024); err != nil {
		t.Fatal(err)
	}
	tg := &target{kind: TargetSinkLibrdkafka, addr: s.Addr()}
	cc := &CrossCheck{Records: 5000, RecordSize: 1024, Processes: 2, Properties: kcatProperties(sc.Load, 2)}
	run, err := runKcat(ctx, kcat, tg, "cross", file, cc)
	if err != nil {
		t.Fatal(err)
	}
	if run.Acked != 5000 || run.Seconds <= 0 || run.MBPerSec <= 0 || run.MBPerSec != run.RecordsPerSec*1024/1e6 {
		t.Fatalf("run %+v", run)
	}
	cc.Records = 5001
	if _, err := runKcat(ctx, kcat, tg, "cross", file, cc); err == nil || !strings.Contains(err.Error(), "5000 of 5001 records acked") {
		t.Fatalf("a short file: %v", err)
	}
}

func TestLibrdkafkaSinkListsFetch(t *testing.T) {
	for _, c := range []struct {
		newSink func(string) (*Sink, error)
		fetch   bool
	}{{NewSink, false}, {NewLibrdkafkaSink, true}} {
		s, err := c.newSink("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listed := slices.ContainsFunc(s.apiVersions().ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool {
			return k.ApiKey == int16(kmsg.Fetch) && k.MinVersion <= 4 && k.MaxVersion >= 4
		})
		s.Close()
		if listed != c.fetch {
			t.Errorf("fetchAdvertised %v: Fetch v4 listed %v", s.fetchAdvertised, listed)
		}
	}
}

// TestCappedSummarizeAndSection: the capped comparison takes each client's
// medians, judges their ratio, and the report gives both comparisons,
// labelled client-bound and broker-bound, or says why the capped one was
// skipped.
func TestCappedSummarizeAndSection(t *testing.T) {
	cp := &CappedCheck{Cores: 0.1, CgroupVersion: 1, Weight: 10, Warmup: time.Second, Duration: 4 * time.Second, Rounds: 3}
	for i, mb := range []float64{90, 100, 95} {
		cp.Runs = append(cp.Runs, CappedRun{Client: cappedLoadgen, MBPerSec: mb, BrokerCPUSeconds: 1, CPUSecondsPerGiB: 1.0 + float64(i)/10, Throttled: 0.95, RecordsPerRequest: 961},
			CappedRun{Client: cappedKcat, MBPerSec: mb - 5, BrokerCPUSeconds: 1, CPUSecondsPerGiB: 1.1, Throttled: 0.9, RecordsPerRequest: 800})
	}
	cp.summarize()
	if cp.Loadgen != 95 || cp.Kcat != 90 || cp.LoadgenCPUSecondsPerGiB != 1.1 || cp.KcatCPUSecondsPerGiB != 1.1 || !cp.Agree || cp.Ratio != 90.0/95 {
		t.Fatalf("capped %+v", cp)
	}
	rep := fakeReport(false)
	rep.CrossCheck = &CrossCheck{Scenario: CrossCheckScenario, Client: "kcat", Records: 1 << 18, RecordSize: 1024, Processes: 2, Rounds: 1, KcatSink: 190, Capped: cp,
		Runs: []KcatRun{{Target: TargetRunnel, Seconds: 2, Acked: 1 << 18, MBPerSec: 80}, {Target: TargetSinkLibrdkafka, Seconds: 1, Acked: 1 << 18, MBPerSec: 190}}}
	rep.CrossCheck.setLoadgen(rep)
	rep.CrossCheck.summarize()
	md := markdown(rep, nil)
	for _, want := range []string{
		"### Uncapped broker (client-bound)",
		"### Capped broker (broker-bound)",
		"cgroup v1 capped at 0.10 cores (CFS quota 10 ms every 100 ms)",
		"Runnel's cgroup and the clients' had 10× the default share of contended cores",
		"| `runnel loadgen` | 95.0 | 1.10 |\n| kcat | 90.0 | 1.10 |\n| kcat ÷ `runnel loadgen` | 0.95× | 1.00× |",
		"kcat reached 0.95× the load generator's throughput: **they agree within 10%**.",
		"is 0.50× of kcat's against the sink (190.0 MB/s, above)",
		"| 3 | kcat | 90.0 | — | 1.00 | 1.10 | 90% | 800 |",
		"by the broker: over a window that opens 1s after the client's processes start and lasts 4s",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Index(md, "client-bound") > strings.Index(md, "broker-bound") {
		t.Error("the capped comparison comes before the uncapped one")
	}
	rep.CrossCheck.Capped = &CappedCheck{Skipped: "bench: create cgroup: permission denied"}
	if md := markdown(rep, nil); !strings.Contains(md, "### Capped broker (broker-bound)\n\nSkipped: bench: create cgroup: permission denied.") {
		t.Error("report.md does not say the capped comparison was skipped")
	}
}
