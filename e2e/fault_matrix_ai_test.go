package e2e

// fault_matrix_ai_test.go: the fault matrix rows of the model providers
// (issue 21): the tagger's chat API and the index stage's embedding API, both
// GigaChat through aitest's HTTP emulation (the real API is unreachable
// here; the emulation speaks its OAuth flow, its REST shapes and its error
// answers), in a 429 storm with Retry-After, a 5xx storm, and the OAuth
// token expiring mid-run. The daemon is the real binary; PostgreSQL and
// Redis are the real shared servers.

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/ai/aitest"
)

// stormEmulator is a GigaChat emulation whose API calls of one kind fail
// with a scripted answer while its storm is on, and whose clock (for token
// expiry) can be moved ahead.
type stormEmulator struct {
	*aitest.GigaChat
	storm   atomic.Pointer[aitest.Failure]
	ahead   atomic.Int64 // nanoseconds the emulator's clock runs ahead
	failed  atomic.Int64 // API calls answered with the storm's failure
	rotated atomic.Int64 // 5xx statuses rotate through 500, 502, 503
}

// newStormEmulator starts the emulation; chatDelay slows every chat answer
// (so that posts are still being tagged when a fault comes).
func newStormEmulator(t *testing.T, kind string, chatDelay time.Duration) *stormEmulator {
	e := &stormEmulator{}
	e.GigaChat = aitest.NewGigaChat(t, aitest.Config{
		AuthKey: "e2e-gigachat-key",
		Chat: func(model string, messages []aitest.Message) string {
			time.Sleep(chatDelay)
			return chatFirstWords(model, messages)
		},
		Now: func() time.Time { return time.Now().Add(time.Duration(e.ahead.Load())) },
		Script: func(k string, _ int) *aitest.Failure {
			f := e.storm.Load()
			if k != kind || f == nil {
				return nil
			}
			e.failed.Add(1)
			if f.Status == http.StatusInternalServerError {
				statuses := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
				return &aitest.Failure{Status: statuses[e.rotated.Add(1)%3]}
			}
			return f
		},
	})
	return e
}

// stormFor turns the storm on for d.
func (e *stormEmulator) stormFor(ctx context.Context, d time.Duration, f aitest.Failure) error {
	e.storm.Store(&f)
	sleepFor(ctx, d)
	e.storm.Store(nil)
	return nil
}

// gigachatEnv points the daemon's tagger or embedder at the emulation.
func gigachatEnv(e *stormEmulator, role string) map[string]string {
	env := map[string]string{
		"GIGACHAT_API_KEY":               "e2e-gigachat-key",
		"ASSISTANT_AI_GIGACHAT_BASE_URL": e.BaseURL(),
		"ASSISTANT_AI_GIGACHAT_AUTH_URL": e.AuthURL(),
		"ASSISTANT_AI_GIGACHAT_TIMEOUT":  "2s",
	}
	env[role] = "gigachat"
	return env
}

// TestFaultMatrixLLM: the tagger's chat API failing (tag,persist; 400 posts,
// runner.max_attempts 2).
func TestFaultMatrixLLM(t *testing.T) {
	t.Parallel()
	rows := []struct {
		name      string
		chatDelay time.Duration
		fault     func(e *stormEmulator) func(ctx context.Context, t *testing.T) error
	}{
		{"GigaChat chat API 429 storm (Retry-After: 2) for 8 s", 0, func(e *stormEmulator) func(ctx context.Context, t *testing.T) error {
			return func(ctx context.Context, t *testing.T) error {
				err := e.stormFor(ctx, 8*time.Second, aitest.Failure{Status: http.StatusTooManyRequests, RetryAfter: "2"})
				t.Logf("%d chat calls answered 429", e.failed.Load())
				return err
			}
		}},
		{"GigaChat chat API 5xx storm (500/502/503) for 8 s", 0, func(e *stormEmulator) func(ctx context.Context, t *testing.T) error {
			return func(ctx context.Context, t *testing.T) error {
				err := e.stormFor(ctx, 8*time.Second, aitest.Failure{Status: http.StatusInternalServerError})
				t.Logf("%d chat calls answered 5xx", e.failed.Load())
				return err
			}
		}},
		{"GigaChat OAuth token expires mid-run (emulator clock +31 min every 0.5 s, 8 s)", 40 * time.Millisecond, func(e *stormEmulator) func(ctx context.Context, t *testing.T) error {
			return func(ctx context.Context, t *testing.T) error {
				// GigaChat's token lives 30 minutes. The emulator's clock
				// jumps past each token's expiry while the client's own
				// clock still thinks it valid: the next call gets a 401
				// and the client must authenticate again.
				before, chats := e.Requests(aitest.KindOAuth), e.Requests(aitest.KindChat)
				err := everyFor(ctx, 8*time.Second, 500*time.Millisecond, func() error {
					e.ahead.Add(int64(31 * time.Minute))
					return nil
				})
				renewed := e.Requests(aitest.KindOAuth) - before
				t.Logf("%d OAuth token requests and %d chat calls during the fault (%d token requests before)",
					renewed, e.Requests(aitest.KindChat)-chats, before)
				if renewed < 2 {
					return fmt.Errorf("%d token renewals during the fault: the expiry did not meet the client's calls", renewed)
				}
				return err
			}
		}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			e := newStormEmulator(t, aitest.KindChat, row.chatDelay)
			stack := NewStack(t)
			for k, v := range gigachatEnv(e, "ASSISTANT_AI_TAGGER") {
				stack.Env[k] = v
			}
			runFaultCase(t, faultCase{name: row.name, stack: stack, ingestDuringFault: true, fault: row.fault(e)})
			if n := e.Requests(aitest.KindChat); n == 0 {
				t.Fatal("no chat call reached the emulation")
			}
		})
	}
}

// TestFaultMatrixEmbedding: the index stage's embedding API failing
// (tag,persist,enrich,index with crawling off; local tagger; 400 posts,
// runner.max_attempts 2).
func TestFaultMatrixEmbedding(t *testing.T) {
	t.Parallel()
	rows := []struct {
		name    string
		failure aitest.Failure
	}{
		{"GigaChat embeddings API 429 storm (Retry-After: 2) for 8 s", aitest.Failure{Status: http.StatusTooManyRequests, RetryAfter: "2"}},
		{"GigaChat embeddings API 5xx storm (500/502/503) for 8 s", aitest.Failure{Status: http.StatusInternalServerError}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			e := newStormEmulator(t, aitest.KindEmbed, 0)
			stack := NewStack(t)
			for k, v := range gigachatEnv(e, "ASSISTANT_AI_EMBEDDER") {
				stack.Env[k] = v
			}
			runFaultCase(t, faultCase{
				name: row.name, stack: stack, ingestDuringFault: true,
				stages: []string{"tag", "persist", "enrich", "index"},
				fault: func(ctx context.Context, t *testing.T) error {
					err := e.stormFor(ctx, 8*time.Second, row.failure)
					t.Logf("%d embedding calls failed", e.failed.Load())
					return err
				},
			})
			if n := e.Requests(aitest.KindEmbed); n == 0 {
				t.Fatal("no embedding call reached the emulation")
			}
		})
	}
}
