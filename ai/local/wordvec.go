package local

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/assistant-dev/assistant/internal/vecmath"

	lru "github.com/hashicorp/golang-lru/v2"
)

// WordVectors are distributional word vectors: each Snowball stem's row of
// the positive pointwise mutual information (PPMI) matrix of stems × the
// stems around them (a window of a few words, context distribution
// smoothed), reduced by a truncated SVD. Stems used in the same contexts
// («рукокрылые», «летучие мыши» near «эхолокация», «пещера») get nearby
// vectors even when no single post holds both, which post-level LSA over a
// few hundred posts cannot learn. A text's vector is the SIF-weighted
// average (a/(a+p(w)), Arora et al. 2017) of its stems' vectors with the
// corpus's common direction removed.
//
// The embedded table (wordvec.bin.gz) is learnt from the "Dataset of
// Telegram News Posts" (NKTKLN/telegram-news-classifier, data/raw, CC BY
// 4.0 https://creativecommons.org/licenses/by/4.0/), without the posts of
// testdata/telegram-news-ru/sample.jsonl; rebuild: WORDVEC_RAW=DIR go test
// ./ai/local -run TestWriteWordVectors. Unseen stems compose a vector from
// their character n-grams.
type WordVectors struct {
	Dim    int
	vocab  map[string]int32
	stems  []string
	counts []int32
	total  float64
	weight []float32 // SIF weight per stem
	// q and scales are the stored vectors, int8 with one scale per stem;
	// vecs are they dequantised to unit rows (len(stems) × Dim).
	q      []int8
	scales []float32
	vecs   []float32
	pc     []float32 // the common direction removed from text vectors
	sub    []float32 // subwordBuckets × Dim n-gram vectors (derived)
	ID     string
	// unseen caches the n-gram vectors of unseen stems (stemVector; made
	// on first use, since a table is built by more than one function).
	unseen     *lru.Cache[string, []float32]
	unseenOnce sync.Once
}

// WordVectorOptions shapes TrainWordVectors.
type WordVectorOptions struct {
	// Dim is the vector dimension (default 128).
	Dim int
	// MinCount: stems seen fewer times are left out (default 5).
	MinCount int
	// Window is how many stems either side count as context (default 5).
	Window int
	// Seed seeds the randomised SVD (default 1).
	Seed uint64
}

const (
	wordVecMagic = "ASSISTANT-WV-1\n"
	// sifA is the SIF smoothing constant a.
	sifA = 1e-3
	// cdsAlpha smooths the context distribution of PPMI (Levy et al. 2015).
	cdsAlpha = 0.75
)

// TrainWordVectors learns word vectors from documents (post texts).
func TrainWordVectors(docs []string, o WordVectorOptions) (*WordVectors, error) {
	if o.Dim <= 0 {
		o.Dim = 128
	}
	if o.MinCount <= 0 {
		o.MinCount = 5
	}
	if o.Window <= 0 {
		o.Window = 5
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	stemmed := make([][]string, len(docs))
	count := map[string]int{}
	for i, d := range docs {
		stemmed[i] = Stems(d)
		for _, s := range stemmed[i] {
			count[s]++
		}
	}
	var stems []string
	for s, n := range count {
		if n >= o.MinCount {
			stems = append(stems, s)
		}
	}
	slices.Sort(stems)
	if len(stems) < 4*o.Dim {
		return nil, fmt.Errorf("%w: %d stems seen %d times for dimension %d", ErrNotEnoughText, len(stems), o.MinCount, o.Dim)
	}
	w := &WordVectors{Dim: o.Dim, vocab: make(map[string]int32, len(stems)), stems: stems, counts: make([]int32, len(stems))}
	for i, s := range stems {
		w.vocab[s] = int32(i)
		w.counts[i] = int32(count[s])
		w.total += float64(count[s])
	}
	// Co-occurrences within the window, weighted 1/distance.
	co := map[uint64]float32{}
	ids := []int32{}
	for _, st := range stemmed {
		ids = ids[:0]
		for _, s := range st {
			if i, ok := w.vocab[s]; ok {
				ids = append(ids, i)
			}
		}
		for a, i := range ids {
			for d := 1; d <= o.Window && a+d < len(ids); d++ {
				j := ids[a+d]
				if i == j {
					continue
				}
				wt := 1 / float32(d)
				co[uint64(i)<<32|uint64(j)] += wt
				co[uint64(j)<<32|uint64(i)] += wt
			}
		}
	}
	n := len(stems)
	rowSum := make([]float64, n)
	ctxSum := make([]float64, n)
	var all float64
	for k, c := range co {
		rowSum[k>>32] += float64(c)
		ctxSum[k&0xffffffff] += float64(c)
		all += float64(c)
	}
	var ctxAll float64
	ctxPow := make([]float64, n)
	for j, c := range ctxSum {
		ctxPow[j] = math.Pow(c, cdsAlpha)
		ctxAll += ctxPow[j]
	}
	rows := make([]sparseRow, n)
	keys := make([]uint64, 0, len(co))
	for k := range co {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		i, j := int(k>>32), int(k&0xffffffff)
		pmi := math.Log(float64(co[k]) * ctxAll / (rowSum[i] * ctxPow[j]))
		if pmi > 0 {
			rows[i].idx = append(rows[i].idx, int32(j))
			rows[i].w = append(rows[i].w, pmi)
		}
	}
	co = nil
	v, _ := randomizedSVD(rows, n, o.Dim, o.Seed)
	// Quantise now, so a trained table and the same table read back are
	// the same.
	k := o.Dim
	w.q, w.scales = make([]int8, n*k), make([]float32, n)
	for i := 0; i < n; i++ {
		var m float64
		for j := 0; j < k; j++ {
			m = max(m, math.Abs(v.At(i, j)))
		}
		if m == 0 {
			continue
		}
		w.scales[i] = float32(m / 127)
		for j := 0; j < k; j++ {
			w.q[i*k+j] = int8(math.Round(v.At(i, j) / m * 127))
		}
	}
	w.derive()
	// The common direction: the first principal component of the
	// documents' vectors (power iteration on their Gram matrix).
	var docVecs [][]float64
	for _, st := range stemmed {
		if x := w.rawVector(st); x != nil {
			docVecs = append(docVecs, x)
		}
	}
	w.pc = firstComponent(docVecs, o.Dim)
	w.ID = w.contentID()
	return w, nil
}

// firstComponent is the unit first right singular vector of the rows
// (uncentred, as SIF removes it), by power iteration.
func firstComponent(rows [][]float64, dim int) []float32 {
	u := make([]float64, dim)
	for j := range u {
		u[j] = 1 / math.Sqrt(float64(dim))
	}
	for it := 0; it < 50; it++ {
		next := make([]float64, dim)
		for _, r := range rows {
			var d float64
			for j, x := range r {
				d += x * u[j]
			}
			for j, x := range r {
				next[j] += d * x
			}
		}
		var norm float64
		for _, x := range next {
			norm += x * x
		}
		if norm == 0 {
			break
		}
		norm = math.Sqrt(norm)
		for j := range next {
			next[j] /= norm
		}
		u = next
	}
	out := make([]float32, dim)
	for j, x := range u {
		out[j] = float32(x)
	}
	return out
}

// derive computes what is not stored: the SIF weights and the n-gram
// vectors (the mean vector of the stems holding each n-gram).
func (w *WordVectors) derive() {
	k := w.Dim
	w.vecs = make([]float32, len(w.stems)*k)
	for i := range w.stems {
		row := w.vecs[i*k : (i+1)*k]
		var norm float64
		for j, x := range w.q[i*k : (i+1)*k] {
			row[j] = float32(x) * w.scales[i]
			norm += float64(row[j]) * float64(row[j])
		}
		if norm > 0 {
			inv := float32(1 / math.Sqrt(norm))
			for j := range row {
				row[j] *= inv
			}
		}
	}
	w.total = 0
	for _, c := range w.counts {
		w.total += float64(c)
	}
	w.weight = make([]float32, len(w.stems))
	for i, c := range w.counts {
		w.weight[i] = float32(sifA / (sifA + float64(c)/w.total))
	}
	w.sub = make([]float32, subwordBuckets*k)
	count := make([]int, subwordBuckets)
	for t, s := range w.stems {
		for _, b := range subwordBucketsOf(s) {
			count[b]++
			row := w.sub[b*k : (b+1)*k]
			for j, x := range w.vecs[t*k : (t+1)*k] {
				row[j] += x
			}
		}
	}
	for b, c := range count {
		if c > 1 {
			row := w.sub[b*k : (b+1)*k]
			for j := range row {
				row[j] /= float32(c)
			}
		}
	}
}

// rawVector is the SIF-weighted sum of the stems' vectors, before the
// common direction is removed (nil when no stem has a vector).
func (w *WordVectors) rawVector(stems []string) []float64 {
	k := w.Dim
	out := make([]float64, k)
	any := false
	// The weight of an unseen stem: as rare as the rarest kept stems.
	rare := sifA / (sifA + 1/w.total)
	for _, s := range stems {
		if i, ok := w.vocab[s]; ok {
			wt := float64(w.weight[i])
			for j, x := range w.vecs[int(i)*k : (int(i)+1)*k] {
				out[j] += wt * float64(x)
			}
			any = true
			continue
		}
		if len([]rune(s)) < 4 {
			continue
		}
		bs := subwordBucketsOf(s)
		for _, b := range bs {
			for j, x := range w.sub[b*k : (b+1)*k] {
				out[j] += rare * float64(x) / float64(len(bs))
			}
		}
		any = true
	}
	if !any {
		return nil
	}
	return out
}

// Vector is the unit vector of a text's stems (zero when none has a
// vector).
func (w *WordVectors) Vector(stems []string) []float64 {
	x := w.rawVector(stems)
	if x == nil {
		return make([]float64, w.Dim)
	}
	var d float64
	for j, p := range w.pc {
		d += x[j] * float64(p)
	}
	for j, p := range w.pc {
		x[j] -= d * float64(p)
	}
	var norm float64
	for _, v := range x {
		norm += v * v
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for j := range x {
			x[j] /= norm
		}
	}
	return x
}

// Similarity is the cosine of two stems' vectors (0 when either is unknown).
func (w *WordVectors) Similarity(a, b string) float64 {
	i, ok1 := w.vocab[a]
	j, ok2 := w.vocab[b]
	if !ok1 || !ok2 {
		return 0
	}
	k := w.Dim
	var d float64
	for n := 0; n < k; n++ {
		d += float64(w.vecs[int(i)*k+n]) * float64(w.vecs[int(j)*k+n])
	}
	return d
}

// Len is the number of stems with a vector.
func (w *WordVectors) Len() int { return len(w.stems) }

func (w *WordVectors) contentID() string {
	h := sha256.New()
	_ = w.write(h)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// write serialises the table: vectors quantised to int8 (one scale per
// stem), so the embedded file stays small.
func (w *WordVectors) write(out io.Writer) error {
	bw := bufio.NewWriter(out)
	bw.WriteString(wordVecMagic)
	put := func(v any) { _ = binary.Write(bw, binary.LittleEndian, v) }
	put(int32(w.Dim))
	put(int32(len(w.stems)))
	put(w.pc)
	k := w.Dim
	for i, s := range w.stems {
		put(uint8(len(s)))
		bw.WriteString(s)
		put(w.counts[i])
		put(w.scales[i])
		put(w.q[i*k : (i+1)*k])
	}
	return bw.Flush()
}

// Write writes the table gzip-compressed.
func (w *WordVectors) Write(out io.Writer) error {
	zw, err := gzip.NewWriterLevel(out, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("write word vectors: %w", err)
	}
	if err := w.write(zw); err != nil {
		return fmt.Errorf("write word vectors: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write word vectors: %w", err)
	}
	return nil
}

// ReadWordVectors reads a gzip-compressed table written by Write. The
// vectors are the quantised ones, so a table read back is the table the
// embedder uses.
func ReadWordVectors(r io.Reader) (*WordVectors, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read word vectors: %w", err)
	}
	w, err := readWordVectors(bufio.NewReader(zr))
	if err != nil {
		return nil, fmt.Errorf("read word vectors: %w", err)
	}
	return w, nil
}

func readWordVectors(r io.Reader) (*WordVectors, error) {
	magic := make([]byte, len(wordVecMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != wordVecMagic {
		return nil, errors.New("not a word vector table")
	}
	get := func(v any) error { return binary.Read(r, binary.LittleEndian, v) }
	var dim, n int32
	if err := get(&dim); err != nil {
		return nil, err
	}
	if err := get(&n); err != nil {
		return nil, err
	}
	if dim <= 0 || dim > 1024 || n <= 0 || n > 5_000_000 {
		return nil, fmt.Errorf("corrupt header (dimension %d, %d stems)", dim, n)
	}
	k := int(dim)
	w := &WordVectors{Dim: k, vocab: make(map[string]int32, n), stems: make([]string, n), counts: make([]int32, n),
		q: make([]int8, int(n)*k), scales: make([]float32, n), pc: make([]float32, k)}
	if err := get(w.pc); err != nil {
		return nil, fmt.Errorf("truncated: %w", err)
	}
	for i := range w.stems {
		var l uint8
		if err := get(&l); err != nil {
			return nil, fmt.Errorf("truncated: %w", err)
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("truncated: %w", err)
		}
		if err := get(&w.counts[i]); err != nil {
			return nil, fmt.Errorf("truncated: %w", err)
		}
		if err := get(&w.scales[i]); err != nil {
			return nil, fmt.Errorf("truncated: %w", err)
		}
		if err := get(w.q[i*k : (i+1)*k]); err != nil {
			return nil, fmt.Errorf("truncated: %w", err)
		}
		w.stems[i] = string(b)
		w.vocab[w.stems[i]] = int32(i)
	}
	w.derive()
	w.ID = w.contentID()
	return w, nil
}

// wordVectorsFile is the embedded table; see TestWriteWordVectors.
const wordVectorsFile = "wordvec.bin.gz"

//go:embed wordvec.bin.gz
var wordVectorsData []byte

// DefaultWordVectors returns the embedded word vector table (parsed once).
var DefaultWordVectors = sync.OnceValue(func() *WordVectors {
	w, err := ReadWordVectors(bytes.NewReader(wordVectorsData))
	if err != nil {
		panic(fmt.Sprintf("local embedder: embedded %s: %v", wordVectorsFile, err))
	}
	return w
})

// unseenCacheSize bounds the cache of unseen stems' n-gram vectors
// (unseenCacheSize × Dim float32s at most: 8 MiB at Dim 128); the least
// recently used go first.
const unseenCacheSize = 1 << 14

// unseenCache is the cache of unseen stems' vectors, made on first use.
func (w *WordVectors) unseenCache() *lru.Cache[string, []float32] {
	w.unseenOnce.Do(func() {
		c, err := lru.New[string, []float32](unseenCacheSize)
		if err != nil {
			panic(fmt.Sprintf("local embedder: unseen-stem cache: %v", err))
		}
		w.unseen = c
	})
	return w.unseen
}

// stemVector is a stem's unit vector (its n-grams' for an unseen stem of
// four letters or more, cached) and its weight log(total/count) (an unseen
// stem weighs as one seen once); nil when the stem has none. The vector is
// shared: callers must not modify it.
func (w *WordVectors) stemVector(s string) ([]float32, float64) {
	k := w.Dim
	if i, ok := w.vocab[s]; ok {
		return w.vecs[int(i)*k : (int(i)+1)*k], math.Log(w.total / float64(w.counts[i]))
	}
	if utf8.RuneCountInString(s) < 4 {
		return nil, 0
	}
	cache := w.unseenCache()
	if v, ok := cache.Get(s); ok {
		if v != nil {
			return v, math.Log(w.total)
		}
		return nil, 0
	}
	v := w.subwordVector(s)
	cache.Add(strings.Clone(s), v)
	if v == nil {
		return nil, 0
	}
	return v, math.Log(w.total)
}

// subwordVector is the unit sum of an unseen stem's n-gram vectors (nil
// when it is zero).
func (w *WordVectors) subwordVector(s string) []float32 {
	k := w.Dim
	out := make([]float32, k)
	for _, b := range subwordBucketsOf(s) {
		for j, x := range w.sub[b*k : (b+1)*k] {
			out[j] += x
		}
	}
	var norm float64
	for _, x := range out {
		norm += float64(x) * float64(x)
	}
	if norm == 0 {
		return nil
	}
	inv := float32(1 / math.Sqrt(norm))
	for j := range out {
		out[j] *= inv
	}
	return out
}

// softMatchFloor and softMatchK1 shape SoftMatch (chosen on
// testdata/search/paraphrase-tuning*.json; see docs/search.md, round 3):
// stem similarities at or below the floor count nothing, those above it
// (s−floor)/(1−floor); K1 is BM25's saturation constant.
const (
	softMatchFloor = 0.3
	softMatchK1    = 0.3
)

// SoftMatch scores each text against the query by BM25-style soft word
// matching: each query stem's soft term frequency in a text is the sum,
// over the text's distinct stems, of their similarity above softMatchFloor
// (rescaled to (0, 1]; the stem itself counts 1), saturated as BM25 does
// with full length normalisation, tf/(tf + K1·len/avglen), where len is the
// text's number of distinct stems and avglen their mean over the texts
// given (the candidates re-ranked together). The score, in [0, 1), is the
// mean of those over the query's stems weighted by their IDF. Unlike the
// cosine of two averaged vectors, one query word's close synonym counts in
// full in a short text, and more in a short text than in a long one that
// holds many loosely related words.
func (w *WordVectors) SoftMatch(query []string, texts [][]string) []float64 {
	prepared := make([]*MatchText, len(texts))
	for i, stems := range texts {
		prepared[i] = w.PrepareText(stems)
	}
	return w.SoftMatchPrepared(query, prepared)
}

// MatchText is a text ready for SoftMatchPrepared: its distinct stems in
// their order of first use, each as its id in the table when known, or as
// −(j+1) for unseen[j] (an unseen stem of at least 4 runes, whose n-gram
// vector is looked up when matched; shorter unseen stems have no vector).
// It holds no vectors, so caching many is cheap (4 bytes per stem).
type MatchText struct {
	refs   []int32
	unseen []string
	n      int // distinct stems, with or without a vector
}

// PrepareText makes a text's stems (Stems) ready for SoftMatchPrepared.
func (w *WordVectors) PrepareText(stems []string) *MatchText {
	t := &MatchText{}
	seen := make(map[string]struct{}, len(stems))
	for _, s := range stems {
		if _, ok := seen[s]; ok {
			continue
		}
		seen[s] = struct{}{}
		t.n++
		if i, ok := w.vocab[s]; ok {
			t.refs = append(t.refs, i)
		} else if utf8.RuneCountInString(s) >= 4 {
			t.unseen = append(t.unseen, strings.Clone(s))
			t.refs = append(t.refs, -int32(len(t.unseen)))
		}
	}
	t.refs = slices.Clip(t.refs)
	t.unseen = slices.Clip(t.unseen)
	return t
}

// SoftMatchPrepared is SoftMatch over prepared texts. Each distinct known
// stem's similarities to the query stems are computed once per call, however
// many of the texts hold it.
func (w *WordVectors) SoftMatchPrepared(query []string, texts []*MatchText) []float64 {
	type qs struct {
		s  string
		id int32 // -1 for an unseen stem
		v  []float32
		wt float64
	}
	var q []qs
	seen := map[string]bool{}
	for _, s := range query {
		if seen[s] {
			continue
		}
		seen[s] = true
		if v, wt := w.stemVector(s); v != nil {
			id, ok := w.vocab[s]
			if !ok {
				id = -1
			}
			q = append(q, qs{s, id, v, wt})
		}
	}
	out := make([]float64, len(texts))
	if len(q) == 0 || len(texts) == 0 {
		return out
	}
	var wsum float64
	for _, x := range q {
		wsum += x.wt
	}
	nq := len(q)
	// contrib fills row with a text stem's rescaled similarities above the
	// floor (the stem id, or s when unseen, itself counts 1).
	contrib := func(row []float64, v []float32, id int32, s string) {
		for a, x := range q {
			d := float64(vecmath.Dot(x.v, v))
			if (id >= 0 && x.id == id) || (id < 0 && x.id < 0 && x.s == s) {
				d = 1
			}
			if d > softMatchFloor {
				row[a] = (d - softMatchFloor) / (1 - softMatchFloor)
			} else {
				row[a] = 0
			}
		}
	}
	memo := make(map[int32]int, 64*len(texts))
	var rows []float64
	tmp := make([]float64, nq)
	tf := make([]float64, len(texts)*nq)
	var total int
	k := w.Dim
	for t, text := range texts {
		row := tf[t*nq : (t+1)*nq]
		// In the text's order, as SoftMatch always summed (the same
		// floating-point sums, so the same scores to the last bit).
		for _, id := range text.refs {
			var f []float64
			if id >= 0 {
				off, ok := memo[id]
				if !ok {
					off = len(rows)
					rows = append(rows, make([]float64, nq)...)
					contrib(rows[off:off+nq], w.vecs[int(id)*k:(int(id)+1)*k], id, "")
					memo[id] = off
				}
				f = rows[off : off+nq]
			} else {
				s := text.unseen[-id-1]
				v, _ := w.stemVector(s)
				if v == nil {
					continue
				}
				contrib(tmp, v, -1, s)
				f = tmp
			}
			for a, x := range f {
				row[a] += x
			}
		}
		total += text.n
	}
	avg := float64(total) / float64(len(texts))
	for t, text := range texts {
		norm := softMatchK1 * float64(text.n) / avg
		var sum float64
		for a, x := range q {
			if f := tf[t*nq+a]; f > 0 {
				sum += x.wt * f / (f + norm)
			}
		}
		out[t] = sum / wsum
	}
	return out
}
