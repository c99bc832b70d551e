package tageval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// View says which part of an article a tagger reads.
type View string

const (
	// Lead is the title, the summary (when the outlet gives one) and the
	// first paragraph: about the size of a channel post.
	Lead View = "lead"
	// Article is the title, the summary and the whole text.
	Article View = "article"
)

// ParseView parses "lead" or "article".
func ParseView(s string) (View, error) {
	switch v := View(s); v {
	case Lead, Article:
		return v, nil
	}
	return "", fmt.Errorf("view %q: want lead or article", s)
}

// ruKWDoc is one line of the ru_kw_eval_datasets files
// (github.com/mannefedov/ru_kw_eval_datasets: Независимая газета, Russia
// Today, Habrahabr): editors' keywords, lower-case lemmas, of one article.
type ruKWDoc struct {
	URL      string   `json:"url"`
	Title    string   `json:"title"`
	Summary  string   `json:"summary"`
	Content  string   `json:"content"`
	Keywords []string `json:"keywords"`
}

// LoadRuKW reads one file of the ru_kw_eval_datasets collection (JSON lines:
// url, title, summary, content, keywords) as gold items: the text is the
// article seen through view, the channel is the outlet (the URL's host), the
// keywords are the editors' (duplicates dropped). The editors' keywords are
// lemmas and need not occur in the text, so even a perfect grounded tagger
// scores below 1. At most limit articles are read (all when limit <= 0);
// articles with no text or no keywords are skipped.
func LoadRuKW(path string, view View, limit int) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open keyword set: %w", err)
	}
	defer f.Close()
	var items []Item
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<26)
	for line := 1; sc.Scan() && (limit <= 0 || len(items) < limit); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var d ruKWDoc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("keyword set %s line %d: %w", path, line, err)
		}
		text := ruKWText(d, view)
		kws := dedupKeywords(d.Keywords)
		if strings.TrimSpace(text) == "" || len(kws) == 0 {
			continue
		}
		outlet := d.URL
		if u, err := url.Parse(d.URL); err == nil && u.Host != "" {
			outlet = strings.TrimPrefix(u.Host, "www.")
		}
		items = append(items, Item{PostID: d.URL, Channel: outlet, Text: text, Keywords: kws})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read keyword set %s: %w", path, err)
	}
	return items, nil
}

func ruKWText(d ruKWDoc, view View) string {
	parts := []string{strings.TrimSpace(d.Title)}
	if s := strings.TrimSpace(d.Summary); s != "" {
		parts = append(parts, s)
	}
	content := strings.TrimSpace(d.Content)
	if view == Lead {
		// The first paragraph of some length: a lone subhead is not a lead.
		lead := ""
		for _, p := range strings.Split(content, "\n") {
			if lead != "" {
				lead += "\n"
			}
			lead += strings.TrimSpace(p)
			if len([]rune(lead)) >= 200 {
				break
			}
		}
		content = lead
	}
	if content != "" {
		parts = append(parts, content)
	}
	return strings.Join(parts, "\n")
}

func dedupKeywords(kws []string) []string {
	out := make([]string, 0, len(kws))
	seen := make(map[string]bool, len(kws))
	for _, k := range kws {
		k = strings.TrimSpace(k)
		if f := ExactKey(k); k != "" && !seen[f] {
			seen[f] = true
			out = append(out, k)
		}
	}
	return out
}

// Reachable is the mean share of an item's keywords that occur in its text
// (folded substring): the recall a grounded tagger with unlimited tags could
// reach at most.
func Reachable(items []Item) float64 {
	if len(items) == 0 {
		return 0
	}
	sum := 0.0
	for _, it := range items {
		text := ExactKey(it.Text)
		n := 0
		for _, k := range it.Keywords {
			if strings.Contains(text, ExactKey(k)) {
				n++
			}
		}
		sum += float64(n) / float64(len(it.Keywords))
	}
	return sum / float64(len(items))
}
