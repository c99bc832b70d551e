// Package crawl fetches the pages a post links to and turns each into clean
// Markdown with its metadata (spec section 5, enrich, step 3).
//
// Crawler is the one small interface; two backends implement it, chosen by
// configuration: Builtin (pure Go: a guarded net/http fetch, readability
// extraction, HTML to Markdown) and Crawl4AI (the HTTP API of a crawl4ai
// server). Cache wraps either with a Redis cache keyed by the normalised URL.
//
// Failures are *Error values that say whether retrying can help: a timeout,
// a 5xx or a 429 is transient; a 4xx, an unsupported content type, an
// address refused by the SSRF guard or a robots.txt disallow is permanent.
package crawl

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Crawler fetches one URL and extracts its content. Implementations are
// safe for concurrent use. On failure the Result still carries what is
// known (URL, Status, ContentType) and the error is an *Error.
type Crawler interface {
	Crawl(ctx context.Context, url string) (Result, error)
}

// Result is what a crawl of one URL yields: the page's main content as
// Markdown and its metadata. It is also the cached and stored form.
type Result struct {
	URL         string    `json:"url"`
	FinalURL    string    `json:"final_url"`
	Status      int       `json:"status"` // HTTP status of the final response, 0 when none came
	Title       string    `json:"title"`
	Description string    `json:"description,omitempty"`
	SiteName    string    `json:"site_name,omitempty"`
	Language    string    `json:"language,omitempty"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	WordCount   int       `json:"word_count"`
	Canonical   string    `json:"canonical,omitempty"`
	Markdown    string    `json:"markdown"`
	// ContentSHA256 is the hex SHA-256 of Markdown: what changed means this
	// changed.
	ContentSHA256 string `json:"content_sha256"`
	ContentType   string `json:"content_type,omitempty"`
	Bytes         int64  `json:"bytes"` // body bytes received (after decompression)
	// Error is the failure's message, ErrorKind its kind (Kind* constants);
	// both empty on success.
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
	// Backend names the backend that produced the result.
	Backend string `json:"backend,omitempty"`
	// Cached is set when the result came from the cache (never stored).
	Cached bool `json:"-"`
}

// OK reports whether the crawl succeeded.
func (r *Result) OK() bool { return r.Error == "" }

// Kinds of crawl failure. They are metric label values and stored in
// post_enrichment, so they are part of the contract.
const (
	KindTimeout          = "timeout"                  // transient
	KindNetwork          = "network"                  // transient: refused, reset, DNS failure
	KindServerError      = "server_error"             // transient: 5xx, 408
	KindRateLimited      = "rate_limited"             // transient: 429 (Retry-After honoured)
	KindHTTPStatus       = "http_status"              // permanent: a 4xx (or 3xx without Location)
	KindUnsupportedType  = "unsupported_content_type" // permanent: a PDF, an image, …
	KindTooLarge         = "too_large"                // permanent: body over the cap
	KindSSRF             = "ssrf_refused"             // permanent: address refused by the guard
	KindRobots           = "robots_disallowed"        // permanent
	KindRedirects        = "too_many_redirects"       // permanent
	KindInvalidURL       = "invalid_url"              // permanent
	KindNoHost           = "no_such_host"             // permanent: the name does not resolve
	KindExtract          = "extract"                  // permanent: the page could not be parsed
	KindBackend          = "backend"                  // transient: the crawl4ai server itself failed
	KindBackendPermanent = "backend_refused"          // permanent: crawl4ai refused our request
)

// Error is a classified crawl failure.
type Error struct {
	Kind string
	// Transient is true when retrying later may succeed.
	Transient bool
	// RetryAfter is the wait the server asked for (429/503 Retry-After).
	RetryAfter time.Duration
	// Status is the HTTP status, when one came.
	Status int
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Kind
	}
	return e.Kind + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent builds a permanent *Error of kind.
func Permanent(kind string, format string, args ...any) *Error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Transient builds a transient *Error of kind.
func Transient(kind string, format string, args ...any) *Error {
	return &Error{Kind: kind, Transient: true, Err: fmt.Errorf(format, args...)}
}

// IsTransient reports whether err is a crawl failure worth retrying. An
// error that is not an *Error counts as transient unless it is a
// cancellation: failures nobody classified are assumed to pass.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Transient
	}
	return !errors.Is(err, context.Canceled)
}

// KindOf returns the kind of a crawl failure ("" for nil, KindNetwork for an
// unclassified error).
func KindOf(err error) string {
	if err == nil {
		return ""
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return KindNetwork
}

// statusError classifies an HTTP status that is not a success.
func statusError(status int, retryAfter time.Duration) *Error {
	switch {
	case status == 429:
		return &Error{Kind: KindRateLimited, Transient: true, RetryAfter: retryAfter, Status: status,
			Err: fmt.Errorf("HTTP %d", status)}
	case status >= 500 || status == 408:
		return &Error{Kind: KindServerError, Transient: true, RetryAfter: retryAfter, Status: status,
			Err: fmt.Errorf("HTTP %d", status)}
	default:
		return &Error{Kind: KindHTTPStatus, Status: status, Err: fmt.Errorf("HTTP %d", status)}
	}
}

// fail records err on r and returns both, for the failure returns of a
// backend.
func fail(r Result, err *Error) (Result, error) {
	r.Error = err.Error()
	r.ErrorKind = err.Kind
	if r.Status == 0 {
		r.Status = err.Status
	}
	return r, err
}
