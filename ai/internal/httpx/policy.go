// The outbound policy of the provider clients (it stood in a top-level
// httpx package with this package as its only user): a concurrency limit
// (x/sync semaphore), Retry-After parsing, TLS trust set-up (an extra CA
// file, or an explicit, loudly logged opt-out) and a transport tuned for
// it. The circuit breaker is in breaker.go.

package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"
)

// Limiter bounds the calls in flight to one provider (x/sync's weighted
// semaphore). A provider's chat and embedding calls share one (GigaChat PERS
// allows one stream).
type Limiter struct {
	sem *semaphore.Weighted
}

// NewLimiter allows n concurrent calls (1 when n <= 0).
func NewLimiter(n int) *Limiter {
	if n <= 0 {
		n = 1
	}
	return &Limiter{sem: semaphore.NewWeighted(int64(n))}
}

// Acquire waits for a slot or for ctx to end.
func (l *Limiter) Acquire(ctx context.Context) error { return l.sem.Acquire(ctx, 1) }

// Release returns a slot taken by Acquire.
func (l *Limiter) Release() { l.sem.Release(1) }

// ParseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// It returns 0 when the header is absent, malformed or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 86400 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// TLSConfig builds the trust settings: the system pool plus the PEM
// certificates of caFile (the Russian Trusted Root CA for GigaChat), or no
// verification at all when insecure is set.
func TLSConfig(caFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		cfg.InsecureSkipVerify = true //nolint:gosec // explicit, loudly logged opt-in
		return cfg, nil
	}
	if caFile == "" {
		return cfg, nil // nil RootCAs: the system pool
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate found", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// NewHTTPClient returns an http.Client with the given TLS settings. Timeouts
// are set per call from the context, not here.
func NewHTTPClient(tlsCfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: tr}
}
