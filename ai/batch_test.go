package ai_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/ai"
)

// scripted is an embedder whose answers the test scripts per call.
type scripted struct {
	calls []int // texts per call
	dims  []int // vector size per call (last repeats)
	errs  []error
}

func (s *scripted) Embed(_ context.Context, texts []string) ([][]float32, error) {
	n := len(s.calls)
	s.calls = append(s.calls, len(texts))
	if n < len(s.errs) && s.errs[n] != nil {
		return nil, s.errs[n]
	}
	dim := s.dims[min(n, len(s.dims)-1)]
	out := make([][]float32, len(texts))
	for i := range out {
		out[i] = make([]float32, dim)
	}
	return out, nil
}
func (s *scripted) Dimension() int { return 0 }
func (s *scripted) Model() string  { return "m" }

func TestBatchEmbedder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	temp := &ai.APIError{Provider: "p", Status: 503, Temporary: true}
	perm := &ai.APIError{Provider: "p", Status: 400}
	cases := []struct {
		name      string
		emb       *scripted
		texts     int
		wantCalls []int
		wantErr   error
	}{
		{"chunks", &scripted{dims: []int{4}}, 7, []int{3, 3, 1}, nil},
		{"temporary retried", &scripted{dims: []int{4}, errs: []error{temp, temp}}, 2, []int{2, 2, 2}, nil},
		{"permanent not retried", &scripted{dims: []int{4}, errs: []error{perm}}, 2, []int{2}, perm},
		{"retries bounded", &scripted{dims: []int{4}, errs: []error{temp, temp, temp, temp, temp}}, 1, []int{1, 1, 1, 1}, temp},
		{"dimension change caught", &scripted{dims: []int{4, 8}}, 6, []int{3, 3}, ai.ErrDimensionChanged},
	}
	for _, c := range cases {
		b := &ai.BatchEmbedder{Embedder: c.emb, Batch: 3, Backoff: time.Millisecond}
		texts := make([]string, c.texts)
		vecs, err := b.Embed(ctx, texts)
		if !errors.Is(err, c.wantErr) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.wantErr)
		}
		if len(c.emb.calls) != len(c.wantCalls) {
			t.Errorf("%s: calls %v, want %v", c.name, c.emb.calls, c.wantCalls)
			continue
		}
		for i := range c.wantCalls {
			if c.emb.calls[i] != c.wantCalls[i] {
				t.Errorf("%s: calls %v, want %v", c.name, c.emb.calls, c.wantCalls)
			}
		}
		if c.wantErr == nil && (len(vecs) != c.texts || b.Dim() != 4) {
			t.Errorf("%s: %d vectors, dim %d", c.name, len(vecs), b.Dim())
		}
	}
}

// TestBatchEmbedderWaits: a Retry-After longer than the backoff is waited
// out before the retry, and a context that ends during the wait returns the
// provider's error (what failed), not the bare cancellation.
func TestBatchEmbedderWaits(t *testing.T) {
	t.Parallel()
	t.Run("retry-after is a floor", func(t *testing.T) {
		t.Parallel()
		limited := &ai.APIError{Provider: "p", Status: 429, Temporary: true, RetryAfter: 150 * time.Millisecond}
		emb := &scripted{dims: []int{4}, errs: []error{limited}}
		b := &ai.BatchEmbedder{Embedder: emb, Backoff: time.Millisecond}
		start := time.Now()
		if _, err := b.Embed(context.Background(), []string{"x"}); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < limited.RetryAfter {
			t.Errorf("retried after %v, before the Retry-After of %v", waited, limited.RetryAfter)
		}
		if len(emb.calls) != 2 {
			t.Errorf("calls %v, want 2", emb.calls)
		}
	})
	t.Run("cancelled during the wait", func(t *testing.T) {
		t.Parallel()
		temp := &ai.APIError{Provider: "p", Status: 503, Temporary: true, RetryAfter: time.Hour}
		ctx, cancel := context.WithCancel(context.Background())
		b := &ai.BatchEmbedder{Embedder: &scripted{dims: []int{4}, errs: []error{temp}}, Observe: func(string, time.Duration) { cancel() }}
		_, err := b.Embed(ctx, []string{"x"})
		if !errors.Is(err, temp) {
			t.Errorf("err = %v, want the provider's %v", err, temp)
		}
	})
}
