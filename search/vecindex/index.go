// Package vecindex is an in-memory, quantised nearest-neighbour index for
// post vectors: the fast path of the embedded PostgreSQL vector backend,
// which has no ANN index of its own when the `vector` extension is absent.
//
// Each vector is L2-normalised and stored as int8 codes with one float32
// scale (symmetric scalar quantisation: a quarter of the float32 size). A
// query is scored against every stored code by an integer kernel (AVX2 on
// amd64, portable Go elsewhere), the best candidates — a multiple of k — are
// kept, and those are re-ranked by the exact cosine when the exact vectors
// are at hand (kept in memory, or fetched from the store through an
// ExactSource), else by the asymmetric float·int8 product. A scan of every
// code is linear, but at 100,000 × 384-d it reads 38 MB of codes and takes a
// few milliseconds, with no training step and no recall lost to a coarse
// partitioning, and it filters (channel, tenant, dates, expiry) exactly.
//
// The index is kept current by Upsert and Delete (see Syncer for the
// incremental refresh from a store); Memory reports its size.
package vecindex

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"github.com/assistant-dev/assistant/internal/vecmath"
)

// Meta is what a filter can test without leaving the index.
type Meta struct {
	ChannelID string
	TenantID  string
	// PostedAt and ExpiresAt are unix seconds; 0 means unknown / never.
	PostedAt  int64
	ExpiresAt int64
}

// Point is one vector with its id and metadata.
type Point struct {
	ID     string
	Vector []float32
	Meta   Meta
}

// Filter restricts a search. Zero fields do not restrict.
type Filter struct {
	Channels []string
	TenantID string
	// Since and Until bound PostedAt (unix seconds, inclusive).
	Since, Until int64
	// Now excludes points whose ExpiresAt is set and not after Now.
	Now int64
}

// Hit is one search result; Score is the cosine similarity.
type Hit struct {
	ID    string
	Score float32
}

// ExactSource returns the exact vectors of ids (missing ids are left out),
// for re-ranking when the index does not keep them in memory.
type ExactSource interface {
	ExactVectors(ctx context.Context, ids []string) (map[string][]float32, error)
}

// Options shapes an index.
type Options struct {
	// KeepExact keeps the float32 vectors in memory for an exact re-rank
	// (five times the memory of the codes alone).
	KeepExact bool
	// Exact fetches exact vectors for the re-rank when KeepExact is false.
	Exact ExactSource
	// Oversample is how many candidates per requested result the integer
	// scan keeps for the re-rank (default 8, at least 64 candidates).
	Oversample int
	// Parallel splits a scan over this many goroutines when the index holds
	// more than 32,768 points (default GOMAXPROCS).
	Parallel int
}

// queryScale bounds the widened query codes so that dim·scale·127 fits an
// int32 for dim up to 4096.
const queryScale = 2047

type meta struct {
	channel, tenant     int32
	postedAt, expiresAt int64
}

// Index is safe for concurrent use.
type Index struct {
	opts   Options
	dim    int // vector size
	stride int // dim rounded up to 16: the kernel's step

	mu     sync.RWMutex
	ids    []string
	pos    map[string]int
	codes  []int8
	scales []float32
	metas  []meta
	exact  []float32 // len(ids)*dim when KeepExact
	dict   map[string]int32
}

// New returns an empty index of vectors of size dim.
func New(dim int, opts Options) *Index {
	if opts.Oversample <= 0 {
		opts.Oversample = 8
	}
	if opts.Parallel <= 0 {
		opts.Parallel = runtime.GOMAXPROCS(0)
	}
	return &Index{
		opts:   opts,
		dim:    dim,
		stride: (dim + 15) &^ 15,
		pos:    make(map[string]int),
		dict:   map[string]int32{"": 0},
	}
}

// Dim is the vector size.
func (x *Index) Dim() int { return x.dim }

// Len is the number of points.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.ids)
}

func (x *Index) intern(s string) int32 {
	if id, ok := x.dict[s]; ok {
		return id
	}
	id := int32(len(x.dict))
	x.dict[s] = id
	return id
}

// normalize returns v scaled to unit length (a copy), or false for a zero
// or non-finite vector.
func normalize(v []float32) ([]float32, bool) {
	var n float64
	for _, f := range v {
		n += float64(f) * float64(f)
	}
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return nil, false
	}
	inv := float32(1 / math.Sqrt(n))
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = f * inv
	}
	return out, true
}

// quantize writes the int8 codes of unit vector v into dst and returns the
// scale (value = code·scale).
func quantize(v []float32, dst []int8) float32 {
	var maxAbs float32
	for _, f := range v {
		if f < 0 {
			f = -f
		}
		if f > maxAbs {
			maxAbs = f
		}
	}
	if maxAbs == 0 {
		clear(dst)
		return 0
	}
	inv := 127 / maxAbs
	for i, f := range v {
		dst[i] = int8(math.Round(float64(f * inv)))
	}
	for i := len(v); i < len(dst); i++ {
		dst[i] = 0
	}
	return maxAbs / 127
}

// Upsert adds points or replaces them by id. A vector of the wrong size or
// with a non-finite value is an error; the points before it are kept.
//
// A zero vector is what an embedder returns for a text with nothing to embed
// (a post of emoji or short words, with the local embedder): it has no
// direction, so no cosine ranks it. Such a point is left out of the index —
// and an earlier vector of the same id removed — rather than failing the
// load of a whole collection that holds one.
func (x *Index) Upsert(points ...Point) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range points {
		if len(p.Vector) != x.dim {
			return fmt.Errorf("vecindex: point %s has %d dimensions, want %d", p.ID, len(p.Vector), x.dim)
		}
		v, ok := normalize(p.Vector)
		if !ok {
			if IsZero(p.Vector) {
				x.deleteLocked(p.ID)
				continue
			}
			return fmt.Errorf("vecindex: point %s has a non-finite vector", p.ID)
		}
		i, exists := x.pos[p.ID]
		if !exists {
			i = len(x.ids)
			x.ids = append(x.ids, p.ID)
			x.pos[p.ID] = i
			x.codes = append(x.codes, make([]int8, x.stride)...)
			x.scales = append(x.scales, 0)
			x.metas = append(x.metas, meta{})
			if x.opts.KeepExact {
				x.exact = append(x.exact, make([]float32, x.dim)...)
			}
		}
		x.scales[i] = quantize(v, x.codes[i*x.stride:(i+1)*x.stride])
		x.metas[i] = meta{
			channel:   x.intern(p.Meta.ChannelID),
			tenant:    x.intern(p.Meta.TenantID),
			postedAt:  p.Meta.PostedAt,
			expiresAt: p.Meta.ExpiresAt,
		}
		if x.opts.KeepExact {
			copy(x.exact[i*x.dim:(i+1)*x.dim], v)
		}
	}
	return nil
}

// Delete removes points by id; unknown ids are ignored. The last point
// moves into each hole, so memory stays dense.
func (x *Index) Delete(ids ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range ids {
		x.deleteLocked(id)
	}
}

// IsZero reports whether every component of v is 0: what an embedder
// returns for a text with nothing it can embed.
func IsZero(v []float32) bool {
	for _, f := range v {
		if f != 0 {
			return false
		}
	}
	return true
}

// deleteLocked removes one point; x.mu is held.
func (x *Index) deleteLocked(id string) {
	i, ok := x.pos[id]
	if !ok {
		return
	}
	last := len(x.ids) - 1
	if i != last {
		x.ids[i] = x.ids[last]
		x.pos[x.ids[i]] = i
		copy(x.codes[i*x.stride:(i+1)*x.stride], x.codes[last*x.stride:])
		x.scales[i] = x.scales[last]
		x.metas[i] = x.metas[last]
		if x.opts.KeepExact {
			copy(x.exact[i*x.dim:(i+1)*x.dim], x.exact[last*x.dim:])
		}
	}
	delete(x.pos, id)
	x.ids = x.ids[:last]
	x.codes = x.codes[:last*x.stride]
	x.scales = x.scales[:last]
	x.metas = x.metas[:last]
	if x.opts.KeepExact {
		x.exact = x.exact[:last*x.dim]
	}
}

// Vector returns the stored vector of id: exact when kept, else decoded
// from its codes (unit length either way).
func (x *Index) Vector(id string) ([]float32, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, ok := x.pos[id]
	if !ok {
		return nil, false
	}
	out := make([]float32, x.dim)
	if x.opts.KeepExact {
		copy(out, x.exact[i*x.dim:(i+1)*x.dim])
		return out, true
	}
	for j := range out {
		out[j] = float32(x.codes[i*x.stride+j]) * x.scales[i]
	}
	return out, true
}

// Memory is the index's size in bytes, by part.
type Memory struct {
	Points int
	Codes  int64 // int8 codes and scales
	Exact  int64 // float32 vectors kept for the re-rank
	Meta   int64 // ids, metadata, the id map (estimated)
	Total  int64
}

// Memory reports the memory the index holds (capacity, not just length).
func (x *Index) Memory() Memory {
	x.mu.RLock()
	defer x.mu.RUnlock()
	m := Memory{Points: len(x.ids)}
	m.Codes = int64(cap(x.codes)) + 4*int64(cap(x.scales))
	m.Exact = 4 * int64(cap(x.exact))
	var idBytes int64
	for _, id := range x.ids {
		idBytes += int64(len(id))
	}
	// string header 16 + bytes, meta 24, map entry ~ (16+8)·2 with overhead.
	m.Meta = int64(cap(x.ids))*16 + 2*idBytes + int64(cap(x.metas))*24 + int64(len(x.pos))*64
	m.Total = m.Codes + m.Exact + m.Meta
	return m
}

// compiled is a Filter resolved against the index's dictionary.
type compiled struct {
	any      bool
	channels []int32
	tenant   int32
	since    int64
	until    int64
	now      int64
	none     bool // a named channel or tenant the index has never seen
}

func (x *Index) compile(f Filter) compiled { return compileFilter(x.dict, f) }

func compileFilter(dict map[string]int32, f Filter) compiled {
	c := compiled{since: f.Since, until: f.Until, now: f.Now, tenant: -1}
	for _, ch := range f.Channels {
		if id, ok := dict[ch]; ok {
			c.channels = append(c.channels, id)
		}
	}
	if len(f.Channels) > 0 && len(c.channels) == 0 {
		c.none = true
	}
	if f.TenantID != "" {
		id, ok := dict[f.TenantID]
		if !ok {
			c.none = true
		}
		c.tenant = id
	}
	c.any = len(c.channels) > 0 || c.tenant >= 0 || c.since != 0 || c.until != 0 || c.now != 0
	return c
}

func (c *compiled) match(m *meta) bool {
	if len(c.channels) > 0 {
		ok := false
		for _, ch := range c.channels {
			if m.channel == ch {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if c.tenant >= 0 && m.tenant != c.tenant {
		return false
	}
	if c.since != 0 && m.postedAt < c.since {
		return false
	}
	if c.until != 0 && m.postedAt > c.until {
		return false
	}
	if c.now != 0 && m.expiresAt != 0 && m.expiresAt <= c.now {
		return false
	}
	return true
}

// candidate heap: a min-heap on score, so the worst kept candidate is on top.
type cand struct {
	i     int
	score float32
}
type candHeap []cand

func (h candHeap) Len() int           { return len(h) }
func (h candHeap) Less(i, j int) bool { return h[i].score < h[j].score }
func (h candHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(v any)        { *h = append(*h, v.(cand)) }
func (h *candHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

const block = 512

var outPool = sync.Pool{New: func() any { b := make([]int32, block); return &b }}

// codeView is the scanned part of an index: codes, scales and metadata,
// in memory (Index) or mapped from a file (File).
type codeView struct {
	stride int
	codes  []int8
	scales []float32
	metas  []meta
}

// scan scores points [lo, hi) and keeps the best c candidates; a point
// whose skip entry is true is left out (skip may be nil).
func (v *codeView) scan(q16 []int16, qscale float32, f *compiled, lo, hi, c int, skip []bool) candHeap {
	h := make(candHeap, 0, c)
	bp := outPool.Get().(*[]int32)
	defer outPool.Put(bp)
	for start := lo; start < hi; start += block {
		end := min(start+block, hi)
		out := (*bp)[:end-start]
		dots(q16, v.codes[start*v.stride:end*v.stride], v.stride, out)
		for j, d := range out {
			i := start + j
			if skip != nil && skip[i] {
				continue
			}
			if f.any && !f.match(&v.metas[i]) {
				continue
			}
			s := float32(d) * v.scales[i] * qscale
			if len(h) < c {
				heap.Push(&h, cand{i, s})
			} else if s > h[0].score {
				h[0] = cand{i, s}
				heap.Fix(&h, 0)
			}
		}
	}
	return h
}

// candidates scans points [0, n) — split over parts goroutines when n is
// large — and returns the best c.
func (v *codeView) candidates(q16 []int16, qscale float32, f *compiled, n, c, parts int, skip []bool) candHeap {
	if parts <= 1 || n <= 32768 {
		return v.scan(q16, qscale, f, 0, n, c, skip)
	}
	heaps := make([]candHeap, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := n*p/parts, n*(p+1)/parts
		wg.Go(func() { heaps[p] = v.scan(q16, qscale, f, lo, hi, c, skip) })
	}
	wg.Wait()
	var h candHeap
	for _, hp := range heaps {
		for _, cd := range hp {
			if len(h) < c {
				heap.Push(&h, cd)
			} else if cd.score > h[0].score {
				h[0] = cd
				heap.Fix(&h, 0)
			}
		}
	}
	return h
}

// asymmetric is the re-rank score of point i without its exact vector: the
// float query against the decoded codes.
func (v *codeView) asymmetric(qn []float32, i int) float32 {
	code := v.codes[i*v.stride : i*v.stride+len(qn)]
	var s float32
	for d, q := range qn {
		s += q * float32(code[d])
	}
	return s * v.scales[i]
}

// queryCodes normalises q and widens it to int16 codes of a finer step
// than the stored int8 ones.
func queryCodes(q []float32, stride int) (qn []float32, q16 []int16, qscale float32, err error) {
	qn, ok := normalize(q)
	if !ok {
		return nil, nil, 0, fmt.Errorf("vecindex: zero or non-finite query vector")
	}
	var maxAbs float32
	for _, v := range qn {
		maxAbs = max(maxAbs, float32(math.Abs(float64(v))))
	}
	q16 = make([]int16, stride)
	for i, v := range qn {
		q16[i] = int16(math.Round(float64(v / maxAbs * queryScale)))
	}
	return qn, q16, maxAbs / queryScale, nil
}

// sortHits orders hits best first, ties by id, and keeps k.
func sortHits(hits []Hit, k int) []Hit {
	sort.Slice(hits, func(a, b int) bool {
		if hits[a].Score != hits[b].Score {
			return hits[a].Score > hits[b].Score
		}
		return hits[a].ID < hits[b].ID
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// Search returns the k points nearest to q by cosine similarity that pass
// the filter, best first.
func (x *Index) Search(ctx context.Context, q []float32, k int, f Filter) ([]Hit, error) {
	if len(q) != x.dim {
		return nil, fmt.Errorf("vecindex: query has %d dimensions, want %d", len(q), x.dim)
	}
	if k <= 0 {
		return nil, nil
	}
	qn, q16, qscale, err := queryCodes(q, x.stride)
	if err != nil {
		return nil, err
	}

	x.mu.RLock()
	fc := x.compile(f)
	if fc.none {
		x.mu.RUnlock()
		return nil, nil
	}
	c := max(k*x.opts.Oversample, 64)
	v := x.view()
	h := v.candidates(q16, qscale, &fc, len(x.ids), c, x.opts.Parallel, nil)
	hits := make([]Hit, len(h))
	idx := make([]int, len(h))
	for j, cd := range h {
		hits[j] = Hit{ID: x.ids[cd.i], Score: cd.score}
		idx[j] = cd.i
	}
	// Re-rank: exact vectors in memory, else the asymmetric product of the
	// float query with the decoded codes (the source is asked after the
	// lock is released).
	if x.opts.KeepExact {
		for j, i := range idx {
			hits[j].Score = vecmath.Dot(qn, x.exact[i*x.dim:(i+1)*x.dim])
		}
	} else {
		for j, i := range idx {
			hits[j].Score = v.asymmetric(qn, i)
		}
	}
	x.mu.RUnlock()

	if !x.opts.KeepExact && x.opts.Exact != nil && len(hits) > 0 {
		ids := make([]string, len(hits))
		for j := range hits {
			ids[j] = hits[j].ID
		}
		vecs, err := x.opts.Exact.ExactVectors(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("vecindex: exact vectors for re-rank: %w", err)
		}
		for j := range hits {
			if v, ok := vecs[hits[j].ID]; ok && len(v) == x.dim {
				if vn, ok := normalize(v); ok {
					hits[j].Score = vecmath.Dot(qn, vn)
				}
			}
		}
	}
	return sortHits(hits, k), nil
}

// view is the index's scanned arrays (under the read lock).
func (x *Index) view() *codeView {
	return &codeView{stride: x.stride, codes: x.codes, scales: x.scales, metas: x.metas}
}

// ExactSearch is the brute-force float32 scan over the kept exact vectors:
// the reference recall is measured against. It needs KeepExact.
func (x *Index) ExactSearch(q []float32, k int, f Filter) ([]Hit, error) {
	if !x.opts.KeepExact {
		return nil, fmt.Errorf("vecindex: exact search needs KeepExact")
	}
	qn, ok := normalize(q)
	if !ok || len(q) != x.dim {
		return nil, fmt.Errorf("vecindex: bad query vector")
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	fc := x.compile(f)
	if fc.none {
		return nil, nil
	}
	h := make(candHeap, 0, k)
	for i := range x.ids {
		if fc.any && !fc.match(&x.metas[i]) {
			continue
		}
		s := vecmath.Dot(qn, x.exact[i*x.dim:(i+1)*x.dim])
		if len(h) < k {
			heap.Push(&h, cand{i, s})
		} else if s > h[0].score {
			h[0] = cand{i, s}
			heap.Fix(&h, 0)
		}
	}
	hits := make([]Hit, len(h))
	for j, cd := range h {
		hits[j] = Hit{ID: x.ids[cd.i], Score: cd.score}
	}
	sort.Slice(hits, func(a, b int) bool {
		if hits[a].Score != hits[b].Score {
			return hits[a].Score > hits[b].Score
		}
		return hits[a].ID < hits[b].ID
	})
	return hits, nil
}
