package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/ingest"
)

func (a *app) ingestCommand() *cobra.Command {
	var (
		dryRun         bool
		allowMalformed bool
		limit          int
		format         string
		stream         string
	)
	cmd := &cobra.Command{
		Use:   "ingest FILE...",
		Short: "Publish posts from JSONL dumps or Telegram Desktop exports to posts.parsed",
		Long: `Ingest reads each FILE ("-" for standard input) and publishes its posts to
the posts.parsed stream (streams.parsed). Formats: jsonl, one post per line as
in testdata/telegram-news-ru/sample.jsonl; telegram, a Telegram Desktop JSON
export (result.json); auto detects each file's. Post ids are deterministic, so
ingesting a file twice is harmless downstream. --dry-run prints the events as
JSON lines instead and does not need Redis.

The exit status is 1 when a record was rejected as malformed (each is logged
with its file and line), even though the valid posts were published: a
partly broken dump is then noticed by scripts. --allow-malformed accepts it.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			f, err := ingestFormat(format)
			if err != nil {
				return errUsage(cmd, "%v", err)
			}
			if limit < 0 {
				return errUsage(cmd, "--limit must not be negative")
			}
			// A missing or unreadable file is found before anything is
			// published, and reported once, as the command's error.
			if err := checkInputFiles(files); err != nil {
				return errUsage(cmd, "%v", err)
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if stream == "" {
				stream = cfg.Streams.Parsed
			}
			opts := ingest.Options{
				Stream:    stream,
				Format:    f,
				DryRun:    dryRun,
				Limit:     limit,
				Progress:  a.stderr,
				Logger:    a.log(),
				Retention: cfg.Posts,
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
			// History older than the retention is said at once, with the
			// setting that keeps it (docs/retention.md).
			if notice := sum.Retention.Notice(); notice != "" {
				fmt.Fprintln(a.stderr, "ingest: "+notice)
			}
			if err != nil {
				return fmt.Errorf("ingest: %w (%d %s published)", err, sum.Published, plural(sum.Published, "post", "posts"))
			}
			if sum.Malformed > 0 && !allowMalformed {
				verb := "published"
				if dryRun {
					verb = "written"
				}
				return fmt.Errorf("ingest: %d malformed %s rejected (logged above), %d %s %s; --allow-malformed accepts that",
					sum.Malformed, plural(sum.Malformed, "record", "records"), sum.Published, plural(sum.Published, "post", "posts"), verb)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the events as JSON lines instead of publishing them")
	cmd.Flags().BoolVar(&allowMalformed, "allow-malformed", false, "exit 0 even when malformed records were rejected")
	cmd.Flags().IntVar(&limit, "limit", 0, "stop after this many posts over all files (0: no limit)")
	cmd.Flags().StringVar(&format, "format", "auto", "input format: auto, jsonl or telegram (a Telegram Desktop result.json)")
	cmd.Flags().StringVar(&stream, "stream", "", "stream to publish to (default streams.parsed)")
	return cmd
}

// ingestFormat maps the --format values to the ingest package's formats;
// "telegram" is the short name of a Telegram Desktop export. An unknown
// value is reported with the values the flag takes, as the help names them.
func ingestFormat(name string) (ingest.Format, error) {
	if strings.EqualFold(strings.TrimSpace(name), "telegram") {
		return ingest.FormatExport, nil
	}
	f, err := ingest.ParseFormat(name)
	if err != nil {
		return "", fmt.Errorf("unknown --format %q (want auto, jsonl or telegram)", name)
	}
	return f, nil
}

// checkInputFiles opens each named file ("-" is standard input) to see that
// it can be read, and reports every one that cannot, in one message.
func checkInputFiles(files []string) error {
	var bad []string
	for _, path := range files {
		if path == "-" {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		st, err := f.Stat()
		f.Close()
		if err == nil && st.IsDir() {
			bad = append(bad, path+" is a directory")
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// plural picks the word form for n: "1 entry", "2 entries".
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
