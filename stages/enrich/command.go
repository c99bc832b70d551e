package enrich

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/crawl"
	"github.com/assistant-dev/assistant/crawl/links"
	"github.com/assistant-dev/assistant/pipeline"
)

// Commands are the stage's operator commands: `assistant crawl URL`.
func Commands(env pipeline.CommandEnv) []*cobra.Command {
	return []*cobra.Command{crawlCommand(env)}
}

// crawlCommand is `assistant crawl URL`: one URL through the configured
// policy and crawler, printing what the pipeline would store for it. It always
// crawls afresh (no cache) so an operator sees the site as it is now.
func crawlCommand(env pipeline.CommandEnv) *cobra.Command {
	var (
		asJSON       bool
		force        bool
		backend      string
		c4URL        string
		c4Token      string
		allowPrivate bool
		noRobots     bool
		timeout      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "crawl URL",
		Short: "Crawl one URL as the pipeline would and print what it would store",
		Long: `Crawl one URL with the configured URL policy and crawler (stages.<crawling
stage>.crawl; builtin by default) and print the title, the metadata and the
Markdown that would be stored in post_enrichment (kind='crawl'). The crawl is
always fresh (the Redis cache is neither read nor written). The SSRF guard is on
unless --allow-private-addresses.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := env.Config()
			if err != nil {
				return err
			}
			// The crawling stage's own settings block, as configured.
			ecfg, ok := cfg.Stage(Name).(*Config)
			if !ok || ecfg == nil {
				ecfg = DefaultConfig()
			}
			ccfg := ecfg.Crawl
			if backend != "" {
				ccfg.Backend = backend
			}
			if c4URL != "" {
				ccfg.Crawl4AI.URL = c4URL
			}
			if c4Token != "" {
				ccfg.Crawl4AI.Token = c4Token
			}
			ccfg.AllowPrivateAddresses = ccfg.AllowPrivateAddresses || allowPrivate
			if noRobots {
				ccfg.Robots = false
			}
			if timeout > 0 {
				ccfg.Timeout = timeout
			}
			raw := args[0]
			toCrawl, dropped := ecfg.Policy().Select([]string{raw})
			if len(toCrawl) == 0 {
				reason := links.ReasonInvalid
				if len(dropped) > 0 {
					reason = dropped[0].Reason
				}
				if reason == links.ReasonInvalid {
					// --force cannot help a URL that does not parse: it
					// would fail the same way. A bare host is the usual
					// slip; name the URL that would work.
					if !strings.Contains(raw, "://") && !strings.HasPrefix(raw, "/") {
						return fmt.Errorf("crawl: %q is not a URL (no scheme); did you mean https://%s ?", raw, raw)
					}
					return fmt.Errorf("crawl: %q is not an http(s) URL the crawler can fetch", raw)
				}
				if !force {
					return fmt.Errorf("crawl: the URL policy would not crawl %s (%s); --force crawls it anyway", raw, reason)
				}
				norm, _ := links.Normalize(raw)
				toCrawl = []string{norm}
			}
			c, err := crawl.New(ccfg, crawl.WithLogger(env.Logger()))
			if err != nil {
				return err
			}
			if cl, ok := c.(io.Closer); ok {
				defer cl.Close() // ends the browser fallback's Chromium, when it started
			}
			start := time.Now()
			res, crawlErr := c.Crawl(cmd.Context(), toCrawl[0])
			took := time.Since(start)
			if crawlErr != nil && res.Error == "" {
				res.URL, res.Error, res.ErrorKind = toCrawl[0], crawlErr.Error(), crawl.KindOf(crawlErr)
			}
			row := BuildRow("", []crawl.Result{res}, nil)
			page := row.Pages[0]
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(page); err != nil {
					return err
				}
			} else if err := printPage(env.Stdout, page, res, took); err != nil {
				return err
			}
			if crawlErr != nil && page.Status == URLError {
				return crawlFailure(toCrawl[0], crawlErr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the stored page document as JSON")
	f.BoolVar(&force, "force", false, "crawl even when the URL policy would skip the URL (t.me, deny list)")
	f.StringVar(&backend, "backend", "", "crawler backend: builtin or crawl4ai (default builtin)")
	f.StringVar(&c4URL, "crawl4ai-url", "", "crawl4ai server URL (default http://127.0.0.1:11235)")
	f.StringVar(&c4Token, "crawl4ai-token", "", "crawl4ai bearer token")
	f.BoolVar(&allowPrivate, "allow-private-addresses", false, "turn the SSRF guard off (to check a site on a private network)")
	f.BoolVar(&noRobots, "ignore-robots", false, "do not read robots.txt")
	f.DurationVar(&timeout, "timeout", 0, "total timeout of the crawl (default 20s)")
	return cmd
}

// crawlFailure names the URL asked for and what failed. The builtin
// crawler reads the host's robots.txt before the page, so a host that
// cannot be reached fails there: that is said once, as a detail, rather
// than the robots.txt URL standing in for the page's.
func crawlFailure(asked string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && strings.HasSuffix(ue.URL, "/robots.txt") {
		return fmt.Errorf("crawl %s: %s: %v (reading %s before the page; --ignore-robots skips it)", asked, crawl.KindOf(err), ue.Err, ue.URL)
	}
	return fmt.Errorf("crawl %s: %w", asked, err)
}

func printPage(w io.Writer, p Page, res crawl.Result, took time.Duration) error {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-13s %s\n", k+":", v)
		}
	}
	line("url", p.URL)
	if p.FinalURL != p.URL {
		line("final url", p.FinalURL)
	}
	line("status", fmt.Sprintf("%s (HTTP %d)", p.Status, p.HTTPStatus))
	line("error", p.Error)
	line("title", p.Title)
	line("description", p.Description)
	line("site name", p.SiteName)
	line("language", p.Language)
	if p.PublishedAt != nil {
		line("published", p.PublishedAt.Format(time.RFC3339))
	}
	line("canonical", p.Canonical)
	line("content type", p.ContentType)
	if p.Status == URLOK {
		line("words", fmt.Sprint(p.WordCount))
		line("bytes", fmt.Sprint(res.Bytes))
		line("sha256", p.ContentSHA256)
	}
	line("backend", res.Backend)
	line("took", took.Round(time.Millisecond).String())
	if p.Markdown != "" {
		b.WriteString("\n")
		b.WriteString(p.Markdown)
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
