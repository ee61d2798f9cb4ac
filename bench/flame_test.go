package bench

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// testCPUProfile is a CPU profile of three stacks (leaf last in each):
// main → runnel/broker.handle → syscall.write, 60 ms;
// main → runnel/broker.handle → runnel/segment.append with crc inlined
// into it, 30 ms; main → runtime.gc, 10 ms.
func testCPUProfile() *profile.Profile {
	fn := map[string]*profile.Function{}
	var fns []*profile.Function
	f := func(name string) *profile.Function {
		if fn[name] == nil {
			fn[name] = &profile.Function{ID: uint64(len(fns) + 1), Name: name}
			fns = append(fns, fn[name])
		}
		return fn[name]
	}
	var locs []*profile.Location
	loc := func(names ...string) *profile.Location { // innermost inlined call first
		l := &profile.Location{ID: uint64(len(locs) + 1), Address: uint64(0x1000 * (len(locs) + 1))}
		for _, n := range names {
			l.Line = append(l.Line, profile.Line{Function: f(n)})
		}
		locs = append(locs, l)
		return l
	}
	main, handle := loc("main.main"), loc("runnel/broker.handle")
	write, appendCRC, gc := loc("syscall.write"), loc("hash/crc32.Update", "runnel/segment.append"), loc("runtime.gc")
	ms := func(n int64) []int64 { return []int64{n, n * 1e6} }
	return &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{write, handle, main}, Value: ms(60)},
			{Location: []*profile.Location{appendCRC, handle, main}, Value: ms(30)},
			{Location: []*profile.Location{gc, main}, Value: ms(10)},
		},
		Location: locs, Function: fns, PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 1e7,
	}
}

// writeTestCPUProfile writes testCPUProfile to path.
func writeTestCPUProfile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := testCPUProfile().Write(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFlameTreeFoldsStacksRootFirst(t *testing.T) {
	root, unit, err := flameTree(testCPUProfile(), "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if unit != "nanoseconds" || root.value != 100e6 {
		t.Fatalf("root %d %s, want 100e6 nanoseconds", root.value, unit)
	}
	// Folded stacks, as flamegraph.pl would print them.
	var folded []string
	var walk func(n *flameNode, path string)
	walk = func(n *flameNode, path string) {
		var own int64 = n.value
		for _, c := range n.children {
			own -= c.value
			walk(c, path+";"+c.name)
		}
		if own > 0 {
			folded = append(folded, path+" "+strconv.FormatInt(own/1e6, 10))
		}
	}
	for _, c := range root.children {
		walk(c, c.name)
	}
	want := []string{
		"main.main;runnel/broker.handle;runnel/segment.append;hash/crc32.Update 30",
		"main.main;runnel/broker.handle;syscall.write 60",
		"main.main;runtime.gc 10",
	}
	if strings.Join(folded, "\n") != strings.Join(want, "\n") {
		t.Fatalf("folded stacks:\n%s\nwant:\n%s", strings.Join(folded, "\n"), strings.Join(want, "\n"))
	}
	if d := root.depth(); d != 5 {
		t.Fatalf("depth %d, want 5 (all, main, handle, append, crc)", d)
	}
}

// svgFrame is a frame read back from a drawn flame graph.
type svgFrame struct {
	Title string `xml:"title"`
	Rect  struct {
		X     float64 `xml:"x,attr"`
		Y     float64 `xml:"y,attr"`
		Width float64 `xml:"width,attr"`
	} `xml:"rect"`
}

func TestFlameGraphFileWidthsAreShares(t *testing.T) {
	dir := t.TempDir()
	pprofPath, svgPath := filepath.Join(dir, "x-cpu.pprof"), filepath.Join(dir, "x-cpu.svg")
	writeTestCPUProfile(t, pprofPath)
	if err := writeFlameGraph(pprofPath, svgPath); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	var svg struct {
		Frames []svgFrame `xml:"g"`
	}
	if err := xml.Unmarshal(data, &svg); err != nil {
		t.Fatalf("not well-formed SVG: %v", err)
	}
	frames := map[string]svgFrame{}
	for _, fr := range svg.Frames {
		name, _, _ := strings.Cut(fr.Title, " (")
		frames[name] = fr
	}
	if len(frames) != 7 {
		t.Fatalf("%d frames drawn, want 7 (all and six functions): %v", len(frames), frames)
	}
	full := frames["all"].Rect.Width
	if want := flameWidth - 2*flameMargin; full != want {
		t.Fatalf("root width %.2f, want %.2f", full, want)
	}
	for name, share := range map[string]float64{"main.main": 1, "runnel/broker.handle": 0.9, "syscall.write": 0.6, "hash/crc32.Update": 0.3, "runtime.gc": 0.1} {
		if got := frames[name].Rect.Width / full; got < share-1e-3 || got > share+1e-3 {
			t.Errorf("%s: width %.4f of the root's, want %.2f", name, got, share)
		}
	}
	// A callee sits one row above its caller, within its span.
	caller, callee := frames["runnel/segment.append"].Rect, frames["hash/crc32.Update"].Rect
	if callee.Y != caller.Y-flameRow || callee.X < caller.X || callee.X+callee.Width > caller.X+caller.Width+1e-6 {
		t.Errorf("crc32 at %+v not on top of append at %+v", callee, caller)
	}
	if tip := frames["syscall.write"].Title; tip != "syscall.write (0.1 s, 60.00%)" {
		t.Errorf("tooltip %q", tip)
	}
}

func TestFitLabel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		width float64
		want  string
	}{
		{"runtime.gc", 200, "runtime.gc"},
		{"runnel/broker.handleProduce", 6 + 10*flameCharWidth, "..eProduce"},
		{"runtime.gc", 20, ""},
	} {
		if got := fitLabel(tc.name, tc.width); got != tc.want {
			t.Errorf("fitLabel(%q, %.0f) = %q, want %q", tc.name, tc.width, got, tc.want)
		}
	}
}

func TestCPUHotspotsDrawsFlameGraphLinkedFromReport(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "produce-acks1-cpu.pprof")
	writeTestCPUProfile(t, path)
	h, err := cpuHotspots(path)
	if err != nil {
		t.Fatal(err)
	}
	if h.Flame != "produce-acks1-cpu.svg" || len(h.Top) == 0 {
		t.Fatalf("hotspots %+v", h)
	}
	if _, err := os.Stat(filepath.Join(dir, h.Flame)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	hotspots(&b, "CPU", &h, "produce-acks1-cpu.pprof")
	if want := "Runnel CPU flame graph: [profiles/produce-acks1-cpu.svg](profiles/produce-acks1-cpu.svg).\n\nRunnel CPU hot spots"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
}
