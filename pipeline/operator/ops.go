package operator

import (
	"context"
	"fmt"
	"net/http"

	"github.com/assistant-dev/assistant/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewOpsHandler serves the operations endpoints (docs/metrics.md):
//
//   - /metrics: the gatherer's metrics in the Prometheus exposition format;
//   - /healthz: 200 "ok" while the process can answer at all (liveness);
//   - /readyz:  200 "ready" when ready reports nil within pipeline.ReadyTimeout, else
//     503 with the reason as the body (readiness). With ?verbose and a
//     report (WithReadyReport), one line per check follows, "[+]name ok" or
//     "[-]name failed: reason", the way the Kubernetes API server does it.
func NewOpsHandler(gatherer prometheus.Gatherer, ready func(context.Context) error, opts ...OpsOption) http.Handler {
	var o opsOptions
	for _, opt := range opts {
		opt(&o)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), pipeline.ReadyTimeout)
		defer cancel()
		status, body := http.StatusOK, "ready"
		if err := checkReady(ctx, ready); err != nil {
			status, body = http.StatusServiceUnavailable, "not ready: "+err.Error()
		}
		if _, verbose := r.URL.Query()["verbose"]; verbose && o.report != nil {
			for _, c := range o.report(ctx) {
				if c.Err != nil {
					body += "\n[-]" + c.Name + " failed: " + c.Err.Error()
				} else {
					body += "\n[+]" + c.Name + " ok"
				}
			}
		}
		writeText(w, status, body)
	})
	return mux
}

// OpsOption configures NewOpsHandler.
type OpsOption func(*opsOptions)

type opsOptions struct {
	report func(context.Context) []pipeline.CheckResult
}

// WithReadyReport lists each check in /readyz?verbose (Runner.Checks).
func WithReadyReport(report func(context.Context) []pipeline.CheckResult) OpsOption {
	return func(o *opsOptions) { o.report = report }
}

// checkReady runs ready but returns when ctx expires even if ready ignores
// its context, so the probe always answers within the timeout.
func checkReady(ctx context.Context, ready func(context.Context) error) error {
	if ready == nil {
		return nil
	}
	done := make(chan error, 1) // buffered: a late answer must not block the check's goroutine
	go func() { done <- ready(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("readiness check did not answer within %s: %w", pipeline.ReadyTimeout, ctx.Err())
	}
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}
