// Package openai is a client of OpenAI-compatible HTTP APIs — POST
// /chat/completions as an ai.Tagger (and ai.BatchTagger) and POST /embeddings
// as an ai.Embedder — for local model servers (Ollama, llama.cpp's server,
// vLLM, Hugging Face TEI, LocalAI) and for hosted ones: the openrouter
// package is this client with OpenRouter's key rule and attribution headers.
//
// The servers differ in small ways the client absorbs: an API key is
// optional (Ollama and TEI ignore it unless started with one); errors come as
// OpenAI's {"error":{"message"}}, vLLM's top-level {"message"} or TEI's
// {"error":"...","error_type"}; TEI refuses a batch over its
// --max-client-batch-size with 413, so a refused batch is split in halves
// and retried; and an error may arrive inside a 200 body (OpenRouter), which
// is treated like the status it carries.
package openai

import (
	"context"
	"encoding/json"
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

// ProviderName labels the OpenAI-compatible provider ("openai" in
// ai.tagger and ai.embedder) in responses, errors and metrics.
const ProviderName = "openai"

const (
	defaultEmbedBatch  = 16
	chatTemperature    = 0.1
	maxInlineRetryWait = 5 * time.Second
)

// Settings is what a Client needs to know about its server. config.OpenAI
// maps onto it (FromConfig); the openrouter package fills it from its own
// section.
type Settings struct {
	// Provider labels responses, errors and metrics.
	Provider string
	// BaseURL is the API root that /chat/completions and /embeddings are
	// appended to (Ollama: http://127.0.0.1:11434/v1).
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>" when set.
	APIKey         string
	ChatModel      string
	EmbeddingModel string
	// EmbeddingDim is the size every vector must have.
	EmbeddingDim int
	// DimSetting is the config key of EmbeddingDim, named in a mismatch
	// error so the user knows what to change.
	DimSetting string
	// EmbeddingBatch is the most texts per embeddings request (default 16).
	EmbeddingBatch  int
	MaxConcurrency  int
	Timeout         time.Duration
	BreakerFailures int
	BreakerCooldown time.Duration
	// CAFile adds a PEM bundle to the trusted roots (a self-hosted server
	// behind an internal CA).
	CAFile string
}

// FromConfig returns the settings of the "openai" provider (ai.openai).
func FromConfig(c config.OpenAI) Settings {
	return Settings{
		Provider:        ProviderName,
		BaseURL:         c.BaseURL,
		APIKey:          c.APIKey,
		ChatModel:       c.ChatModel,
		EmbeddingModel:  c.EmbeddingModel,
		EmbeddingDim:    c.EmbeddingDim,
		DimSetting:      "ai.openai.embedding_dim",
		EmbeddingBatch:  c.EmbeddingBatch,
		MaxConcurrency:  c.MaxConcurrency,
		Timeout:         c.Timeout,
		BreakerFailures: c.BreakerFailures,
		BreakerCooldown: c.BreakerCooldown,
		CAFile:          c.CAFile,
	}
}

// Client talks to one OpenAI-compatible server. Safe for concurrent use.
type Client struct {
	s          Settings
	logger     *slog.Logger
	caller     *httpx.Caller
	header     func(http.Header)
	dimChecked atomic.Bool
}

// Option adjusts a Client.
type Option func(*options)

type options struct {
	httpClient *http.Client
	now        func() time.Time
	header     func(http.Header)
}

// WithHTTPClient replaces the HTTP client.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithClock replaces the clock used by the breaker and Retry-After dates.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithHeader adds headers to every request (OpenRouter's attribution).
func WithHeader(set func(http.Header)) Option { return func(o *options) { o.header = set } }

// New builds a client. BaseURL is required; the models are checked when a
// role is used (a server may serve only embeddings).
func New(s Settings, logger *slog.Logger, opts ...Option) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if s.Provider == "" {
		s.Provider = ProviderName
	}
	if s.BaseURL == "" {
		return nil, fmt.Errorf("%s: base_url must be set", s.Provider)
	}
	if s.EmbeddingBatch <= 0 {
		s.EmbeddingBatch = defaultEmbedBatch
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.httpClient == nil {
		tlsCfg, err := httpx.TLSConfig(s.CAFile, false)
		if err != nil {
			return nil, fmt.Errorf("%s: tls: %w", s.Provider, err)
		}
		o.httpClient = httpx.NewHTTPClient(tlsCfg)
	}
	c := &Client{s: s, logger: logger, header: o.header}
	c.caller = &httpx.Caller{
		Provider:      s.Provider,
		HTTP:          o.httpClient,
		Limiter:       httpx.NewLimiter(s.MaxConcurrency),
		Breaker:       httpx.NewBreaker(s.BreakerFailures, s.BreakerCooldown, o.now),
		Timeout:       s.Timeout,
		MaxInlineWait: maxInlineRetryWait,
		Now:           o.now,
		Logger:        logger,
		BodyError:     BodyError,
	}
	return c, nil
}

// BodyError finds {"error":{"code":...,"message":...}} in a 200 body, or a
// choice that finished with "error" (OpenRouter reports a model that failed
// after the request was accepted that way).
func BodyError(body []byte) (int, string, bool) {
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

// Tagger returns the client's chat completions as an ai.Tagger that also
// tags batches (ai.BatchTagger).
func (c *Client) Tagger() ai.Tagger { return chatTagger{c} }

// Embedder returns the client's embeddings as an ai.Embedder.
func (c *Client) Embedder() ai.Embedder { return embedder{c} }

type chatTagger struct{ c *Client }

var _ ai.BatchTagger = chatTagger{}

func (t chatTagger) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	return t.c.Tag(ctx, req)
}

func (t chatTagger) TagBatch(ctx context.Context, reqs []ai.TagRequest) (ai.TagResponse, error) {
	return t.c.TagBatch(ctx, reqs)
}

type embedder struct{ c *Client }

func (e embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.c.Embed(ctx, texts)
}
func (e embedder) Dimension() int { return e.c.s.EmbeddingDim }
func (e embedder) Model() string  { return e.c.s.EmbeddingModel }

func (c *Client) chat() (httpx.Chat, error) {
	if c.s.ChatModel == "" {
		return httpx.Chat{}, &ai.APIError{Provider: c.s.Provider, Message: "no chat model configured (chat_model)"}
	}
	return httpx.Chat{Provider: c.s.Provider, Model: c.s.ChatModel, Temperature: chatTemperature}, nil
}

// Tag asks the chat model for tags with the strict prompt; the answer is
// returned unvalidated.
func (c *Client) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	chat, err := c.chat()
	if err != nil {
		return ai.TagResponse{}, err
	}
	return httpx.ChatTag(ctx, c.call, chat, req)
}

// TagBatch asks the chat model for the tags of several posts in one call
// (ai.BuildBatchTagPrompt); the answer is returned unvalidated.
func (c *Client) TagBatch(ctx context.Context, reqs []ai.TagRequest) (ai.TagResponse, error) {
	chat, err := c.chat()
	if err != nil {
		return ai.TagResponse{}, err
	}
	return httpx.ChatTagBatch(ctx, c.call, chat, reqs)
}

// Embed returns one vector per text, in batches, checking each answer's
// dimension against the configured one.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if c.s.EmbeddingModel == "" {
		return nil, &ai.APIError{Provider: c.s.Provider, Message: "no embedding model configured (embedding_model)"}
	}
	return httpx.EmbedBatches(ctx, c.call, httpx.Embeddings{
		Provider:  c.s.Provider,
		Model:     c.s.EmbeddingModel,
		Setting:   c.s.DimSetting,
		Dim:       c.s.EmbeddingDim,
		Batch:     c.s.EmbeddingBatch,
		Logger:    c.logger,
		Confirmed: &c.dimChecked,
	}, texts)
}

func (c *Client) call(ctx context.Context, path string, body any) ([]byte, error) {
	return c.caller.Do(ctx, httpx.Request{
		Method: http.MethodPost,
		URL:    strings.TrimRight(c.s.BaseURL, "/") + path,
		Body:   body,
		Header: func(h http.Header) error {
			if c.s.APIKey != "" {
				h.Set("Authorization", "Bearer "+c.s.APIKey)
			}
			if c.header != nil {
				c.header(h)
			}
			return nil
		},
	})
}
