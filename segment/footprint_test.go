package segment_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"runnel/segment"
)

// TestMeasureLogDir checks MeasureLogDir against what the process really holds once the
// directory is open: the lines of /proc/self/maps and the links of /proc/self/fd that point
// into it, after a clean shutdown (exact) and while open, across rolls (each adds one
// descriptor and two mappings).
func TestMeasureLogDir(t *testing.T) {
	path := t.TempDir()
	if f, err := segment.MeasureLogDir(filepath.Join(path, "missing")); err != nil || f != (segment.Footprint{Descriptors: 1}) {
		t.Fatalf("missing dir: %+v, %v", f, err)
	}
	d := openTestLogDir(t, path)
	tps := []segment.TopicPartition{{Topic: "a", Partition: 0}, {Topic: "a", Partition: 1}, {Topic: "b", Partition: 0}}
	for i, tp := range tps {
		l, err := d.Create(tp, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		fillLog(t, l, 150*i, int64(i)) // 0, 150 and 300 batches of up to 1.5 KiB: 64 KiB segments roll
	}
	// While open, every segment sealed by a roll keeps both index mappings.
	var sealed int
	for tp := range d.Logs() {
		sealed += segmentCount(t, filepath.Join(path, tp.DirName())) - 1
	}
	if sealed == 0 {
		t.Fatal("no roll happened; the test needs sealed segments")
	}
	want := segment.Footprint{Logs: 3, SealedSegments: sealed,
		Descriptors: 1 + 3*segment.ActiveSegmentDescriptors + sealed*segment.SealedSegmentDescriptors,
		Mappings:    3*segment.ActiveSegmentMappings + sealed*segment.SealedSegmentMappings}
	checkHeld(t, "open after rolls", path, want)

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// An empty partition directory (a crash right after creating it) gets a new segment.
	if err := os.Mkdir(filepath.Join(path, "c-0"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := segment.MeasureLogDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Logs != 4 || got.SealedSegments != sealed || got.Descriptors != want.Descriptors+segment.ActiveSegmentDescriptors {
		t.Fatalf("measured %+v after a clean close; want 4 logs, %d sealed segments", got, sealed)
	}
	d = openTestLogDir(t, path)
	checkHeld(t, "reopened", path, got)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// After an unclean stop every sealed segment counts both index mappings: an upper bound.
	if err := os.Remove(filepath.Join(path, ".kafka_cleanshutdown")); err != nil {
		t.Fatal(err)
	}
	unclean, err := segment.MeasureLogDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if unclean.Mappings != 4*segment.ActiveSegmentMappings+sealed*segment.SealedSegmentMappings || unclean.Descriptors != got.Descriptors {
		t.Fatalf("measured %+v after an unclean stop", unclean)
	}
	d = openTestLogDir(t, path)
	defer d.Close()
	if mappings, descriptors := held(t, path); mappings > unclean.Mappings || descriptors != unclean.Descriptors {
		t.Errorf("recovered: the process holds %d mappings and %d descriptors under the dir; measured %+v", mappings, descriptors, unclean)
	}
}

// segmentCount counts the .log files of a partition directory.
func segmentCount(t *testing.T, dir string) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// checkHeld compares want's descriptors and mappings with those of this process that name a
// file under dir.
func checkHeld(t *testing.T, when, dir string, want segment.Footprint) {
	t.Helper()
	if mappings, descriptors := held(t, dir); mappings != want.Mappings || descriptors != want.Descriptors {
		t.Errorf("%s: the process holds %d mappings and %d descriptors under the dir; footprint %+v", when, mappings, descriptors, want)
	}
}

// held counts this process's mappings and descriptors of files under dir.
func held(t *testing.T, dir string) (mappings, descriptors int) {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.Contains(line, dir+"/") {
			mappings++
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, dir+"/") {
			descriptors++
		}
	}
	return mappings, descriptors
}
