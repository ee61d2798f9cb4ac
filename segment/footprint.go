package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"runnel/index"
)

// What an open log holds of the process's limited kernel resources, file descriptors
// (RLIMIT_NOFILE) and memory mappings (vm.max_map_count), by the rules of segment.go and
// index/file.go:
//
//   - a segment never maps its .log: it keeps it open (pwrite, pread, sendfile);
//   - the active segment maps both indexes whole (writable, segment.index.bytes each) with no
//     descriptor;
//   - a sealed segment's indexes are
//     mapped read-only with no descriptor: an index sealed by a roll keeps the mapping it had
//     while active, an index opened at startup is mapped only if it holds an entry;
//   - a roll therefore adds one descriptor and two mappings to the log;
//   - the log directory holds its .lock open.
//
// Checkpoint files, temporary files and directory fsyncs hold a descriptor only for the call.
const (
	ActiveSegmentDescriptors = 1 // .log (the indexes close theirs once mapped)
	ActiveSegmentMappings    = 2 // .index, .timeindex
	SealedSegmentDescriptors = 1 // .log
	SealedSegmentMappings    = 2 // .index, .timeindex (at most; see MeasureLogDir)
	logDirDescriptors        = 1 // .lock
)

// Footprint counts the file descriptors and memory mappings a log directory's logs hold once
// open, and what they are made of.
type Footprint struct {
	Logs           int // partition logs, each with one active segment
	SealedSegments int
	Descriptors    int
	Mappings       int
}

// Add returns the sum of two footprints.
func (f Footprint) Add(g Footprint) Footprint {
	return Footprint{f.Logs + g.Logs, f.SealedSegments + g.SealedSegments, f.Descriptors + g.Descriptors, f.Mappings + g.Mappings}
}

// MeasureLogDir counts, from the directory listing and without opening anything, what
// OpenLogDir(path) will hold open once it has opened every log: exact after a clean shutdown.
// After an unclean one, a sealed segment's empty index counts as mapped, since recovery may
// rebuild it writable (an upper bound). A missing path measures as the empty directory.
func MeasureLogDir(path string) (Footprint, error) {
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Footprint{Descriptors: logDirDescriptors}, nil
	}
	if err != nil {
		return Footprint{}, fmt.Errorf("segment: %w", err)
	}
	_, statErr := os.Stat(filepath.Join(path, cleanShutdownFile))
	clean := statErr == nil
	f := Footprint{Descriptors: logDirDescriptors}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, ok := ParsePartitionDir(e.Name()); !ok {
			continue
		}
		lf, err := measureLog(filepath.Join(path, e.Name()), clean)
		if err != nil {
			return Footprint{}, err
		}
		f = f.Add(lf)
	}
	return f, nil
}

// measureLog counts one partition directory as openLog will open it: its last segment (or a
// new one, for a directory without segments) active, the others sealed. After an unclean
// shutdown every sealed segment counts both index mappings, since recovery may rebuild its
// indexes writable.
func measureLog(dir string, clean bool) (Footprint, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Footprint{}, fmt.Errorf("segment: %w", err)
	}
	var sealed []int64
	var last int64 = -1
	for _, e := range entries {
		base, ok := parseSegmentFileName(e.Name(), logSuffix)
		if !ok {
			continue
		}
		if base > last {
			if last >= 0 {
				sealed = append(sealed, last)
			}
			last = base
		} else {
			sealed = append(sealed, base)
		}
	}
	f := Footprint{Logs: 1, SealedSegments: len(sealed),
		Descriptors: ActiveSegmentDescriptors + len(sealed)*SealedSegmentDescriptors,
		Mappings:    ActiveSegmentMappings}
	if !clean {
		f.Mappings += len(sealed) * SealedSegmentMappings
		return f, nil
	}
	for _, base := range sealed {
		for _, x := range []struct {
			suffix    string
			entrySize int64
		}{{offsetIndexSuffix, index.OffsetEntrySize}, {timeIndexSuffix, index.TimeEntrySize}} {
			info, err := os.Stat(filepath.Join(dir, segmentFileName(base, x.suffix)))
			// A missing index is rebuilt (writable, so mapped); an empty one is not mapped.
			if err != nil || info.Size() >= x.entrySize {
				f.Mappings++
			}
		}
	}
	return f, nil
}
