package bench

import (
	"fmt"
	"slices"
)

// setSinkCPU sets, in every scenario the sink ran in, each other run's
// SinkCPUSecondsPerGiB (the sink's broker CPU per GiB under the same
// load: what serving the Kafka protocol alone costs, with the record
// bytes discarded in the kernel, never copied to user space, so below any
// broker's floor of one copy) and CPUPerGiBVsSink (the run's ÷ the
// sink's).
func setSinkCPU(rep *Report) {
	for _, sc := range rep.Scenarios {
		sink := rep.Find(sc.Name, TargetSink)
		if sink == nil || sink.Result == nil || sink.CPUSecondsPerGiB <= 0 {
			continue
		}
		for _, kind := range sc.Targets {
			run := rep.Find(sc.Name, kind)
			if kind == TargetSink || run == nil || run.Result == nil || run.CPUSecondsPerGiB <= 0 {
				continue
			}
			run.SinkCPUSecondsPerGiB = sink.CPUSecondsPerGiB
			run.CPUPerGiBVsSink = run.CPUSecondsPerGiB / sink.CPUSecondsPerGiB
		}
	}
}

// sinkCPUColumn is the header and alignment of loadTable's column of
// broker CPU per GiB ÷ the sink's, both "" in a scenario without the sink.
func sinkCPUColumn(sc Scenario) (header, align string) {
	if !slices.Contains(sc.Targets, TargetSink) {
		return "", ""
	}
	return " broker CPU s/GiB ÷ sink's |", "---:|"
}

// sinkCPUCell is run's cell in that column: "9.28×", "—" unmeasured (and
// on the sink's own row), "" without the column.
func sinkCPUCell(sc Scenario, run *RunResult) string {
	if !slices.Contains(sc.Targets, TargetSink) {
		return ""
	}
	if run.CPUPerGiBVsSink == 0 {
		return " — |"
	}
	return fmt.Sprintf(" %s |", ratio(run.CPUPerGiBVsSink))
}
