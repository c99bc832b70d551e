package operator

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/pipeline"
	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestOpsHandler(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "ops_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)

	var readyErr error
	h := NewOpsHandler(reg, func(context.Context) error { return readyErr })

	tests := []struct {
		name     string
		method   string
		path     string
		readyErr error
		code     int
		body     string
	}{
		{"healthz", http.MethodGet, "/healthz", nil, 200, "ok"},
		{"healthz while not ready", http.MethodGet, "/healthz", errors.New("redis down"), 200, "ok"},
		{"readyz ready", http.MethodGet, "/readyz", nil, 200, "ready"},
		{"readyz not ready", http.MethodGet, "/readyz", errors.New("redis: connection refused"), 503, "redis: connection refused"},
		{"metrics", http.MethodGet, "/metrics", nil, 200, "ops_test_total 3"},
		{"wrong method", http.MethodPost, "/healthz", nil, 405, ""},
		{"unknown path", http.MethodGet, "/nope", nil, 404, ""},
	}
	for _, tt := range tests {
		readyErr = tt.readyErr
		code, body := get(t, h, tt.method, tt.path)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("%s: got %d %q, want %d containing %q", tt.name, code, body, tt.code, tt.body)
		}
	}
}

func TestOpsReadyzTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	// A check that ignores its context must still not hang the probe.
	h := NewOpsHandler(prometheus.NewRegistry(), func(context.Context) error {
		<-release
		return nil
	})
	start := time.Now()
	code, body := get(t, h, http.MethodGet, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "did not answer") {
		t.Errorf("got %d %q", code, body)
	}
	if took := time.Since(start); took > pipeline.ReadyTimeout+time.Second {
		t.Errorf("readyz took %s", took)
	}
}

func TestOpsReadyzNilCheck(t *testing.T) {
	t.Parallel()
	code, body := get(t, NewOpsHandler(prometheus.NewRegistry(), nil), http.MethodGet, "/readyz")
	if code != 200 || strings.TrimSpace(body) != "ready" {
		t.Errorf("got %d %q", code, body)
	}
}
