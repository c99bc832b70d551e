// Package openrouter is a thin client of the OpenAI-compatible OpenRouter
// API: chat completions as an ai.Tagger and embeddings as an ai.Embedder.
// OpenRouter may report an error inside an HTTP 200 body (when the model
// failed after the request was accepted); the client treats that like the
// status it carries.
package openrouter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/internal/httpx"
	"github.com/assistant-dev/assistant/config"
)

// ProviderName labels this provider in responses, errors and metrics.
const ProviderName = "openrouter"

// DefaultTitle is sent as X-Title (attribution only) unless replaced.
const DefaultTitle = "assistant"

const (
	embedBatch         = 16
	chatTemperature    = 0.1
	maxInlineRetryWait = 5 * time.Second
)

// Client talks to OpenRouter with one API key. Safe for concurrent use.
type Client struct {
	cfg        config.OpenRouter
	logger     *slog.Logger
	caller     *httpx.Caller
	referer    string
	title      string
	dimChecked atomic.Bool
}

// Option adjusts a Client.
type Option func(*options)

type options struct {
	httpClient *http.Client
	now        func() time.Time
	referer    string
	title      string
}

// WithHTTPClient replaces the HTTP client.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithClock replaces the clock used by the breaker and Retry-After dates.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithAttribution sets the optional HTTP-Referer and X-Title headers.
func WithAttribution(referer, title string) Option {
	return func(o *options) { o.referer, o.title = referer, title }
}

// New builds a client from cfg.
func New(cfg config.OpenRouter, logger *slog.Logger, opts ...Option) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("openrouter: api_key (OPENROUTER_API_KEY) is not set")
	}
	if cfg.BaseURL == "" {
		return nil, errors.New("openrouter: base_url must be set")
	}
	o := options{title: DefaultTitle}
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.httpClient == nil {
		tlsCfg, err := httpx.TLSConfig("", false)
		if err != nil {
			return nil, fmt.Errorf("openrouter: tls: %w", err)
		}
		o.httpClient = httpx.NewHTTPClient(tlsCfg)
	}
	c := &Client{cfg: cfg, logger: logger, referer: o.referer, title: o.title}
	c.caller = &httpx.Caller{
		Provider:      ProviderName,
		HTTP:          o.httpClient,
		Limiter:       httpx.NewLimiter(cfg.MaxConcurrency),
		Breaker:       httpx.NewBreaker(cfg.BreakerFailures, cfg.BreakerCooldown, o.now),
		Timeout:       cfg.Timeout,
		MaxInlineWait: maxInlineRetryWait,
		Now:           o.now,
		Logger:        logger,
		BodyError:     bodyError,
	}
	return c, nil
}

// bodyError finds {"error":{"code":...,"message":...}} in a 200 body, or a
// choice that finished with "error".
func bodyError(body []byte) (int, string, bool) {
	// Cheap pre-check: most bodies have no error key at all.
	if !strings.Contains(string(body), `"error"`) {
		return 0, "", false
	}
	var v struct {
		Error *struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
		} `json:"error"`
		Choices []struct {
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if json.Unmarshal(body, &v) != nil {
		return 0, "", false
	}
	if v.Error != nil {
		code, _ := strconv.Atoi(strings.Trim(string(v.Error.Code), `"`))
		msg := v.Error.Message
		if msg == "" {
			msg = "error in response body"
		}
		return code, msg, true
	}
	for _, ch := range v.Choices {
		if ch.FinishReason == "error" {
			return 0, "model finished with an error", true
		}
	}
	return 0, "", false
}

// Tagger returns the client's chat completions as an ai.Tagger.
func (c *Client) Tagger() ai.Tagger { return chatTagger{c} }

// Embedder returns the client's embeddings as an ai.Embedder.
func (c *Client) Embedder() ai.Embedder { return embedder{c} }

type chatTagger struct{ c *Client }

func (t chatTagger) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	return t.c.Tag(ctx, req)
}

type embedder struct{ c *Client }

func (e embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.c.Embed(ctx, texts)
}
func (e embedder) Dimension() int { return e.c.cfg.EmbeddingDim }
func (e embedder) Model() string  { return e.c.cfg.EmbeddingModel }

// Tag asks the chat model for tags with the strict prompt; the answer is
// returned unvalidated.
func (c *Client) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	return httpx.ChatTag(ctx, c.call, httpx.Chat{
		Provider:    ProviderName,
		Model:       c.cfg.ChatModel,
		Temperature: chatTemperature,
	}, req)
}

// Embed returns one vector per text, in batches, checking each answer's
// dimension against openrouter.embedding_dim.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return httpx.EmbedBatches(ctx, c.call, httpx.Embeddings{
		Provider:  ProviderName,
		Model:     c.cfg.EmbeddingModel,
		Setting:   "openrouter.embedding_dim",
		Dim:       c.cfg.EmbeddingDim,
		Batch:     embedBatch,
		Logger:    c.logger,
		Confirmed: &c.dimChecked,
	}, texts)
}

func (c *Client) call(ctx context.Context, path string, body any) ([]byte, error) {
	return c.caller.Do(ctx, httpx.Request{
		Method: http.MethodPost,
		URL:    strings.TrimRight(c.cfg.BaseURL, "/") + path,
		Body:   body,
		Header: func(h http.Header) error {
			h.Set("Authorization", "Bearer "+c.cfg.APIKey)
			if c.referer != "" {
				h.Set("HTTP-Referer", c.referer)
			}
			if c.title != "" {
				h.Set("X-Title", c.title)
			}
			return nil
		},
	})
}
