package aitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// Flavour is an OpenAI-compatible server whose differences from OpenAI's
// API the OpenAICompat emulator reproduces. The shapes are those of the
// servers' sources and documentation:
//
//   - Ollama (/v1 of ollama serve): no key needed; an unknown model is a
//     404 {"error":{"message":"model \"x\" not found, try pulling it first",
//     "type":"api_error",...}}; a full queue is a 503 "server busy".
//   - TEI (text-embeddings-inference): embeddings only (no chat route: 404
//     with an empty body); the model field is ignored and the served model
//     named in the answer; errors are {"error":"...","error_type":"..."}, a
//     batch over --max-client-batch-size is a 413 "Validation" error and a
//     full queue a 429 "Overloaded" one.
//   - vLLM: an unknown model is a 404 with a top-level
//     {"object":"error","message":"The model `x` does not exist.",
//     "type":"NotFoundError","code":404}; with --api-key a wrong key is a
//     401 {"error":"Unauthorized"}.
type Flavour string

// Flavours of OpenAICompat.
const (
	Ollama Flavour = "ollama"
	TEI    Flavour = "tei"
	VLLM   Flavour = "vllm"
)

// OpenAICompat emulates an OpenAI-compatible model server
// (/v1/chat/completions, /v1/embeddings) of one Flavour.
type OpenAICompat struct {
	counters
	cfg     Config
	flavour Flavour
	// Models are the models the server serves (Ollama: pulled); a request
	// naming another fails as the flavour fails it (TEI ignores the name).
	models []string
	// MaxClientBatch is TEI's --max-client-batch-size (0: no limit).
	maxClientBatch int
	Server         *httptest.Server

	mu         sync.Mutex
	lastHeader http.Header
	batchSizes []int
}

// CompatOptions are the OpenAICompat settings beyond Config.
type CompatOptions struct {
	// Models served; default: Ollama bge-m3 and qwen2.5:7b, TEI BAAI/bge-m3,
	// vLLM Qwen/Qwen2.5-7B-Instruct.
	Models []string
	// MaxClientBatch is TEI's --max-client-batch-size (default 32 for TEI).
	MaxClientBatch int
	// RequireKey makes the server check Config.AuthKey (Ollama never does).
	RequireKey bool
}

// NewOpenAICompat starts an emulator of flavour, closed when the test ends.
func NewOpenAICompat(t testing.TB, flavour Flavour, cfg Config, opts CompatOptions) *OpenAICompat {
	t.Helper()
	cfg.defaults()
	if !opts.RequireKey || flavour == Ollama {
		cfg.AuthKey = ""
	}
	if opts.Models == nil {
		switch flavour {
		case Ollama:
			opts.Models = []string{"bge-m3", "qwen2.5:7b"}
		case TEI:
			opts.Models = []string{"BAAI/bge-m3"}
		default:
			opts.Models = []string{"Qwen/Qwen2.5-7B-Instruct"}
		}
	}
	if flavour == TEI && opts.MaxClientBatch == 0 {
		opts.MaxClientBatch = 32
	}
	s := &OpenAICompat{cfg: cfg, flavour: flavour, models: opts.Models, maxClientBatch: opts.MaxClientBatch}
	s.entered = cfg.Entered
	mux := http.NewServeMux()
	if flavour != TEI {
		mux.HandleFunc("POST /v1/chat/completions", s.api(KindChat))
	}
	mux.HandleFunc("POST /v1/embeddings", s.api(KindEmbed))
	if cfg.TLS {
		s.Server = httptest.NewTLSServer(mux)
	} else {
		s.Server = httptest.NewServer(mux)
	}
	t.Cleanup(s.Server.Close)
	return s
}

// BaseURL is the API base to configure (…/v1).
func (s *OpenAICompat) BaseURL() string { return s.Server.URL + "/v1" }

// LastHeader returns the headers of the last API request.
func (s *OpenAICompat) LastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHeader
}

// EmbedBatchSizes returns the number of inputs of each embeddings request,
// refused ones included.
func (s *OpenAICompat) EmbedBatchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batchSizes)
}

func (s *OpenAICompat) api(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		seq := s.next(kind)
		bufferBody(r)
		done := s.enter(kind)
		defer done()
		s.mu.Lock()
		s.lastHeader = r.Header.Clone()
		s.mu.Unlock()
		if !gate(r.Context(), s.cfg.Gate) {
			return
		}
		if s.cfg.AuthKey != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.AuthKey {
			switch s.flavour {
			case TEI:
				writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Unauthorized", "error_type": "Unauthorized"})
			case VLLM:
				writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Unauthorized"})
			}
			return
		}
		var peek struct {
			Model string            `json:"model"`
			Input []json.RawMessage `json:"input"`
		}
		body, _ := readAll(r)
		_ = json.Unmarshal(body, &peek)
		if kind == KindEmbed {
			s.mu.Lock()
			s.batchSizes = append(s.batchSizes, len(peek.Input))
			s.mu.Unlock()
		}
		if s.flavour != TEI && !slices.Contains(s.models, peek.Model) {
			switch s.flavour {
			case Ollama:
				writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
					"message": fmt.Sprintf("model %q not found, try pulling it first", peek.Model),
					"type":    "api_error", "param": nil, "code": nil}})
			default:
				writeJSON(w, http.StatusNotFound, map[string]any{"object": "error",
					"message": fmt.Sprintf("The model `%s` does not exist.", peek.Model),
					"type":    "NotFoundError", "param": nil, "code": 404})
			}
			return
		}
		if kind == KindEmbed && s.maxClientBatch > 0 && len(peek.Input) > s.maxClientBatch {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{
				"error":      fmt.Sprintf("batch size %d > maximum allowed batch size %d", len(peek.Input), s.maxClientBatch),
				"error_type": "Validation"})
			return
		}
		if s.cfg.Script != nil {
			if f := s.cfg.Script(kind, seq); f != nil {
				writeFailure(w, r, f, s.defaultError(f.Status))
				return
			}
		}
		model := peek.Model
		if s.flavour == TEI {
			model = s.models[0]
		}
		serveModel(w, r, kind, s.cfg, &s.counters, model)
	}
}

// defaultError is the flavour's body for a scripted failure status.
func (s *OpenAICompat) defaultError(status int) string {
	switch s.flavour {
	case TEI:
		kind := "Backend"
		if status == http.StatusTooManyRequests {
			kind = "Overloaded"
		}
		b, _ := json.Marshal(map[string]any{"error": "Model is overloaded", "error_type": kind})
		return string(b)
	case VLLM:
		return fmt.Sprintf(`{"object":"error","message":"scripted failure","type":"InternalServerError","param":null,"code":%d}`, status)
	}
	if status == http.StatusServiceUnavailable {
		return `{"error":{"message":"server busy, please try again.  maximum pending requests exceeded","type":"api_error","param":null,"code":null}}`
	}
	return `{"error":{"message":"scripted failure","type":"api_error","param":null,"code":null}}`
}
