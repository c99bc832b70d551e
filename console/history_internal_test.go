package console

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestRates: the rate is over the oldest sample inside the window; one
// sample, or two under a second apart, give no rate (not 0/s); a counter
// that went down (a restarted process) gives none for that stage.
func TestRates(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	at := func(s float64, counts map[string]float64) sample {
		c := map[string]stageCounts{}
		for k, v := range counts {
			c[k] = stageCounts{success: v}
		}
		return sample{at: t0.Add(time.Duration(s * float64(time.Second))), counts: c}
	}
	cases := []struct {
		name    string
		samples []sample
		want    map[string]float64
		window  time.Duration
	}{
		{"one sample", []sample{at(0, map[string]float64{"tag": 10})}, map[string]float64{}, 0},
		{"under a second apart", []sample{at(0, map[string]float64{"tag": 10}), at(0.5, map[string]float64{"tag": 20})}, map[string]float64{}, 0},
		{"two samples", []sample{at(0, map[string]float64{"tag": 10}), at(5, map[string]float64{"tag": 60})}, map[string]float64{"tag": 10}, 5 * time.Second},
		{"older samples fall out of the window", []sample{
			at(0, map[string]float64{"tag": 0}), at(50, map[string]float64{"tag": 1000}), at(100, map[string]float64{"tag": 1600}),
		}, map[string]float64{"tag": 12}, 50 * time.Second},
		{"idle is 0/s", []sample{at(0, map[string]float64{"tag": 7}), at(10, map[string]float64{"tag": 7})}, map[string]float64{"tag": 0}, 10 * time.Second},
		{"counter reset", []sample{at(0, map[string]float64{"tag": 70, "persist": 1}), at(10, map[string]float64{"tag": 3, "persist": 21})},
			map[string]float64{"persist": 2}, 10 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, window := rates(c.samples, time.Minute)
			if window != c.window || len(got) != len(c.want) {
				t.Fatalf("rates = %v over %v, want %v over %v", got, window, c.want, c.window)
			}
			for k, v := range c.want {
				if math.Abs(got[k]-v) > 1e-9 {
					t.Errorf("%s: %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// TestHistoryKeepsAnHour: samples older than historyKeep are dropped.
func TestHistoryKeepsAnHour(t *testing.T) {
	var h history
	t0 := time.Now()
	for i := range 800 {
		h.add(sample{at: t0.Add(time.Duration(i) * 5 * time.Second)})
	}
	s := h.snapshot()
	if span := s[len(s)-1].at.Sub(s[0].at); span > historyKeep || len(s) != 721 {
		t.Errorf("kept %d samples over %v", len(s), span)
	}
}

// TestCharts: a chart with fewer than two points says it is collecting;
// one with points draws a line inside its box.
func TestCharts(t *testing.T) {
	t0 := time.Now()
	one := charts([]sample{{at: t0, redisUsed: -1}})
	for _, ch := range one {
		if !strings.Contains(string(ch.SVG), "collecting samples") || strings.Contains(string(ch.SVG), "polyline") {
			t.Errorf("%s with one sample: %s", ch.ID, ch.SVG)
		}
	}
	var ss []sample
	for i := range 4 {
		ss = append(ss, sample{at: t0.Add(time.Duration(i) * 5 * time.Second),
			counts: map[string]stageCounts{"tag": {success: float64(i * 50)}},
			lag:    map[string]int64{"tag": int64(10 - i)}, pending: map[string]int64{}, dlq: map[string]int64{"posts.parsed": int64(i)},
			redisUsed: int64(1 << 20 * (i + 1))})
	}
	for _, ch := range charts(ss) {
		if !strings.Contains(string(ch.SVG), "<polyline") {
			t.Errorf("%s draws no line: %s", ch.ID, ch.SVG)
		}
		if ch.ID == "chart-throughput" && ch.Now != "10.0/s" {
			t.Errorf("throughput now %q, want 10.0/s", ch.Now)
		}
		if ch.ID == "chart-redis" && ch.Now != "4.0 MiB" {
			t.Errorf("redis now %q, want 4.0 MiB", ch.Now)
		}
	}
}
