// Package httpx is the outbound HTTP policy shared by every client the
// daemon has of someone else's service — the model providers (ai/) and the
// crawler: a concurrency limit (x/sync semaphore), a consecutive-failure
// circuit breaker, Retry-After parsing, TLS trust set-up (an extra CA file,
// or an explicit, loudly logged opt-out) and a transport tuned for it.
// Error classification stays with each client (ai.APIError for the
// providers), since what counts as a provider failure is theirs to say.
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
	"sync"
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

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

// Breaker is a consecutive-failure circuit breaker. After `failures`
// temporary failures in a row it opens; after a wait one probe call is let
// through (half-open): its success closes the breaker, its failure opens it
// again. The wait starts at firstCooldown and doubles with every failed
// probe up to `cooldown`: a fixed 30 s wait kept a stage paused up to 30 s
// after an 8 s 429 or 5xx storm had ended (issue 21's fault matrix), while
// a long outage is still probed only once per `cooldown`. Permanent failures
// (a 400) say the service is up and count as successes.
type Breaker struct {
	failures int
	cooldown time.Duration
	now      func() time.Time

	mu       sync.Mutex
	state    breakerState
	count    int
	openedAt time.Time
	wait     time.Duration // the current opening's wait
	probing  bool
}

// firstCooldown is the wait of a breaker's first opening after a success.
const firstCooldown = time.Second

// NewBreaker returns a closed breaker; failures <= 0 disables it.
func NewBreaker(failures int, cooldown time.Duration, now func() time.Time) *Breaker {
	if now == nil {
		now = time.Now
	}
	return &Breaker{failures: failures, cooldown: cooldown, now: now}
}

// Allow reports whether a call may go out now. When it returns true the
// caller must report the outcome with Record or Forget.
func (b *Breaker) Allow() bool {
	if b.failures <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerOpen:
		if b.now().Sub(b.openedAt) < b.wait {
			return false
		}
		b.state = breakerHalfOpen
		b.probing = true
		return true
	case breakerHalfOpen:
		if b.probing {
			return false
		}
		b.probing = true
		return true
	default:
		return true
	}
}

// Record reports a call's outcome: failed is true for a temporary failure.
func (b *Breaker) Record(failed bool) {
	if b.failures <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !failed {
		b.state, b.count, b.probing, b.wait = breakerClosed, 0, false, 0
		return
	}
	b.count++
	if b.state == breakerHalfOpen || b.count >= b.failures {
		if b.state == breakerHalfOpen {
			b.wait = min(2*b.wait, b.cooldown)
		} else if b.wait == 0 {
			b.wait = min(firstCooldown, b.cooldown)
		}
		b.state, b.openedAt, b.probing = breakerOpen, b.now(), false
	}
}

// Forget reports a call that says nothing about the provider (the caller
// cancelled it); a half-open breaker may probe again.
func (b *Breaker) Forget() {
	if b.failures <= 0 {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// IsOpen reports whether calls are being refused now (for health output).
func (b *Breaker) IsOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == breakerOpen && b.now().Sub(b.openedAt) < b.wait
}

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
