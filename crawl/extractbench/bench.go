package extractbench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// DefaultDir is where the benchmark's data lives in this repository,
// relative to its root.
const DefaultDir = "crawl/testdata/article-extraction-benchmark"

// Page is one benchmark page: its id (the file name's stem), the URL it was
// saved from and the true article body.
type Page struct {
	ID    string
	URL   string
	Truth string
	// Index is the page's position in id order; even pages are the tuning
	// half, odd ones the held-out half.
	Index int
	dir   string
}

// HTML reads the page's saved HTML (gunzipped; UTF-8).
func (p Page) HTML() ([]byte, error) {
	return readMaybeGzip(filepath.Join(p.dir, "html", p.ID+".html.gz"))
}

// Heldout reports whether the page belongs to the held-out half.
func (p Page) Heldout() bool { return p.Index%2 == 1 }

type truthEntry struct {
	ArticleBody string `json:"articleBody"`
	URL         string `json:"url"`
}

// Load reads the benchmark in dir (ground-truth.json and html/), in id
// order. A missing directory is reported with where to get the data.
func Load(dir string) ([]Page, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "ground-truth.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no benchmark at %s: copy ground-truth.json and html/ of github.com/scrapinghub/article-extraction-benchmark there (or pass --dir)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read ground truth: %w", err)
	}
	var truth map[string]truthEntry
	if err := json.Unmarshal(raw, &truth); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "ground-truth.json"), err)
	}
	pages := make([]Page, 0, len(truth))
	for id, t := range truth {
		pages = append(pages, Page{ID: id, URL: t.URL, Truth: t.ArticleBody, dir: dir})
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i].ID < pages[j].ID })
	for i := range pages {
		pages[i].Index = i
	}
	return pages, nil
}

// LoadPredictions reads one of the benchmark's output files (plain or
// gzipped JSON; either {id: {articleBody}} or {"version", "output": …}) as
// id → article body.
func LoadPredictions(path string) (map[string]string, error) {
	raw, err := readMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	var wrapped struct {
		Version json.RawMessage            `json:"version"`
		Output  map[string]json.RawMessage `json:"output"`
	}
	var bodies map[string]json.RawMessage
	if err := json.Unmarshal(raw, &wrapped); err == nil && wrapped.Output != nil {
		bodies = wrapped.Output
	} else if err := json.Unmarshal(raw, &bodies); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	out := make(map[string]string, len(bodies))
	for id, b := range bodies {
		var e truthEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("parse %s: entry %s: %w", path, id, err)
		}
		out[id] = e.ArticleBody
	}
	return out, nil
}

func readMaybeGzip(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", path, err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", path, err)
	}
	return out, nil
}

// ExtractFunc extracts the article text (plain text, no markup) of a page
// saved from pageURL.
type ExtractFunc func(ctx context.Context, html []byte, pageURL string) (string, error)

// PageResult is one page's outcome in a run.
type PageResult struct {
	ID    string    `json:"id"`
	URL   string    `json:"url"`
	Score PageScore `json:"score"`
	Error string    `json:"error,omitempty"`
	// Text is the extracted text (not reported in JSON).
	Text string `json:"-"`
}

// Report is the outcome of a run: the figures over all pages, over the
// tuning half (even indexes) and over the held-out half (odd ones).
type Report struct {
	All     Metrics      `json:"all"`
	Tuning  Metrics      `json:"tuning"`
	Heldout Metrics      `json:"heldout"`
	Pages   []PageResult `json:"pages"`
}

// Run extracts every page with workers goroutines and scores the results
// against the ground truth. An extraction error scores as an empty text
// and is recorded on the page.
func Run(ctx context.Context, pages []Page, extract ExtractFunc, workers int) (Report, error) {
	results := make([]PageResult, len(pages))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for range max(1, workers) {
		wg.Go(func() {
			for i := range jobs {
				p := pages[i]
				r := PageResult{ID: p.ID, URL: p.URL}
				body, err := p.HTML()
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					continue
				}
				text, err := extract(ctx, body, p.URL)
				if err != nil {
					r.Error = err.Error()
				}
				r.Text = text
				r.Score = Score(p.Truth, text)
				results[i] = r
			}
		})
	}
	for i := range pages {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return Report{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	return Summarise(pages, results), nil
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// Summarise builds a Report from per-page results (in the order of pages).
func Summarise(pages []Page, results []PageResult) Report {
	var all, tune, held []PageScore
	for i, r := range results {
		all = append(all, r.Score)
		if pages[i].Heldout() {
			held = append(held, r.Score)
		} else {
			tune = append(tune, r.Score)
		}
	}
	return Report{All: Summarize(all), Tuning: Summarize(tune), Heldout: Summarize(held), Pages: results}
}

// ScorePredictions scores a fixed set of predictions (a peer's output).
func ScorePredictions(pages []Page, pred map[string]string) Report {
	results := make([]PageResult, len(pages))
	for i, p := range pages {
		results[i] = PageResult{ID: p.ID, URL: p.URL, Text: pred[p.ID], Score: Score(p.Truth, pred[p.ID])}
	}
	return Summarise(pages, results)
}
