//go:build ignore

// Starttime measures how long `runnel serve` takes from exec to accepting a
// TCP connection on a fresh data directory, for one or more runnel
// binaries, and prints each binary's size, the median of its runs and its
// ratios to the first binary. Beside the wall-clock time it gives the CPU
// time the broker had used by then (the sum over its threads of
// /proc/<pid>/task/*/schedstat's run time), which other load on the
// machine disturbs less.
//
//	go run results/2026-12-02-lean-server/starttime.go -n 10 /tmp/before/runnel bin/runnel
//
// The binaries' runs alternate (one of each, n times), so that other load
// on the machine falls on all of them alike. One unmeasured run of each
// comes first, to load the binary into the page cache. Each run gets a new
// data directory and free ports for the Kafka and admin listeners; the
// broker is stopped with SIGTERM and waited for before the next run.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 10, "measured runs of each binary")
	flag.Parse()
	bins := flag.Args()
	if len(bins) == 0 {
		fmt.Fprintln(os.Stderr, "usage: starttime [-n runs] runnel-binary...")
		os.Exit(2)
	}
	times := make([][]time.Duration, len(bins))
	cpus := make([][]time.Duration, len(bins))
	for round := -1; round < *n; round++ {
		for i, bin := range bins {
			d, cpu, err := startOnce(bin)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", bin, err)
				os.Exit(1)
			}
			if round >= 0 {
				times[i] = append(times[i], d)
				cpus[i] = append(cpus[i], cpu)
			}
		}
	}
	var baseSize int64
	var baseMedian, baseCPU time.Duration
	for i, bin := range bins {
		st, err := os.Stat(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		slices.Sort(times[i])
		slices.Sort(cpus[i])
		med, cpu := median(times[i]), median(cpus[i])
		if i == 0 {
			baseSize, baseMedian, baseCPU = st.Size(), med, cpu
		}
		fmt.Printf("%s: size %d bytes (%.3f of the first)\n", bin, st.Size(), float64(st.Size())/float64(baseSize))
		fmt.Printf("  start, wall: median %v (%.3f of the first), runs %v\n",
			med.Round(10*time.Microsecond), float64(med)/float64(baseMedian), rounded(times[i]))
		fmt.Printf("  start, CPU:  median %v (%.3f of the first), runs %v\n",
			cpu.Round(10*time.Microsecond), float64(cpu)/float64(baseCPU), rounded(cpus[i]))
	}
}

// startOnce starts bin serve on a fresh data directory and returns the
// time from exec to the first accepted TCP connection on its Kafka port,
// and the CPU time the broker had used then.
func startOnce(bin string) (wall, cpu time.Duration, err error) {
	dir, err := os.MkdirTemp("", "starttime-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	port, admin := freePort(), freePort()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "serve", "--log-level", "warn",
		"--override", "listeners=PLAINTEXT://"+addr,
		"--override", "log.dirs="+filepath.Join(dir, "data"),
		"--override", "runnel.admin.listener=127.0.0.1:"+strconv.Itoa(admin))
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for time.Since(start) < 20*time.Second {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			wall = time.Since(start)
			cpu, err = cpuTime(cmd.Process.Pid)
			c.Close()
			return wall, cpu, err
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, 0, fmt.Errorf("no connection accepted on %s within 20 s", addr)
}

// cpuTime is the time pid's threads have run on a CPU, from the first
// field of each /proc/<pid>/task/<tid>/schedstat (nanoseconds).
func cpuTime(pid int) (time.Duration, error) {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // a thread that exited
		}
		var ns int64
		if _, err := fmt.Sscan(string(b), &ns); err != nil {
			return 0, fmt.Errorf("%s: %v", path, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func median(sorted []time.Duration) time.Duration {
	m := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[m]
	}
	return (sorted[m-1] + sorted[m]) / 2
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(100 * time.Microsecond)
	}
	return out
}
