package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCPUCgroupParentV1 finds the v1 cpu hierarchy (and the harness's own
// cgroup in it) when cgroup v2 offers no cpu controller, as on a hybrid
// systemd machine.
func TestCPUCgroupParentV1(t *testing.T) {
	mountinfo := `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / ` + t.TempDir() + ` rw,relatime - cgroup2 cgroup2 rw
`
	for _, c := range []struct{ own, want string }{
		{"4:memory:/x\n1:cpu:/\n0::/\n", "/sys/fs/cgroup/cpu"},
		{"1:cpu,cpuacct:/bench/a\n0::/\n", "/sys/fs/cgroup/cpu/bench/a"},
	} {
		mi := mountinfo
		if strings.Contains(c.own, "cpuacct") {
			mi = strings.Replace(mi, "rw,cpu\n", "rw,cpu,cpuacct\n", 1)
		}
		dir, version, err := cpuCgroupParent([]byte(mi), []byte(c.own))
		if err != nil || dir != c.want || version != 1 {
			t.Errorf("own %q: %q v%d %v, want %q v1", c.own, dir, version, err, c.want)
		}
	}
	if _, _, err := cpuCgroupParent([]byte("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"), []byte("4:memory:/\n")); err == nil {
		t.Error("a cpu cgroup found without any cpu controller mounted")
	}
}

// TestCPUCgroupParentV2 prefers cgroup v2 where its root offers the cpu
// controller, and enables it for children.
func TestCPUCgroupParentV2(t *testing.T) {
	v2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mountinfo := "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n41 31 0:38 / " + v2 + " rw - cgroup2 cgroup2 rw\n"
	dir, version, err := cpuCgroupParent([]byte(mountinfo), []byte("1:cpu:/\n0::/\n"))
	if err != nil || dir != v2 || version != 2 {
		t.Fatalf("%q v%d %v, want %q v2", dir, version, err, v2)
	}
	dir = filepath.Join(v2, "bench") // the harness's own cgroup, below the root
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte("cpu\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _, err := cpuCgroupParent([]byte(mountinfo), []byte("1:cpu:/\n0::/bench\n")); err != nil || got != dir {
		t.Fatalf("%q %v, want %q", got, err, dir)
	}
	if sub, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control")); err != nil || string(sub) != "+cpu" {
		t.Errorf("cgroup.subtree_control %q (%v), want +cpu written", sub, err)
	}
}

// TestCPUCap creates a real capped cgroup, moves a child process into it,
// and removes the cgroup after the child exits. It skips where cgroups
// cannot be created (not root, no cpu controller).
func TestCPUCap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot create cgroups")
	}
	name := fmt.Sprintf("runnel-bench-test-%d", os.Getpid())
	cg, err := newCPUCap(name, 0.5, 10)
	if err != nil {
		t.Skipf("no usable cgroup: %v", err)
	}
	defer cg.remove()
	limit := map[int]string{1: "cpu.cfs_quota_us", 2: "cpu.max"}[cg.version]
	got, err := os.ReadFile(filepath.Join(cg.dir, limit))
	if want := map[int]string{1: "50000", 2: "50000 100000"}[cg.version]; err != nil || strings.TrimSpace(string(got)) != want {
		t.Fatalf("%s is %q (%v), want %q", limit, got, err, want)
	}
	weight := map[int]string{1: "cpu.shares", 2: "cpu.weight"}[cg.version]
	got, err = os.ReadFile(filepath.Join(cg.dir, weight))
	if want := map[int]string{1: "10240", 2: "1000"}[cg.version]; err != nil || strings.TrimSpace(string(got)) != want {
		t.Errorf("%s is %q (%v), want %q", weight, got, err, want)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := cg.add(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	procs, err := os.ReadFile(filepath.Join(cg.dir, "cgroup.procs"))
	if err != nil || strings.TrimSpace(string(procs)) != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("cgroup.procs %q (%v), want the child's pid %d", procs, err, cmd.Process.Pid)
	}
	if _, _, err := cg.throttled(); err != nil {
		t.Error(err)
	}
	if err := cg.remove(); err == nil {
		t.Error("removed a cgroup with a process in it")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := cg.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cg.dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there: %v", cg.dir, err)
	}
}

// TestCPUCapEnterLeave moves the test process into an uncapped, weighted
// cgroup and back: what the capped comparison does with the harness, so
// that the clients it starts run in that cgroup.
func TestCPUCapEnterLeave(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot create cgroups")
	}
	cg, err := newCPUCap(fmt.Sprintf("runnel-bench-test-enter-%d", os.Getpid()), 0, 10)
	if err != nil {
		t.Skipf("no usable cgroup: %v", err)
	}
	defer cg.remove()
	if cg.version == 1 {
		if quota, err := os.ReadFile(filepath.Join(cg.dir, "cpu.cfs_quota_us")); err != nil || strings.TrimSpace(string(quota)) != "-1" {
			t.Errorf("cpu.cfs_quota_us %q (%v), want -1 (no quota)", quota, err)
		}
	}
	if err := cg.enter(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		cg.leave()
		t.Fatal(err)
	}
	procs, err := os.ReadFile(filepath.Join(cg.dir, "cgroup.procs"))
	cmd.Process.Kill()
	cmd.Wait()
	if lerr := cg.leave(); lerr != nil {
		t.Fatal(lerr)
	}
	for _, pid := range []int{os.Getpid(), cmd.Process.Pid} {
		if err != nil || !slices.Contains(strings.Fields(string(procs)), strconv.Itoa(pid)) {
			t.Errorf("cgroup.procs %q (%v) lacks %d", procs, err, pid)
		}
	}
	if err := cg.remove(); err != nil {
		t.Fatalf("after leaving: %v", err)
	}
}
