// Package ai defines the model-provider interfaces of the daemon — a tagger
// (text → candidate tags) and an embedder (texts → vectors) — together with
// the strict tagging prompt and the validator that keeps only tags that occur
// in the post text (spec section 6). Providers live in sub-packages
// (gigachat, openrouter, local); package provider builds them from config.
package ai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// TagRequest asks a tagger for tags of one post.
type TagRequest struct {
	// Text is the post text, cut to the configured max input size unless
	// the tagger reads the whole text (WholeTextReader).
	Text string
	// MaxTags is how many tags the caller keeps at most.
	MaxTags int
	// Channel identifies the channel the post came from (its channel_id);
	// empty when unknown. The local tagger keeps per-channel statistics by
	// it, to tell a channel's recurring boilerplate from the news.
	Channel string
}

// TagResponse is a tagger's unvalidated answer.
type TagResponse struct {
	// Raw is the answer as the model gave it: for LLMs the message content,
	// for the local tagger a JSON array. ValidateTags turns it into tags.
	Raw      string
	Provider string
	Model    string
}

// Tagger proposes tags for a text. Implementations are safe for concurrent use.
type Tagger interface {
	Tag(ctx context.Context, req TagRequest) (TagResponse, error)
}

// WholeTextReader is implemented by taggers that read the whole post: the
// max_input_chars cut exists to save model tokens, and a tagger that spends
// none (the local one) would only lose the end of the post to it.
type WholeTextReader interface {
	ReadsWholeText() bool
}

// ReadsWholeText reports whether t asks for the whole post text.
func ReadsWholeText(t Tagger) bool {
	w, ok := t.(WholeTextReader)
	return ok && w.ReadsWholeText()
}

// Embedder turns texts into vectors of a fixed dimension. Implementations are
// safe for concurrent use.
type Embedder interface {
	// Embed returns one vector per text, in order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dimension is the vector size; read from the provider, never assumed.
	Dimension() int
	// Model names the embedding model (part of the index content hash).
	Model() string
}

// TextMatcher is implemented by an embedder that can also score whole texts
// against a query, beyond one vector per text (the local embedder with word
// vectors: soft word matching). Search uses it to re-rank the nearest posts.
type TextMatcher interface {
	// MatchesTexts reports whether MatchTexts scores texts, as the
	// embedder is configured.
	MatchesTexts() bool
	// MatchTexts returns one score in [0, 1] per text, in order, or nil
	// when the embedder cannot match texts.
	MatchTexts(ctx context.Context, query string, texts []string) ([]float64, error)
}

// APIError is a failed provider call, classified for retrying.
type APIError struct {
	Provider string
	Status   int    // HTTP status, 0 when the request never got an answer
	Message  string // what the provider said, or what went wrong
	// Temporary is true for failures that may pass (429, 5xx, timeouts,
	// network errors, an open circuit breaker).
	Temporary bool
	// RetryAfter is the wait the provider asked for (Retry-After), if any.
	RetryAfter time.Duration
	Err        error
}

func (e *APIError) Error() string {
	s := e.Provider + ": "
	if e.Status != 0 {
		s += fmt.Sprintf("HTTP %d: ", e.Status)
	}
	s += e.Message
	if e.Err != nil && e.Message == "" {
		s += e.Err.Error()
	}
	return s
}

func (e *APIError) Unwrap() error { return e.Err }

// Outage reports whether the failure is the provider's, not the request's:
// a temporary one (429, 408, 5xx, a timeout, a refused or reset
// connection, an open circuit breaker), no answer at all (a TLS failure, a
// certificate not trusted), or credentials or a model the provider refuses
// (401, 403, 404: the configuration, whatever the post). The pipeline
// reads it (pipeline.IsUnavailable) to pause the stage instead of spending
// the entries' attempts, so a provider outage never dead-letters a post.
// A 400, 413 or 422 is the request's own and counts.
func (e *APIError) Outage() bool {
	switch {
	case e.Temporary, e.Status == 0:
		return true
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden, e.Status == http.StatusNotFound:
		return true
	}
	return false
}

// RetryAfterOf returns the provider's requested wait carried by err, if any.
func RetryAfterOf(err error) (time.Duration, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return ae.RetryAfter, true
	}
	return 0, false
}

// ErrCircuitOpen is returned without calling the API while a provider's
// circuit breaker is open after repeated failures.
var ErrCircuitOpen = errors.New("circuit breaker open")
