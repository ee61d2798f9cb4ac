package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cpuCap is a child cgroup, made for one run, that limits the CPU of the
// processes put in it to Cores cores (CFS bandwidth: a quota of Cores ×
// the period each period; no quota when Cores is 0) and gives them
// Weight times the default's share of contended cores (cpu.shares on v1,
// cpu.weight on v2). It works on cgroup v2 (cpu.max) or, where v2 has no
// cpu controller, on v1's cpu hierarchy (cpu.cfs_quota_us).
type cpuCap struct {
	dir     string // the child cgroup's directory
	version int    // 1 or 2
	Cores   float64
	Weight  int
}

// cpuCapPeriod is the CFS period of a cpuCap: the kernel's default.
const cpuCapPeriod = 100 * time.Millisecond

// newCPUCap creates a child cgroup named name (unique to the run) under
// the harness's own cgroup, capped at cores (none when cores is 0) and
// weighted weight times the default (the default when weight is 0 or 1).
// It fails, and leaves nothing behind, when no usable cpu controller is
// mounted or the harness may not create cgroups (not root).
func newCPUCap(name string, cores float64, weight int) (*cpuCap, error) {
	if cores < 0 || weight < 0 {
		return nil, fmt.Errorf("bench: cgroup cap of %v cores, weight %d", cores, weight)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	parent, version, err := cpuCgroupParent(mounts, own)
	if err != nil {
		return nil, err
	}
	c := &cpuCap{dir: filepath.Join(parent, name), version: version, Cores: cores, Weight: weight}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: create cgroup: %w", err)
	}
	quota := int64(cores * float64(cpuCapPeriod.Microseconds()))
	switch {
	case cores == 0:
	case version == 2:
		err = c.write("cpu.max", fmt.Sprintf("%d %d", quota, cpuCapPeriod.Microseconds()))
	default:
		if err = c.write("cpu.cfs_period_us", strconv.FormatInt(cpuCapPeriod.Microseconds(), 10)); err == nil {
			err = c.write("cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
		}
	}
	if err == nil && weight > 1 {
		if version == 2 {
			err = c.write("cpu.weight", strconv.Itoa(min(10000, 100*weight))) // default 100
		} else {
			err = c.write("cpu.shares", strconv.Itoa(1024*weight)) // default 1024
		}
	}
	if err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

// cpuCgroupParent finds, from /proc/self/mountinfo and /proc/self/cgroup,
// the directory of the harness's own cgroup in a hierarchy with the cpu
// controller: cgroup v2 when its root offers cpu (enabling it for
// children where it is not yet), else v1's cpu hierarchy.
func cpuCgroupParent(mountinfo, ownCgroup []byte) (dir string, version int, err error) {
	own := map[string]string{} // v1 controller (or "" for v2) -> path
	for line := range strings.Lines(string(ownCgroup)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, ctl := range strings.Split(f[1], ",") {
			own[ctl] = f[2]
		}
	}
	var v1 string
	for line := range strings.Lines(string(mountinfo)) {
		pre, post, ok := strings.Cut(line, " - ")
		pf, sf := strings.Fields(pre), strings.Fields(post)
		if !ok || len(pf) < 5 || len(sf) < 3 {
			continue
		}
		root, point := pf[3], pf[4]
		path, ok := "", false
		switch sf[0] {
		case "cgroup2":
			path, ok = own[""]
		case "cgroup":
			if slices.Contains(strings.Split(sf[2], ","), "cpu") {
				path, ok = own["cpu"]
			}
		}
		if !ok {
			continue
		}
		rel, in := strings.CutPrefix(path, root)
		if !in {
			continue // the harness's cgroup is not under this mount's root
		}
		dir := filepath.Join(point, rel)
		if sf[0] == "cgroup" {
			v1 = dir
			continue
		}
		if ctls, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers")); err == nil && slices.Contains(strings.Fields(string(ctls)), "cpu") {
			if err := enableCPU(dir); err == nil {
				return dir, 2, nil
			}
		}
	}
	if v1 != "" {
		return v1, 1, nil
	}
	return "", 0, errors.New("bench: no cgroup with the cpu controller (neither cgroup v2 offering cpu nor a v1 cpu hierarchy)")
}

// enableCPU enables the cpu controller for dir's children (cgroup v2).
func enableCPU(dir string) error {
	sub, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err == nil && slices.Contains(strings.Fields(string(sub)), "cpu") {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu"), 0)
}

// write writes value to the cgroup's file.
func (c *cpuCap) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(c.dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("bench: cgroup %s: %w", file, err)
	}
	return nil
}

// add moves process pid, all its threads, into the cgroup.
func (c *cpuCap) add(pid int) error {
	return c.write("cgroup.procs", strconv.Itoa(pid))
}

// enter moves the calling process, all its threads, into the cgroup, so
// that the processes it starts from then on begin in it; leave moves it
// back to the cgroup it was made under.
func (c *cpuCap) enter() error { return c.add(os.Getpid()) }

func (c *cpuCap) leave() error {
	if err := os.WriteFile(filepath.Join(filepath.Dir(c.dir), "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return fmt.Errorf("bench: leave cgroup: %w", err)
	}
	return nil
}

// throttled is the cgroup's count of CFS periods so far and of those in
// which its processes were throttled (used up the quota).
func (c *cpuCap) throttled() (periods, throttled int64, err error) {
	stat, err := os.ReadFile(filepath.Join(c.dir, "cpu.stat"))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "nr_periods":
			periods = n
		case "nr_throttled":
			throttled = n
		}
	}
	return periods, throttled, nil
}

// remove deletes the cgroup once its processes have exited (retrying a
// moment while the kernel lets go of them).
func (c *cpuCap) remove() error {
	var err error
	for range 50 {
		if err = os.Remove(c.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("bench: remove cgroup: %w", err)
}
