// Package gigachat is a thin client of Sber's GigaChat REST API (no Go
// module for it is available): OAuth token handling, chat completions as an
// ai.Tagger and embeddings as an ai.Embedder. Chat and embedding calls of one
// Client share one concurrency limit and one circuit breaker, since the
// provider's limits apply per account (PERS: one stream).
package gigachat

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/internal/httpx"
	"github.com/assistant-dev/assistant/config"
)

// ProviderName labels this provider in responses, errors and metrics.
const ProviderName = "gigachat"

// tokenRefreshMargin: a token is renewed this long before it expires, as
// the official SDK does.
const tokenRefreshMargin = 60 * time.Second

// embedBatch is how many texts go into one embeddings request.
const embedBatch = 16

// chatTemperature is low: tagging wants the most likely words, not variety.
const chatTemperature = 0.1

// maxInlineRetryWait is the longest Retry-After a call waits out itself.
const maxInlineRetryWait = 5 * time.Second

// Client talks to one GigaChat account. Safe for concurrent use.
type Client struct {
	cfg    config.GigaChat
	logger *slog.Logger
	now    func() time.Time
	caller *httpx.Caller

	mu       sync.Mutex
	token    string
	expires  time.Time
	inflight *tokenFetch // the one token request under way, if any

	dimChecked atomic.Bool // the first answer's dimension was logged
}

// tokenFetch is one OAuth request that concurrent callers wait on together.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// Option adjusts a Client (for tests).
type Option func(*options)

type options struct {
	httpClient *http.Client
	now        func() time.Time
}

// WithHTTPClient replaces the HTTP client (and so the TLS set-up).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithClock replaces the clock used for token expiry and the breaker.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New builds a client from cfg. It trusts the system CA pool plus cfg.CAFile
// (for the Russian Trusted Root CA); cfg.InsecureSkipVerify turns
// verification off and is logged at WARN.
func New(cfg config.GigaChat, logger *slog.Logger, opts ...Option) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("gigachat: api_key (GIGACHAT_API_KEY) is not set")
	}
	if cfg.BaseURL == "" || cfg.AuthURL == "" {
		return nil, errors.New("gigachat: base_url and auth_url must be set")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.httpClient == nil {
		tlsCfg, err := httpx.TLSConfig(cfg.CAFile, cfg.InsecureSkipVerify)
		if err != nil {
			return nil, fmt.Errorf("gigachat: tls: %w", err)
		}
		o.httpClient = httpx.NewHTTPClient(tlsCfg)
	}
	if cfg.InsecureSkipVerify {
		logger.Warn("gigachat: TLS certificate verification is OFF (gigachat.insecure_skip_verify); the API key and posts can be intercepted — use gigachat.ca_file instead",
			"provider", ProviderName, "base_url", cfg.BaseURL, "auth_url", cfg.AuthURL)
	}
	c := &Client{cfg: cfg, logger: logger, now: o.now}
	c.caller = &httpx.Caller{
		Provider:      ProviderName,
		HTTP:          o.httpClient,
		Limiter:       httpx.NewLimiter(cfg.MaxConcurrency),
		Breaker:       httpx.NewBreaker(cfg.BreakerFailures, cfg.BreakerCooldown, o.now),
		Timeout:       cfg.Timeout,
		MaxInlineWait: maxInlineRetryWait,
		Now:           o.now,
		Logger:        logger,
	}
	return c, nil
}

// Tagger returns the client's chat completions as an ai.Tagger.
func (c *Client) Tagger() ai.Tagger { return chatTagger{c} }

// Embedder returns the client's embeddings as an ai.Embedder.
func (c *Client) Embedder() ai.Embedder { return embedder{c} }

type chatTagger struct{ c *Client }

func (t chatTagger) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	return t.c.Tag(ctx, req)
}

// TagBatch tags several posts in one call (ai.BuildBatchTagPrompt): on the
// personal tier, which serves one request at a time, it is the system
// prompt sent once instead of once per post.
func (t chatTagger) TagBatch(ctx context.Context, reqs []ai.TagRequest) (ai.TagResponse, error) {
	return httpx.ChatTagBatch(ctx, t.c.call, t.c.chat(), reqs)
}

var _ ai.BatchTagger = chatTagger{}

type embedder struct{ c *Client }

func (e embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.c.Embed(ctx, texts)
}
func (e embedder) Dimension() int { return e.c.cfg.EmbeddingDim }
func (e embedder) Model() string  { return e.c.cfg.EmbeddingModel }

// Tag asks the chat model for tags with the strict prompt. The answer is
// returned unvalidated (ai.ValidateTags does that).
func (c *Client) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	// finish_reason "blacklist" is a topic refusal: the content is a canned
	// text, which the validator turns into no tags.
	return httpx.ChatTag(ctx, c.call, c.chat(), req)
}

func (c *Client) chat() httpx.Chat {
	return httpx.Chat{
		Provider:    ProviderName,
		Model:       c.cfg.ChatModel,
		Temperature: chatTemperature,
		StreamFalse: true,
	}
}

// Embed returns one vector per text, in batches of embedBatch texts. Every
// answer's dimension is checked against the configured embedding_dim (the
// first one is logged): a mismatch would corrupt the vector collection.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return httpx.EmbedBatches(ctx, c.call, httpx.Embeddings{
		Provider:  ProviderName,
		Model:     c.cfg.EmbeddingModel,
		Setting:   "gigachat.embedding_dim",
		Dim:       c.cfg.EmbeddingDim,
		Batch:     embedBatch,
		Logger:    c.logger,
		Confirmed: &c.dimChecked,
	}, texts)
}

// call POSTs body to path with a valid token; after a 401 it drops the
// token, authenticates again and retries once.
func (c *Client) call(ctx context.Context, path string, body any) ([]byte, error) {
	u := strings.TrimRight(c.cfg.BaseURL, "/") + path
	for attempt := 0; ; attempt++ {
		token, err := c.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.caller.Do(ctx, httpx.Request{
			Method: http.MethodPost,
			URL:    u,
			Body:   body,
			Header: func(h http.Header) error {
				h.Set("Authorization", "Bearer "+token)
				return nil
			},
		})
		var ae *ai.APIError
		if attempt == 0 && errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			c.logger.Info("gigachat token rejected, authenticating again", "provider", ProviderName)
			c.dropToken(token)
			continue
		}
		return resp, err
	}
}

func (c *Client) dropToken(token string) {
	c.mu.Lock()
	if c.token == token {
		c.token = ""
	}
	c.mu.Unlock()
}

// accessToken returns a cached token, or fetches one. Concurrent callers
// share a single OAuth request instead of each sending their own.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.token != "" && c.now().Add(tokenRefreshMargin).Before(c.expires) {
		t := c.token
		c.mu.Unlock()
		return t, nil
	}
	f := c.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		c.inflight = f
		// The fetch outlives any one caller's context: others wait on it.
		go c.fetchToken(context.WithoutCancel(ctx), f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", &ai.APIError{Provider: ProviderName, Message: "waiting for an access token: " + ctx.Err().Error(), Temporary: true, Err: ctx.Err()}
	}
}

func (c *Client) fetchToken(ctx context.Context, f *tokenFetch) {
	timeout := c.cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	token, expires, err := c.requestToken(ctx)
	c.mu.Lock()
	if err == nil {
		c.token, c.expires = token, expires
	}
	c.inflight = nil
	c.mu.Unlock()
	f.token, f.err = token, err
	close(f.done)
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresAt   int64  `json:"expires_at"` // unix milliseconds
}

func (c *Client) requestToken(ctx context.Context) (string, time.Time, error) {
	rqUID, err := newUUID()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("gigachat oauth: RqUID: %w", err)
	}
	form := url.Values{"scope": {c.cfg.Scope}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.AuthURL, strings.NewReader(form))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("gigachat oauth: %w", err)
	}
	req.Header.Set("Authorization", "Basic "+c.cfg.APIKey)
	req.Header.Set("RqUID", rqUID)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.caller.HTTP.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("gigachat oauth: %w", httpx.NetworkError(ProviderName, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("gigachat oauth: %w", httpx.NetworkError(ProviderName, err))
	}
	if resp.StatusCode != http.StatusOK {
		ae := httpx.StatusError(ProviderName, resp.StatusCode, "oauth: "+httpx.ErrorMessage(body), resp.Header, c.now())
		return "", time.Time{}, fmt.Errorf("gigachat oauth: %w", ae)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		ae := &ai.APIError{Provider: ProviderName, Status: resp.StatusCode, Message: "oauth: no access_token in response", Temporary: true, Err: err}
		return "", time.Time{}, fmt.Errorf("gigachat oauth: %w", ae)
	}
	c.logger.Debug("gigachat token obtained", "expires_at", time.UnixMilli(tr.ExpiresAt))
	return tr.AccessToken, time.UnixMilli(tr.ExpiresAt), nil
}

// newUUID returns a random (version 4) UUID for the RqUID header.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
