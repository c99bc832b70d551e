package provider

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/aitest"
	"github.com/assistant-dev/assistant/ai/gigachat"
	"github.com/assistant-dev/assistant/config"
)

func TestNewResolvesNames(t *testing.T) {
	tests := []struct {
		name        string
		tagger      string
		embedder    string
		gigaKey     string
		orKey       string
		wantTaggers []string
		wantEmb     string
		wantErr     string
		wantEmbErr  string // the embedder fails only when asked for
	}{
		{name: "auto offline", tagger: "auto", embedder: "auto", wantTaggers: []string{"local"}, wantEmb: "local"},
		{name: "auto with openrouter key", tagger: "auto", embedder: "local", orKey: "k", wantTaggers: []string{"openrouter"}, wantEmb: "local"},
		{name: "auto with gigachat key", tagger: "auto", embedder: "auto", gigaKey: "k", orKey: "k", wantTaggers: []string{"gigachat"}, wantEmb: "gigachat"},
		{name: "chain", tagger: "gigachat, openrouter,local", embedder: "local,gigachat", gigaKey: "k", orKey: "k", wantTaggers: []string{"gigachat", "openrouter", "local"}, wantEmb: "local"},
		{name: "unknown", tagger: "gigachat,yandexgpt", embedder: "local", gigaKey: "k", wantErr: "yandexgpt"},
		{name: "missing key", tagger: "openrouter", embedder: "local", wantErr: "OPENROUTER_API_KEY"},
		{name: "unused embedder without key", tagger: "local", embedder: "gigachat", wantTaggers: []string{"local"}, wantEmb: "gigachat", wantEmbErr: "GIGACHAT"},
		{name: "empty", tagger: " , ", embedder: "local", wantErr: "no provider"},
		{name: "openai needs no key", tagger: "openai,local", embedder: "openai", wantTaggers: []string{"openai", "local"}, wantEmb: "openai"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.AI.Tagger, cfg.AI.Embedder = tt.tagger, tt.embedder
			cfg.AI.GigaChat.APIKey, cfg.AI.OpenRouter.APIKey = tt.gigaKey, tt.orKey
			var logs bytes.Buffer
			s, err := New(&cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.TaggerNames(); strings.Join(got, ",") != strings.Join(tt.wantTaggers, ",") {
				t.Errorf("taggers %v, want %v", got, tt.wantTaggers)
			}
			if s.EmbedderName() != tt.wantEmb {
				t.Errorf("embedder %s, want %s", s.EmbedderName(), tt.wantEmb)
			}
			if !strings.Contains(logs.String(), "tagger chain") {
				t.Errorf("choice not logged: %s", logs.String())
			}
			if strings.Contains(logs.String(), "api_key=k") {
				t.Errorf("key logged: %s", logs.String())
			}
			tg, err := s.Tagger()
			if err != nil {
				t.Fatal(err)
			}
			if _, isChain := tg.(*Chain); isChain != (len(tt.wantTaggers) > 1) {
				t.Errorf("chain wrapper %v for %d providers", isChain, len(tt.wantTaggers))
			}
			if _, err := s.Embedder(); tt.wantEmbErr == "" && err != nil || tt.wantEmbErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantEmbErr)) {
				t.Fatalf("Embedder: %v, want error %q", err, tt.wantEmbErr)
			}
		})
	}
}

type fakeTagger struct {
	name string
	err  error
	hits int
	mu   sync.Mutex
}

func (f *fakeTagger) Tag(context.Context, ai.TagRequest) (ai.TagResponse, error) {
	f.mu.Lock()
	f.hits++
	f.mu.Unlock()
	if f.err != nil {
		return ai.TagResponse{}, f.err
	}
	return ai.TagResponse{Raw: `["x"]`, Provider: f.name}, nil
}

func TestChain(t *testing.T) {
	errA := &ai.APIError{Provider: "a", Status: 500, Temporary: true}
	errB := &ai.APIError{Provider: "b", Status: 400}
	tests := []struct {
		name     string
		errs     []error
		wantProv string
		wantErr  error
		wantHits []int
	}{
		{name: "first works", errs: []error{nil, nil}, wantProv: "a", wantHits: []int{1, 0}},
		{name: "falls back", errs: []error{errA, nil}, wantProv: "b", wantHits: []int{1, 1}},
		{name: "falls back on a permanent error too", errs: []error{errB, nil, nil}, wantProv: "b", wantHits: []int{1, 1, 0}},
		{name: "all fail: last error", errs: []error{errA, errB}, wantErr: errB, wantHits: []int{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var names []string
			var taggers []ai.Tagger
			var fakes []*fakeTagger
			for i, err := range tt.errs {
				f := &fakeTagger{name: string(rune('a' + i)), err: err}
				fakes = append(fakes, f)
				names = append(names, f.name)
				taggers = append(taggers, f)
			}
			resp, err := NewChain(nil, names, taggers).Tag(context.Background(), ai.TagRequest{Text: "x"})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
			} else if err != nil || resp.Provider != tt.wantProv {
				t.Fatalf("resp %+v err %v", resp, err)
			}
			for i, f := range fakes {
				if f.hits != tt.wantHits[i] {
					t.Errorf("tagger %d called %d times, want %d", i, f.hits, tt.wantHits[i])
				}
			}
		})
	}
}

// The GigaChat tagger fails (500); the chain falls back to local, and the
// chat and embeddings of the Set share one client (one concurrency slot).
func TestGigaChatChainFallsBackToLocal(t *testing.T) {
	clock := aitest.NewClock()
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now, Script: aitest.FailFirst(aitest.KindChat, 100, aitest.Failure{Status: 500})})
	cfg := config.Default()
	cfg.AI.Tagger, cfg.AI.Embedder = "gigachat,local", "gigachat"
	cfg.AI.GigaChat.APIKey = "test-key"
	cfg.AI.GigaChat.BaseURL, cfg.AI.GigaChat.AuthURL = g.BaseURL(), g.AuthURL()
	cfg.AI.GigaChat.MaxConcurrency = 1
	// The shared breaker (tested in ai/internal/httpx and ai/gigachat) would
	// open after five failed chats in a row and then, rightly, refuse the
	// embeddings scheduled after them: off here, where the fallback and the
	// shared client are what is checked.
	cfg.AI.GigaChat.BreakerFailures = 0
	s, err := New(&cfg, nil, WithGigaChatOptions(gigachat.WithHTTPClient(g.Server.Client()), gigachat.WithClock(clock.Now)))
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := s.Tagger()
	emb, _ := s.Embedder()
	text := "Сбер представил GigaChat 2 и новые функции для разработчиков"
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			resp, err := tg.Tag(context.Background(), ai.TagRequest{Text: text, MaxTags: 5})
			if err != nil || resp.Provider != "local" {
				t.Errorf("resp %+v err %v", resp, err)
			}
		})
		wg.Go(func() {
			if _, err := emb.Embed(context.Background(), []string{text}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := g.Requests(aitest.KindOAuth); n != 1 {
		t.Errorf("%d token requests, want 1 (one shared client)", n)
	}
	if m := g.MaxInFlight(); m != 1 {
		t.Errorf("max in flight %d, want 1 (chat and embeddings share the limit)", m)
	}
}
