package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBrokerCPUBesideTheSinks(t *testing.T) {
	dir := t.TempDir()
	rep := fakeReport(false) // CPU s/GiB: Runnel 2, kfake 1, sink 0.5
	if err := WriteReport(rep, dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(md), "### produce-acks1\n")
	j := strings.Index(string(md), "### produce-acksall\n")
	if i < 0 || j < i {
		t.Fatal("no produce-acks1 section")
	}
	section := string(md[i:j])
	for _, want := range []string{
		"| broker CPU s/GiB (× runnel) | broker CPU s/GiB ÷ sink's | errors |",
		"|---:|---:|---|",
		"| 2.00 | 4.00× | 0 produce,",
		"| 1.00 (0.50×) | 2.00× | 0 produce,",
		"| 0.50 (0.25×) | — | 0 produce,", // the sink's own row
	} {
		if !strings.Contains(section, want) {
			t.Errorf("produce-acks1's table lacks %q:\n%s", want, section)
		}
	}
	k := strings.Index(string(md), "### catch-up\n")
	if catchUp := string(md[k:]); k < 0 || strings.Contains(catchUp[:strings.Index(catchUp[4:], "###")+4], "÷ sink's") {
		t.Error("catch-up, without the sink, has the column")
	}
	var back struct {
		Runs []RunResult `json:"runs"`
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err == nil {
		err = json.Unmarshal(js, &back)
	}
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, run := range back.Runs {
		if run.Scenario == "produce-acks1" && run.Target == TargetRunnel {
			seen++
			if run.SinkCPUSecondsPerGiB != 0.5 || run.CPUPerGiBVsSink != 4 {
				t.Errorf("results.json: runnel sink CPU %v s/GiB, ratio %v; want 0.5, 4", run.SinkCPUSecondsPerGiB, run.CPUPerGiBVsSink)
			}
		}
		if run.Target == TargetSink && run.CPUPerGiBVsSink != 0 || run.Scenario == "catch-up" && run.SinkCPUSecondsPerGiB != 0 {
			t.Errorf("results.json: %s on %s: %+v", run.Scenario, run.Target, run)
		}
	}
	if seen != 1 {
		t.Fatalf("results.json has %d produce-acks1 runs on runnel", seen)
	}
}
