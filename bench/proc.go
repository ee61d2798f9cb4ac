package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat (sysconf
// _SC_CLK_TCK), 100 on every Linux platform Go runs on.
const userHZ = 100

// procCPU is the CPU time (user + system) that process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime, fields 14 and 15 of a
// /proc/<pid>/stat line. Field 2, the command name in parentheses, may
// itself hold spaces and parentheses, so the fields are counted from the
// last ')': after it come field 3 (state) onwards.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc/pid/stat without ')': %.60q", stat)
	}
	fields := bytes.Fields(stat[i+1:])
	const utime = 14 - 3 // index after the command name, which is field 2
	if len(fields) <= utime+1 {
		return 0, fmt.Errorf("bench: /proc/pid/stat has %d fields after the command name, want %d or more", len(fields), utime+2)
	}
	var ticks int64
	for _, f := range fields[utime : utime+2] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bench: /proc/pid/stat: bad CPU time %q", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// procRSS is process pid's resident set size in bytes (VmRSS).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

// parseVmRSS reads the "VmRSS:   1234 kB" line of a /proc/<pid>/status.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("bench: /proc/pid/status: bad VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/pid/status: bad VmRSS line %q", line)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("bench: /proc/pid/status has no VmRSS line")
}

// cpuSample is a CPU time at a moment.
type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

// machineBusy is the CPU time the machine's CPUs have spent busy since
// boot, every process and the kernel's own work: the first line of
// /proc/stat less its idle, iowait and steal (the host's) times.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseMachineBusy(b)
}

// parseMachineBusy reads machineBusy's figure from /proc/stat: its "cpu"
// line's user, nice, system, idle, iowait, irq, softirq and steal ticks
// (guest time is within user).
func parseMachineBusy(stat []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("bench: /proc/stat: bad first line %.80q", line)
	}
	var ticks [8]int64
	for i := range ticks {
		n, err := strconv.ParseInt(string(f[i+1]), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bench: /proc/stat: bad CPU time %q", f[i+1])
		}
		ticks[i] = n
	}
	const idle, iowait, steal = 3, 4, 7
	busy := int64(0)
	for i, n := range ticks {
		if i != idle && i != iowait && i != steal {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}

// cpuRecorder samples a CPU time (of processes, summed, or the machine's)
// every cpuSampleEvery from recordCPU or recordMachineCPU until stop, so
// that the CPU spent in a window known only afterwards (the load
// generator's measurement window, which starts after the clients connect
// and the warm-up, and ends when the load does) can be read off with
// cpuBetween.
type cpuRecorder struct {
	read func() (time.Duration, error)
	quit chan struct{}
	done chan struct{}
	// samples and err are the recorder goroutine's until done is closed.
	samples []cpuSample
	err     error
}

// cpuSampleEvery is how often a cpuRecorder samples: ten clock ticks,
// fine enough that interpolating between samples costs less than the
// ticks' own rounding over a window of seconds.
const cpuSampleEvery = 100 * time.Millisecond

// recordCPU takes a first sample of pids now and then samples them every
// cpuSampleEvery.
func recordCPU(pids ...int) *cpuRecorder {
	return record(func() (time.Duration, error) {
		var cpu time.Duration
		for _, pid := range pids {
			c, err := procCPU(pid)
			if err != nil {
				return 0, fmt.Errorf("bench: CPU time of pid %d: %w", pid, err)
			}
			cpu += c
		}
		return cpu, nil
	})
}

// recordMachineCPU samples the machine's busy CPU time (machineBusy) the
// same way.
func recordMachineCPU() *cpuRecorder { return record(machineBusy) }

func record(read func() (time.Duration, error)) *cpuRecorder {
	r := &cpuRecorder{read: read, quit: make(chan struct{}), done: make(chan struct{})}
	r.sample()
	go func() {
		defer close(r.done)
		tick := time.NewTicker(cpuSampleEvery)
		defer tick.Stop()
		for r.err == nil {
			select {
			case <-tick.C:
				r.sample()
			case <-r.quit:
				r.sample()
				return
			}
		}
	}()
	return r
}

func (r *cpuRecorder) sample() {
	if r.err != nil {
		return
	}
	cpu, err := r.read()
	if err != nil {
		r.err = err
		return
	}
	r.samples = append(r.samples, cpuSample{at: time.Now(), cpu: cpu})
}

// stop takes a last sample and returns them all.
func (r *cpuRecorder) stop() ([]cpuSample, error) {
	close(r.quit)
	<-r.done
	return r.samples, r.err
}

// cpuBetween is the CPU time spent between from and to, each end
// interpolated linearly between the samples around it.
func cpuBetween(samples []cpuSample, from, to time.Time) (time.Duration, error) {
	at := func(t time.Time) (float64, error) {
		for i := 1; i < len(samples); i++ {
			a, b := samples[i-1], samples[i]
			if t.Before(a.at) || t.After(b.at) {
				continue
			}
			f := 0.0
			if span := b.at.Sub(a.at); span > 0 {
				f = float64(t.Sub(a.at)) / float64(span)
			}
			return float64(a.cpu) + f*float64(b.cpu-a.cpu), nil
		}
		return 0, fmt.Errorf("bench: no CPU samples around %s", t.Format(time.StampMilli))
	}
	a, err := at(from)
	if err != nil {
		return 0, err
	}
	b, err := at(to)
	if err != nil {
		return 0, err
	}
	return time.Duration(b - a), nil
}
