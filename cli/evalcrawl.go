package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"runtime"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/crawl"
	"github.com/assistant-dev/assistant/crawl/extractbench"
)

// evalCrawlCommand scores the crawler's extraction on Zyte's public
// article-extraction benchmark.
func (a *app) evalCrawlCommand() *cobra.Command {
	var dir, peer string
	var asJSON bool
	var workers, worst int
	cmd := &cobra.Command{
		Use:   "crawl",
		Short: "F1, precision and recall of the crawler's article extraction on the article-extraction benchmark",
		Long: `eval crawl runs the enrich stage's extractor (the builtin crawl backend's
code path after the fetch) over the 181 pages of Zyte's article-extraction
benchmark (github.com/scrapinghub/article-extraction-benchmark, copied into
` + extractbench.DefaultDir + `), turns its Markdown into plain text and scores it
with the benchmark's shingle metrics: F1, precision, recall, exact-match
accuracy, and the share of pages that lose more than half their words. The
figures are given over all pages, over the tuning half (even pages in id order)
and the held-out half (odd ones).
--peer FILE scores a published output (output/NAME.json of the benchmark) instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pages, err := extractbench.Load(dir)
			if err != nil {
				return fmt.Errorf("eval crawl: %w", err)
			}
			start := time.Now()
			var rep extractbench.Report
			name := "assistant"
			if peer != "" {
				pred, err := extractbench.LoadPredictions(peer)
				if err != nil {
					return fmt.Errorf("eval crawl: %w", err)
				}
				rep, name = extractbench.ScorePredictions(pages, pred), peer
			} else {
				rep, err = extractbench.Run(cmd.Context(), pages, extractPlainText, workers)
				if err != nil {
					return fmt.Errorf("eval crawl: %w", err)
				}
			}
			elapsed := time.Since(start)
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(a.stdout, "%s on %d pages of the article-extraction benchmark (%s, %.1f pages/s)\n",
				name, len(pages), elapsed.Round(time.Millisecond), float64(len(pages))/elapsed.Seconds())
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "pages\tn\tF1\tprecision\trecall\taccuracy\tlost >half words")
			for _, row := range []struct {
				name string
				m    extractbench.Metrics
			}{{"all", rep.All}, {"tuning (even)", rep.Tuning}, {"held-out (odd)", rep.Heldout}} {
				fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f%%\n", row.name, row.m.Pages,
					row.m.F1, row.m.Precision, row.m.Recall, row.m.Accuracy, 100*row.m.LostHalf)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if worst > 0 {
				byF1 := append([]extractbench.PageResult(nil), rep.Pages...)
				f1 := func(s extractbench.PageScore) float64 {
					p, r := s.Precision(), s.Recall()
					if p+r == 0 {
						return 0
					}
					return 2 * p * r / (p + r)
				}
				sort.SliceStable(byF1, func(i, j int) bool { return f1(byF1[i].Score) < f1(byF1[j].Score) })
				fmt.Fprintf(a.stdout, "\nworst %d pages:\n", worst)
				for _, r := range byF1[:min(worst, len(byF1))] {
					fmt.Fprintf(a.stdout, "%.3f P %.3f R %.3f words %d/%d %s %s %s\n", f1(r.Score), r.Score.Precision(), r.Score.Recall(),
						r.Score.PredWords, r.Score.TrueWords, r.ID[:12], r.URL, r.Error)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", extractbench.DefaultDir, "benchmark directory (ground-truth.json, html/)")
	cmd.Flags().StringVar(&peer, "peer", "", "score this published output file instead of running the extractor")
	cmd.Flags().IntVar(&workers, "workers", runtime.GOMAXPROCS(0), "pages extracted at once")
	cmd.Flags().IntVar(&worst, "worst", 0, "list the N pages with the lowest F1")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, with per-page figures")
	return cmd
}

// extractPlainText is the benchmark's view of the crawler: the page's
// Markdown as plain text.
func extractPlainText(_ context.Context, body []byte, pageURL string) (string, error) {
	u, err := url.Parse(pageURL)
	if err != nil {
		return "", err
	}
	res, err := crawl.Extract(body, "text/html", u)
	if err != nil {
		return "", err
	}
	return crawl.PlainText(res.Markdown), nil
}
