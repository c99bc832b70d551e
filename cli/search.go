package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/store/postgres"
)

func (a *app) searchCommand() *cobra.Command {
	var (
		channels, tags             []string
		since, until, mode, tenant string
		cursor                     string
		limit, offset              int
		asJSON, prefix, inProcess  bool
	)
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Search posts: hybrid (full text + vectors), semantic or keyword, with filters",
		Long: `search answers a query over the stored posts and their crawled pages.
QUERY uses web-search syntax: words, "a phrase", -excluded, a OR b. Russian
and English words match in any inflected form. Results show the channel, date,
score and which searches matched, a snippet with the matched words
highlighted, tags, and linked pages with their titles; --json prints the page
as the HTTP API returns it (next_cursor continues it with --cursor).

When a daemon serves the HTTP API on api.addr (the api role of run), the
query is sent to it (with api.token, or an api.tokens entry that reads the
tenant asked for): its in-memory vector index answers in milliseconds. When
none answers, a one-line notice says so and the search runs in this process,
which maps a snapshot of the vector index (search.vector_file) instead of
reading every vector; --local skips the daemon.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			q := search.Query{Prefix: prefix,
				Text: args[0], Channels: search.SplitList(channels...), Tags: search.SplitList(tags...),
				TenantID: tenant, Limit: limit, Offset: offset, Cursor: cursor,
			}
			if q.Mode, err = search.ParseMode(mode); err != nil {
				return err
			}
			if q.Since, err = api.ParseTime("--since", since, false); err != nil {
				return err
			}
			if q.Until, err = api.ParseTime("--until", until, true); err != nil {
				return err
			}
			ctx := cmd.Context()
			var page *search.Page
			if d, ok := daemonFor(cfg, &q); ok && !inProcess {
				page, err = d.searchVia(ctx, q, cfg.API.RequestTimeout+2*time.Second)
				var refused apiRefused
				switch {
				case errors.As(err, &refused):
					return fmt.Errorf("search: %s", refused.message)
				case err != nil:
					fmt.Fprintf(a.stderr, "search: the daemon at %s did not answer (%v); searching in this process\n", d.base, err)
				}
			}
			if page == nil {
				if page, err = a.searchHere(ctx, cfg, q); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				return enc.Encode(page)
			}
			f, ok := a.stdout.(*os.File)
			writePage(a.stdout, page, ok && term.IsTerminal(int(f.Fd())))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&channels, "channel", nil, "only these channel ids (repeat or comma-separate)")
	fl.StringSliceVar(&tags, "tag", nil, "only posts carrying every one of these tags")
	fl.StringVar(&since, "since", "", "posted on or after (2024-11-30 or RFC 3339)")
	fl.StringVar(&until, "until", "", "posted on or before (a date means the whole day)")
	fl.StringVar(&mode, "mode", "hybrid", "hybrid, semantic or keyword")
	fl.StringVar(&tenant, "tenant", "", "only this tenant's posts")
	fl.IntVar(&limit, "limit", 10, "results per page (at most search.max_limit)")
	fl.IntVar(&offset, "offset", 0, "results to skip")
	fl.StringVar(&cursor, "cursor", "", "next_cursor of a previous page")
	fl.BoolVar(&asJSON, "json", false, "print JSON (for scripts)")
	fl.BoolVar(&prefix, "prefix", false, "the last word is being typed: match it as a prefix too")
	fl.BoolVar(&inProcess, "local", false, "search in this process even when a daemon serves the API on api.addr")
	cmd.AddCommand(a.searchTrainCommand())
	return cmd
}

// searchHere answers q in this process: PostgreSQL for full text and the
// final rows, and for vectors the configured store (over the PostgreSQL
// backend, its snapshot file: search.DiskVectors).
func (a *app) searchHere(ctx context.Context, cfg *config.Config, q search.Query) (*search.Page, error) {
	pool, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	svc, _, closeStores, err := a.openSearch(ctx, cfg, pool, nil, false)
	if err != nil {
		return nil, err
	}
	defer closeStores()
	return svc.Search(ctx, q)
}

// searchTrainCommand trains the local embedder's semantic model over the
// stored posts.
func (a *app) searchTrainCommand() *cobra.Command {
	var out string
	var rank int
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train the offline embedder's semantic model over the stored posts (then reindex)",
		Long: `train fits the local embedder's latent semantic model (LSA of Snowball stems,
with character n-gram vectors for unseen words) over every unexpired stored post and
writes it to --out (default ai.local.semantic_model). Training is deterministic. The
model's id is part of the embedder's model name: the next index run reports a model
mismatch until the collection is reindexed with it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if out == "" {
				out = cfg.AI.Local.SemanticModel
			}
			if out == "" {
				return fmt.Errorf("search train: no output file: set ai.local.semantic_model or --out")
			}
			ctx := cmd.Context()
			pool, err := postgres.Open(ctx, cfg.Database)
			if err != nil {
				return err
			}
			defer pool.Close()
			_, res, err := search.TrainSemanticModel(ctx, pool, out, local.TrainOptions{Rank: rank})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "trained semantic model %s over %d posts in %s: %s\n", res.Model, res.Posts, res.Took.Round(time.Millisecond), res.Path)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "model file (default ai.local.semantic_model)")
	cmd.Flags().IntVar(&rank, "rank", 128, "latent dimensions (below ai.local.embedding_dim)")
	return cmd
}

// writePage prints a page for people: one block per result. On a terminal
// matched words are bold; elsewhere they are left plain.
func writePage(w io.Writer, page *search.Page, tty bool) {
	if len(page.Results) == 0 {
		fmt.Fprintf(w, "no results for %q (%s)\n", page.Query, page.Mode)
		return
	}
	weakShown := false
	for i, r := range page.Results {
		if r.Weak && !weakShown {
			weakShown = true
			fmt.Fprintln(w, "--- weaker matches (under the relevance floor) ---")
		}
		snippet := r.Snippet
		if tty {
			snippet = boldHighlights(r.SnippetHTML)
		}
		fmt.Fprintf(w, "%2d. %s  %s  channel %s  score %.4f  [%s]\n", i+1, r.PostedAt.Format("2006-01-02 15:04"),
			r.PostID, r.ChannelID, r.Score, strings.Join(r.Signals, "+"))
		fmt.Fprintf(w, "    %s\n", snippet)
		if len(r.Tags) > 0 {
			fmt.Fprintf(w, "    tags: %s\n", strings.Join(r.Tags, ", "))
		}
		for _, l := range r.URLs {
			if l.Title != "" {
				fmt.Fprintf(w, "    %s — %s\n", l.URL, l.Title)
			} else {
				fmt.Fprintf(w, "    %s\n", l.URL)
			}
		}
	}
	fmt.Fprintf(w, "%d results (%s, %.1f ms)", len(page.Results), page.Mode, page.TookMS)
	if page.NextCursor != "" {
		fmt.Fprintf(w, "; more with --cursor %s", page.NextCursor)
	}
	fmt.Fprintln(w)
}

// boldHighlights turns the <mark>-ed HTML snippet into terminal text with
// bold matches.
func boldHighlights(h string) string {
	r := strings.NewReplacer("<mark>", "\x1b[1m", "</mark>", "\x1b[0m",
		"&lt;", "<", "&gt;", ">", "&amp;", "&", "&#34;", `"`, "&#39;", "'")
	s := r.Replace(h)
	if !utf8.ValidString(s) {
		return h
	}
	return s
}
