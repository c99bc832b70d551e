// Package httpx is the HTTP plumbing of the model-provider clients
// (gigachat, openai, openrouter): their outbound policy (concurrency limit,
// circuit breaker on sony/gobreaker, Retry-After, TLS trust; policy.go and
// breaker.go) and the Caller that sends their JSON requests under it and
// classifies failures into *ai.APIError, so every client retries and backs
// off the same way.
package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/assistant-dev/assistant/ai"
)

// maxBodyBytes bounds a response body read into memory.
const maxBodyBytes = 32 << 20

// Caller sends JSON requests to one provider: under its Limiter, guarded by
// its Breaker, each attempt bounded by Timeout, failures classified.
type Caller struct {
	Provider string
	HTTP     *http.Client
	Limiter  *Limiter
	Breaker  *Breaker
	Timeout  time.Duration
	// MaxInlineWait is the longest Retry-After a call waits out itself
	// (once) before answering; a longer one is returned in the error.
	MaxInlineWait time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
	// BodyError, when set, finds an error reported inside a 2xx body
	// (OpenRouter does that); it returns the status the error carries (0
	// when none).
	BodyError func(body []byte) (status int, message string, found bool)
}

// Request is one API call. Header is called for every attempt, so a token
// refreshed between attempts is picked up.
type Request struct {
	Method string
	URL    string
	Body   any
	Header func(h http.Header) error
}

// Do performs req and returns the body of a successful answer. A 429 whose
// Retry-After is short (≤ MaxInlineWait and within the context deadline) is
// waited out and retried once; any other failure is returned as
// *ai.APIError.
func (c *Caller) Do(ctx context.Context, req Request) ([]byte, error) {
	var payload []byte
	if req.Body != nil {
		var err error
		if payload, err = json.Marshal(req.Body); err != nil {
			return nil, &ai.APIError{Provider: c.Provider, Message: "encode request: " + err.Error(), Err: err}
		}
	}
	for attempt := 0; ; attempt++ {
		body, err := c.once(ctx, req, payload)
		if err == nil {
			return body, nil
		}
		var ae *ai.APIError
		if attempt > 0 || !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || ae.RetryAfter <= 0 || ae.RetryAfter > c.MaxInlineWait {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(ae.RetryAfter).After(dl) {
			return nil, err
		}
		c.logger().Debug("rate limited, waiting", "provider", c.Provider, "retry_after", ae.RetryAfter)
		t := time.NewTimer(ae.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

func (c *Caller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Caller) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Caller) once(ctx context.Context, req Request, payload []byte) ([]byte, error) {
	// The local concurrency slot comes first and outside the breaker: a call
	// that timed out waiting for it never reached the provider, so it says
	// nothing about the provider's health and must not count as a failure
	// (two queued timeouts used to open the breaker with no provider error).
	if c.Limiter != nil {
		if err := c.Limiter.Acquire(ctx); err != nil {
			return nil, &ai.APIError{Provider: c.Provider, Message: "waiting for a concurrency slot: " + err.Error(), Temporary: true, Err: err}
		}
		defer c.Limiter.Release()
	}
	report := func(Outcome) {}
	if c.Breaker != nil {
		r, ok := c.Breaker.Allow()
		if !ok {
			return nil, &ai.APIError{Provider: c.Provider, Message: "circuit breaker open", Temporary: true, Err: ai.ErrCircuitOpen}
		}
		report = r
	}
	body, err := c.send(ctx, req, payload)
	var ae *ai.APIError
	switch {
	case err == nil:
		report(Success)
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		report(Ignored)
	case errors.As(err, &ae) && !ae.Temporary:
		report(Success) // a permanent refusal says the provider is up
	default:
		report(Failure)
	}
	return body, err
}

func (c *Caller) send(ctx context.Context, req Request, payload []byte) ([]byte, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.Method, req.URL, rd)
	if err != nil {
		return nil, &ai.APIError{Provider: c.Provider, Message: "build request: " + err.Error(), Err: err}
	}
	httpReq.Header.Set("Accept", "application/json")
	if payload != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	if req.Header != nil {
		if err := req.Header(httpReq.Header); err != nil {
			return nil, err
		}
	}
	resp, err := c.HTTP.Do(httpReq)
	if err != nil {
		return nil, NetworkError(c.Provider, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return nil, NetworkError(c.Provider, fmt.Errorf("read response: %w", err))
	}
	if resp.StatusCode/100 == 2 {
		if c.BodyError != nil {
			if status, msg, found := c.BodyError(body); found {
				ae := StatusError(c.Provider, status, msg, resp.Header, c.now())
				if status == 0 {
					ae.Temporary = true // an error with no code: the model failed mid-answer
				}
				return nil, ae
			}
		}
		return body, nil
	}
	return nil, StatusError(c.Provider, resp.StatusCode, ErrorMessage(body), resp.Header, c.now())
}

// NetworkError classifies a failure to get an answer: always temporary
// (timeouts, refused connections, resets), except a bad TLS certificate,
// which will not fix itself.
func NetworkError(provider string, err error) *ai.APIError {
	ae := &ai.APIError{Provider: provider, Message: err.Error(), Temporary: true, Err: err}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) {
		ae.Temporary = false
		ae.Message = "TLS certificate not trusted (set ca_file): " + err.Error()
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		ae.Message = "timeout: " + err.Error()
	}
	return ae
}

// StatusError classifies an HTTP error status: 429, 408 and 5xx are
// temporary (429 carries Retry-After), other 4xx are not.
func StatusError(provider string, status int, message string, h http.Header, now time.Time) *ai.APIError {
	if message == "" {
		message = http.StatusText(status)
	}
	ae := &ai.APIError{
		Provider:  provider,
		Status:    status,
		Message:   message,
		Temporary: status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500 || status == 0,
	}
	if h != nil {
		ae.RetryAfter = ParseRetryAfter(h.Get("Retry-After"), now)
	}
	return ae
}

// ErrorMessage extracts a readable message from an error body: GigaChat's
// {"status","message"}, OAuth's {"code","message"}, OpenAI's
// {"error":{"message"}} or {"error":"..."}; else the body itself, cut short.
func ErrorMessage(body []byte) string {
	var v struct {
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil {
		if v.Message != "" {
			return v.Message
		}
		var nested struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(v.Error, &nested) == nil && nested.Message != "" {
			return nested.Message
		}
		var s string
		if json.Unmarshal(v.Error, &s) == nil && s != "" {
			return s
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// DecodeEmbeddings reads an OpenAI-shaped embeddings answer
// ({"data":[{"embedding":[...],"index":i}]}) for n inputs and returns the
// vectors ordered by index, as providers may answer out of order.
func DecodeEmbeddings(provider string, body []byte, n int) ([][]float32, error) {
	var resp struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
			Index     int       `json:"index"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, &ai.APIError{Provider: provider, Message: "decode embeddings response: " + err.Error(), Temporary: true, Err: err}
	}
	if len(resp.Data) != n {
		return nil, &ai.APIError{Provider: provider, Message: fmt.Sprintf("%d vectors for %d inputs", len(resp.Data), n), Temporary: true}
	}
	vecs := make([][]float32, n)
	for _, d := range resp.Data {
		if d.Index < 0 || d.Index >= n || vecs[d.Index] != nil {
			return nil, &ai.APIError{Provider: provider, Message: fmt.Sprintf("bad or repeated index %d in embeddings response", d.Index), Temporary: true}
		}
		vecs[d.Index] = d.Embedding
	}
	return vecs, nil
}

// CheckDimension reports vectors whose size differs from the configured
// one: storing them would corrupt the vector collection, so it is a
// permanent error naming the setting to fix.
func CheckDimension(provider, model, setting string, want int, vecs [][]float32) error {
	for _, v := range vecs {
		if len(v) != want {
			return &ai.APIError{Provider: provider, Message: fmt.Sprintf(
				"embedding dimension mismatch: model %s returned %d-dimensional vectors but %s is %d", model, len(v), setting, want)}
		}
	}
	return nil
}
