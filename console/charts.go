package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Chart is one small time series of the overview, drawn on the server as
// inline SVG (no script, nothing from another origin: the page's CSP
// stays 'self').
type Chart struct {
	ID, Title string
	// Now is the newest value, Peak the largest shown, both formatted.
	Now, Peak string
	// Span is the time the chart covers.
	Span time.Duration
	SVG  template.HTML
}

const chartW, chartH = 240, 56

// newChart draws values (one per time, oldest first). With fewer than two
// points there is nothing to draw yet, and the chart says so.
func newChart(id, title string, at []time.Time, values []float64, format func(float64) string) Chart {
	ch := Chart{ID: id, Title: title, Now: "—", Peak: "—"}
	if len(values) > 0 {
		ch.Now = format(values[len(values)-1])
	}
	if len(values) < 2 {
		ch.SVG = template.HTML(fmt.Sprintf(`<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s: collecting samples"><text x="6" y="%d" class="chart-empty">collecting samples…</text></svg>`,
			chartW, chartH, template.HTMLEscapeString(title), chartH/2+4))
		return ch
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		lo, hi = min(lo, v), max(hi, v)
	}
	lo = min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	ch.Peak = format(hi)
	t0, t1 := at[0], at[len(at)-1]
	ch.Span = t1.Sub(t0).Round(time.Second)
	span := max(t1.Sub(t0).Seconds(), 1)
	const pad = 3
	var pts strings.Builder
	for i, v := range values {
		x := pad + (at[i].Sub(t0).Seconds()/span)*(chartW-2*pad)
		y := pad + (1-(v-lo)/(hi-lo))*(chartH-2*pad)
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	line := strings.TrimSpace(pts.String())
	// The area under the line, then the line itself.
	area := fmt.Sprintf("%d,%d %s %.1f,%d", pad, chartH-pad, line, float64(chartW-pad), chartH-pad)
	ch.SVG = template.HTML(fmt.Sprintf(`<svg class="chart" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img" aria-label="%s over %s, now %s, peak %s">`+
		`<polygon class="chart-area" points="%s"/><polyline class="chart-line" points="%s"/></svg>`,
		chartW, chartH, template.HTMLEscapeString(title), ch.Span, template.HTMLEscapeString(ch.Now), template.HTMLEscapeString(ch.Peak), area, line))
	return ch
}

// charts turns the history into the overview's charts: throughput (all
// stages, successes per second between samples), lag and pending (all
// groups), DLQ size (all streams) and Redis memory.
func charts(samples []sample) []Chart {
	var (
		at                          []time.Time
		thr, lag, pend, dlq, memory []float64
		memAt                       []time.Time
	)
	for i, s := range samples {
		if i > 0 {
			prev := samples[i-1]
			dt := s.at.Sub(prev.at).Seconds()
			var done float64
			for stage, c := range s.counts {
				done += max(c.success-prev.counts[stage].success, 0)
			}
			if dt > 0 {
				at = append(at, s.at)
				thr = append(thr, done/dt)
				lag = append(lag, float64(sum(s.lag)))
				pend = append(pend, float64(sum(s.pending)))
				dlq = append(dlq, float64(sum(s.dlq)))
			}
		}
		if s.redisUsed >= 0 {
			memAt, memory = append(memAt, s.at), append(memory, float64(s.redisUsed))
		}
	}
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	return []Chart{
		newChart("chart-throughput", "Throughput (posts/s, all stages)", at, thr, func(v float64) string { return fmt.Sprintf("%.1f/s", v) }),
		newChart("chart-lag", "Lag (entries not yet read)", at, lag, count),
		newChart("chart-pending", "Pending (read, not acknowledged)", at, pend, count),
		newChart("chart-dlq", "DLQ size (all streams)", at, dlq, count),
		newChart("chart-redis", "Redis memory", memAt, memory, func(v float64) string { return bytesHuman(int64(v)) }),
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// bytesHuman writes a size in binary units: 1.5 MiB.
func bytesHuman(n int64) string {
	if n < 0 {
		return "—"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
