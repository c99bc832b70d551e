package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/assistant-dev/assistant/ai"
)

func TestChatTagRequestBody(t *testing.T) {
	for _, streamFalse := range []bool{false, true} {
		var sent []byte
		call := func(_ context.Context, path string, body any) ([]byte, error) {
			if path != "/chat/completions" {
				t.Errorf("path %q", path)
			}
			sent, _ = json.Marshal(body)
			return []byte(`{"choices":[{"message":{"content":"a, b"}}]}`), nil
		}
		resp, err := ChatTag(context.Background(), call, Chat{Provider: "p", Model: "m", Temperature: 0.1, StreamFalse: streamFalse}, ai.TagRequest{Text: "text", MaxTags: 5})
		if err != nil {
			t.Fatal(err)
		}
		if resp != (ai.TagResponse{Raw: "a, b", Provider: "p", Model: "m"}) {
			t.Errorf("response %+v", resp)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(sent, &got); err != nil {
			t.Fatal(err)
		}
		stream, ok := got["stream"]
		if streamFalse != ok || (ok && string(stream) != "false") {
			t.Errorf("StreamFalse %v: body %s", streamFalse, sent)
		}
		if string(got["model"]) != `"m"` || string(got["temperature"]) != "0.1" || string(got["max_tokens"]) != "200" {
			t.Errorf("body %s", sent)
		}
	}
}

func TestChatTagAndEmbedErrorsNameProvider(t *testing.T) {
	fail := func(context.Context, string, any) ([]byte, error) {
		return nil, &ai.APIError{Provider: "p", Message: "boom", Temporary: true}
	}
	_, err := ChatTag(context.Background(), fail, Chat{Provider: "p", Model: "m"}, ai.TagRequest{Text: "x", MaxTags: 1})
	var ae *ai.APIError
	if err == nil || !strings.HasPrefix(err.Error(), "p chat: ") || !errors.As(err, &ae) {
		t.Errorf("chat error %v", err)
	}
	_, err = EmbedBatches(context.Background(), fail, Embeddings{Provider: "p", Model: "m", Setting: "p.embedding_dim", Dim: 2, Batch: 16, Confirmed: new(atomic.Bool)}, []string{"x"})
	if err == nil || !strings.HasPrefix(err.Error(), "p embeddings: ") || !errors.As(err, &ae) {
		t.Errorf("embeddings error %v", err)
	}
}

func TestEmbedBatches(t *testing.T) {
	var sizes []int
	call := func(_ context.Context, path string, body any) ([]byte, error) {
		in := body.(embedRequest).Input
		sizes = append(sizes, len(in))
		data := make([]string, len(in))
		for i := range in {
			data[i] = `{"embedding":[1,2],"index":` + string(rune('0'+i)) + `}`
		}
		return []byte(`{"data":[` + strings.Join(data, ",") + `]}`), nil
	}
	var confirmed atomic.Bool
	vecs, err := EmbedBatches(context.Background(), call, Embeddings{Provider: "p", Model: "m", Setting: "p.embedding_dim", Dim: 2, Batch: 3, Confirmed: &confirmed}, []string{"a", "b", "c", "d", "e"})
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 5 || len(sizes) != 2 || sizes[0] != 3 || sizes[1] != 2 || !confirmed.Load() {
		t.Errorf("%d vectors, batches %v, confirmed %v", len(vecs), sizes, confirmed.Load())
	}
}
