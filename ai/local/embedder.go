package local

import (
	"context"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"math"
	"strings"
	"unicode"

	"github.com/assistant-dev/assistant/ai"

	lru "github.com/hashicorp/golang-lru/v2"
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
//
// With a SemanticModel (WithSemanticModel) the vector has two parts: the
// hashed features above in the first dim−Rank dimensions and the model's
// latent vector in the last Rank, weighted so that cosine similarity is
// (1−SemanticShare)·lexical + SemanticShare·latent.
//
// With word vectors as well (WithWordVectors), the latent part is followed
// by the text's word-vector average, so cosine similarity is
// (1−SemanticShare−WordVectorShare)·lexical + SemanticShare·latent +
// WordVectorShare·word vectors. Without a model, word vectors follow the
// hashed features directly: (1−WordVectorShare)·lexical +
// WordVectorShare·word vectors.
type Embedder struct {
	dim     int
	model   *SemanticModel
	share   float64
	wv      *WordVectors
	wvShare float64
	// matchSeed and matchCache: the texts MatchTexts prepared, by a seeded
	// hash of their content, the least recently used dropped past
	// matchCacheSize.
	matchSeed  maphash.Seed
	matchCache *lru.Cache[uint64, *MatchText]
}

// EmbedderOption configures an Embedder.
type EmbedderOption func(*Embedder)

// DefaultSemanticShare is the latent part's share of the cosine similarity
// (tuned on testdata/search/paraphrase-tuning.json; see docs/search.md).
const DefaultSemanticShare = 0.1

// WithSemanticModel adds a trained model's latent vector to every embedding;
// share is its share of the cosine (DefaultSemanticShare when not in (0, 1]).
// A model whose rank is not below the dimension is ignored.
func WithSemanticModel(m *SemanticModel, share float64) EmbedderOption {
	return func(e *Embedder) {
		if share <= 0 || share > 1 {
			share = DefaultSemanticShare
		}
		e.model, e.share = m, share
	}
}

// DefaultWordVectorShare is the word vectors' share of the cosine
// similarity (tuned with DefaultSemanticShare on
// testdata/search/paraphrase-tuning.json; see docs/search.md).
const DefaultWordVectorShare = 0.7

// WithWordVectors adds a text's average word vector (DefaultWordVectors for
// the embedded table) to every embedding, with or without a trained
// SemanticModel; share is its share of the cosine (DefaultWordVectorShare
// when not in (0, 1)). They are left out when the model's rank (if any) and
// theirs leave no room below the dimension, or when the two shares add up
// to 1 or more.
func WithWordVectors(w *WordVectors, share float64) EmbedderOption {
	return func(e *Embedder) {
		if share <= 0 || share >= 1 {
			share = DefaultWordVectorShare
		}
		e.wv, e.wvShare = w, share
	}
}

// NewEmbedder returns an embedder of the given dimension
// (DefaultEmbeddingDim when dim <= 0).
func NewEmbedder(dim int, opts ...EmbedderOption) *Embedder {
	if dim <= 0 {
		dim = DefaultEmbeddingDim
	}
	e := &Embedder{dim: dim, matchSeed: maphash.MakeSeed()}
	for _, o := range opts {
		o(e)
	}
	if e.model != nil && e.model.Rank >= dim {
		e.model = nil
	}
	if e.wv != nil {
		rank, share := e.latent()
		if rank+e.wv.Dim >= dim || share+e.wvShare >= 1 {
			e.wv = nil
		} else {
			e.matchCache = newMatchCache(matchCacheSize)
		}
	}
	return e
}

// latent is the trained model's rank and share of the cosine (0, 0
// without a model).
func (e *Embedder) latent() (rank int, share float64) {
	if e.model == nil {
		return 0, 0
	}
	return e.model.Rank, e.share
}

// SemanticModel returns the embedder's trained model (nil when none).
func (e *Embedder) SemanticModel() *SemanticModel { return e.model }

var _ ai.Embedder = (*Embedder)(nil)

// Dimension implements ai.Embedder.
func (e *Embedder) Dimension() int { return e.dim }

// Model implements ai.Embedder.
// With a trained model the name carries the model's content id, so a
// retrained model is a model change (store.MismatchError until reindex).
func (e *Embedder) Model() string {
	if e.wv != nil && e.model == nil {
		return HashWordVectorEmbedderModel + "-" + e.wv.ID
	}
	if e.wv != nil {
		return WordVectorEmbedderModel + "-" + e.model.ID + "-" + e.wv.ID
	}
	if e.model != nil {
		return SemanticEmbedderModel + "-" + e.model.ID
	}
	return EmbedderModel
}

// SemanticEmbedderModel prefixes the model name of an embedder with a
// trained SemanticModel.
const SemanticEmbedderModel = "local-lsa-v1"

// HashWordVectorEmbedderModel prefixes the model name of an embedder with
// word vectors and no trained SemanticModel (then the table's id).
const HashWordVectorEmbedderModel = "local-hash-wv-v1"

// WordVectorEmbedderModel prefixes the model name of an embedder with a
// trained SemanticModel and word vectors (then the two ids).
const WordVectorEmbedderModel = "local-lsa-wv-v1"

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

var _ ai.TextMatcher = (*Embedder)(nil)

// MatchesTexts implements ai.TextMatcher: true with word vectors.
func (e *Embedder) MatchesTexts() bool { return e.wv != nil }

// MatchTexts implements ai.TextMatcher: the word vectors' SoftMatch of the
// texts' stems (nil without word vectors). Each text's distinct stems are
// kept (matchCacheSize texts at most, by a 64-bit hash of the text), so a
// post re-ranked again costs only its similarities to the query's stems.
func (e *Embedder) MatchTexts(ctx context.Context, query string, texts []string) ([]float64, error) {
	if e.wv == nil {
		return nil, nil
	}
	prepared := make([]*MatchText, len(texts))
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("local embedder: %w", err)
		}
		h := maphash.String(e.matchSeed, t)
		if p, ok := e.matchCache.Get(h); ok {
			prepared[i] = p
			continue
		}
		prepared[i] = e.wv.PrepareText(Stems(t))
		e.matchCache.Add(h, prepared[i])
	}
	return e.wv.SoftMatchPrepared(Stems(query), prepared), nil
}

// matchCacheSize bounds MatchTexts' cache of prepared texts: about 1.1 KB
// each on the sample's posts (their stem ids, unseen stems and the cache's
// entry), so about 18 MiB when full. Texts are told apart by a 64-bit seeded
// hash only: two posts colliding among 16,384 (odds about 1e-11) would share
// a match score, nothing worse.
const matchCacheSize = 1 << 14

// newMatchCache is the LRU of prepared texts (a size > 0 never fails).
func newMatchCache(size int) *lru.Cache[uint64, *MatchText] {
	c, err := lru.New[uint64, *MatchText](size)
	if err != nil {
		panic(fmt.Sprintf("local embedder: match cache of %d: %v", size, err))
	}
	return c
}

// Feature weights: whole words say more than word pieces, and a shared
// bigram more than two shared words.
const (
	weightUnigram = 1.0
	weightBigram  = 0.7
	weightChar    = 0.35
)

func (e *Embedder) embedOne(text string) []float32 {
	if e.model == nil && e.wv == nil {
		return normalized(hashFeatures(text, e.dim))
	}
	wvDim, wvShare := 0, 0.0
	if e.wv != nil {
		wvDim, wvShare = e.wv.Dim, e.wvShare
	}
	rank, share := e.latent()
	lex := normalized(hashFeatures(text, e.dim-rank-wvDim))
	stems := Stems(text)
	var lat []float64
	if e.model != nil {
		lat = e.model.vectorOfStems(stems)
	}
	a, b := float32(math.Sqrt(1-share-wvShare)), math.Sqrt(share)
	out := make([]float32, e.dim)
	for i, x := range lex {
		out[i] = a * x
	}
	for i, x := range lat {
		out[len(lex)+i] = float32(b * x)
	}
	if e.wv != nil {
		c := math.Sqrt(wvShare)
		for i, x := range e.wv.Vector(stems) {
			out[len(lex)+len(lat)+i] = float32(c * x)
		}
	}
	return normalized64(out)
}

// hashFeatures is the signed feature hashing of text into dim buckets.
func hashFeatures(text string, dim int) []float64 {
	vec := make([]float64, dim)
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
		idx := int(sum % uint64(dim))
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
	return vec
}

// normalized is vec scaled to unit length (the zero vector, rather than
// NaNs, when it has no features).
func normalized(vec []float64) []float32 {
	var norm float64
	for _, v := range vec {
		norm += v * v
	}
	out := make([]float32, len(vec))
	if norm == 0 {
		return out
	}
	norm = math.Sqrt(norm)
	for i, v := range vec {
		out[i] = float32(v / norm)
	}
	return out
}

// normalized64 rescales a float32 vector to unit length in place.
func normalized64(vec []float32) []float32 {
	var norm float64
	for _, v := range vec {
		norm += float64(v) * float64(v)
	}
	if norm == 0 {
		return vec
	}
	inv := 1 / math.Sqrt(norm)
	for i := range vec {
		vec[i] = float32(float64(vec[i]) * inv)
	}
	return vec
}
