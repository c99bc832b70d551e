package openrouter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/aitest"
	"github.com/assistant-dev/assistant/config"
)

func testClient(t *testing.T, o *aitest.OpenRouter, clock *aitest.Clock, edit func(*config.OpenRouter), opts ...Option) *Client {
	t.Helper()
	cfg := config.Default().AI.OpenRouter
	cfg.APIKey = "test-key"
	cfg.BaseURL = o.BaseURL()
	cfg.Timeout = 5 * time.Second
	cfg.EmbeddingDim = 1536
	if edit != nil {
		edit(&cfg)
	}
	opts = append([]Option{WithHTTPClient(o.Server.Client()), WithClock(clock.Now)}, opts...)
	c, err := New(cfg, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tag(c *Client) error {
	_, err := c.Tagger().Tag(context.Background(), ai.TagRequest{Text: "OpenAI выпустила модель GPT", MaxTags: 5})
	return err
}

func TestChatAndHeaders(t *testing.T) {
	clock := aitest.NewClock()
	o := aitest.NewOpenRouter(t, aitest.Config{Now: clock.Now})
	c := testClient(t, o, clock, nil, WithAttribution("https://example.org", "assistant-test"))
	resp, err := c.Tagger().Tag(context.Background(), ai.TagRequest{Text: "OpenAI выпустила модель GPT", MaxTags: 5})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Provider != "openrouter" || resp.Model != "openai/gpt-4o-mini" || len(ai.ValidateTags(resp.Raw, "OpenAI выпустила модель GPT", 5).Tags) == 0 {
		t.Errorf("response %+v", resp)
	}
	h := o.LastHeader()
	if h.Get("Authorization") != "Bearer test-key" || h.Get("HTTP-Referer") != "https://example.org" || h.Get("X-Title") != "assistant-test" {
		t.Errorf("headers %v", h)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name          string
		failure       aitest.Failure
		failures      int
		wantErr       bool
		wantStatus    int
		wantTemporary bool
		wantRetry     time.Duration
		wantCalls     int
	}{
		{name: "error inside 200 with code 502", failure: aitest.Failure{Status: 200, Body: `{"error":{"code":502,"message":"model down"}}`}, failures: 1, wantErr: true, wantStatus: 502, wantTemporary: true, wantCalls: 1},
		{name: "error inside 200 with code 400", failure: aitest.Failure{Status: 200, Body: `{"error":{"code":400,"message":"bad"}}`}, failures: 1, wantErr: true, wantStatus: 400, wantCalls: 1},
		{name: "error inside 200 without code", failure: aitest.Failure{Status: 200, Body: `{"error":{"message":"oops"}}`}, failures: 1, wantErr: true, wantTemporary: true, wantCalls: 1},
		{name: "finish_reason error", failure: aitest.Failure{Status: 200, Body: `{"choices":[{"message":{"content":""},"finish_reason":"error"}]}`}, failures: 1, wantErr: true, wantTemporary: true, wantCalls: 1},
		{name: "429 short Retry-After", failure: aitest.Failure{Status: 429, RetryAfter: "1"}, failures: 1, wantCalls: 2},
		{name: "429 long Retry-After", failure: aitest.Failure{Status: 429, RetryAfter: "60"}, failures: 1, wantErr: true, wantStatus: 429, wantTemporary: true, wantRetry: 60 * time.Second, wantCalls: 1},
		{name: "503", failure: aitest.Failure{Status: 503}, failures: 1, wantErr: true, wantStatus: 503, wantTemporary: true, wantCalls: 1},
		{name: "402 credits", failure: aitest.Failure{Status: 402}, failures: 1, wantErr: true, wantStatus: 402, wantCalls: 1},
		{name: "401 bad key", failure: aitest.Failure{Status: 401}, failures: 1, wantErr: true, wantStatus: 401, wantCalls: 1},
		{name: "garbage 200", failure: aitest.Failure{Status: 200, Body: `<html>`}, failures: 1, wantErr: true, wantTemporary: true, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := aitest.NewClock()
			o := aitest.NewOpenRouter(t, aitest.Config{Now: clock.Now, Script: aitest.FailFirst(aitest.KindChat, tt.failures, tt.failure)})
			c := testClient(t, o, clock, nil)
			err := tag(c)
			if n := o.Requests(aitest.KindChat); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *ai.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v", err)
			}
			if ae.Status != tt.wantStatus || ae.Temporary != tt.wantTemporary || ae.RetryAfter < tt.wantRetry {
				t.Errorf("status %d temporary %v retry %v (%v)", ae.Status, ae.Temporary, ae.RetryAfter, err)
			}
		})
	}
}

func TestTimeoutIsTemporary(t *testing.T) {
	clock := aitest.NewClock()
	o := aitest.NewOpenRouter(t, aitest.Config{Now: clock.Now, Script: aitest.FailFirst(aitest.KindChat, 1, aitest.Failure{Hang: true})})
	c := testClient(t, o, clock, func(cfg *config.OpenRouter) { cfg.Timeout = 50 * time.Millisecond })
	var ae *ai.APIError
	if err := tag(c); !errors.As(err, &ae) || !ae.Temporary {
		t.Fatalf("err %v", err)
	}
}

func TestEmbeddings(t *testing.T) {
	clock := aitest.NewClock()
	o := aitest.NewOpenRouter(t, aitest.Config{Now: clock.Now, EmbeddingDim: 1536})
	c := testClient(t, o, clock, nil)
	texts := []string{"один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять", "11", "12", "13", "14", "15", "16", "17"}
	vecs, err := c.Embedder().Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if want := aitest.Vector(texts[i], 1536); len(v) != 1536 || v[7] != want[7] {
			t.Fatalf("vector %d wrong", i)
		}
	}
	if n := o.Requests(aitest.KindEmbed); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	bad := testClient(t, o, clock, func(cfg *config.OpenRouter) { cfg.EmbeddingDim = 768 })
	if _, err := bad.Embedder().Embed(context.Background(), texts[:1]); err == nil {
		t.Fatal("no dimension mismatch error")
	}
}

func TestConcurrencyLimit(t *testing.T) {
	clock := aitest.NewClock()
	gate := make(chan struct{})
	entered := make(chan string, 100)
	o := aitest.NewOpenRouter(t, aitest.Config{Now: clock.Now, Gate: gate, Entered: entered})
	c := testClient(t, o, clock, func(cfg *config.OpenRouter) { cfg.MaxConcurrency = 3 })
	const calls = 15
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range calls {
		wg.Go(func() {
			if err := tag(c); err != nil {
				failed.Add(1)
			}
		})
	}
	for range 3 {
		<-entered
	}
	for range calls {
		gate <- struct{}{}
	}
	wg.Wait()
	if failed.Load() != 0 || o.MaxInFlight() != 3 {
		t.Fatalf("failed %d, max in flight %d (want 3)", failed.Load(), o.MaxInFlight())
	}
}

func TestCircuitBreaker(t *testing.T) {
	clock := aitest.NewClock()
	o := aitest.NewOpenRouter(t, aitest.Config{Now: clock.Now, Script: aitest.FailFirst(aitest.KindChat, 1000, aitest.Failure{Status: 200, Body: `{"error":{"code":503,"message":"no provider"}}`})})
	c := testClient(t, o, clock, func(cfg *config.OpenRouter) { cfg.BreakerFailures = 2; cfg.BreakerCooldown = time.Minute })
	_ = tag(c)
	_ = tag(c)
	for range 3 {
		if err := tag(c); !errors.Is(err, ai.ErrCircuitOpen) {
			t.Fatalf("err %v, want open breaker", err)
		}
	}
	if n := o.Requests(aitest.KindChat); n != 2 {
		t.Fatalf("%d calls reached the server, want 2", n)
	}
	clock.Advance(time.Minute)
	if err := tag(c); errors.Is(err, ai.ErrCircuitOpen) {
		t.Fatal("no probe after cooldown")
	}
	if n := o.Requests(aitest.KindChat); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

func TestNewRequiresKey(t *testing.T) {
	if _, err := New(config.Default().AI.OpenRouter, nil); err == nil {
		t.Fatal("no error without api_key")
	}
}
