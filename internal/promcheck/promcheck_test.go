package promcheck

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestMetricsIn(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (stage, status) (rate(stage_messages_total[$__rate_interval]))`, []string{"stage_messages_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(crawl_duration_seconds_bucket[5m])))`, []string{"crawl_duration_seconds_bucket"}},
		{`sum(rate(tagging_processed_total{status="error"}[5m])) / clamp_min(sum(rate(tagging_processed_total[5m])), 1e-9)`, []string{"tagging_processed_total"}},
		{`time() - max(cleanup_last_success_timestamp_seconds)`, []string{"cleanup_last_success_timestamp_seconds"}},
		{`label_replace(up, "x_y", "$1", "job", "(.*)")`, nil},
	}
	for _, tt := range tests {
		if got := MetricsIn(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("MetricsIn(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestFamily(t *testing.T) {
	for in, want := range map[string]string{
		"crawl_duration_seconds_bucket": "crawl_duration_seconds",
		"stage_messages_total":          "stage_messages_total",
		"x_seconds_count":               "x_seconds",
	} {
		if got := Family(in); got != want {
			t.Errorf("Family(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestRegistered(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("m.go", "package m\nvar _ = []string{\"crawl_requests_total\", \"not a metric\", \"single\"}\n")
	write("m_test.go", "package m\nvar _ = \"only_in_tests_total\"\n")
	got, err := Registered(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got["crawl_requests_total"] || got["only_in_tests_total"] || got["single"] || got["not a metric"] {
		t.Errorf("Registered = %v", got)
	}
}
