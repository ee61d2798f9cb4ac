package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"runnel/io/flush"
	"runnel/segment"
)

func TestCheckHost(t *testing.T) {
	// 1,000 partitions with 9 sealed segments each: 20,000 mappings, 10,001 descriptors.
	dir := dirFacts{path: "/data", fsType: 0xef53, footprint: segment.Footprint{Logs: 1000, SealedSegments: 9000,
		Descriptors: 1 + 1000*segment.ActiveSegmentDescriptors + 9000*segment.SealedSegmentDescriptors,
		Mappings:    1000*segment.ActiveSegmentMappings + 9000*segment.SealedSegmentMappings}}
	good := hostFacts{maxMapCount: 262144, mapsInUse: 100, noFile: 1 << 20, fdsInUse: 10, dirs: []dirFacts{dir}}
	with := func(change func(*hostFacts)) hostFacts {
		h := good
		h.dirs = append([]dirFacts(nil), good.dirs...)
		change(&h)
		return h
	}
	tests := []struct {
		name   string
		facts  hostFacts
		policy flush.Policy
		want   []string // per problem: "fatal " or "warn ", the setting, then text the message must hold
	}{
		{"all good", good, flush.Durable, nil},
		{"nothing known", hostFacts{dirs: []dirFacts{{path: "/data"}}}, flush.Durable, nil},
		{"maps: default sysctl too low to open", with(func(h *hostFacts) { h.maxMapCount = 20000 }), flush.Durable,
			[]string{"fatal vm.max_map_count 20100 memory mappings|vm.max_map_count=262144|sysctl -w"}},
		{"maps: room for fewer than the logs hold", with(func(h *hostFacts) { h.maxMapCount = 40000 }), flush.Durable,
			[]string{"warn vm.max_map_count 20100 of vm.max_map_count=40000|room for 9950 more segments|vm.max_map_count=262144"}},
		{"maps: suggestion grows with the need", with(func(h *hostFacts) { h.maxMapCount = 65530; h.mapsInUse = 60000 }), flush.Durable,
			[]string{"fatal vm.max_map_count 80000 memory mappings|vm.max_map_count=327680"}},
		{"files: limit too low to open", with(func(h *hostFacts) { h.noFile = 4096 }), flush.Durable,
			[]string{"fatal RLIMIT_NOFILE 10011 file descriptors|LimitNOFILE=1048576"}},
		{"files: no room for connections", with(func(h *hostFacts) { h.noFile = 20000 }), flush.Durable,
			[]string{"warn RLIMIT_NOFILE 10011 of the open files limit of 20000|room for 9989 client connections|LimitNOFILE=1048576"}},
		{"tmpfs under durable", with(func(h *hostFacts) { h.dirs[0].fsType = unix.TMPFS_MAGIC }), flush.Durable,
			[]string{"warn log.dirs /data is on tmpfs|runnel.flush.policy=durable|ext4 or xfs"}},
		{"overlayfs under durable", with(func(h *hostFacts) { h.dirs[0].fsType = unix.OVERLAYFS_SUPER_MAGIC }), flush.Durable,
			[]string{"warn log.dirs /data is on overlayfs|container"}},
		{"ramfs under durable", with(func(h *hostFacts) { h.dirs[0].fsType = unix.RAMFS_MAGIC }), flush.Durable,
			[]string{"warn log.dirs /data is on ramfs"}},
		{"tmpfs under interval", with(func(h *hostFacts) { h.dirs[0].fsType = unix.TMPFS_MAGIC }), flush.Interval, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkHost(tt.facts, tt.policy)
			if len(got) != len(tt.want) {
				t.Fatalf("%d problems, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, p := range got {
				kind, rest, _ := strings.Cut(tt.want[i], " ")
				setting, texts, _ := strings.Cut(rest, " ")
				if p.fatal != (kind == "fatal") || p.setting != setting {
					t.Errorf("problem %d: fatal=%v setting %q, want %s %s", i, p.fatal, p.setting, kind, setting)
				}
				for _, text := range strings.Split(texts, "|") {
					if !strings.Contains(p.Error(), text) {
						t.Errorf("problem %d: %q does not say %q", i, p.Error(), text)
					}
				}
			}
		})
	}
}

// TestStartupChecksLog starts brokers on a host whose facts are bent: a
// warning is logged naming the setting and the value to set, and a limit
// the logs cannot open under stops New with that message.
func TestStartupChecksLog(t *testing.T) {
	real := probeHost
	defer func() { probeHost = real }()
	cfg := DefaultConfig()
	cfg.LogDirs = []string{t.TempDir()}
	cfg.AdminListener = ""

	probeHost = func(dirs []string) (hostFacts, error) {
		h, err := real(dirs)
		need := int64(h.mapsInUse + h.dirs[0].footprint.Mappings)
		h.maxMapCount = need + need/2 // room, but less than twice as much
		h.dirs[0].fsType = unix.TMPFS_MAGIC
		return h, err
	}
	var logs bytes.Buffer
	b, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"level=WARN", "setting=vm.max_map_count", "vm.max_map_count=262144", "setting=log.dirs", "tmpfs"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("startup log does not say %q:\n%s", want, logs.String())
		}
	}

	probeHost = func(dirs []string) (hostFacts, error) {
		h, err := real(dirs)
		h.noFile = uint64(h.fdsInUse) // not one descriptor left for the logs
		return h, err
	}
	_, err = New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil || !strings.Contains(err.Error(), "open files limit") || !strings.Contains(err.Error(), "LimitNOFILE=") {
		t.Fatalf("New with no descriptors to spare: %v; want an error naming LimitNOFILE", err)
	}
}
