// Package api is the HTTP API of the assistant daemon on its own listener
// (api.addr, separate from the operations port): search, posts, related
// tags, similar posts, and the OpenAPI document that describes them.
//
// Server is an http.Handler around a ServeMux; later features (admin
// endpoints, the web console under /ui) mount on it with Handle, and get the
// same logging, metrics and panic recovery. /v1 routes need the bearer token
// when one is configured; the OpenAPI document does not.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/internal/promreg"
	"github.com/assistant-dev/assistant/search"
)

// Options configures a Server.
type Options struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// /v1 routes (the OpenAPI document excepted); it reads every tenant.
	Token string
	// Tokens are more read tokens, each "<tenant>:<token>" (api.tokens): a
	// token scoped to a tenant sees only that tenant's posts, and a post
	// of another tenant is not_found to it; tenant "*" reads every tenant.
	// Any token configured makes every /v1 read need one.
	Tokens []string
	// MaxQueryBytes bounds the q parameter (default 2048).
	MaxQueryBytes int
	// RequestTimeout bounds one request's work (default 10s).
	RequestTimeout time.Duration
	Logger         *slog.Logger
	// Registerer receives the request metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Document, when set, amends the OpenAPI document before it is served
	// (the admin API adds its paths and schemas).
	Document func(doc map[string]any)
}

// Server serves the API. Create it with New.
type Server struct {
	svc     *search.Service
	opts    Options
	mux     *http.ServeMux
	log     *slog.Logger
	handler http.Handler
	metrics *metrics
	tokens  *Tokens
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// route is one documented API route; the OpenAPI document and the mux are
// both built from routes, and a test checks the handlers against the
// document.
type route struct {
	method, path string
	handler      func(*Server, http.ResponseWriter, *http.Request) error
}

var routes = []route{
	{"GET", "/v1/search", (*Server).handleSearch},
	{"GET", "/v1/posts/{id}", (*Server).handlePost},
	{"GET", "/v1/posts/{id}/similar", (*Server).handleSimilar},
	{"GET", "/v1/tags/{tag}/related", (*Server).handleRelated},
}

// New builds the API over a search service.
func New(svc *search.Service, o Options) (*Server, error) {
	if o.MaxQueryBytes <= 0 {
		o.MaxQueryBytes = 2048
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	tokens, err := ParseTokens(o.Token, o.Tokens)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &Server{svc: svc, opts: o, mux: http.NewServeMux(), log: o.Logger, tokens: tokens}
	s.metrics = &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_requests_total", Help: "HTTP API requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "api_request_duration_seconds", Help: "HTTP API request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route"}),
	}
	if o.Registerer != nil {
		if err := errors.Join(promreg.Into(o.Registerer, &s.metrics.requests), promreg.Into(o.Registerer, &s.metrics.duration)); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	for _, rt := range routes {
		s.mux.Handle(rt.method+" "+rt.path, s.v1(rt.handler))
	}
	spec := OpenAPI()
	if o.Document != nil {
		o.Document(spec)
	}
	doc, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("api: openapi document: %w", err)
	}
	s.mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	// Anything else under /v1 is a JSON 404, not the mux's text one.
	s.mux.Handle("/v1/", s.v1(func(*Server, http.ResponseWriter, *http.Request) error {
		return httpError{http.StatusNotFound, "no such endpoint"}
	}))
	s.handler = s.observe(s.mux)
	return s, nil
}

// Tokens returns the read tokens (the console logs readers in with them).
func (s *Server) Tokens() *Tokens { return s.tokens }

// Handle mounts h on the API's mux (the console, admin endpoints): it gets
// the server's logging, metrics and recovery, not its /v1 token check.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// NewHTTPServer returns the http.Server the daemon runs the API with. Its
// header limit is above the longest URL worth answering, so an over-long
// query reaches the handler and gets a JSON 400 rather than a bare 431.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    4 << 20,
	}
}

// Serve runs the API on ln until ctx ends, then shuts down within grace.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	srv := NewHTTPServer(ln.Addr().String(), h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("api server shutdown: %w", err)
	}
	return nil
}

// httpError is an error with the status it answers.
type httpError struct {
	status  int
	message string
}

func (e httpError) Error() string { return e.message }

func badRequest(format string, args ...any) error {
	return httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// ErrorBody is every error answer.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), Message: msg})
}

// v1 wraps an API handler: auth, timeout, error mapping.
func (s *Server) v1(h func(*Server, http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reader Reader
		if s.tokens.Required() {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if ok {
				reader, ok = s.tokens.Lookup(got)
			}
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="assistant"`)
				writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
		}
		ctx, cancel := context.WithTimeout(WithReader(r.Context(), reader), s.opts.RequestTimeout)
		defer cancel()
		err := h(s, w, r.WithContext(ctx))
		if err == nil {
			return
		}
		var he httpError
		switch {
		case errors.As(err, &he):
			writeError(w, he.status, he.message)
		case errors.Is(err, search.ErrBadQuery):
			writeError(w, http.StatusBadRequest, err.Error())
		case errors.Is(err, search.ErrNotFound):
			writeError(w, http.StatusNotFound, err.Error())
		case errors.Is(err, search.ErrNoVectors):
			writeError(w, http.StatusNotImplemented, err.Error())
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
			writeError(w, http.StatusGatewayTimeout, "request took longer than "+s.opts.RequestTimeout.String())
		default:
			s.log.ErrorContext(r.Context(), "api request failed", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// observe logs, counts and times every request, and turns a panic into a
// JSON 500.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.log.ErrorContext(r.Context(), "api handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					writeError(sw, http.StatusInternalServerError, "internal error")
				}
			}
			_, pattern := s.mux.Handler(r)
			if pattern == "" {
				pattern = "unmatched"
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			took := time.Since(start)
			s.metrics.requests.WithLabelValues(pattern, strconv.Itoa(sw.status)).Inc()
			s.metrics.duration.WithLabelValues(pattern).Observe(took.Seconds())
			level := slog.LevelInfo
			if sw.status >= 500 {
				level = slog.LevelError
			}
			s.log.Log(r.Context(), level, "api request", "method", r.Method, "route", pattern,
				"status", sw.status, "duration_ms", float64(took.Microseconds())/1000, "query_bytes", len(r.URL.RawQuery))
		}()
		next.ServeHTTP(sw, r)
	})
}

// Routes lists the method and path of every route the API serves itself
// (not what Handle mounts later).
func Routes() []string {
	out := []string{"GET /v1/openapi.json"}
	for _, rt := range routes {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}
