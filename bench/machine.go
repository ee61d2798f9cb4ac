package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine describes where the figures were taken.
type Machine struct {
	Host       string            `json:"host"`
	CPU        string            `json:"cpu"`
	Cores      int               `json:"cores"`
	MemoryMiB  int64             `json:"memory_mib"`
	Kernel     string            `json:"kernel"`
	Filesystem string            `json:"filesystem"` // of the work directory
	Go         string            `json:"go"`
	Commit     string            `json:"commit"`
	Modules    map[string]string `json:"modules"` // client and peer versions
}

func describeMachine(workDir string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Modules: map[string]string{}}
	m.Host, _ = os.Hostname()
	m.CPU = procField("/proc/cpuinfo", "model name")
	var mem int64
	fmt.Sscanf(procField("/proc/meminfo", "MemTotal"), "%d", &mem)
	m.MemoryMiB = mem >> 10
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	var st unix.Statfs_t
	if unix.Statfs(workDir, &st) == nil {
		m.Filesystem = fsName(st.Type)
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if strings.HasPrefix(d.Path, "github.com/twmb/franz-go") || strings.HasPrefix(d.Path, "github.com/HdrHistogram") {
				m.Modules[d.Path] = d.Version
			}
		}
	}
	return m
}

// procField is the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func fsName(magic int64) string {
	switch magic {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("0x%x", magic)
}

// loadAverage reads /proc/loadavg (zeros when it cannot).
func loadAverage() (l [3]float64) {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(b), "%f %f %f", &l[0], &l[1], &l[2])
	}
	return l
}
