package bench

import (
	"fmt"
	"hash/fnv"
	"html"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// flameNode is one frame of a flame graph: a function called along one
// path from the root, with the value of every sample whose stack went
// through it on that path.
type flameNode struct {
	name     string
	value    int64
	children []*flameNode // by name, so that the drawing is stable
}

// child returns n's child called name, adding it if missing.
func (n *flameNode) child(name string) *flameNode {
	i, found := slices.BinarySearchFunc(n.children, name, func(c *flameNode, name string) int { return strings.Compare(c.name, name) })
	if !found {
		n.children = slices.Insert(n.children, i, &flameNode{name: name})
	}
	return n.children[i]
}

// depth is the number of frames on n's deepest path, n included.
func (n *flameNode) depth() int {
	d := 0
	for _, c := range n.children {
		d = max(d, c.depth())
	}
	return d + 1
}

// flameTree folds the samples of p into a tree of stacks, root first,
// by the value of the sample type named sample (the last type when ""
// or absent), and returns it with that type's unit. Inlined calls are
// frames of their own, as in pprof's own views.
func flameTree(p *profile.Profile, sample string) (*flameNode, string, error) {
	idx := len(p.SampleType) - 1
	for i, st := range p.SampleType {
		if st.Type == sample {
			idx = i
		}
	}
	if idx < 0 {
		return nil, "", fmt.Errorf("bench: profile without sample types")
	}
	root := &flameNode{name: "all"}
	for _, s := range p.Sample {
		v := s.Value[idx]
		if v <= 0 {
			continue
		}
		root.value += v
		n := root
		// Location[0] is the leaf; within a location, Line[0] is the
		// innermost inlined call.
		for _, loc := range slices.Backward(s.Location) {
			for _, line := range slices.Backward(loc.Line) {
				name := "?"
				if line.Function != nil {
					name = line.Function.Name
				}
				n = n.child(name)
				n.value += v
			}
			if len(loc.Line) == 0 { // not symbolized
				n = n.child(fmt.Sprintf("0x%x", loc.Address))
				n.value += v
			}
		}
	}
	return root, p.SampleType[idx].Unit, nil
}

// The flame graph's geometry, in SVG pixels.
const (
	flameWidth     = 1200.0
	flameRow       = 16.0
	flameMargin    = 10.0
	flameHeader    = 40.0 // title and legend above the frames
	flameCharWidth = 7.0  // of the 12 px monospace labels
	// flameMinWidth drops frames narrower than this (and their callees):
	// invisible, they would only make the file large.
	flameMinWidth = 0.3
)

// writeFlameSVG draws root as a flame graph: the root at the bottom, each
// frame's callees on top of it, every width proportional to the frame's
// share of root's value. Each frame has a <title> (name, value, share)
// that a browser shows on hover. Runnel's own functions (package path
// "runnel/...") are blue-green, the rest warm.
func writeFlameSVG(w io.Writer, root *flameNode, title, unit string) error {
	rows := root.depth()
	height := flameHeader + float64(rows)*flameRow + flameMargin
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="monospace" font-size="12">`+"\n",
		flameWidth, height, flameWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#f8f8f8"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="15">%s</text>`+"\n", flameMargin, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="34" fill="#555">width: share of %s; root at the bottom, callees above their callers; blue-green: Runnel's functions; hover a frame for its figures</text>`+"\n",
		flameMargin, html.EscapeString(amount(float64(root.value), unit)))
	if root.value > 0 {
		scale := (flameWidth - 2*flameMargin) / float64(root.value)
		drawFlame(&b, root, root.value, unit, flameMargin, height-flameMargin-flameRow, scale)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// drawFlame draws n at (x, y) and its children on the row above it.
func drawFlame(b *strings.Builder, n *flameNode, total int64, unit string, x, y, scale float64) {
	width := float64(n.value) * scale
	if width < flameMinWidth {
		return
	}
	tip := fmt.Sprintf("%s (%s, %.2f%%)", n.name, amount(float64(n.value), unit), 100*float64(n.value)/float64(total))
	fmt.Fprintf(b, `<g><title>%s</title><rect x="%.2f" y="%.0f" width="%.2f" height="%.0f" fill="%s" rx="2"/>`,
		html.EscapeString(tip), x, y, width, flameRow-1, flameColor(n.name))
	if label := fitLabel(n.name, width); label != "" {
		fmt.Fprintf(b, `<text x="%.2f" y="%.0f">%s</text>`, x+3, y+flameRow-4, html.EscapeString(label))
	}
	b.WriteString("</g>\n")
	for _, c := range n.children {
		drawFlame(b, c, total, unit, x, y-flameRow, scale)
		x += float64(c.value) * scale
	}
}

// fitLabel is as much of name as fits in width pixels, ".." marking a cut
// (the package path goes first: the end of a name says most), or "" when
// not even a few characters fit.
func fitLabel(name string, width float64) string {
	chars := int((width - 6) / flameCharWidth)
	switch {
	case chars >= len(name):
		return name
	case chars < 4:
		return ""
	}
	return ".." + name[len(name)-(chars-2):]
}

// flameColor is a color of name's own, stable across graphs: blue-green
// for Runnel's functions, red to yellow for the rest.
func flameColor(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	a, c := int(v%55), int(v>>8%100)
	if strings.HasPrefix(name, "runnel/") {
		return fmt.Sprintf("rgb(%d,%d,%d)", 40+a, 150+c/2, 170+a)
	}
	return fmt.Sprintf("rgb(%d,%d,%d)", 200+a, 90+c*3/2, 40+a/2)
}

// writeFlameGraph renders the CPU profile at profilePath as a flame graph
// into svgPath.
func writeFlameGraph(profilePath, svgPath string) error {
	f, err := os.Open(profilePath)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return fmt.Errorf("bench: %s: %w", profilePath, err)
	}
	root, unit, err := flameTree(p, "cpu")
	if err != nil {
		return fmt.Errorf("bench: %s: %w", profilePath, err)
	}
	out, err := os.Create(svgPath)
	if err != nil {
		return err
	}
	err = writeFlameSVG(out, root, "CPU flame graph of "+filepath.Base(profilePath), unit)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// cpuHotspots reads the CPU profile at path (readHotspots) and draws its
// flame graph beside it, path with .svg for .pprof, named in Flame. A
// graph that cannot be drawn is left out; the hot spots stand alone.
func cpuHotspots(path string) (Hotspots, error) {
	h, err := readHotspots(path, "cpu", 15)
	if err != nil {
		return h, err
	}
	svg := strings.TrimSuffix(path, ".pprof") + ".svg"
	if writeFlameGraph(path, svg) == nil {
		h.Flame = filepath.Base(svg)
	}
	return h, nil
}
