package local

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"unicode"

	"github.com/assistant-dev/assistant/ai"
)

// EmbedderModel names the hashing scheme; it is part of the index content
// hash, so bump it whenever features or hashing change.
const EmbedderModel = "local-hash-v1"

// DefaultEmbeddingDim is used when the configured dimension is not positive.
const DefaultEmbeddingDim = 384

// Embedder maps a text to a vector by signed feature hashing (the "hashing
// trick"): word unigrams and bigrams and character 3–5-grams of the folded
// text (lower case, ё → е) are hashed with FNV-1a into dim buckets, the sign
// taken from another bit of the hash so collisions cancel out on average, and
// the vector is L2-normalised. No model, no network: texts that share words
// and word pieces end up close in cosine distance, which is enough for
// offline search and for tests. Safe for concurrent use.
type Embedder struct {
	dim int
}

// NewEmbedder returns an embedder of the given dimension
// (DefaultEmbeddingDim when dim <= 0).
func NewEmbedder(dim int) *Embedder {
	if dim <= 0 {
		dim = DefaultEmbeddingDim
	}
	return &Embedder{dim: dim}
}

var _ ai.Embedder = (*Embedder)(nil)

// Dimension implements ai.Embedder.
func (e *Embedder) Dimension() int { return e.dim }

// Model implements ai.Embedder.
func (e *Embedder) Model() string { return EmbedderModel }

// Embed implements ai.Embedder.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("local embedder: %w", err)
		}
		out[i] = e.embedOne(text)
	}
	return out, nil
}

// Feature weights: whole words say more than word pieces, and a shared
// bigram more than two shared words.
const (
	weightUnigram = 1.0
	weightBigram  = 0.7
	weightChar    = 0.35
)

func (e *Embedder) embedOne(text string) []float32 {
	vec := make([]float64, e.dim)
	words := strings.FieldsFunc(strings.Map(ai.FoldRune, text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	h := fnv.New64a()
	add := func(kind byte, parts []string, weight float64) {
		h.Reset()
		h.Write([]byte{kind})
		for i, p := range parts {
			if i > 0 {
				h.Write([]byte{' '})
			}
			h.Write([]byte(p))
		}
		sum := h.Sum64()
		idx := int(sum % uint64(e.dim))
		if sum>>63 == 1 {
			vec[idx] -= weight
		} else {
			vec[idx] += weight
		}
	}
	var runes []rune
	for i, w := range words {
		add('u', words[i:i+1], weightUnigram)
		if i+1 < len(words) {
			add('b', words[i:i+2], weightBigram)
		}
		// Character n-grams of the word padded with spaces, so prefixes and
		// suffixes count and inflected forms share most features.
		runes = append(runes[:0], ' ')
		runes = append(runes, []rune(w)...)
		runes = append(runes, ' ')
		for n := 3; n <= 5; n++ {
			for j := 0; j+n <= len(runes); j++ {
				add('c', []string{string(runes[j : j+n])}, weightChar)
			}
		}
	}
	var norm float64
	for _, v := range vec {
		norm += v * v
	}
	out := make([]float32, e.dim)
	if norm == 0 {
		return out // no features: the zero vector rather than NaNs
	}
	norm = math.Sqrt(norm)
	for i, v := range vec {
		out[i] = float32(v / norm)
	}
	return out
}
