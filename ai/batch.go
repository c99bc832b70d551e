package ai

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// BatchEmbedder sends texts to an Embedder in calls of at most Batch texts,
// retries calls that failed temporarily (429, 5xx, timeouts: APIError with
// Temporary set) with exponential backoff and jitter (cenkalti/backoff's
// Retry), honouring Retry-After, and learns the vector size from the first
// answer: every later answer must have the same size, or the call fails
// with ErrDimensionChanged (storing vectors of two sizes would corrupt the
// collection). Safe for concurrent use.
type BatchEmbedder struct {
	Embedder Embedder
	// Batch is the most texts per call (default 32).
	Batch int
	// Retries is how many times a temporarily failed call is repeated
	// (default 3; negative: never).
	Retries int
	// Backoff is the first wait between attempts (default 200ms), doubled
	// each time up to MaxBackoff (default 5s), each wait jittered by ±50%;
	// a longer Retry-After is waited out instead.
	Backoff, MaxBackoff time.Duration
	// Observe, when set, is told the outcome of every call: status is
	// "success" or "error", d how long it took.
	Observe func(status string, d time.Duration)

	mu  sync.Mutex
	dim int
}

// ErrDimensionChanged is returned when a provider answers with vectors of
// another size than before.
var ErrDimensionChanged = errors.New("embedding dimension changed")

// Dim returns the vector size learned from the provider; 0 before the first
// successful call.
func (b *BatchEmbedder) Dim() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dim
}

// Model is the embedder's model name.
func (b *BatchEmbedder) Model() string { return b.Embedder.Model() }

// Embed returns one vector per text, in order.
func (b *BatchEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	size := b.Batch
	if size <= 0 {
		size = 32
	}
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += size {
		chunk := texts[start:min(start+size, len(texts))]
		vecs, err := b.call(ctx, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

func (b *BatchEmbedder) call(ctx context.Context, texts []string) ([][]float32, error) {
	retries := b.Retries
	if retries == 0 {
		retries = 3
	}
	wait := b.Backoff
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	maxWait := b.MaxBackoff
	if maxWait <= 0 {
		maxWait = 5 * time.Second
	}
	policy := &retryAfterBackOff{ExponentialBackOff: &backoff.ExponentialBackOff{
		InitialInterval: wait, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: maxWait,
	}}
	var last error // the last attempt's error, returned when ctx ends the wait
	vecs, err := backoff.Retry(ctx, func() ([][]float32, error) {
		start := time.Now()
		vecs, err := b.Embedder.Embed(ctx, texts)
		if err == nil {
			err = b.check(texts, vecs)
		}
		if b.Observe != nil {
			status := "success"
			if err != nil {
				status = "error"
			}
			b.Observe(status, time.Since(start))
		}
		if err == nil {
			return vecs, nil
		}
		last, policy.last = err, err
		var ae *APIError
		if !errors.As(err, &ae) || !ae.Temporary {
			return nil, backoff.Permanent(err)
		}
		return nil, err
	}, backoff.WithBackOff(policy), backoff.WithMaxTries(uint(max(retries, 0))+1), backoff.WithMaxElapsedTime(0))
	if err != nil && last != nil && ctx.Err() != nil {
		return nil, last // what failed, rather than the cancellation that stopped the retries
	}
	return vecs, err
}

// retryAfterBackOff is cenkalti/backoff's exponential policy (jittered by
// ±50%) with the provider's Retry-After as a floor: a 429 asking for a
// longer wait than the policy's next one is waited out in full.
type retryAfterBackOff struct {
	*backoff.ExponentialBackOff
	last error // the error of the attempt the next wait follows
}

func (r *retryAfterBackOff) NextBackOff() time.Duration {
	d := r.ExponentialBackOff.NextBackOff()
	if ra, ok := RetryAfterOf(r.last); ok && ra > d {
		d = ra
	}
	return d
}

func (b *BatchEmbedder) check(texts []string, vecs [][]float32) error {
	if len(vecs) != len(texts) {
		return &APIError{Provider: b.Embedder.Model(), Message: fmt.Sprintf("asked for %d embeddings, got %d", len(texts), len(vecs)), Temporary: true}
	}
	if len(vecs) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	want := b.dim
	if want == 0 {
		want = len(vecs[0])
	}
	for _, v := range vecs {
		if len(v) != want || len(v) == 0 {
			return fmt.Errorf("model %s answered with %d-dimensional vectors after %d-dimensional ones: %w",
				b.Embedder.Model(), len(v), want, ErrDimensionChanged)
		}
	}
	b.dim = want
	return nil
}
