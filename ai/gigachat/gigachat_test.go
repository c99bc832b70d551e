package gigachat

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/aitest"
	"github.com/assistant-dev/assistant/config"
)

func testConfig(g *aitest.GigaChat) config.GigaChat {
	cfg := config.Default().AI.GigaChat
	cfg.APIKey = "test-key"
	cfg.BaseURL = g.BaseURL()
	cfg.AuthURL = g.AuthURL()
	cfg.Timeout = 5 * time.Second
	return cfg
}

func newClient(t *testing.T, cfg config.GigaChat, clock *aitest.Clock, g *aitest.GigaChat) *Client {
	t.Helper()
	opts := []Option{WithClock(clock.Now)}
	if g != nil {
		opts = append(opts, WithHTTPClient(g.Server.Client()))
	}
	c, err := New(cfg, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tag(c *Client) error {
	_, err := c.Tagger().Tag(context.Background(), ai.TagRequest{Text: "Сбер представил GigaChat", MaxTags: 5})
	return err
}

func TestTokenRequestAndTagging(t *testing.T) {
	clock := aitest.NewClock()
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now})
	c := newClient(t, testConfig(g), clock, g)
	resp, err := c.Tagger().Tag(context.Background(), ai.TagRequest{Text: "Сбер представил GigaChat 19:00 %", MaxTags: 5})
	if err != nil {
		t.Fatal(err)
	}
	if p := g.OAuthProblem(); p != "" {
		t.Fatalf("malformed token request: %s", p)
	}
	o := g.LastOAuth()
	if o.Authorization != "Basic test-key" || o.Scope != "GIGACHAT_API_PERS" || o.Accept != "application/json" ||
		!strings.HasPrefix(o.ContentType, "application/x-www-form-urlencoded") || len(o.RqUID) != 36 {
		t.Errorf("token request %+v", o)
	}
	if resp.Provider != "gigachat" || resp.Model != "GigaChat:2.0.28.2" {
		t.Errorf("response %+v", resp)
	}
	res := ai.ValidateTags(resp.Raw, "Сбер представил GigaChat 19:00 %", 5)
	if len(res.Tags) == 0 {
		t.Errorf("no valid tags in %q", resp.Raw)
	}
}

func TestTokenReusedThenRefreshedOnceUnderConcurrency(t *testing.T) {
	clock := aitest.NewClock()
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now, TokenLifetime: 30 * time.Minute})
	cfg := testConfig(g)
	cfg.MaxConcurrency = 4
	c := newClient(t, cfg, clock, g)
	for range 5 {
		if err := tag(c); err != nil {
			t.Fatal(err)
		}
	}
	if n := g.Requests(aitest.KindOAuth); n != 1 {
		t.Fatalf("%d token requests for 5 calls, want 1", n)
	}
	clock.Advance(29*time.Minute + 30*time.Second) // inside the 60 s margin
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- tag(c) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := g.Requests(aitest.KindOAuth); n != 2 {
		t.Fatalf("%d token requests, want exactly 2 (one refresh for 20 callers)", n)
	}
}

func TestUnauthorizedReauthenticatesAndRetriesOnce(t *testing.T) {
	clock := aitest.NewClock()
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now})
	c := newClient(t, testConfig(g), clock, g)
	if err := tag(c); err != nil {
		t.Fatal(err)
	}
	g.RevokeTokens()
	if err := tag(c); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if o, ch := g.Requests(aitest.KindOAuth), g.Requests(aitest.KindChat); o != 2 || ch != 3 {
		t.Fatalf("oauth %d chat %d, want 2 and 3", o, ch)
	}
}

func TestUnauthorizedTwiceIsAnError(t *testing.T) {
	clock := aitest.NewClock()
	// Every API call gets a 401, even with a fresh token.
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now, Script: aitest.FailFirst(aitest.KindChat, 100, aitest.Failure{Status: 401})})
	c := newClient(t, testConfig(g), clock, g)
	err := tag(c)
	var ae *ai.APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Temporary {
		t.Fatalf("err = %v", err)
	}
	if ch := g.Requests(aitest.KindChat); ch != 2 {
		t.Fatalf("%d chat calls, want 2 (one retry)", ch)
	}
}

func TestErrorClassification(t *testing.T) {
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name          string
		failure       aitest.Failure
		failures      int
		timeout       time.Duration
		wantErr       bool
		wantStatus    int
		wantTemporary bool
		wantRetry     time.Duration // minimum
		wantCalls     int
	}{
		{name: "429 short Retry-After waited out", failure: aitest.Failure{Status: 429, RetryAfter: "1"}, failures: 1, wantCalls: 2},
		{name: "429 long Retry-After returned", failure: aitest.Failure{Status: 429, RetryAfter: "120"}, failures: 1, wantErr: true, wantStatus: 429, wantTemporary: true, wantRetry: 120 * time.Second, wantCalls: 1},
		{name: "429 Retry-After as HTTP date", failure: aitest.Failure{Status: 429, RetryAfter: future}, failures: 1, wantErr: true, wantStatus: 429, wantTemporary: true, wantRetry: 60 * time.Second, wantCalls: 1},
		{name: "429 twice", failure: aitest.Failure{Status: 429, RetryAfter: "1"}, failures: 2, wantErr: true, wantStatus: 429, wantTemporary: true, wantRetry: time.Second, wantCalls: 2},
		{name: "500", failure: aitest.Failure{Status: 500}, failures: 1, wantErr: true, wantStatus: 500, wantTemporary: true, wantCalls: 1},
		{name: "503", failure: aitest.Failure{Status: 503}, failures: 1, wantErr: true, wantStatus: 503, wantTemporary: true, wantCalls: 1},
		{name: "400 permanent", failure: aitest.Failure{Status: 400}, failures: 1, wantErr: true, wantStatus: 400, wantCalls: 1},
		{name: "422 permanent", failure: aitest.Failure{Status: 422}, failures: 1, wantErr: true, wantStatus: 422, wantCalls: 1},
		{name: "timeout", failure: aitest.Failure{Hang: true}, failures: 1, timeout: 50 * time.Millisecond, wantErr: true, wantTemporary: true, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := aitest.NewClock()
			g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now, Script: aitest.FailFirst(aitest.KindChat, tt.failures, tt.failure)})
			cfg := testConfig(g)
			if tt.timeout > 0 {
				cfg.Timeout = tt.timeout
			}
			c, err := New(cfg, nil, WithHTTPClient(g.Server.Client()), WithClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			err = tag(c)
			if calls := g.Requests(aitest.KindChat); calls != tt.wantCalls {
				t.Errorf("%d chat calls, want %d", calls, tt.wantCalls)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ae *ai.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v is not an *ai.APIError", err)
			}
			if ae.Status != tt.wantStatus || ae.Temporary != tt.wantTemporary || ae.RetryAfter < tt.wantRetry {
				t.Errorf("got status %d temporary %v retry-after %v; want %d %v ≥%v (%v)", ae.Status, ae.Temporary, ae.RetryAfter, tt.wantStatus, tt.wantTemporary, tt.wantRetry, err)
			}
			if d, ok := ai.RetryAfterOf(err); tt.wantRetry > 0 && (!ok || d < tt.wantRetry) {
				t.Errorf("RetryAfterOf = %v %v", d, ok)
			}
		})
	}
}

func TestConcurrencyLimitSharedByChatAndEmbeddings(t *testing.T) {
	clock := aitest.NewClock()
	gate := make(chan struct{})
	entered := make(chan string, 100)
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now, Gate: gate, Entered: entered})
	cfg := testConfig(g)
	cfg.MaxConcurrency = 2
	c := newClient(t, cfg, clock, g)
	const calls = 12
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range calls {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = tag(c)
			} else {
				_, err = c.Embedder().Embed(context.Background(), []string{"текст"})
			}
			if err != nil {
				failed.Add(1)
			}
		})
	}
	<-entered
	<-entered // the limit is reached; the others wait in the client
	for range calls {
		gate <- struct{}{}
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	if m := g.MaxInFlight(); m != 2 {
		t.Fatalf("max in flight %d, want 2", m)
	}
}

func TestEmbeddings(t *testing.T) {
	clock := aitest.NewClock()
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now, EmbeddingDim: 1024})
	c := newClient(t, testConfig(g), clock, g)
	texts := make([]string, 40)
	for i := range texts {
		texts[i] = "текст номер " + string(rune('А'+i))
	}
	e := c.Embedder()
	if e.Dimension() != 1024 || e.Model() != "Embeddings" {
		t.Fatalf("dimension %d model %s", e.Dimension(), e.Model())
	}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(texts) {
		t.Fatalf("%d vectors", len(vecs))
	}
	for i, v := range vecs {
		want := aitest.Vector(texts[i], 1024)
		if len(v) != 1024 || v[0] != want[0] || v[1023] != want[1023] {
			t.Fatalf("vector %d is not the one of its text (order by index)", i)
		}
	}
	if n := g.Requests(aitest.KindEmbed); n != 3 {
		t.Errorf("%d requests for 40 texts, want 3 batches", n)
	}
}

func TestEmbeddingDimensionMismatch(t *testing.T) {
	clock := aitest.NewClock()
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now, EmbeddingDim: 2560})
	c := newClient(t, testConfig(g), clock, g)
	_, err := c.Embedder().Embed(context.Background(), []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "embedding_dim") || !strings.Contains(err.Error(), "2560") {
		t.Fatalf("err = %v", err)
	}
}

func TestCAFile(t *testing.T) {
	clock := aitest.NewClock()
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now, TLS: true})
	caFile := filepath.Join(t.TempDir(), "russian_trusted_root_ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: g.Server.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("trusted through ca_file", func(t *testing.T) {
		cfg := testConfig(g)
		cfg.CAFile = caFile
		c, err := New(cfg, nil, WithClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		if err := tag(c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("untrusted without it", func(t *testing.T) {
		c, err := New(testConfig(g), nil, WithClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		err = tag(c)
		var ae *ai.APIError
		if !errors.As(err, &ae) || ae.Temporary {
			t.Fatalf("err = %v, want a permanent TLS error", err)
		}
	})
	t.Run("insecure is logged at WARN", func(t *testing.T) {
		var logs bytes.Buffer
		cfg := testConfig(g)
		cfg.InsecureSkipVerify = true
		c, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), WithClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "insecure_skip_verify") {
			t.Errorf("no WARN log: %s", logs.String())
		}
		if strings.Contains(logs.String(), "test-key") {
			t.Errorf("the key was logged: %s", logs.String())
		}
		if err := tag(c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad ca_file", func(t *testing.T) {
		cfg := testConfig(g)
		cfg.CAFile = filepath.Join(t.TempDir(), "missing.pem")
		if _, err := New(cfg, nil); err == nil {
			t.Fatal("no error for a missing ca_file")
		}
	})
}

func TestCircuitBreaker(t *testing.T) {
	clock := aitest.NewClock()
	var healthy atomic.Bool
	script := func(kind string, seq int) *aitest.Failure {
		if kind == aitest.KindChat && !healthy.Load() {
			return &aitest.Failure{Status: 502}
		}
		return nil
	}
	g := aitest.NewGigaChat(t, aitest.Config{Now: clock.Now, Script: script, TokenLifetime: 24 * time.Hour})
	cfg := testConfig(g)
	cfg.BreakerFailures = 3
	cfg.BreakerCooldown = 30 * time.Second
	c := newClient(t, cfg, clock, g)
	for i := range 3 {
		if err := tag(c); err == nil || errors.Is(err, ai.ErrCircuitOpen) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for range 5 {
		err := tag(c)
		var ae *ai.APIError
		if !errors.Is(err, ai.ErrCircuitOpen) || !errors.As(err, &ae) || !ae.Temporary {
			t.Fatalf("breaker not open: %v", err)
		}
	}
	if n := g.Requests(aitest.KindChat); n != 3 {
		t.Fatalf("emulator saw %d calls, want 3 (none while open)", n)
	}
	// After the cooldown one probe goes out; it fails, so the breaker opens again.
	clock.Advance(31 * time.Second)
	if err := tag(c); errors.Is(err, ai.ErrCircuitOpen) {
		t.Fatal("no probe after cooldown")
	}
	if err := tag(c); !errors.Is(err, ai.ErrCircuitOpen) {
		t.Fatalf("failed probe did not reopen: %v", err)
	}
	// Next probe succeeds and closes it.
	healthy.Store(true)
	clock.Advance(31 * time.Second)
	for i := range 3 {
		if err := tag(c); err != nil {
			t.Fatalf("call %d after recovery: %v", i, err)
		}
	}
	if n := g.Requests(aitest.KindChat); n != 7 {
		t.Fatalf("emulator saw %d calls, want 7", n)
	}
}

func TestNewRequiresKey(t *testing.T) {
	cfg := config.Default().AI.GigaChat
	if _, err := New(cfg, nil); err == nil {
		t.Fatal("no error without api_key")
	}
}
