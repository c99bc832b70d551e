package tag

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// TestMetricsStartAtZero: every known label value of the tag stage's
// labelled counters is exported from the start, at zero, so alerts on
// tagging_processed_total{status="error"} or a rejection reason see a
// series; and the latency buckets print as written.
func TestMetricsStartAtZero(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"success", "skipped_short", "dedup", "error"} {
		if v := testutil.ToFloat64(m.processed.WithLabelValues(status)); v != 0 {
			t.Errorf("status %s = %v", status, v)
		}
	}
	want := map[string]int{"tagging_processed_total": 4, "tagging_rejected_tags_total": 6, "tagging_cache_evictions_total": 1}
	for name, n := range want {
		if got := testutil.CollectAndCount(reg, name); got != n {
			t.Errorf("%s: %d series before any event, want %d", name, got, n)
		}
	}
	exposition, err := testutil.CollectAndFormat(reg, expfmt.TypeTextPlain, "tagging_rejected_tags_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"not_in_text", "too_long", "duplicate", "over_limit", "not_json", "not_string"} {
		if !strings.Contains(string(exposition), `tagging_rejected_tags_total{reason="`+reason+`"} 0`) {
			t.Errorf("no zero series for reason %s:\n%s", reason, exposition)
		}
	}

	m.latency.WithLabelValues("local", "m").Observe(0.01)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, b := range metric.GetHistogram().GetBucket() {
				if le := strconv.FormatFloat(b.GetUpperBound(), 'f', -1, 64); noisyBound.MatchString(le) {
					t.Errorf("%s bucket le=%q", f.GetName(), le)
				}
			}
		}
	}
}

// noisyBound matches a bound with float noise: seven or more decimals.
var noisyBound = regexp.MustCompile(`\.\d{7,}`)
