package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/assistant-dev/assistant/ai"
)

// CallFunc POSTs body as JSON to path (relative to the provider's base URL)
// and returns the body of a successful answer; failures are *ai.APIError.
type CallFunc func(ctx context.Context, path string, body any) ([]byte, error)

// tagMaxTokens bounds a tagging answer: a handful of short tags.
const tagMaxTokens = 200

// Chat names one provider's chat model for ChatTag.
type Chat struct {
	Provider    string // labels errors and the response
	Model       string // the configured model, reported when the answer names none
	Temperature float64
	// StreamFalse sends "stream": false explicitly (GigaChat's request has
	// the field; OpenRouter's does not).
	StreamFalse bool
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
	MaxTokens   int           `json:"max_tokens,omitempty"`
}

// chatRequestStreamFalse is chatRequest with "stream": false spelled out.
type chatRequestStreamFalse struct {
	chatRequest
	Stream bool `json:"stream"`
}

type chatResponse struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Model string `json:"model"`
}

// ChatTag asks an OpenAI-shaped /chat/completions endpoint for tags with the
// strict prompt (ai.BuildTagPrompt). The answer is returned unvalidated
// (ai.ValidateTags does that); errors read "<provider> chat: ..." and wrap
// an *ai.APIError.
func ChatTag(ctx context.Context, call CallFunc, chat Chat, req ai.TagRequest) (ai.TagResponse, error) {
	system, user := ai.BuildTagPrompt(req.Text, req.MaxTags)
	return chatComplete(ctx, call, chat, system, user, tagMaxTokens)
}

func chatComplete(ctx context.Context, call CallFunc, chat Chat, system, user string, maxTokens int) (ai.TagResponse, error) {
	r := chatRequest{
		Model:       chat.Model,
		Messages:    []chatMessage{{Role: "system", Content: system}, {Role: "user", Content: user}},
		Temperature: chat.Temperature,
		MaxTokens:   maxTokens,
	}
	var reqBody any = r
	if chat.StreamFalse {
		reqBody = chatRequestStreamFalse{chatRequest: r}
	}
	body, err := call(ctx, "/chat/completions", reqBody)
	if err != nil {
		return ai.TagResponse{}, fmt.Errorf("%s chat: %w", chat.Provider, err)
	}
	var resp chatResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return ai.TagResponse{}, fmt.Errorf("%s chat: %w", chat.Provider, &ai.APIError{Provider: chat.Provider, Message: "decode response: " + err.Error(), Temporary: true, Err: err})
	}
	if len(resp.Choices) == 0 {
		return ai.TagResponse{}, fmt.Errorf("%s chat: %w", chat.Provider, &ai.APIError{Provider: chat.Provider, Message: "response has no choices", Temporary: true})
	}
	model := resp.Model
	if model == "" {
		model = chat.Model
	}
	return ai.TagResponse{Raw: resp.Choices[0].Message.Content, Provider: chat.Provider, Model: model}, nil
}

// batchTagMaxTokens bounds a batched tagging answer per post.
const batchTagMaxTokens = 120

// ChatTagBatch asks an OpenAI-shaped /chat/completions endpoint for the tags
// of several posts in one call (ai.BuildBatchTagPrompt). The answer is
// returned unvalidated (ai.ValidateBatch splits and validates it).
func ChatTagBatch(ctx context.Context, call CallFunc, chat Chat, reqs []ai.TagRequest) (ai.TagResponse, error) {
	texts := make([]string, len(reqs))
	maxTags := 0
	for i, r := range reqs {
		texts[i] = r.Text
		maxTags = max(maxTags, r.MaxTags)
	}
	system, user := ai.BuildBatchTagPrompt(texts, maxTags)
	return chatComplete(ctx, call, chat, system, user, batchTagMaxTokens*len(reqs))
}

// Embeddings names one provider's embedding model for EmbedBatches.
type Embeddings struct {
	Provider string
	Model    string
	Setting  string // the config key of Dim, named in a mismatch error
	Dim      int    // the configured dimension every vector must have
	Batch    int    // texts per request
	Logger   *slog.Logger
	// Confirmed is set by the first answer whose dimension matched, which
	// is then logged (once per client).
	Confirmed *atomic.Bool
}

type embedRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

// EmbedBatches returns one vector per text from an OpenAI-shaped /embeddings
// endpoint, e.Batch texts per request. Every answer's dimension is checked
// against e.Dim (CheckDimension); errors read "<provider> embeddings: ...".
//
// A batch the server refuses as too large (413: TEI's
// --max-client-batch-size, a proxy's body limit) is split in halves, down
// to single texts, rather than failed: the limit is the server's, not the
// posts' fault.
func EmbedBatches(ctx context.Context, call CallFunc, e Embeddings, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += e.Batch {
		batch := texts[start:min(start+e.Batch, len(texts))]
		vecs, err := embedSplitting(ctx, call, e, batch)
		if err != nil {
			return nil, fmt.Errorf("%s embeddings: %w", e.Provider, err)
		}
		out = append(out, vecs...)
	}
	return out, nil
}

func embedSplitting(ctx context.Context, call CallFunc, e Embeddings, batch []string) ([][]float32, error) {
	body, err := call(ctx, "/embeddings", embedRequest{Model: e.Model, Input: batch})
	var ae *ai.APIError
	if err != nil && len(batch) > 1 && errors.As(err, &ae) && ae.Status == http.StatusRequestEntityTooLarge {
		half := len(batch) / 2
		first, err := embedSplitting(ctx, call, e, batch[:half])
		if err != nil {
			return nil, err
		}
		second, err := embedSplitting(ctx, call, e, batch[half:])
		if err != nil {
			return nil, err
		}
		return append(first, second...), nil
	}
	if err != nil {
		return nil, err
	}
	vecs, err := DecodeEmbeddings(e.Provider, body, len(batch))
	if err != nil {
		return nil, err
	}
	if err := CheckDimension(e.Provider, e.Model, e.Setting, e.Dim, vecs); err != nil {
		return nil, err
	}
	if e.Confirmed.CompareAndSwap(false, true) && e.Logger != nil {
		e.Logger.Info(e.Provider+" embedding dimension confirmed", "model", e.Model, "dim", e.Dim)
	}
	return vecs, nil
}
