package bench

import (
	"fmt"
	"image/color"
	"math"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// targetColors keep one color per broker across every chart.
var targetColors = map[string]color.Color{
	TargetRunnel:    color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	TargetKfake:     color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	TargetSink:      color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	TargetRunnelStd: color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	TargetDiskFloor: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// series is one line of a chart.
type series struct {
	name   string
	target string
	dashed bool
	points plotter.XYs
}

// percentileCurve turns a histogram (µs) into points (x, ms) where x is
// the number of nines: x = -log10(1-q), so 1 is p90, 2 p99, 3 p99.9.
func percentileCurve(h *hdrhistogram.Histogram) plotter.XYs {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	var xys plotter.XYs
	maxNines := math.Min(5, math.Log10(float64(h.TotalCount())))
	for x := 0.0; x <= maxNines+1e-9; x += 0.05 {
		q := 1 - math.Pow(10, -x)
		xys = append(xys, plotter.XY{X: x, Y: math.Max(float64(h.ValueAtQuantile(100*q))/1000, 0.001)})
	}
	return xys
}

// latencyChart draws percentile curves on a log latency axis.
func latencyChart(title string, lines []series, path string) error {
	p := plot.New()
	p.Title.Text = title
	p.Legend.Top = true // the curves rise to the right
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Tick.Marker = plot.TickerFunc(nineTicks)
	return drawLines(p, lines, path)
}

// nineTicks labels p0, p90, p99, ... on a nines axis, leaving out a label
// that would sit on the right edge and be cut.
func nineTicks(lo, hi float64) []plot.Tick {
	labels := []string{"p0", "p90", "p99", "p99.9", "p99.99", "p99.999"}
	var ticks []plot.Tick
	for i, l := range labels {
		if v := float64(i); v >= lo && v <= hi-0.25 {
			ticks = append(ticks, plot.Tick{Value: v, Label: l})
		}
	}
	return ticks
}

// throughputChart draws MB/s per second of the run.
func throughputChart(title string, lines []series, path string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds since start (warm-up included)"
	p.Y.Label.Text = "MB/s"
	p.Y.Min = 0
	p.Legend.Top = false // throughput lines run along the top
	return drawLines(p, lines, path)
}

func drawLines(p *plot.Plot, lines []series, path string) error {
	p.Add(plotter.NewGrid())
	p.Legend.Left = true
	drawn := 0
	for _, s := range lines {
		if len(s.points) == 0 {
			continue
		}
		l, err := plotter.NewLine(s.points)
		if err != nil {
			return fmt.Errorf("bench: chart %s: %w", path, err)
		}
		l.Color = targetColors[s.target]
		l.Width = vg.Points(1.5)
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(s.name, l)
		drawn++
	}
	if drawn == 0 {
		return nil
	}
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}
