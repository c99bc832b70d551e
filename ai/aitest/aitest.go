// Package aitest emulates the model providers' HTTP APIs for tests: a
// GigaChat-shaped server (OAuth and REST API) and an OpenRouter-shaped one,
// whose behaviour — failures, status codes, Retry-After, delays, garbage
// answers, token lifetime — is scripted by the test. It also measures what a
// client does to it: requests per endpoint and the high-water mark of
// concurrent API calls. Only tests import it.
package aitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/assistant-dev/assistant/ai"
)

// Endpoint kinds, as passed to a Script.
const (
	KindOAuth = "oauth"
	KindChat  = "chat"
	KindEmbed = "embeddings"
)

// Failure is a scripted answer that replaces the normal one.
type Failure struct {
	Status     int    // HTTP status (200 with Body gives an error inside a 200)
	Body       string // response body; a default error body when empty
	RetryAfter string // Retry-After header value, if any
	// Hang blocks the handler until the client gives up (its context ends),
	// to provoke a timeout.
	Hang bool
}

// Script decides, per request, whether the server misbehaves. seq counts
// requests of that kind from 1. Returning nil answers normally.
type Script func(kind string, seq int) *Failure

// FailFirst fails the first n requests of kind with f.
func FailFirst(kind string, n int, f Failure) Script {
	return func(k string, seq int) *Failure {
		if k == kind && seq <= n {
			return &f
		}
		return nil
	}
}

// FailPercent fails about percent of the requests of kind with f, in a fixed
// (deterministic) pattern.
func FailPercent(kind string, percent int, f Failure) Script {
	return func(k string, seq int) *Failure {
		if k == kind && (seq*37)%100 < percent {
			return &f
		}
		return nil
	}
}

// Message is one chat message as the emulator received it.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatFunc produces the assistant's content for a chat request.
type ChatFunc func(model string, messages []Message) string

// EchoTags is the default chat behaviour: it answers with a JSON array of
// up to three words of the last message's last line, which are in the text.
// A batched prompt (ai.BuildBatchTagPrompt) is answered as a model should:
// a JSON object keyed by post number, each value the words of that post.
func EchoTags(_ string, messages []Message) string {
	if len(messages) == 0 {
		return "[]"
	}
	text := messages[len(messages)-1].Content
	if posts := ai.SplitBatchPrompt(text); posts != nil {
		answer := make(map[string]json.RawMessage, len(posts))
		for i, p := range posts {
			answer[strconv.Itoa(i+1)] = json.RawMessage(echoWords(p))
		}
		b, _ := json.Marshal(answer)
		return string(b)
	}
	return echoWords(text)
}

func echoWords(text string) string {
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[i+1:]
	}
	tags := []string{} // "[]", not "null", when no word qualifies
	for _, w := range strings.Fields(text) {
		w = strings.Trim(w, ".,:;!?«»\"'()[]")
		if len([]rune(w)) >= 3 && len(tags) < 3 {
			tags = append(tags, w)
		}
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

// EstimateTokens approximates how many prompt tokens a text costs: one per
// three characters, about what BPE tokenizers of GigaChat- and GPT-class
// models spend on Russian (fewer characters per token than on English).
// The figures built on it are for comparing prompts with each other.
func EstimateTokens(s string) int { return (utf8.RuneCountInString(s) + 2) / 3 }

// counters is the measurement shared by the emulators.
type counters struct {
	promptTokens atomic.Int64
	requests     sync.Map // kind → *atomic.Int64
	inFlight     atomic.Int64
	maxInFlight  atomic.Int64
	entered      chan string
}

func (c *counters) next(kind string) int {
	v, _ := c.requests.LoadOrStore(kind, new(atomic.Int64))
	return int(v.(*atomic.Int64).Add(1))
}

// Requests returns how many requests of kind arrived (failed ones included).
func (c *counters) Requests(kind string) int {
	v, ok := c.requests.Load(kind)
	if !ok {
		return 0
	}
	return int(v.(*atomic.Int64).Load())
}

// PromptTokens is the estimated prompt tokens (EstimateTokens, plus 4 per
// message for the chat template) of every chat request answered so far.
func (c *counters) PromptTokens() int { return int(c.promptTokens.Load()) }

// MaxInFlight is the high-water mark of concurrent API (not OAuth) calls.
func (c *counters) MaxInFlight() int { return int(c.maxInFlight.Load()) }

func (c *counters) enter(kind string) func() {
	n := c.inFlight.Add(1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if c.entered != nil {
		c.entered <- kind
	}
	return func() { c.inFlight.Add(-1) }
}

// Config scripts an emulator; zero values give sensible defaults.
type Config struct {
	// TLS serves HTTPS with httptest's self-signed certificate.
	TLS bool
	// Script injects failures (nil: never).
	Script Script
	// Chat answers chat requests (default EchoTags).
	Chat ChatFunc
	// EmbeddingDim is the vector size returned (default 1024).
	EmbeddingDim int
	// Gate, when set, holds every API call until a value is received from
	// it, so a test can pile calls up and measure concurrency.
	Gate chan struct{}
	// Entered, when set, receives the kind of every API call as it starts
	// (after counting, before the Gate).
	Entered chan string
	// TokenLifetime is the lifetime of GigaChat tokens (default 30 min).
	TokenLifetime time.Duration
	// Now is the emulator's clock for token expiry (default time.Now).
	Now func() time.Time
	// AuthKey is the GigaChat authorization key (or the OpenRouter API key)
	// the server accepts (default "test-key").
	AuthKey string
	// Scope is the GigaChat scope the key encodes (default GIGACHAT_API_PERS).
	Scope string
}

func (c *Config) defaults() {
	if c.Chat == nil {
		c.Chat = EchoTags
	}
	if c.EmbeddingDim == 0 {
		c.EmbeddingDim = 1024
	}
	if c.TokenLifetime == 0 {
		c.TokenLifetime = 30 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AuthKey == "" {
		c.AuthKey = "test-key"
	}
	if c.Scope == "" {
		c.Scope = "GIGACHAT_API_PERS"
	}
}

// OAuthRequest is what the GigaChat emulator saw in a token request.
type OAuthRequest struct {
	Authorization string
	RqUID         string
	ContentType   string
	Accept        string
	Scope         string
}

// GigaChat emulates the GigaChat OAuth endpoint (/api/v2/oauth) and REST API
// (/api/v1/chat/completions, /api/v1/embeddings) on one server.
type GigaChat struct {
	counters
	cfg    Config
	Server *httptest.Server

	mu         sync.Mutex
	tokens     map[string]time.Time // access token → expiry
	tokenSeq   int
	lastOAuth  OAuthRequest
	oauthError string // first malformed token request, if any
}

// NewGigaChat starts a GigaChat emulator, closed when the test ends.
func NewGigaChat(t testing.TB, cfg Config) *GigaChat {
	t.Helper()
	cfg.defaults()
	g := &GigaChat{cfg: cfg, tokens: map[string]time.Time{}}
	g.entered = cfg.Entered
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/oauth", g.oauth)
	mux.HandleFunc("POST /api/v1/chat/completions", g.api(KindChat))
	mux.HandleFunc("POST /api/v1/embeddings", g.api(KindEmbed))
	if cfg.TLS {
		g.Server = httptest.NewTLSServer(mux)
	} else {
		g.Server = httptest.NewServer(mux)
	}
	t.Cleanup(g.Server.Close)
	return g
}

// BaseURL is the API base to configure (…/api/v1).
func (g *GigaChat) BaseURL() string { return g.Server.URL + "/api/v1" }

// AuthURL is the OAuth URL to configure.
func (g *GigaChat) AuthURL() string { return g.Server.URL + "/api/v2/oauth" }

// LastOAuth returns the last token request as received.
func (g *GigaChat) LastOAuth() OAuthRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastOAuth
}

// OAuthProblem returns what was wrong with the first malformed token
// request ("" when none was).
func (g *GigaChat) OAuthProblem() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.oauthError
}

// RevokeTokens invalidates every issued token, so the next API call gets a
// 401 as after a server-side expiry.
func (g *GigaChat) RevokeTokens() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.tokens)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func (g *GigaChat) oauth(w http.ResponseWriter, r *http.Request) {
	seq := g.next(KindOAuth)
	_ = r.ParseForm()
	req := OAuthRequest{
		Authorization: r.Header.Get("Authorization"),
		RqUID:         r.Header.Get("RqUID"),
		ContentType:   r.Header.Get("Content-Type"),
		Accept:        r.Header.Get("Accept"),
		Scope:         r.PostForm.Get("scope"),
	}
	g.mu.Lock()
	g.lastOAuth = req
	g.mu.Unlock()
	if f := g.script(KindOAuth, seq); f != nil {
		writeFailure(w, r, f, `{"code":0,"message":"scripted failure"}`)
		return
	}
	problem := ""
	switch {
	case req.Authorization != "Basic "+g.cfg.AuthKey:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 4, "message": "Can't decode 'Authorization' header"})
		problem = "authorization " + req.Authorization
	case !uuidRE.MatchString(req.RqUID):
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 5, "message": "RqUID is not a UUID"})
		problem = "RqUID " + req.RqUID
	case !strings.HasPrefix(req.ContentType, "application/x-www-form-urlencoded"):
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 5, "message": "bad content type"})
		problem = "content type " + req.ContentType
	case req.Scope == "":
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 5, "message": "scope is empty"})
		problem = "empty scope"
	case req.Scope != g.cfg.Scope:
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 7, "message": "scope from db not fully includes consumed scope"})
		problem = "scope " + req.Scope
	}
	if problem != "" {
		g.mu.Lock()
		if g.oauthError == "" {
			g.oauthError = problem
		}
		g.mu.Unlock()
		return
	}
	g.mu.Lock()
	g.tokenSeq++
	token := fmt.Sprintf("token-%d", g.tokenSeq)
	exp := g.cfg.Now().Add(g.cfg.TokenLifetime)
	g.tokens[token] = exp
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": token, "expires_at": exp.UnixMilli()})
}

func (g *GigaChat) script(kind string, seq int) *Failure {
	if g.cfg.Script == nil {
		return nil
	}
	return g.cfg.Script(kind, seq)
}

func (g *GigaChat) api(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		seq := g.next(kind)
		bufferBody(r)
		done := g.enter(kind)
		defer done()
		if !gate(r.Context(), g.cfg.Gate) {
			return
		}
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		g.mu.Lock()
		exp, ok := g.tokens[token]
		g.mu.Unlock()
		if !ok || !g.cfg.Now().Before(exp) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "message": "Unauthorized"})
			return
		}
		if f := g.script(kind, seq); f != nil {
			writeFailure(w, r, f, fmt.Sprintf(`{"status":%d,"message":"scripted failure"}`, f.Status))
			return
		}
		serveModel(w, r, kind, g.cfg, &g.counters, "GigaChat:2.0.28.2")
	}
}

// OpenRouter emulates the OpenAI-compatible OpenRouter API
// (/api/v1/chat/completions, /api/v1/embeddings).
type OpenRouter struct {
	counters
	cfg    Config
	Server *httptest.Server

	mu         sync.Mutex
	lastHeader http.Header
}

// NewOpenRouter starts an OpenRouter emulator, closed when the test ends.
func NewOpenRouter(t testing.TB, cfg Config) *OpenRouter {
	t.Helper()
	cfg.defaults()
	o := &OpenRouter{cfg: cfg}
	o.entered = cfg.Entered
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/chat/completions", o.api(KindChat))
	mux.HandleFunc("POST /api/v1/embeddings", o.api(KindEmbed))
	if cfg.TLS {
		o.Server = httptest.NewTLSServer(mux)
	} else {
		o.Server = httptest.NewServer(mux)
	}
	t.Cleanup(o.Server.Close)
	return o
}

// BaseURL is the API base to configure (…/api/v1).
func (o *OpenRouter) BaseURL() string { return o.Server.URL + "/api/v1" }

// LastHeader returns the headers of the last API request.
func (o *OpenRouter) LastHeader() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastHeader
}

func (o *OpenRouter) api(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		seq := o.next(kind)
		bufferBody(r)
		done := o.enter(kind)
		defer done()
		o.mu.Lock()
		o.lastHeader = r.Header.Clone()
		o.mu.Unlock()
		if !gate(r.Context(), o.cfg.Gate) {
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+o.cfg.AuthKey {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": 401, "message": "No auth credentials found"}})
			return
		}
		if o.cfg.Script != nil {
			if f := o.cfg.Script(kind, seq); f != nil {
				writeFailure(w, r, f, fmt.Sprintf(`{"error":{"code":%d,"message":"scripted failure"}}`, f.Status))
				return
			}
		}
		serveModel(w, r, kind, o.cfg, &o.counters, "openai/gpt-4o-mini")
	}
}

// bufferBody reads the request body up front: the server notices a client
// that went away (and cancels the request context) only once the body has
// been consumed, and Hang and Gate wait on that context.
func bufferBody(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
}

// readAll returns the (buffered) request body and puts it back.
func readAll(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, err
}

func gate(ctx context.Context, g chan struct{}) bool {
	if g == nil {
		return true
	}
	select {
	case <-g:
		return true
	case <-ctx.Done():
		return false
	}
}

func writeFailure(w http.ResponseWriter, r *http.Request, f *Failure, defaultBody string) {
	if f.Hang {
		<-r.Context().Done()
		return
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	body := f.Body
	if body == "" {
		body = defaultBody
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(body))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func serveModel(w http.ResponseWriter, r *http.Request, kind string, cfg Config, c *counters, model string) {
	switch kind {
	case KindChat:
		var req struct {
			Model    string    `json:"model"`
			Messages []Message `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "message": err.Error()})
			return
		}
		for i, m := range req.Messages {
			if m.Role == "system" && i != 0 {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"status": 422, "message": "system message must be first"})
				return
			}
		}
		content := cfg.Chat(req.Model, req.Messages)
		prompt := 0
		for _, m := range req.Messages {
			prompt += EstimateTokens(m.Content) + 4
		}
		c.promptTokens.Add(int64(prompt))
		completion := EstimateTokens(content)
		writeJSON(w, http.StatusOK, map[string]any{
			"choices": []any{map[string]any{
				"message":       map[string]any{"role": "assistant", "content": content},
				"index":         0,
				"finish_reason": "stop",
			}},
			"created": time.Now().Unix(),
			"model":   model,
			"object":  "chat.completion",
			"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
		})
	case KindEmbed:
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "message": err.Error()})
			return
		}
		// Answer in reverse order, so a client that ignores index fails.
		data := make([]any, 0, len(req.Input))
		for i := len(req.Input) - 1; i >= 0; i-- {
			data = append(data, map[string]any{
				"object":    "embedding",
				"embedding": Vector(req.Input[i], cfg.EmbeddingDim),
				"index":     i,
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "model": req.Model, "data": data})
	}
}

// Vector is the emulator's embedding of text: deterministic, unit length,
// so a test can check that vectors come back in the right order.
func Vector(text string, dim int) []float32 { return ai.HashVector(text, dim) }

// Clock is a manual clock for token expiry and circuit-breaker cooldowns.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
