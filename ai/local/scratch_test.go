package local

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// stemRunes is stem as it was written before it returned a substring: the
// reference the substring form must agree with.
func stemRunes(folded string) string {
	rs := []rune(folded)
	if len(rs) > 6 {
		rs = rs[:6]
	}
	for len(rs) > 3 && strings.ContainsRune("аеиоуыэюяйьaeiouys", rs[len(rs)-1]) {
		rs = rs[:len(rs)-1]
	}
	return string(rs)
}

func TestStemAgreesWithTheRuneForm(t *testing.T) {
	t.Parallel()
	words := []string{"", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefgh", "aaaaaaaa", "йййййййй",
		"центрального", "россии", "ёжик", "иран", "go", "t-bank", "2024-го", "😀😀😀😀😀😀😀", "éééééé", "ууу"}
	tg := NewTagger(WithoutChannelStats())
	for _, p := range testenv.ReadPosts(t, testenv.SamplePath(), 100) {
		for _, tk := range tg.tokenize(p.Text) {
			words = append(words, tk.folded)
		}
	}
	for _, w := range words {
		if got, want := stem(w), stemRunes(w); got != want {
			t.Fatalf("stem(%q) = %q, the rune form gives %q", w, got, want)
		}
	}
}

func FuzzStemAgreesWithTheRuneForm(f *testing.F) {
	f.Add("центрального")
	f.Add("aaaa")
	f.Fuzz(func(t *testing.T, w string) {
		w = foldWord(w) // stem is given folded words: valid UTF-8
		if got, want := stem(w), stemRunes(w); got != want {
			t.Fatalf("stem(%q) = %q, the rune form gives %q", w, got, want)
		}
	})
}

// candidateView is what a candidate is, without its pointers.
type candidateView struct {
	Key                      string
	Start, End, First, Count int
	Words, Rank              int
	Stems                    []string
	Forms                    []int
	Score, Model             float64
	WholeRun, Name           bool
	Feat                     [numFeatures]float64
}

func viewOf(order []*candidate) []candidateView {
	out := make([]candidateView, len(order))
	for i, c := range order {
		out[i] = candidateView{c.key, c.start, c.end, c.first, c.count, c.words, c.rank,
			slices.Clone(c.stems), slices.Clone(c.forms), c.score, c.model, c.wholeRun, c.name, c.feat}
		if len(out[i].Stems) == 0 {
			out[i].Stems = nil
		}
		if len(out[i].Forms) == 0 {
			out[i].Forms = nil
		}
	}
	return out
}

// TestScratchReuseChangesNothing runs the posts of the sample through one
// reused scratch, longest first so that every later post finds leftovers of
// a larger one, and compares each post's tokens and candidates with those
// of a fresh scratch.
func TestScratchReuseChangesNothing(t *testing.T) {
	t.Parallel()
	posts := testenv.ReadPosts(t, testenv.SamplePath(), 200)
	slices.SortFunc(posts, func(a, b testenv.CorpusPost) int { return len(b.Text) - len(a.Text) })
	tg := NewTagger(WithoutChannelStats())
	ctx := context.Background()
	reused := new(scratch)
	for i, p := range posts {
		toks, order := tg.candidatesIn(ctx, reused, "", p.Text)
		tg.rerank(order)
		gotToks, got := slices.Clone(toks), viewOf(order)
		freshToks, freshOrder := tg.candidates(ctx, "", p.Text)
		tg.rerank(freshOrder)
		if !reflect.DeepEqual(gotToks, freshToks) && !(len(gotToks) == 0 && len(freshToks) == 0) {
			t.Fatalf("post %d: tokens differ with a reused scratch", i)
		}
		if want := viewOf(freshOrder); !reflect.DeepEqual(got, want) {
			t.Fatalf("post %d (%d bytes): candidates differ with a reused scratch:\n%+v\n%+v", i, len(p.Text), got, want)
		}
	}
	if !utf8.ValidString(posts[0].Text) || len(reused.cpool) == 0 {
		t.Fatal("the scratch was not used")
	}
}
