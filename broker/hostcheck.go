package broker

// Startup checks of the machine the broker runs on. Before the logs are
// opened, New measures what they will hold open (segment.MeasureLogDir) and
// compares it with the kernel's limits: vm.max_map_count (every segment
// maps its two indexes, none its .log) and RLIMIT_NOFILE (every active segment holds its .log open,
// every sealed one its .log, every client connection one socket). It also
// looks at the file system of each log dir: on tmpfs, ramfs or overlayfs
// fsync does not make data durable, which runnel.flush.policy=durable
// promises.
//
// A check stops the broker only where it certainly cannot work (the logs
// need more mappings or descriptors than the limit allows, so opening them
// would fail half-way with ENOMEM or EMFILE); otherwise it logs a warning
// that names the setting to change and the value to set.
//
// The soft RLIMIT_NOFILE is not raised here, as servers in other languages
// do: Go's runtime already raised it when the process started (to one below
// the hard limit; syscall package, go.dev/issue/46279), so the limit read
// here is as high as the process can set it. What is missing must be raised
// by whoever starts the broker (LimitNOFILE= in the systemd unit).

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"runnel/io/flush"
	"runnel/segment"
)

// expectedConnections is how many client connections the descriptor check
// leaves room for: the idle-connection scenario the broker is measured
// with (results/).
const expectedConnections = 10000

// Suggested floors for the limits: Kafka's operations guide recommends
// vm.max_map_count=262144 and at least 100,000 file descriptors; 1048576
// is a common hard limit (Docker's default, systemd's DefaultLimitNOFILE
// ceiling on many distributions).
const (
	suggestedMaxMapCount = 262144
	suggestedNoFile      = 1 << 20
)

// hostFacts is what the startup checks read from the machine.
type hostFacts struct {
	maxMapCount int64  // vm.max_map_count; 0 when it cannot be read
	mapsInUse   int    // mappings the process holds already (lines of /proc/self/maps)
	noFile      uint64 // soft RLIMIT_NOFILE; 0 when it cannot be read
	fdsInUse    int    // descriptors the process holds already
	dirs        []dirFacts
}

// dirFacts is one log dir: its file system and what its logs will hold.
type dirFacts struct {
	path      string
	fsType    int64 // statfs f_type; 0 when unknown
	footprint segment.Footprint
}

// hostProblem is one finding of checkHost: what is wrong and what to change.
type hostProblem struct {
	fatal   bool   // the broker cannot work: New fails
	setting string // the sysctl, limit or property to change
	problem string
	fix     string
}

func (p hostProblem) Error() string { return p.problem + "; " + p.fix }

// File systems where fsync does not make data durable (statfs f_type).
var volatileFileSystems = map[int64]string{
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.RAMFS_MAGIC:           "ramfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
}

// checkHost compares what the logs will hold with the limits in h, and the
// log dirs' file systems with the flush policy. It is pure: probeHost reads
// the facts.
func checkHost(h hostFacts, policy flush.Policy) []hostProblem {
	var total segment.Footprint
	for _, d := range h.dirs {
		total = total.Add(d.footprint)
	}
	parts := fmt.Sprintf("%d partitions: %d active and %d sealed segments", total.Logs, total.Logs, total.SealedSegments)
	var out []hostProblem

	if h.maxMapCount > 0 {
		need := int64(h.mapsInUse + total.Mappings)
		want := max(suggestedMaxMapCount, roundUp(4*need, 65536))
		fix := fmt.Sprintf("set vm.max_map_count=%d (sysctl -w vm.max_map_count=%d, and in /etc/sysctl.d/60-runnel.conf to keep it)", want, want)
		switch {
		case need > h.maxMapCount:
			out = append(out, hostProblem{fatal: true, setting: "vm.max_map_count",
				problem: fmt.Sprintf("opening the logs needs %d memory mappings (%s, and %d the process holds already) but vm.max_map_count is %d", need, parts, h.mapsInUse, h.maxMapCount),
				fix:     fix})
		case need > h.maxMapCount/2:
			out = append(out, hostProblem{setting: "vm.max_map_count",
				problem: fmt.Sprintf("the logs will hold %d of vm.max_map_count=%d memory mappings (%s), and every new segment takes %d more: room for %d more segments", need, h.maxMapCount, parts, segment.SealedSegmentMappings, (h.maxMapCount-need)/segment.SealedSegmentMappings),
				fix:     fix})
		}
	}

	if h.noFile > 0 {
		need := uint64(h.fdsInUse + total.Descriptors)
		want := max(suggestedNoFile, roundUp(2*need+expectedConnections, 65536))
		fix := fmt.Sprintf("raise the open files limit to %d (LimitNOFILE=%d in the systemd unit, config/runnel.service; or nofile in /etc/security/limits.conf, or ulimit -n, for the user that starts it)", want, want)
		switch {
		case need > h.noFile:
			out = append(out, hostProblem{fatal: true, setting: "RLIMIT_NOFILE",
				problem: fmt.Sprintf("opening the logs needs %d file descriptors (%s, and %d the process holds already) but the open files limit is %d", need, parts, h.fdsInUse, h.noFile),
				fix:     fix})
		case need+expectedConnections > h.noFile:
			out = append(out, hostProblem{setting: "RLIMIT_NOFILE",
				problem: fmt.Sprintf("the logs will hold %d of the open files limit of %d (%s), leaving room for %d client connections, fewer than %d (each connection and each new segment takes a descriptor)", need, h.noFile, parts, h.noFile-need, expectedConnections),
				fix:     fix})
		}
	}

	if policy == flush.Durable {
		for _, d := range h.dirs {
			name, ok := volatileFileSystems[d.fsType]
			if !ok {
				continue
			}
			why := "fsync keeps nothing across a reboot"
			if d.fsType == unix.OVERLAYFS_SUPER_MAGIC {
				why = "a container's writable layer, lost with the container, whose fsync is only as durable as the layer below"
			}
			out = append(out, hostProblem{setting: "log.dirs",
				problem: fmt.Sprintf("log dir %s is on %s (%s), yet runnel.flush.policy=durable acknowledges acks=all records as being on disk", d.path, name, why),
				fix:     "put log.dirs on a local ext4 or xfs file system (in a container, a volume mounted from one)"})
		}
	}
	return out
}

func roundUp[T int64 | uint64](n, to T) T { return (n + to - 1) / to * to }

// probeHost reads the facts checkHost needs; tests replace it. Facts that
// cannot be read (no /proc) are left zero and their checks skipped.
var probeHost = func(dirs []string) (hostFacts, error) {
	var h hostFacts
	if b, err := os.ReadFile("/proc/sys/vm/max_map_count"); err == nil {
		h.maxMapCount, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	if b, err := os.ReadFile("/proc/self/maps"); err == nil {
		h.mapsInUse = strings.Count(string(b), "\n")
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		h.noFile = lim.Cur
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		h.fdsInUse = len(fds)
	}
	for _, dir := range dirs {
		f, err := segment.MeasureLogDir(dir)
		if err != nil {
			return hostFacts{}, err
		}
		d := dirFacts{path: dir, footprint: f}
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil {
			d.fsType = int64(st.Type)
		}
		h.dirs = append(h.dirs, d)
	}
	return h, nil
}

// checkHost runs the startup checks: it logs every problem as a warning and
// returns the fatal ones as an error.
func (b *Broker) checkHost() error {
	facts, err := probeHost(b.cfg.LogDirs)
	if err != nil {
		return fmt.Errorf("broker: startup checks: %w", err)
	}
	var fatal []error
	for _, p := range checkHost(facts, b.cfg.FlushPolicy) {
		if p.fatal {
			fatal = append(fatal, p)
			continue
		}
		b.logger.Warn("startup check: "+p.problem, "setting", p.setting, "fix", p.fix)
	}
	if len(fatal) > 0 {
		return fmt.Errorf("broker: cannot start: %w", errors.Join(fatal...))
	}
	return nil
}
