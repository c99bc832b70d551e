package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/ingest"
)

func (a *app) ingestCommand() *cobra.Command {
	var (
		dryRun bool
		limit  int
		format string
		stream string
	)
	cmd := &cobra.Command{
		Use:   "ingest FILE...",
		Short: "Publish posts from JSONL dumps or Telegram Desktop exports to posts.parsed",
		Long: `Ingest reads each FILE ("-" for standard input) and publishes its posts to
the posts.parsed stream (streams.parsed). Formats: jsonl, one post per line as
in testdata/telegram-news-ru/sample.jsonl; telegram, a Telegram Desktop JSON
export (result.json); auto detects each file's. Post ids are deterministic, so
ingesting a file twice is harmless downstream. --dry-run prints the events as
JSON lines instead and does not need Redis.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			f, err := ingestFormat(format)
			if err != nil {
				return errUsage(cmd, "%v", err)
			}
			if limit < 0 {
				return errUsage(cmd, "--limit must not be negative")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if stream == "" {
				stream = cfg.Streams.Parsed
			}
			opts := ingest.Options{
				Stream:   stream,
				Format:   f,
				DryRun:   dryRun,
				Limit:    limit,
				Progress: a.stderr,
				Logger:   a.toolLogger(cfg),
			}
			// Progress, and the summary line at the end, go to stderr:
			// in a dry run stdout carries the events.
			var sum ingest.Summary
			if dryRun {
				opts.Out = a.stdout
				sum, err = ingest.Run(cmd.Context(), nil, keysOf(cfg), files, opts)
			} else {
				rdb, cerr := connectRedis(cmd.Context(), cfg)
				if cerr != nil {
					return cerr
				}
				defer rdb.Close()
				sum, err = ingest.Run(cmd.Context(), rdb, keysOf(cfg), files, opts)
			}
			if err != nil {
				return fmt.Errorf("ingest: %w (%d posts published)", err, sum.Published)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the events as JSON lines instead of publishing them")
	cmd.Flags().IntVar(&limit, "limit", 0, "stop after this many posts over all files (0: no limit)")
	cmd.Flags().StringVar(&format, "format", "auto", "input format: auto, jsonl or telegram (a Telegram Desktop result.json)")
	cmd.Flags().StringVar(&stream, "stream", "", "stream to publish to (default streams.parsed)")
	return cmd
}

// ingestFormat maps the --format names to the ingest package's formats;
// "telegram" is the short name of a Telegram Desktop export.
func ingestFormat(name string) (ingest.Format, error) {
	if strings.EqualFold(strings.TrimSpace(name), "telegram") {
		return ingest.FormatExport, nil
	}
	return ingest.ParseFormat(name)
}
