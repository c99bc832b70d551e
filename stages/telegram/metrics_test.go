package telegram

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSecondSourceMetricsAreLive: a second source registering its metrics
// on the same registry writes the scraped series (it used to keep its own
// unregistered collectors, whose counts no scrape saw).
func TestSecondSourceMetricsAreLive(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := newMetrics(reg)
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	first.messages.WithLabelValues(statusPublished).Inc()
	second.messages.WithLabelValues(statusPublished).Add(2)
	second.connected.Set(1)
	if got := testutil.ToFloat64(first.messages.WithLabelValues(statusPublished)); got != 3 {
		t.Errorf("telegram_messages_total{status=published} = %v, want 3 (both sources' counts)", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "telegram_connected" && mf.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Errorf("telegram_connected = %v after the second source set it, want 1", mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	if n, err := testutil.GatherAndCount(reg, "telegram_messages_total"); err != nil || n != 5 {
		t.Errorf("telegram_messages_total series: %d (%v), want the 5 statuses once", n, err)
	}
}
