package local

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/assistant-dev/assistant/internal/vecmath"
)

// softMatchReference is SoftMatch as it was before texts could be prepared
// (main e0cd953): every text's stems looked up and compared with the query
// stems on every call. SoftMatchPrepared must give the same scores, bit for
// bit, so that re-ranking orders posts exactly as before.
func softMatchReference(w *WordVectors, query []string, texts [][]string) []float64 {
	type qs struct {
		s  string
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
			q = append(q, qs{s, v, wt})
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
	tf := make([]float64, len(texts)*len(q))
	lens := make([]int, len(texts))
	var total int
	for t, stems := range texts {
		clear(seen)
		row := tf[t*len(q) : (t+1)*len(q)]
		for _, s := range stems {
			if seen[s] {
				continue
			}
			seen[s] = true
			lens[t]++
			v, _ := w.stemVector(s)
			if v == nil {
				continue
			}
			for a, x := range q {
				d := float64(vecmath.Dot(x.v, v))
				if s == x.s {
					d = 1
				}
				if d > softMatchFloor {
					row[a] += (d - softMatchFloor) / (1 - softMatchFloor)
				}
			}
		}
		total += lens[t]
	}
	avg := float64(total) / float64(len(texts))
	for t := range texts {
		norm := softMatchK1 * float64(lens[t]) / avg
		var sum float64
		for a, x := range q {
			if f := tf[t*len(q)+a]; f > 0 {
				sum += x.wt * f / (f + norm)
			}
		}
		out[t] = sum / wsum
	}
	return out
}

func samplePostTexts(t testing.TB) []string {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "telegram-news-ru", "sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var texts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var p struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, p.Text)
	}
	return texts
}

// TestSoftMatchPreparedEqualsSoftMatch: on real posts (the 500-post sample)
// and queries that share words with them, share only synonyms, hold unseen
// and short words or repeat a word, the prepared path (SoftMatch,
// SoftMatchPrepared, MatchTexts with a cold and a warm cache, from several
// goroutines, across cache resets) scores every text exactly as the
// reference does.
func TestSoftMatchPreparedEqualsSoftMatch(t *testing.T) {
	texts := samplePostTexts(t)
	if len(texts) < 300 {
		t.Fatalf("%d sample posts", len(texts))
	}
	w := DefaultWordVectors()
	stems := make([][]string, len(texts))
	for i, s := range texts {
		stems[i] = Stems(s)
	}
	tests := []struct {
		name  string
		query string
		from  int // the texts matched: texts[from:from+n]
		n     int
	}{
		{"paraphrase, 50 posts", "криптовалюта почти дошла до ста тысяч долларов", 0, 50},
		{"news words, 100 posts", "санкции против российских банков и курс рубля", 100, 100},
		{"one text", "выборы президента", 7, 1},
		{"repeated and short words", "на на в в IT IT ИИ нейросеть нейросеть", 40, 30},
		{"unseen words", "квазибиткоинофикация зюзюкаблямс дигитализированный", 200, 60},
		{"English", "Apple releases a new iPhone with better camera", 250, 50},
		{"empty texts among others", "погода в Москве", 300, 20},
		{"all 500", "война мир экономика технологии спорт", 0, len(texts)},
		{"no query stems", "", 0, 10},
	}
	e := NewEmbedder(384, WithWordVectors(w, DefaultWordVectorShare))
	if !e.MatchesTexts() {
		t.Fatal("the embedder does not match texts")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := append([]string(nil), texts[tt.from:tt.from+tt.n]...)
			headStems := append([][]string(nil), stems[tt.from:tt.from+tt.n]...)
			if tt.name == "empty texts among others" {
				head[3], headStems[3] = "", nil
				head[11], headStems[11] = "🙂 !!!", Stems("🙂 !!!")
			}
			q := Stems(tt.query)
			want := softMatchReference(w, q, headStems)
			nonzero := 0
			for _, x := range want {
				if x > 0 {
					nonzero++
				}
			}
			if tt.query != "" && tt.name != "unseen words" && nonzero == 0 {
				t.Fatalf("reference scores all 0: the case tests nothing")
			}
			check := func(how string, got []float64) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%s: %d scores, want %d", how, len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s: text %d scores %v, reference %v", how, i, got[i], want[i])
					}
				}
			}
			check("SoftMatch", w.SoftMatch(q, headStems))
			prepared := make([]*MatchText, len(headStems))
			for i, s := range headStems {
				prepared[i] = w.PrepareText(s)
			}
			check("SoftMatchPrepared", w.SoftMatchPrepared(q, prepared))
			// Twice: the first call prepares (or finds some texts of earlier
			// cases), the second finds every text in the cache.
			for pass := range 2 {
				got, err := e.MatchTexts(t.Context(), tt.query, head)
				if err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("MatchTexts pass %d", pass+1), got)
			}
		})
	}

	// Concurrent calls on one embedder whose cache is reset many times
	// over (a bound of 64 texts, the 500 posts matched in windows).
	small := NewEmbedder(384, WithWordVectors(w, DefaultWordVectorShare))
	small.matchCache = newMatchCache(64)
	query := "криптовалюта почти дошла до ста тысяч долларов"
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 20 {
				from := (g*97 + r*41) % (len(texts) - 50)
				want := softMatchReference(w, Stems(query), stems[from:from+50])
				got, err := small.MatchTexts(t.Context(), query, texts[from:from+50])
				if err != nil {
					errs <- err
					return
				}
				for i := range want {
					if got[i] != want[i] {
						errs <- fmt.Errorf("goroutine %d, round %d: text %d scores %v, reference %v", g, r, i, got[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := small.matchCache.Len(); n > 64 {
		t.Fatalf("cache holds %d texts, bound 64", n)
	}
}
