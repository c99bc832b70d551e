// Package provider builds the model providers named in the configuration
// (ai.tagger, ai.embedder: "auto", one name, or a comma-separated chain) and
// hands them to the stages. Each provider's client is created once per Set
// and shared, so GigaChat's chat and embedding calls share one concurrency
// limit and one circuit breaker.
package provider

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/gigachat"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/ai/openai"
	"github.com/assistant-dev/assistant/ai/openrouter"
	"github.com/assistant-dev/assistant/config"
)

// Provider names accepted in ai.tagger and ai.embedder.
const (
	GigaChat   = "gigachat"
	OpenRouter = "openrouter"
	// OpenAI is any OpenAI-compatible server (Ollama, llama.cpp, vLLM,
	// TEI, LocalAI), configured in ai.openai.
	OpenAI = "openai"
	Local  = "local"
)

// Set holds the providers of one configuration. Safe for concurrent use.
type Set struct {
	cfg           *config.Config
	opts          options
	mu            sync.Mutex // guards the maps: the embedder is built on first use
	logger        *slog.Logger
	taggerNames   []string
	embedderNames []string
	taggers       map[string]ai.Tagger
	embedders     map[string]ai.Embedder
}

// Option adjusts how a Set builds its clients (for tests).
type Option func(*options)

type options struct {
	gigachat   []gigachat.Option
	openrouter []openrouter.Option
	openai     []openai.Option
	local      []local.Option
}

// WithLocalOptions passes options to the local tagger (the tag stage gives
// it the Redis table of per-channel document frequencies).
func WithLocalOptions(opts ...local.Option) Option {
	return func(o *options) { o.local = append(o.local, opts...) }
}

// WithGigaChatOptions passes options to the GigaChat client.
func WithGigaChatOptions(opts ...gigachat.Option) Option {
	return func(o *options) { o.gigachat = append(o.gigachat, opts...) }
}

// WithOpenRouterOptions passes options to the OpenRouter client.
func WithOpenRouterOptions(opts ...openrouter.Option) Option {
	return func(o *options) { o.openrouter = append(o.openrouter, opts...) }
}

// WithOpenAIOptions passes options to the OpenAI-compatible client.
func WithOpenAIOptions(opts ...openai.Option) Option {
	return func(o *options) { o.openai = append(o.openai, opts...) }
}

// New resolves cfg.AI.Tagger and cfg.AI.Embedder (spec section 8) and builds
// the clients they name, each once. An unknown name or a client that cannot
// be built (no key, unreadable ca_file) is an error.
func New(cfg *config.Config, logger *slog.Logger, opts ...Option) (*Set, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Set{
		logger:        logger,
		taggerNames:   cfg.ResolveProviders(cfg.AI.Tagger),
		embedderNames: cfg.ResolveProviders(cfg.AI.Embedder),
		taggers:       map[string]ai.Tagger{},
		embedders:     map[string]ai.Embedder{},
	}
	if len(s.taggerNames) == 0 {
		return nil, errors.New("ai.tagger names no provider")
	}
	if len(s.embedderNames) == 0 {
		return nil, errors.New("ai.embedder names no provider")
	}
	// The embedder is the first of its list; the rest are not built.
	s.embedderNames = s.embedderNames[:1]
	s.cfg, s.opts = cfg, o
	for _, n := range append(append([]string(nil), s.taggerNames...), s.embedderNames...) {
		switch n {
		case GigaChat, OpenRouter, OpenAI, Local:
		default:
			return nil, fmt.Errorf("unknown AI provider %q (want %s, %s, %s or %s)", n, GigaChat, OpenRouter, OpenAI, Local)
		}
	}
	// The taggers' clients are built now, so a stage that tags fails at
	// start when one cannot be built. The embedder is built by the first
	// Embedder call: a process whose stages embed nothing never needs it,
	// so "ai.embedder: gigachat" without a key does not stop the tag stage.
	for _, n := range s.taggerNames {
		if err := s.build(n); err != nil {
			return nil, err
		}
	}
	logger.Info("tagger chain", "names", s.taggerNames, "setting", cfg.AI.Tagger)
	return s, nil
}

// build makes the client of one provider (both its roles) once; s.mu held
// or not yet shared.
func (s *Set) build(name string) error {
	if _, done := s.taggers[name]; done {
		return nil
	}
	cfg, o, logger := s.cfg, s.opts, s.logger
	switch name {
	case GigaChat:
		c, err := gigachat.New(cfg.AI.GigaChat, logger, o.gigachat...)
		if err != nil {
			return fmt.Errorf("build gigachat provider: %w", err)
		}
		s.taggers[GigaChat], s.embedders[GigaChat] = c.Tagger(), c.Embedder()
	case OpenRouter:
		c, err := openrouter.New(cfg.AI.OpenRouter, logger, o.openrouter...)
		if err != nil {
			return fmt.Errorf("build openrouter provider: %w", err)
		}
		s.taggers[OpenRouter], s.embedders[OpenRouter] = c.Tagger(), c.Embedder()
	case OpenAI:
		c, err := openai.New(openai.FromConfig(cfg.AI.OpenAI), logger, o.openai...)
		if err != nil {
			return fmt.Errorf("build openai provider: %w", err)
		}
		s.taggers[OpenAI], s.embedders[OpenAI] = c.Tagger(), c.Embedder()
	case Local:
		s.taggers[Local] = local.NewTagger(append([]local.Option{local.WithLogger(logger)}, o.local...)...)
		emb, err := localEmbedder(cfg.AI.Local, logger)
		if err != nil {
			return err
		}
		s.embedders[Local] = emb
	}
	return nil
}

// TaggerNames returns the tagger chain, in the order tried.
func (s *Set) TaggerNames() []string { return append([]string(nil), s.taggerNames...) }

// EmbedderName returns the embedding provider's name.
func (s *Set) EmbedderName() string { return s.embedderNames[0] }

// Tagger returns the configured tagger: the provider itself when the chain
// has one name, else a Chain.
func (s *Set) Tagger() (ai.Tagger, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.taggerNames) == 1 {
		return s.taggers[s.taggerNames[0]], nil
	}
	ch := &Chain{logger: s.logger}
	for _, n := range s.taggerNames {
		ch.names = append(ch.names, n)
		ch.taggers = append(ch.taggers, s.taggers[n])
	}
	return ch, nil
}

// Embedder returns the configured embedder (the first name of its list),
// building its client on the first call; an error names what is missing
// (a key, a ca_file).
func (s *Set) Embedder() (ai.Embedder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.embedderNames[0]
	if _, built := s.embedders[name]; !built {
		if err := s.build(name); err != nil {
			return nil, fmt.Errorf("ai.embedder %s: %w", name, err)
		}
		e := s.embedders[name]
		s.logger.Info("embedder", "name", name, "model", e.Model(), "dim", e.Dimension(), "setting", s.cfg.AI.Embedder)
	}
	return s.embedders[name], nil
}

// Chain tries taggers in order: when one fails (with any error) the next
// is asked; when all fail the last error is returned. It stops early when
// the context ends.
type Chain struct {
	names   []string
	taggers []ai.Tagger
	logger  *slog.Logger
}

// NewChain builds a chain from names and taggers of equal length.
func NewChain(logger *slog.Logger, names []string, taggers []ai.Tagger) *Chain {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Chain{names: names, taggers: taggers, logger: logger}
}

// TagBatch implements ai.BatchTagger: the chain's members that tag batches
// are asked in order; members that do not (local) are skipped, as the
// caller tags each post on its own through Tag when the batch fails.
func (c *Chain) TagBatch(ctx context.Context, reqs []ai.TagRequest) (ai.TagResponse, error) {
	var lastErr error
	for i, t := range c.taggers {
		bt, ok := t.(ai.BatchTagger)
		if !ok {
			continue
		}
		resp, err := bt.TagBatch(ctx, reqs)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		c.logger.WarnContext(ctx, "batch tagging failed, trying the next provider", "provider", c.names[i], "error", err)
	}
	if lastErr == nil {
		lastErr = ErrNoBatchTagger
	}
	return ai.TagResponse{}, fmt.Errorf("tagger chain %s: %w", strings.Join(c.names, ","), lastErr)
}

// ErrNoBatchTagger is returned by Chain.TagBatch when no member tags
// batches.
var ErrNoBatchTagger = errors.New("no provider of the chain tags batches")

// BatchCapable reports whether t can tag several posts in one call (a
// Chain only when one of its members can).
func BatchCapable(t ai.Tagger) bool {
	if c, ok := t.(*Chain); ok {
		for _, m := range c.taggers {
			if BatchCapable(m) {
				return true
			}
		}
		return false
	}
	_, ok := t.(ai.BatchTagger)
	return ok
}

// Tag implements ai.Tagger.
func (c *Chain) Tag(ctx context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	var lastErr error
	for i, t := range c.taggers {
		resp, err := t.Tag(ctx, req)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		if i+1 < len(c.taggers) {
			c.logger.WarnContext(ctx, "tagger failed, trying the next one",
				"provider", c.names[i], "next", c.names[i+1], "error", err)
		}
	}
	return ai.TagResponse{}, fmt.Errorf("tagger chain %s: %w", strings.Join(c.names, ","), lastErr)
}

// localEmbedder is the offline embedder: hashed words and the embedded
// word vectors, with the trained semantic model of ai.local.semantic_model
// when that file exists (not yet trained: without it, with a warning).
func localEmbedder(c config.Local, logger *slog.Logger) (*local.Embedder, error) {
	words := local.WithWordVectors(local.DefaultWordVectors(), c.WordVectorShare)
	if c.SemanticModel == "" {
		return local.NewEmbedder(c.EmbeddingDim, words), nil
	}
	m, err := local.LoadSemanticModel(c.SemanticModel)
	if errors.Is(err, fs.ErrNotExist) {
		logger.Warn("ai.local.semantic_model does not exist yet: embedding with hashed words and word vectors only; run `assistant search train`, then reindex",
			slog.String("path", c.SemanticModel))
		return local.NewEmbedder(c.EmbeddingDim, words), nil
	}
	if err != nil {
		return nil, fmt.Errorf("build local provider: %w", err)
	}
	return local.NewEmbedder(c.EmbeddingDim, local.WithSemanticModel(m, c.SemanticShare), words), nil
}
