package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// wordVecDocs is a corpus where «рукокрылые» and «нетопыри» never share a
// post but are used in the same contexts, and a second topic with other
// contexts.
func wordVecDocs() []string {
	var docs []string
	for i := 0; i < 400; i++ {
		switch i % 4 {
		case 0:
			docs = append(docs, fmt.Sprintf("рукокрылые охотятся ночью эхолокация пещера насекомые слово%d", i))
		case 1:
			docs = append(docs, fmt.Sprintf("нетопыри охотятся ночью эхолокация пещера насекомые слово%d", i))
		case 2:
			docs = append(docs, fmt.Sprintf("нападающий забил гол стадион болельщики турнир слово%d", i))
		default:
			docs = append(docs, fmt.Sprintf("вратарь отбил мяч стадион болельщики турнир слово%d", i))
		}
	}
	// Filler: distinct pairs so the vocabulary is larger than the dimension.
	for i := 0; i < 120; i++ {
		for r := 0; r < 5; r++ {
			docs = append(docs, fmt.Sprintf("пара%[1]dа пара%[1]dб", i))
		}
	}
	return docs
}

func TestWordVectorsRelateWordsOfTheSameContexts(t *testing.T) {
	docs := wordVecDocs()
	w, err := TrainWordVectors(docs, WordVectorOptions{Dim: 16, Window: 5})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := Stem("рукокрылые"), Stem("нетопыри"), Stem("нападающий")
	if s, o := w.Similarity(a, b), w.Similarity(a, c); !(s > 0.8 && s > o+0.5) {
		t.Fatalf("similarity(%s, %s) = %.3f, (%s, %s) = %.3f", a, b, s, a, c, o)
	}
	// Post-level LSA over the same posts cannot relate them: they are never
	// in one post together, and each post names one of them.
	m, err := Train(docs, TrainOptions{Rank: 16})
	if err != nil {
		t.Fatal(err)
	}
	cos := func(x, y []float64) float64 {
		var s float64
		for i := range x {
			s += x[i] * y[i]
		}
		return s
	}
	q, target, other := Stems("рукокрылые"), Stems("нетопыри"), Stems("нападающий")
	if wv := cos(w.Vector(q), w.Vector(target)); wv < 0.8 || wv < cos(w.Vector(q), w.Vector(other))+0.5 {
		t.Fatalf("word vectors: cos(query, target) = %.3f, cos(query, other) = %.3f", wv, cos(w.Vector(q), w.Vector(other)))
	}
	wv := cos(w.Vector(q), w.Vector(target))
	if lsa := cos(m.Vector("рукокрылые"), m.Vector("нетопыри")); lsa > wv-0.3 {
		t.Fatalf("LSA relates them nearly as well (%.3f against %.3f): the corpus no longer shows the difference", lsa, wv)
	}
}

func TestWordVectorsTrainDeterministicallyAndRoundTrip(t *testing.T) {
	docs := wordVecDocs()
	a, err := TrainWordVectors(docs, WordVectorOptions{Dim: 16})
	if err != nil {
		t.Fatal(err)
	}
	b, err := TrainWordVectors(docs, WordVectorOptions{Dim: 16})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Fatalf("two trainings differ: %s vs %s", a.ID, b.ID)
	}
	var buf bytes.Buffer
	if err := a.Write(&buf); err != nil {
		t.Fatal(err)
	}
	c, err := ReadWordVectors(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != a.Len() || c.Dim != a.Dim {
		t.Fatalf("read %d × %d, wrote %d × %d", c.Len(), c.Dim, a.Len(), a.Dim)
	}
	// Quantised to int8: the vectors of a text barely move.
	q := Stems("рукокрылые охотятся ночью")
	x, y := a.Vector(q), c.Vector(q)
	var d float64
	for i := range x {
		d += x[i] * y[i]
	}
	if d < 0.999 {
		t.Fatalf("cos(written, read) = %.5f", d)
	}
	// A table read back twice has one id.
	var buf2 bytes.Buffer
	if err := c.Write(&buf2); err != nil {
		t.Fatal(err)
	}
	e, err := ReadWordVectors(&buf2)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != c.ID {
		t.Fatalf("id %s after a round trip, %s before", e.ID, c.ID)
	}
	if _, err := ReadWordVectors(bytes.NewReader(buf.Bytes()[:buf.Len()/2])); err == nil {
		t.Fatal("a truncated table was read")
	}
	if _, err := TrainWordVectors(docs[:20], WordVectorOptions{Dim: 16}); err == nil {
		t.Fatal("training on 20 posts for dimension 16 succeeded")
	}
}

// TestEmbeddedWordVectors checks the shipped table: it parses, covers the
// news vocabulary, and relates words by meaning.
func TestEmbeddedWordVectors(t *testing.T) {
	w := DefaultWordVectors()
	if w.Len() < 10000 || w.Dim != wordVecOptions.Dim {
		t.Fatalf("embedded table: %d stems × %d", w.Len(), w.Dim)
	}
	tests := []struct{ word, near, far string }{
		{"биткоин", "криптовалюта", "футбол"},
		{"ракета", "запуск", "налог"},
		{"рукокрылые", "летучие", "биржа"},
		{"врач", "больница", "биржа"},
		{"нейросеть", "искусственный", "урожай"},
	}
	for _, tt := range tests {
		a, n, f := Stem(tt.word), Stem(tt.near), Stem(tt.far)
		if sn, sf := w.Similarity(a, n), w.Similarity(a, f); sn <= sf+0.2 {
			t.Errorf("%s: similarity to %s %.3f, to %s %.3f", tt.word, tt.near, sn, tt.far, sf)
		}
	}
}

// TestWordVectorsFindParaphrases: on the paraphrase tuning set
// (testdata/search, queries written by reading one post of the 500-post
// sample without its distinctive words), adding the word vectors to the
// embedder with a model trained on the sample ranks the target post higher
// than the model alone (MRR over exact cosine ranking of the 500 posts).
func TestWordVectorsFindParaphrases(t *testing.T) {
	root := filepath.Join("..", "..", "testdata")
	f, err := os.Open(filepath.Join(root, "telegram-news-ru", "sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var texts, keys []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var p struct {
			ChannelID int64  `json:"channel_id"`
			MessageID int64  `json:"message_id"`
			Text      string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, p.Text)
		keys = append(keys, fmt.Sprint(p.ChannelID, ":", p.MessageID))
	}
	b, err := os.ReadFile(filepath.Join(root, "search", "paraphrase-tuning.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Queries []struct {
			Query    string         `json:"query"`
			Relevant map[string]int `json:"relevant"`
		} `json:"queries"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	m, err := Train(texts, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mrr := func(e *Embedder, rerank int) float64 {
		posts, err := e.Embed(t.Context(), texts)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, q := range set.Queries {
			qv, err := e.Embed(t.Context(), []string{q.Query})
			if err != nil {
				t.Fatal(err)
			}
			order := make([]int, len(posts))
			for i := range order {
				order[i] = i
			}
			score := make([]float64, len(posts))
			for i, p := range posts {
				score[i] = cosine(qv[0], p)
			}
			byScore := func(a, b int) int {
				switch {
				case score[a] > score[b]:
					return -1
				case score[a] < score[b]:
					return 1
				}
				return 0
			}
			slices.SortStableFunc(order, byScore)
			if rerank > 0 {
				head := make([]string, rerank)
				for r, i := range order[:rerank] {
					head[r] = texts[i]
				}
				match, err := e.MatchTexts(t.Context(), q.Query, head)
				if err != nil {
					t.Fatal(err)
				}
				for r, i := range order[:rerank] {
					score[i] += match[r]
				}
				slices.SortStableFunc(order[:rerank], byScore)
			}
			for r, i := range order {
				if q.Relevant[keys[i]] > 0 {
					sum += 1 / float64(r+1)
					break
				}
			}
		}
		return sum / float64(len(set.Queries))
	}
	without := mrr(NewEmbedder(384, WithSemanticModel(m, 0.6)), 0)
	wv := NewEmbedder(384, WithSemanticModel(m, 0), WithWordVectors(DefaultWordVectors(), 0))
	with, reranked := mrr(wv, 0), mrr(wv, 30)
	t.Logf("paraphrase tuning, semantic MRR: model alone %.3f, with word vectors %.3f, first 30 re-ranked by MatchTexts %.3f", without, with, reranked)
	if with < without+0.1 {
		t.Fatalf("word vectors: MRR %.3f, model alone %.3f", with, without)
	}
	// The BM25-style soft match (round 3) lifts it well past the IDF-weighted
	// mean of best similarities it replaced (0.611 then, 0.516 without).
	if reranked < with+0.12 {
		t.Fatalf("re-ranked by MatchTexts: MRR %.3f, cosine alone %.3f", reranked, with)
	}
}

func TestEmbedderWithWordVectors(t *testing.T) {
	m, err := Train(semanticDocs(), TrainOptions{Rank: 16})
	if err != nil {
		t.Fatal(err)
	}
	w, err := TrainWordVectors(wordVecDocs(), WordVectorOptions{Dim: 16})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		dim       int
		opts      []EmbedderOption
		model     string
		wordShare bool
	}{
		{"model and word vectors", 64, []EmbedderOption{WithSemanticModel(m, 0.1), WithWordVectors(w, 0.7)}, WordVectorEmbedderModel + "-" + m.ID + "-" + w.ID, true},
		{"no room for word vectors", 32, []EmbedderOption{WithSemanticModel(m, 0.1), WithWordVectors(w, 0.7)}, SemanticEmbedderModel + "-" + m.ID, false},
		{"shares add up to 1", 64, []EmbedderOption{WithSemanticModel(m, 0.5), WithWordVectors(w, 0.5)}, SemanticEmbedderModel + "-" + m.ID, false},
		{"word vectors without a model", 64, []EmbedderOption{WithWordVectors(w, 0.7)}, HashWordVectorEmbedderModel + "-" + w.ID, true},
		{"no options", 64, nil, EmbedderModel, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEmbedder(tt.dim, tt.opts...)
			if e.Model() != tt.model {
				t.Fatalf("model %q, want %q", e.Model(), tt.model)
			}
			vs, err := e.Embed(t.Context(), []string{"рукокрылые охотятся", "нетопыри охотятся", ""})
			if err != nil {
				t.Fatal(err)
			}
			if n := cosine(vs[0], vs[0]); math.Abs(n-1) > 1e-4 || len(vs[0]) != tt.dim {
				t.Fatalf("dim %d, squared norm %.5f", len(vs[0]), n)
			}
			if n := cosine(vs[2], vs[2]); n != 0 {
				t.Fatalf("empty text: squared norm %.5f", n)
			}
			// The word-vector part: its share of the cosine of two texts
			// whose rare words share contexts.
			var tail float64
			for i := tt.dim - w.Dim; i < tt.dim; i++ {
				tail += float64(vs[0][i]) * float64(vs[1][i])
			}
			if got := tail > 0.5; got != tt.wordShare {
				t.Fatalf("word-vector part of the cosine %.3f", tail)
			}
		})
	}
}

func TestSoftMatchCountsOneSynonymInALongText(t *testing.T) {
	w, err := TrainWordVectors(wordVecDocs(), WordVectorOptions{Dim: 16, Window: 5})
	if err != nil {
		t.Fatal(err)
	}
	query := Stems("рукокрылые")
	long := Stems("нетопыри нападающий забил гол стадион болельщики турнир вратарь отбил мяч")
	other := Stems("нападающий забил гол стадион болельщики турнир вратарь отбил мяч")
	short := Stems("нетопыри")
	got := w.SoftMatch(query, [][]string{long, other, nil, short})
	if !(got[0] > 0.4 && got[0] > got[1]+0.3) || got[2] != 0 {
		t.Fatalf("soft match: with the synonym %.3f, without %.3f, empty %.3f", got[0], got[1], got[2])
	}
	// Length normalisation: the same synonym alone scores higher than
	// among ten other words.
	if got[3] <= got[0] {
		t.Fatalf("soft match: the synonym alone %.3f, in a long text %.3f", got[3], got[0])
	}
	// The averaged vectors dilute the one synonym among the other words.
	cos := 0.0
	for i, x := range w.Vector(query) {
		cos += x * w.Vector(long)[i]
	}
	if cos > got[0]-0.1 {
		t.Fatalf("cosine of the averages %.3f, soft match %.3f", cos, got[0])
	}
	e := NewEmbedder(64)
	if s, err := e.MatchTexts(t.Context(), "рукокрылые", []string{"нетопыри"}); err != nil || s != nil {
		t.Fatalf("an embedder without word vectors matched texts: %v, %v", s, err)
	}
}

// TestSoftMatchIsBM25Like: the soft term frequency saturates (a second
// occurrence of a word adds nothing, two related words add less than twice
// one), similarities at or below the floor count nothing, and the stem
// itself counts 1 even where its vector's quantisation would not.
func TestSoftMatchIsBM25Like(t *testing.T) {
	w := DefaultWordVectors()
	query := Stems("криптовалюта")
	texts := [][]string{
		Stems("криптовалюта выросла"),
		Stems("криптовалюта криптовалюта выросла"),
		Stems("биткоин выросла"),
		Stems("погода выросла"),
	}
	got := w.SoftMatch(query, texts)
	if got[0] != got[1] {
		t.Fatalf("a repeated stem counted twice: %.3f vs %.3f", got[1], got[0])
	}
	if !(got[0] > got[2] && got[2] > 0) {
		t.Fatalf("the word itself %.3f, a related word %.3f", got[0], got[2])
	}
	if sim := w.Similarity(Stem("криптовалюта"), Stem("погода")); sim > softMatchFloor {
		t.Fatalf("test words: криптовалюта ~ погода %.3f above the floor", sim)
	}
	if got[3] != 0 {
		t.Fatalf("an unrelated word scored %.3f", got[3])
	}
	for i, s := range got {
		if s < 0 || s >= 1 {
			t.Fatalf("score %d out of [0, 1): %.3f", i, s)
		}
	}
	// Every text of length 2: tf/(tf+K1) for the exact stem.
	if want := 1 / (1 + softMatchK1); math.Abs(got[0]-want) > 1e-9 {
		t.Fatalf("exact stem in an average-length text: %.4f, want %.4f", got[0], want)
	}
}

func TestStemCacheAnswersAsSnowball(t *testing.T) {
	words := []string{"рукокрылые", "летучие", "мыши", "и", "2024", "running", "the", "нетопыри"}
	for round := 0; round < 2; round++ {
		for _, w := range words {
			if got, want := Stem(w), snowballStem(w); got != want {
				t.Fatalf("round %d: Stem(%q) = %q, Snowball %q", round, w, got, want)
			}
		}
	}
	// Past stemCacheMax words the cache starts afresh.
	stemCache.n.Store(stemCacheMax)
	before := stemCache.m.Load()
	Stem("совершенно-новое-слово")
	if stemCache.m.Load() == before {
		t.Fatal("the cache was not emptied at its size limit")
	}
	if got := Stem("летучие"); got != snowballStem("летучие") {
		t.Fatalf("after the reset: %q", got)
	}
}

// TestUnseenStemCache: an unseen stem's vector comes from the cache the
// second time, equal to the one composed from its n-grams; seen stems and
// short unseen ones are not cached; past unseenCacheSize the least recently
// used is composed afresh.
func TestUnseenStemCache(t *testing.T) {
	w, err := TrainWordVectors(wordVecDocs(), WordVectorOptions{Dim: 16, Window: 5})
	if err != nil {
		t.Fatal(err)
	}
	const unseen = "нетопырище"
	if _, ok := w.vocab[unseen]; ok {
		t.Fatalf("%q is in the vocabulary", unseen)
	}
	first, wt := w.stemVector(unseen)
	if first == nil || wt != math.Log(w.total) {
		t.Fatalf("unseen stem: vector %v, weight %.3f", first, wt)
	}
	second, _ := w.stemVector(unseen)
	if &second[0] != &first[0] {
		t.Fatal("the second lookup composed the vector again")
	}
	if !slices.Equal(second, w.subwordVector(unseen)) {
		t.Fatal("the cached vector differs from the composed one")
	}
	if v, _ := w.stemVector("ab"); v != nil {
		t.Fatalf("a two-letter unseen stem has a vector")
	}
	n := w.unseenCache().Len()
	w.stemVector(w.stems[0])
	if w.unseenCache().Len() != n {
		t.Fatal("a seen stem went to the cache")
	}
	// Past its size the least recently used stem is composed afresh.
	for i := range unseenCacheSize {
		w.stemVector(fmt.Sprintf("новоеслово%d", i))
	}
	if n := w.unseenCache().Len(); n != unseenCacheSize {
		t.Fatalf("the cache holds %d stems, its size is %d", n, unseenCacheSize)
	}
	if again, _ := w.stemVector(unseen); &again[0] == &first[0] || !slices.Equal(again, first) {
		t.Fatal("after the reset: not composed afresh, or composed differently")
	}
}
