package local

import "sync"

// scratch is the working memory of one extraction: the tokens, the word
// statistics and the candidates of a post, kept between calls so that a
// post's tagging does not allocate them anew (they were most of the
// tagger's ≈ 32 KiB of garbage per post, docs/llm-providers.md). Nothing
// that extract returns points into it.
type scratch struct {
	toks  []token
	stats map[string]*wordStat
	terms []string
	cands map[string]*candidate
	order []*candidate
	key   []byte
	// wstats and cpool hold every wordStat and candidate handed out so
	// far; the first nStats and nCands of them are in use.
	wstats         []*wordStat
	cpool          []*candidate
	nStats, nCands int
}

// maxKeptTokens bounds what a scratch keeps for the next post: one
// exceptionally long text is not held on to.
const maxKeptTokens = 8192

var scratchPool = sync.Pool{New: func() any {
	return &scratch{stats: make(map[string]*wordStat, 256), cands: make(map[string]*candidate, 512)}
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(sc *scratch) {
	if cap(sc.toks) > maxKeptTokens {
		return
	}
	scratchPool.Put(sc)
}

// reset empties sc for the next text.
func (sc *scratch) reset() {
	if sc.stats == nil {
		sc.stats = make(map[string]*wordStat)
		sc.cands = make(map[string]*candidate)
	}
	clear(sc.stats)
	clear(sc.cands)
	clear(sc.toks) // drop the last text's strings
	sc.toks, sc.terms, sc.order, sc.key = sc.toks[:0], sc.terms[:0], sc.order[:0], sc.key[:0]
	sc.nStats, sc.nCands = 0, 0
}

func (sc *scratch) newWordStat() *wordStat {
	if sc.nStats == len(sc.wstats) {
		sc.wstats = append(sc.wstats, new(wordStat))
	}
	ws := sc.wstats[sc.nStats]
	sc.nStats++
	return ws
}

// newCandidate returns a zeroed candidate whose stems and forms keep their
// arrays from an earlier use.
func (sc *scratch) newCandidate() *candidate {
	if sc.nCands == len(sc.cpool) {
		sc.cpool = append(sc.cpool, new(candidate))
	}
	c := sc.cpool[sc.nCands]
	sc.nCands++
	*c = candidate{stems: c.stems[:0], forms: c.forms[:0]}
	return c
}
