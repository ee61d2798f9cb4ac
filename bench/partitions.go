package bench

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/pprof/profile"

	"runnel/loadgen"
)

// PartitionsResult is what a many-partitions scenario reads of the broker
// besides the load: how long creating the topic took, and what the broker
// holds once the load is over (memory after a GC, files, mappings, disk).
type PartitionsResult struct {
	Partitions int `json:"partitions"`
	// CreateSeconds is from the CreateTopics request until every
	// partition answered ListOffsets (loadgen.PrepareTopic).
	CreateSeconds float64      `json:"create_seconds"`
	Memory        BrokerMemory `json:"memory"`
	// RSSAnon, RSSFile and PageCache are Runnel's
	// runnel_process_rss_anon_bytes, runnel_process_rss_file_bytes
	// (resident pages of mapped indexes) and
	// runnel_cgroup_page_cache_bytes (0 where the system has no figure).
	RSSAnon   int64 `json:"rss_anon_bytes,omitempty"`
	RSSFile   int64 `json:"rss_file_bytes,omitempty"`
	PageCache int64 `json:"page_cache_bytes,omitempty"`
	// OpenFiles and Mappings count /proc/<pid>/fd and /proc/<pid>/maps.
	OpenFiles int `json:"open_files"`
	Mappings  int `json:"mappings"`
	// DataDirBytes are the disk blocks the data directory holds (du),
	// preallocation included.
	DataDirBytes int64 `json:"data_dir_bytes,omitempty"`
	// SyncOneSeconds and SyncGroupSeconds are the broker's CPU seconds
	// in its CPU profile (the measurement window) under one fdatasync a
	// partition and under syncfs groups (syncPathSeconds).
	SyncOneSeconds   float64 `json:"sync_one_seconds,omitempty"`
	SyncGroupSeconds float64 `json:"sync_group_seconds,omitempty"`
}

// manyPartitions reports whether sc is one of the many-partitions
// scenarios, which read the broker with measurePartitions.
func (sc Scenario) manyPartitions() bool { return strings.HasPrefix(sc.Name, ManyPartitions) }

// timeTopicCreation creates cfg's topic and waits until every partition
// answers, returning how long that took: the load that follows finds the
// topic made.
func timeTopicCreation(ctx context.Context, cfg loadgen.Config) (time.Duration, error) {
	start := time.Now()
	err := loadgen.PrepareTopic(ctx, cfg)
	return time.Since(start), err
}

// measurePartitions reads t's memory, open files, mappings and data
// directory into r.
func measurePartitions(ctx context.Context, t *target, r *PartitionsResult) error {
	var err error
	if r.Memory, err = t.memory(ctx); err != nil {
		return err
	}
	if t.admin != "" {
		e, err := scrape(ctx, t.admin, 30*time.Second)
		if err != nil {
			return err
		}
		v, err := e.values("runnel_process_rss_anon_bytes", "runnel_process_rss_file_bytes")
		if err != nil {
			return err
		}
		r.RSSAnon, r.RSSFile = int64(v["runnel_process_rss_anon_bytes"]), int64(v["runnel_process_rss_file_bytes"])
		if v, ok := e.value("runnel_cgroup_page_cache_bytes"); ok {
			r.PageCache = int64(v)
		}
	}
	pid := t.cmd.Process.Pid
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return err
	}
	r.OpenFiles = len(fds)
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return err
	}
	r.Mappings = bytes.Count(maps, []byte("\n"))
	if t.dataDir != "" {
		if r.DataDirBytes, err = diskUsage(t.dataDir); err != nil {
			return err
		}
	}
	return nil
}

// diskUsage is the disk space the files under dir occupy, as du counts
// it: allocated blocks, so preallocated space counts and holes do not.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// partitionsTable is a many-partitions scenario's table: a row per target
// with the topic's creation time and what the broker held at the end.
func partitionsTable(b *strings.Builder, rep *Report, sc Scenario) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\nThe broker at the end of the load (after a GC), and the time to create the topic:\n\n")
	w("| target | create topic (s) | RSS (MiB) | Go heap in use (MiB) | RSS anon / file (MiB) | page cache (MiB) | open files | mappings | data dir (du, MiB) | sync CPU: fdatasync / syncfs groups (s) |\n")
	w("|---|---:|---:|---:|---|---:|---:|---:|---:|---|\n")
	dash := func(v int64) string {
		if v == 0 {
			return "—"
		}
		return mib(v)
	}
	for _, kind := range sc.Targets {
		run := rep.Find(sc.Name, kind)
		if run == nil || run.Partitions == nil {
			continue
		}
		p := run.Partitions
		split := "—"
		if p.RSSAnon != 0 || p.RSSFile != 0 {
			split = mib(p.RSSAnon) + " / " + mib(p.RSSFile)
		}
		syncs := "—"
		if p.SyncOneSeconds+p.SyncGroupSeconds > 0 {
			syncs = fmt.Sprintf("%.2f / %.2f", p.SyncOneSeconds, p.SyncGroupSeconds)
		}
		w("| %s | %.1f | %s | %s | %s | %s | %d | %d | %s | %s |\n", kind, p.CreateSeconds, dash(p.Memory.RSS), dash(p.Memory.HeapInUse),
			split, dash(p.PageCache), p.OpenFiles, p.Mappings, dash(p.DataDirBytes), syncs)
	}
}

// Sync paths of the flusher, as functions on a CPU profile's stacks: one
// fdatasync per partition, or one syncfs for a group of at least
// runnel.flush.syncfs.min.logs partitions due at once.
const (
	funcSyncOne   = "runnel/segment.(*Log).Sync"
	funcSyncGroup = "runnel/io/flush.(*Flusher).syncGroup"
)

// syncPathSeconds are the CPU seconds a profile spent in each sync path:
// the flusher takes the group path only when enough partitions are due at
// once, which depends on how long the disk takes to sync, and one sync a
// partition costs more CPU per byte (see ../results/2026-12-03-seq1k/).
func syncPathSeconds(path string) (one, group float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: %s: %w", path, err)
	}
	idx := len(p.SampleType) - 1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return 0, 0, fmt.Errorf("bench: %s: no sample types", path)
	}
	for _, s := range p.Sample {
		var inOne, inGroup bool
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function == nil {
					continue
				}
				switch l.Function.Name {
				case funcSyncOne:
					inOne = true
				case funcSyncGroup:
					inGroup = true
				}
			}
		}
		v := float64(s.Value[idx]) / 1e9 // nanoseconds
		switch {
		case inGroup:
			group += v
		case inOne:
			one += v
		}
	}
	return one, group, nil
}
