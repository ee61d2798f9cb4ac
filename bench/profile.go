package bench

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// FuncCost is one function's share of a profile.
type FuncCost struct {
	Name string  `json:"name"`
	Flat float64 `json:"flat"` // samples' value with the function at the top of the stack
	Cum  float64 `json:"cum"`  // samples' value with the function anywhere on the stack
	// FlatPct and CumPct are shares of the profile's total.
	FlatPct float64 `json:"flat_pct"`
	CumPct  float64 `json:"cum_pct"`
}

// Hotspots is the top of one profile.
type Hotspots struct {
	File   string     `json:"file"`
	Sample string     `json:"sample"` // sample type read, e.g. cpu or alloc_space
	Unit   string     `json:"unit"`
	Total  float64    `json:"total"`
	Top    []FuncCost `json:"top"` // by flat
	// Own charges each sample to the innermost Runnel function (package
	// path "runnel/...") on its stack, so a syscall or memmove counts
	// for the Runnel code that made it: where in Runnel the time or
	// memory goes. Flat is that charge; Cum as in Top.
	Own []FuncCost `json:"own"`
	// Flame is the flame graph drawn from the profile (a file beside
	// it), "" when none was.
	Flame string `json:"flame,omitempty"`
}

// readHotspots reads a pprof profile and returns its n costliest functions
// by flat value of the sample type named sample (the last type when
// sample is "" or absent). Inlined calls count as their own functions.
func readHotspots(path, sample string, n int) (Hotspots, error) {
	f, err := os.Open(path)
	if err != nil {
		return Hotspots{}, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return Hotspots{}, fmt.Errorf("bench: %s: %w", path, err)
	}
	idx := len(p.SampleType) - 1
	for i, st := range p.SampleType {
		if st.Type == sample {
			idx = i
		}
	}
	if idx < 0 {
		return Hotspots{}, fmt.Errorf("bench: %s: no sample types", path)
	}
	h := Hotspots{File: path, Sample: p.SampleType[idx].Type, Unit: p.SampleType[idx].Unit}
	flat, cum, own := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, s := range p.Sample {
		v := float64(s.Value[idx])
		if v == 0 {
			continue
		}
		h.Total += v
		seen := map[string]bool{}
		charged := false
		for li, loc := range s.Location {
			for ln, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				name := line.Function.Name
				if li == 0 && ln == 0 {
					flat[name] += v
				}
				if !seen[name] {
					seen[name] = true
					cum[name] += v
				}
				if !charged && strings.HasPrefix(name, "runnel/") {
					charged = true
					own[name] += v
				}
			}
		}
	}
	for name, c := range cum {
		fc := FuncCost{Name: name, Flat: flat[name], Cum: c}
		if h.Total > 0 {
			fc.FlatPct, fc.CumPct = 100*fc.Flat/h.Total, 100*c/h.Total
		}
		h.Top = append(h.Top, fc)
		if o := own[name]; o > 0 {
			fc.Flat, fc.FlatPct = o, 100*o/h.Total
			h.Own = append(h.Own, fc)
		}
	}
	h.Top = topBy(h.Top, n, func(f FuncCost) float64 { return f.Flat })
	h.Own = topBy(h.Own, n, func(f FuncCost) float64 { return f.Flat })
	return h, nil
}

// topBy sorts fs by key, largest first (ties by name), and keeps n.
func topBy(fs []FuncCost, n int, key func(FuncCost) float64) []FuncCost {
	sort.Slice(fs, func(i, j int) bool {
		if a, b := key(fs[i]), key(fs[j]); a != b {
			return a > b
		}
		return fs[i].Name < fs[j].Name
	})
	return fs[:min(n, len(fs))]
}
