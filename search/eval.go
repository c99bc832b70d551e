package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
)

// JudgedSet is a relevance-judged query set over a fixed corpus file
// (testdata/search/judged.json).
type JudgedSet struct {
	// Corpus is the corpus file the judgments refer to, relative to the
	// set's directory.
	Corpus      string        `json:"corpus"`
	Description string        `json:"description"`
	Queries     []JudgedQuery `json:"queries"`
}

// JudgedQuery is one query and its judged posts. Relevant maps a post key
// "<channel_id>:<message_id>" to its grade: 2 = about exactly this, 1 =
// relevant. Posts of the pool not listed were judged not relevant.
type JudgedQuery struct {
	ID       string         `json:"id"`
	Query    string         `json:"query"`
	Lang     string         `json:"lang"`
	Kind     string         `json:"kind"` // name | topic | event | howto
	Relevant map[string]int `json:"relevant"`
}

// PostKey is the key of a corpus post in a judged set.
func PostKey(p CorpusPost) string {
	return strconv.FormatInt(p.ChannelID, 10) + ":" + strconv.FormatInt(p.MessageID, 10)
}

// ReadJudgedSet reads a judged set file.
func ReadJudgedSet(path string) (*JudgedSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read judged set: %w", err)
	}
	var s JudgedSet
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("judged set %s: %w", path, err)
	}
	return &s, nil
}

// Metrics are the mean relevance figures of one mode over a set.
type Metrics struct {
	Mode     Mode    `json:"mode"`
	NDCG10   float64 `json:"ndcg_at_10"`
	Recall20 float64 `json:"recall_at_20"`
	MRR      float64 `json:"mrr"`
	// Hits10 counts the queries with a relevant post in the first 10.
	Hits10  int `json:"hits_at_10"`
	Queries int `json:"queries"`
}

// PerQuery is one query's figures in one mode.
type PerQuery struct {
	ID       string  `json:"id"`
	Mode     Mode    `json:"mode"`
	NDCG10   float64 `json:"ndcg_at_10"`
	Recall20 float64 `json:"recall_at_20"`
}

// NDCG is nDCG@k of a ranking (post keys) given graded judgments.
func NDCG(ranking []string, rel map[string]int, k int) float64 {
	dcg := 0.0
	for i, key := range ranking {
		if i >= k {
			break
		}
		if g := rel[key]; g > 0 {
			dcg += (math.Pow(2, float64(g)) - 1) / math.Log2(float64(i+2))
		}
	}
	grades := make([]int, 0, len(rel))
	for _, g := range rel {
		if g > 0 {
			grades = append(grades, g)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(grades)))
	idcg := 0.0
	for i, g := range grades {
		if i >= k {
			break
		}
		idcg += (math.Pow(2, float64(g)) - 1) / math.Log2(float64(i+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// Recall is the share of relevant posts within the first k.
func Recall(ranking []string, rel map[string]int, k int) float64 {
	total, found := 0, 0
	in := map[string]bool{}
	for i, key := range ranking {
		if i < k {
			in[key] = true
		}
	}
	for key, g := range rel {
		if g > 0 {
			total++
			if in[key] {
				found++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(found) / float64(total)
}

// Evaluate runs every query of the set in each mode (20 results) and
// returns the mean figures and the per-query ones. keyOf maps a post id
// back to its key.
func Evaluate(ctx context.Context, svc *Service, set *JudgedSet, keyOf map[string]string, modes []Mode) ([]Metrics, []PerQuery, error) {
	var out []Metrics
	var per []PerQuery
	for _, mode := range modes {
		m := Metrics{Mode: mode}
		for _, q := range set.Queries {
			ranking, err := Ranking(ctx, svc, q.Query, mode, 20, keyOf)
			if err != nil {
				return nil, nil, fmt.Errorf("query %s (%q) in %s mode: %w", q.ID, q.Query, mode, err)
			}
			n, r := NDCG(ranking, q.Relevant, 10), Recall(ranking, q.Relevant, 20)
			m.NDCG10 += n
			m.Recall20 += r
			for i, key := range ranking {
				if q.Relevant[key] > 0 {
					m.MRR += 1 / float64(i+1)
					if i < 10 {
						m.Hits10++
					}
					break
				}
			}
			m.Queries++
			per = append(per, PerQuery{ID: q.ID, Mode: mode, NDCG10: n, Recall20: r})
		}
		if m.Queries > 0 {
			m.NDCG10 /= float64(m.Queries)
			m.Recall20 /= float64(m.Queries)
			m.MRR /= float64(m.Queries)
		}
		out = append(out, m)
	}
	return out, per, nil
}

// Ranking is the top n of a query in a mode, as post keys.
func Ranking(ctx context.Context, svc *Service, query string, mode Mode, n int, keyOf map[string]string) ([]string, error) {
	page, err := svc.Search(ctx, Query{Text: query, Mode: mode, Limit: n})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(page.Results))
	for _, r := range page.Results {
		keys = append(keys, keyOf[r.PostID])
	}
	return keys, nil
}
