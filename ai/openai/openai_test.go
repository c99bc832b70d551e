package openai

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/aitest"
	"github.com/assistant-dev/assistant/config"
)

const postText = "Сбер представил GigaChat на конференции в Москве"

func newClient(t *testing.T, srv *aitest.OpenAICompat, edit func(*config.OpenAI)) *Client {
	t.Helper()
	cfg := config.Default().AI.OpenAI
	cfg.BaseURL = srv.BaseURL()
	cfg.ChatModel = "qwen2.5:7b"
	cfg.Timeout = 5 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(FromConfig(cfg), nil, WithHTTPClient(srv.Server.Client()), WithClock(aitest.NewClock().Now))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOllamaEmbeddingsAndChat: the default configuration (Ollama on its
// port, bge-m3, 1024 dimensions, no key) against an Ollama emulation:
// vectors come back in input order although the server answers out of
// order, batches of embedding_batch, no Authorization header, and both the
// single and the batched tagging prompt are answered.
func TestOllamaEmbeddingsAndChat(t *testing.T) {
	srv := aitest.NewOpenAICompat(t, aitest.Ollama, aitest.Config{EmbeddingDim: 1024}, aitest.CompatOptions{})
	c := newClient(t, srv, func(c *config.OpenAI) { c.EmbeddingBatch = 4 })
	texts := []string{"один", "два", "три", "четыре", "пять", "шесть"}
	vecs, err := c.Embedder().Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if want := aitest.Vector(texts[i], 1024); len(v) != 1024 || v[3] != want[3] {
			t.Fatalf("vector %d wrong", i)
		}
	}
	if got := srv.EmbedBatchSizes(); len(got) != 2 || got[0] != 4 || got[1] != 2 {
		t.Errorf("batches %v, want [4 2]", got)
	}
	if h := srv.LastHeader().Get("Authorization"); h != "" {
		t.Errorf("Authorization %q sent without a key", h)
	}
	resp, err := c.Tagger().Tag(context.Background(), ai.TagRequest{Text: postText, MaxTags: 5})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Provider != "openai" || resp.Model != "qwen2.5:7b" || len(ai.ValidateTags(resp.Raw, postText, 5).Tags) == 0 {
		t.Errorf("tag response %+v", resp)
	}
	texts2 := []string{postText, "Банк России сохранил ключевую ставку"}
	bresp, err := c.Tagger().(ai.BatchTagger).TagBatch(context.Background(), []ai.TagRequest{{Text: texts2[0], MaxTags: 5}, {Text: texts2[1], MaxTags: 5}})
	if err != nil {
		t.Fatal(err)
	}
	parts, extra := ai.ValidateBatch(bresp.Raw, texts2, 5)
	if extra != 0 || parts[0].Fallback != "" || parts[1].Fallback != "" || len(parts[1].Result.Tags) == 0 {
		t.Errorf("batch answer %q: parts %+v extra %d", bresp.Raw, parts, extra)
	}
}

// TestServerErrors: each server's real failure shapes become *ai.APIError
// with the right status, message and retry class.
func TestServerErrors(t *testing.T) {
	tests := []struct {
		name          string
		flavour       aitest.Flavour
		opts          aitest.CompatOptions
		script        aitest.Script
		edit          func(*config.OpenAI)
		embed         bool
		wantStatus    int
		wantTemporary bool
		wantRetry     time.Duration
		wantMsg       string
		wantCalls     int
	}{
		{name: "ollama model not pulled", flavour: aitest.Ollama, embed: true, edit: func(c *config.OpenAI) { c.EmbeddingModel = "nomic-embed-text" },
			wantStatus: 404, wantMsg: `model "nomic-embed-text" not found, try pulling it first`, wantCalls: 1},
		{name: "ollama chat model not pulled", flavour: aitest.Ollama, edit: func(c *config.OpenAI) { c.ChatModel = "llama3.1" },
			wantStatus: 404, wantMsg: `model "llama3.1" not found`, wantCalls: 1},
		{name: "ollama queue full", flavour: aitest.Ollama, embed: true, script: aitest.FailFirst(aitest.KindEmbed, 1, aitest.Failure{Status: 503}),
			wantStatus: 503, wantTemporary: true, wantMsg: "server busy", wantCalls: 1},
		{name: "vllm unknown model", flavour: aitest.VLLM, edit: func(c *config.OpenAI) { c.ChatModel = "qwen" },
			wantStatus: 404, wantMsg: "The model `qwen` does not exist.", wantCalls: 1},
		{name: "vllm wrong key", flavour: aitest.VLLM, opts: aitest.CompatOptions{RequireKey: true}, edit: func(c *config.OpenAI) { c.ChatModel, c.APIKey = "Qwen/Qwen2.5-7B-Instruct", "wrong" },
			wantStatus: 401, wantMsg: "Unauthorized", wantCalls: 1},
		{name: "vllm 500", flavour: aitest.VLLM, script: aitest.FailFirst(aitest.KindChat, 1, aitest.Failure{Status: 500}), edit: func(c *config.OpenAI) { c.ChatModel = "Qwen/Qwen2.5-7B-Instruct" },
			wantStatus: 500, wantTemporary: true, wantCalls: 1},
		{name: "tei overloaded, long Retry-After", flavour: aitest.TEI, embed: true, script: aitest.FailFirst(aitest.KindEmbed, 1, aitest.Failure{Status: 429, RetryAfter: "30"}),
			wantStatus: 429, wantTemporary: true, wantRetry: 30 * time.Second, wantMsg: "Model is overloaded", wantCalls: 1},
		{name: "tei overloaded, short Retry-After is waited out", flavour: aitest.TEI, embed: true, script: aitest.FailFirst(aitest.KindEmbed, 1, aitest.Failure{Status: 429, RetryAfter: "1"}),
			wantCalls: 2},
		{name: "tei has no chat route", flavour: aitest.TEI, wantStatus: 404, wantCalls: 0},
		{name: "wrong dimension", flavour: aitest.TEI, embed: true, edit: func(c *config.OpenAI) { c.EmbeddingDim = 768 },
			wantMsg: "returned 1024-dimensional vectors but ai.openai.embedding_dim is 768", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := aitest.NewOpenAICompat(t, tt.flavour, aitest.Config{Script: tt.script, AuthKey: "k"}, tt.opts)
			c := newClient(t, srv, tt.edit)
			var err error
			kind := aitest.KindChat
			if tt.embed {
				kind = aitest.KindEmbed
				_, err = c.Embedder().Embed(context.Background(), []string{postText})
			} else {
				_, err = c.Tagger().Tag(context.Background(), ai.TagRequest{Text: postText, MaxTags: 5})
			}
			if n := srv.Requests(kind); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
			if tt.wantStatus == 0 && tt.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *ai.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v, want an APIError", err)
			}
			if ae.Status != tt.wantStatus || ae.Temporary != tt.wantTemporary || ae.RetryAfter < tt.wantRetry || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("status %d temporary %v retry %v: %v", ae.Status, ae.Temporary, ae.RetryAfter, err)
			}
		})
	}
}

// TestTEIBatchLimitSplits: TEI refuses a batch over its
// --max-client-batch-size with 413; the client halves the batch until the
// server takes it, and every text still gets its own vector.
func TestTEIBatchLimitSplits(t *testing.T) {
	srv := aitest.NewOpenAICompat(t, aitest.TEI, aitest.Config{}, aitest.CompatOptions{MaxClientBatch: 3})
	c := newClient(t, srv, func(c *config.OpenAI) { c.EmbeddingBatch = 8; c.EmbeddingModel = "ignored-by-tei" })
	texts := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	vecs, err := c.Embedder().Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if want := aitest.Vector(texts[i], 1024); v[0] != want[0] {
			t.Fatalf("vector %d wrong", i)
		}
	}
	// 8 → 413 → 4 → 413 → 2,2 ; 4 → 413 → 2,2 ; then the last 2.
	want := []int{8, 4, 2, 2, 4, 2, 2, 2}
	if got := srv.EmbedBatchSizes(); !slicesEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestKeySentWhenSet: a key, when configured, is a Bearer token, which a
// server started with --api-key checks.
func TestKeySentWhenSet(t *testing.T) {
	srv := aitest.NewOpenAICompat(t, aitest.VLLM, aitest.Config{AuthKey: "s3cret"}, aitest.CompatOptions{RequireKey: true})
	c := newClient(t, srv, func(c *config.OpenAI) { c.APIKey, c.ChatModel = "s3cret", "Qwen/Qwen2.5-7B-Instruct" })
	if _, err := c.Tagger().Tag(context.Background(), ai.TagRequest{Text: postText, MaxTags: 5}); err != nil {
		t.Fatal(err)
	}
	if h := srv.LastHeader().Get("Authorization"); h != "Bearer s3cret" {
		t.Errorf("Authorization %q", h)
	}
}

func TestMissingModelsAndURL(t *testing.T) {
	if _, err := New(Settings{}, nil); err == nil || !strings.Contains(err.Error(), "base_url") {
		t.Errorf("New without base_url: %v", err)
	}
	c, err := New(Settings{BaseURL: "http://127.0.0.1:1/v1", EmbeddingDim: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Tagger().Tag(context.Background(), ai.TagRequest{Text: "x"}); err == nil || !strings.Contains(err.Error(), "chat_model") {
		t.Errorf("Tag without chat_model: %v", err)
	}
	if _, err := c.Embedder().Embed(context.Background(), []string{"x"}); err == nil || !strings.Contains(err.Error(), "embedding_model") {
		t.Errorf("Embed without embedding_model: %v", err)
	}
}
