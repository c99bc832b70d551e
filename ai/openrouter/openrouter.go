// Package openrouter is the OpenRouter provider: OpenRouter's API is
// OpenAI-compatible, so this is the openai package's client with
// OpenRouter's rules on top — an API key is required, and the optional
// attribution headers HTTP-Referer and X-Title are sent. OpenRouter may
// report an error inside an HTTP 200 body (a model that failed after the
// request was accepted); the shared client treats that like the status it
// carries.
package openrouter

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/assistant-dev/assistant/ai/openai"
	"github.com/assistant-dev/assistant/config"
)

// ProviderName labels this provider in responses, errors and metrics.
const ProviderName = "openrouter"

// DefaultTitle is sent as X-Title (attribution only) unless replaced.
const DefaultTitle = "assistant"

const embedBatch = 16

// Client talks to OpenRouter with one API key. Safe for concurrent use.
type Client struct {
	*openai.Client
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
	var oo []openai.Option
	if o.httpClient != nil {
		oo = append(oo, openai.WithHTTPClient(o.httpClient))
	}
	if o.now != nil {
		oo = append(oo, openai.WithClock(o.now))
	}
	oo = append(oo, openai.WithHeader(func(h http.Header) {
		if o.referer != "" {
			h.Set("HTTP-Referer", o.referer)
		}
		if o.title != "" {
			h.Set("X-Title", o.title)
		}
	}))
	c, err := openai.New(openai.Settings{
		Provider:        ProviderName,
		BaseURL:         cfg.BaseURL,
		APIKey:          cfg.APIKey,
		ChatModel:       cfg.ChatModel,
		EmbeddingModel:  cfg.EmbeddingModel,
		EmbeddingDim:    cfg.EmbeddingDim,
		DimSetting:      "openrouter.embedding_dim",
		EmbeddingBatch:  embedBatch,
		MaxConcurrency:  cfg.MaxConcurrency,
		Timeout:         cfg.Timeout,
		BreakerFailures: cfg.BreakerFailures,
		BreakerCooldown: cfg.BreakerCooldown,
	}, logger, oo...)
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}
