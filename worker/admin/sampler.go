package admin

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/regnotify/regnotify/worker/status"
)

// outcomes are the events_total outcomes, in the plots' order.
var outcomes = []string{"notified", "already_done", "dlq_invalid", "dlq_rejected", "dlq_exhausted"}

type sample struct {
	at     time.Time
	events map[string]int64
	lag    int64
}

// sampler keeps the last samples of the worker's counters for the
// console's plots.
type sampler struct {
	mu   sync.Mutex
	keep int
	s    []sample
}

func newSampler(keep int) *sampler { return &sampler{keep: keep} }

func (sp *sampler) add(now time.Time, d status.Doc) {
	ev := make(map[string]int64, len(d.Events))
	for k, v := range d.Events {
		ev[k] = v
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.s = append(sp.s, sample{at: now, events: ev, lag: d.Lag()})
	if len(sp.s) > sp.keep {
		sp.s = slices.Delete(sp.s, 0, len(sp.s)-sp.keep)
	}
}

// Series is one plotted line.
type Series struct {
	Name   string
	Class  string // CSS class of the line
	Last   string // latest value, formatted
	Points string // SVG polyline points
}

// Plot is one sparkline chart.
type Plot struct {
	Title  string
	Max    string // top of the scale, formatted
	Span   string // time covered
	Series []Series
	Empty  bool
	W, H   int
}

const plotW, plotH = 600, 90

// plots returns the events-per-second plot (one line per outcome) and the
// lag plot over the kept samples.
func (sp *sampler) plots() (rates, lag Plot) {
	sp.mu.Lock()
	s := slices.Clone(sp.s)
	sp.mu.Unlock()
	rates = Plot{Title: "Events per second by outcome", W: plotW, H: plotH}
	lag = Plot{Title: "Consumer lag (records, all partitions)", W: plotW, H: plotH}
	if len(s) < 2 {
		rates.Empty, lag.Empty = true, true
		return rates, lag
	}
	span := s[len(s)-1].at.Sub(s[0].at)
	rates.Span, lag.Span = span.Round(time.Second).String(), span.Round(time.Second).String()
	series := make([][]float64, len(outcomes))
	for i := 1; i < len(s); i++ {
		dt := s[i].at.Sub(s[i-1].at).Seconds()
		for j, o := range outcomes {
			v := 0.0
			if d := s[i].events[o] - s[i-1].events[o]; dt > 0 && d > 0 {
				v = float64(d) / dt
			}
			series[j] = append(series[j], v)
		}
	}
	top := 1.0
	for _, vs := range series {
		top = max(top, slices.Max(vs))
	}
	rates.Max = fmt.Sprintf("%.1f/s", top)
	for j, o := range outcomes {
		rates.Series = append(rates.Series, Series{Name: o, Class: "s-" + strings.ReplaceAll(o, "_", "-"),
			Last: fmt.Sprintf("%.1f/s", series[j][len(series[j])-1]), Points: points(series[j], top)})
	}
	lags := make([]float64, len(s))
	ltop := 1.0
	for i, x := range s {
		lags[i] = float64(x.lag)
		ltop = max(ltop, lags[i])
	}
	lag.Max = fmt.Sprintf("%.0f", ltop)
	lag.Series = []Series{{Name: "lag", Class: "s-lag", Last: fmt.Sprintf("%d", s[len(s)-1].lag), Points: points(lags, ltop)}}
	return rates, lag
}

// points scales vs into the plot's box (x across, y up from the bottom).
func points(vs []float64, top float64) string {
	var b strings.Builder
	n := max(len(vs)-1, 1)
	for i, v := range vs {
		x := float64(i) * plotW / float64(n)
		y := plotH - 4 - v/top*(plotH-8)
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
	}
	return strings.TrimSpace(b.String())
}
