package local

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"github.com/kljensen/snowball/english"
	"github.com/kljensen/snowball/russian"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/assistant-dev/assistant/ai"
)

// SemanticModel is a latent semantic model learnt from the stored posts
// (LSA): a TF-IDF matrix of posts × word stems (Snowball Russian and
// English) reduced by a truncated SVD, so stems that occur in the same posts
// get nearby vectors, plus vectors of hashed character n-grams of the
// stems (averaged over the stems containing them, as fastText composes word
// vectors from pieces) for words the corpus never had. A text's latent
// vector is the TF-IDF weighted sum of its stems' vectors.
//
// Training is deterministic (the random projection of the randomised SVD
// is seeded) and takes seconds for 10,000 posts.
type SemanticModel struct {
	// Rank is the latent dimension.
	Rank  int
	vocab map[string]int32
	stems []string
	idf   []float32
	terms []float32 // len(stems) × Rank
	// sub holds subwordBuckets × Rank n-gram vectors.
	sub []float32
	// ID names the model's content: part of the embedder's model name, so a
	// retrained model makes the vector collection mismatch and go through
	// reindex.
	ID string
}

// TrainOptions shapes Train.
type TrainOptions struct {
	// Rank is the latent dimension (default 128).
	Rank int
	// MinDF and MaxDFShare bound the stems kept: in at least MinDF posts
	// (default 2) and at most MaxDFShare of them (default 0.25).
	MinDF      int
	MaxDFShare float64
	// Seed seeds the random projection (default 1).
	Seed uint64
}

const (
	subwordBuckets = 1 << 13
	semanticMagic  = "ASSISTANT-LSA-1\n"
)

// ErrNotEnoughText: the corpus is too small to learn anything.
var ErrNotEnoughText = errors.New("local semantic model: not enough text to train on")

// Stems splits text into folded words (lower case, ё → е) and returns their
// Snowball stems (Russian for Cyrillic words, English for Latin ones),
// leaving out stop words, single letters and numbers.
func Stems(text string) []string {
	words := strings.FieldsFunc(strings.Map(ai.FoldRune, text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := words[:0]
	for _, w := range words {
		if s := Stem(w); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// stemCache remembers the stems of the words seen (Snowball is most of the
// cost of embedding a text and of matching texts); it is emptied when it
// holds stemCacheMax words.
var stemCache struct {
	m atomic.Pointer[sync.Map]
	n atomic.Int64
}

const stemCacheMax = 1 << 18

// Stem is the Snowball stem of one folded word ("" for a stop word, a number
// or a single letter).
func Stem(w string) string {
	m := stemCache.m.Load()
	if m == nil {
		stemCache.m.CompareAndSwap(nil, new(sync.Map))
		m = stemCache.m.Load()
	}
	if s, ok := m.Load(w); ok {
		return s.(string)
	}
	s := snowballStem(w)
	if stemCache.n.Add(1) > stemCacheMax {
		stemCache.m.Store(new(sync.Map))
		stemCache.n.Store(0)
	}
	m.Store(strings.Clone(w), s)
	return s
}

func snowballStem(w string) string {
	letters, cyr := 0, 0
	for _, r := range w {
		if unicode.IsLetter(r) {
			letters++
			if r >= 'а' && r <= 'я' {
				cyr++
			}
		}
	}
	if letters < 2 {
		return ""
	}
	if cyr > 0 {
		if russian.IsStopWord(w) {
			return ""
		}
		return russian.Stem(w, false)
	}
	if english.IsStopWord(w) {
		return ""
	}
	return english.Stem(w, false)
}

// Train learns a model from documents (post texts).
func Train(docs []string, o TrainOptions) (*SemanticModel, error) {
	if o.Rank <= 0 {
		o.Rank = 128
	}
	if o.MinDF <= 0 {
		o.MinDF = 2
	}
	if o.MaxDFShare <= 0 {
		o.MaxDFShare = 0.25
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	// Document frequencies of stems.
	stemmed := make([][]string, len(docs))
	df := map[string]int{}
	for i, d := range docs {
		stemmed[i] = Stems(d)
		seen := map[string]bool{}
		for _, s := range stemmed[i] {
			if !seen[s] {
				seen[s] = true
				df[s]++
			}
		}
	}
	maxDF := int(o.MaxDFShare * float64(len(docs)))
	var stems []string
	for s, n := range df {
		if n >= o.MinDF && n <= max(maxDF, o.MinDF) {
			stems = append(stems, s)
		}
	}
	slices.Sort(stems)
	if len(stems) < 2*o.Rank || len(docs) < o.Rank {
		return nil, fmt.Errorf("%w: %d posts, %d stems for rank %d", ErrNotEnoughText, len(docs), len(stems), o.Rank)
	}
	m := &SemanticModel{Rank: o.Rank, vocab: make(map[string]int32, len(stems)), stems: stems, idf: make([]float32, len(stems))}
	for i, s := range stems {
		m.vocab[s] = int32(i)
		m.idf[i] = float32(math.Log(float64(len(docs)+1) / float64(df[s]+1)))
	}
	// The TF-IDF matrix, rows L2-normalised, as sparse rows.
	rows := make([]sparseRow, 0, len(docs))
	for _, st := range stemmed {
		if r := m.weigh(st); len(r.idx) > 0 {
			rows = append(rows, r)
		}
	}
	if len(rows) < o.Rank {
		return nil, fmt.Errorf("%w: %d posts with known stems for rank %d", ErrNotEnoughText, len(rows), o.Rank)
	}
	v, sv := randomizedSVD(rows, len(stems), o.Rank, o.Seed)
	// A stem's vector is its row of V; a text's vector Σ w·V is then its
	// coordinates in U·S, the LSA document space. The first component
	// mostly measures how much text there is; it is dropped.
	k := o.Rank
	m.terms = make([]float32, len(stems)*k)
	for t := range stems {
		for j := 0; j < k; j++ {
			if j == 0 {
				continue
			}
			m.terms[t*k+j] = float32(v.At(t, j))
		}
	}
	_ = sv
	// Subword vectors: the mean vector of the stems holding each n-gram.
	m.sub = make([]float32, subwordBuckets*k)
	count := make([]int, subwordBuckets)
	for t, s := range stems {
		for _, b := range subwordBucketsOf(s) {
			count[b]++
			row := m.sub[b*k : (b+1)*k]
			for j, x := range m.terms[t*k : (t+1)*k] {
				row[j] += x
			}
		}
	}
	for b, c := range count {
		if c > 1 {
			row := m.sub[b*k : (b+1)*k]
			for j := range row {
				row[j] /= float32(c)
			}
		}
	}
	m.ID = m.contentID()
	return m, nil
}

type sparseRow struct {
	idx []int32
	w   []float64
}

// weigh is the L2-normalised (1+log tf)·idf row of known stems.
func (m *SemanticModel) weigh(stems []string) sparseRow {
	tf := map[int32]int{}
	for _, s := range stems {
		if i, ok := m.vocab[s]; ok {
			tf[i]++
		}
	}
	r := sparseRow{idx: make([]int32, 0, len(tf)), w: make([]float64, 0, len(tf))}
	for i := range tf {
		r.idx = append(r.idx, i)
	}
	slices.Sort(r.idx)
	var norm float64
	for _, i := range r.idx {
		w := (1 + math.Log(float64(tf[i]))) * float64(m.idf[i])
		r.w = append(r.w, w)
		norm += w * w
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for j := range r.w {
			r.w[j] /= norm
		}
	}
	return r
}

// randomizedSVD returns the first k right singular vectors (terms × k) and
// values of the sparse matrix rows (docs × nterms), by the randomised range
// finder of Halko, Martinsson and Tropp with two power iterations.
func randomizedSVD(rows []sparseRow, nterms, k int, seed uint64) (*mat.Dense, []float64) {
	l := k + 16
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	omega := mat.NewDense(nterms, l, nil)
	for i := 0; i < nterms; i++ {
		for j := 0; j < l; j++ {
			omega.Set(i, j, rng.NormFloat64())
		}
	}
	// A·X for X nterms × l; Aᵀ·Y for Y docs × l.
	mul := func(x *mat.Dense) *mat.Dense {
		out := mat.NewDense(len(rows), l, nil)
		for d, r := range rows {
			o := out.RawRowView(d)
			for n, t := range r.idx {
				w := r.w[n]
				for j, xv := range x.RawRowView(int(t)) {
					o[j] += w * xv
				}
			}
		}
		return out
	}
	mulT := func(y *mat.Dense) *mat.Dense {
		out := mat.NewDense(nterms, l, nil)
		for d, r := range rows {
			yr := y.RawRowView(d)
			for n, t := range r.idx {
				w := r.w[n]
				o := out.RawRowView(int(t))
				for j, yv := range yr {
					o[j] += w * yv
				}
			}
		}
		return out
	}
	y := orth(mul(omega))
	for it := 0; it < 2; it++ {
		y = orth(mul(orth(mulT(y))))
	}
	bt := mulT(y) // Bᵀ = Aᵀ·Q, nterms × l
	var svd mat.SVD
	if !svd.Factorize(bt, mat.SVDThin) {
		panic("local semantic model: SVD did not converge")
	}
	var u mat.Dense
	svd.UTo(&u) // Bᵀ = U·S·Wᵀ: U holds A's right singular vectors
	vals := svd.Values(nil)
	return mat.DenseCopyOf(u.Slice(0, nterms, 0, k)), vals[:k]
}

// orth returns an orthonormal basis of a's columns by modified
// Gram–Schmidt, twice for stability (mat.QR would build the full square Q:
// gigabytes for 40,000 stems).
func orth(a *mat.Dense) *mat.Dense {
	r, c := a.Dims()
	cols := make([][]float64, c)
	for j := range cols {
		cols[j] = mat.Col(nil, j, a)
	}
	for pass := 0; pass < 2; pass++ {
		for j := range cols {
			for i := 0; i < j; i++ {
				d := floats.Dot(cols[i], cols[j])
				floats.AddScaled(cols[j], -d, cols[i])
			}
			if n := floats.Norm(cols[j], 2); n > 1e-12 {
				floats.Scale(1/n, cols[j])
			} else {
				for k := range cols[j] {
					cols[j][k] = 0
				}
			}
		}
	}
	out := mat.NewDense(r, c, nil)
	for j, col := range cols {
		out.SetCol(j, col)
	}
	return out
}

// subwordBucketsOf hashes the character 3- and 4-grams of " "+stem.
func subwordBucketsOf(stem string) []int {
	runes := append([]rune{' '}, []rune(stem)...)
	var out []int
	h := fnv.New32a()
	for n := 3; n <= 4; n++ {
		for j := 0; j+n <= len(runes); j++ {
			h.Reset()
			h.Write([]byte(string(runes[j : j+n])))
			out = append(out, int(h.Sum32()%subwordBuckets))
		}
	}
	return out
}

// Vector is the latent vector of a text (L2-normalised; zero when no stem is
// known).
func (m *SemanticModel) Vector(text string) []float64 {
	return m.vectorOfStems(Stems(text))
}

// vectorOfStems is Vector of a text's Stems.
func (m *SemanticModel) vectorOfStems(stems []string) []float64 {
	k := m.Rank
	out := make([]float64, k)
	known := m.weigh(stems)
	for n, t := range known.idx {
		w := known.w[n]
		for j, x := range m.terms[int(t)*k : (int(t)+1)*k] {
			out[j] += w * float64(x)
		}
	}
	// Stems the corpus never had (or had once) take a vector composed of
	// their n-grams', weighted as a rare stem.
	var unknown []string
	for _, s := range stems {
		if _, ok := m.vocab[s]; !ok && len([]rune(s)) >= 4 {
			unknown = append(unknown, s)
		}
	}
	if len(unknown) > 0 {
		w := 1 / math.Sqrt(float64(len(stems)))
		for _, s := range unknown {
			bs := subwordBucketsOf(s)
			for _, b := range bs {
				for j, x := range m.sub[b*k : (b+1)*k] {
					out[j] += w * float64(x) / float64(len(bs))
				}
			}
		}
	}
	var norm float64
	for _, x := range out {
		norm += x * x
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for j := range out {
			out[j] /= norm
		}
	}
	return out
}

func (m *SemanticModel) contentID() string {
	h := sha256.New()
	_ = m.write(h)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// write serialises the model (without its ID, which is the hash of this).
func (m *SemanticModel) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(semanticMagic)
	put := func(v any) { _ = binary.Write(bw, binary.LittleEndian, v) }
	put(int32(m.Rank))
	put(int32(len(m.stems)))
	for _, s := range m.stems {
		put(int32(len(s)))
		bw.WriteString(s)
	}
	put(m.idf)
	put(m.terms)
	put(m.sub)
	return bw.Flush()
}

// Save writes the model to path atomically (a temporary file renamed).
func (m *SemanticModel) Save(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("save semantic model: %w", err)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".semantic-*")
	if err != nil {
		return fmt.Errorf("save semantic model: %w", err)
	}
	defer os.Remove(f.Name())
	if err := m.write(f); err != nil {
		f.Close()
		return fmt.Errorf("save semantic model: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save semantic model: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save semantic model: %w", err)
	}
	return nil
}

// LoadSemanticModel reads a model written by Save.
func LoadSemanticModel(path string) (*SemanticModel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load semantic model: %w", err)
	}
	defer f.Close()
	m, err := readSemanticModel(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("load semantic model %s: %w", path, err)
	}
	return m, nil
}

func readSemanticModel(r io.Reader) (*SemanticModel, error) {
	magic := make([]byte, len(semanticMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != semanticMagic {
		return nil, errors.New("not a semantic model file")
	}
	var rank, n int32
	if err := binary.Read(r, binary.LittleEndian, &rank); err != nil {
		return nil, err
	}
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, err
	}
	if rank <= 0 || rank > 4096 || n <= 0 || n > 10_000_000 {
		return nil, fmt.Errorf("corrupt header (rank %d, %d stems)", rank, n)
	}
	m := &SemanticModel{Rank: int(rank), vocab: make(map[string]int32, n), stems: make([]string, n)}
	for i := range m.stems {
		var l int32
		if err := binary.Read(r, binary.LittleEndian, &l); err != nil {
			return nil, err
		}
		if l <= 0 || l > 1024 {
			return nil, fmt.Errorf("corrupt stem length %d", l)
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		m.stems[i] = string(b)
		m.vocab[m.stems[i]] = int32(i)
	}
	m.idf = make([]float32, n)
	m.terms = make([]float32, int(n)*int(rank))
	m.sub = make([]float32, subwordBuckets*int(rank))
	for _, p := range []any{m.idf, m.terms, m.sub} {
		if err := binary.Read(r, binary.LittleEndian, p); err != nil {
			return nil, fmt.Errorf("truncated: %w", err)
		}
	}
	m.ID = m.contentID()
	return m, nil
}
