package index

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// Commands are the stage's operator commands: `assistant reindex`.
func Commands(env pipeline.CommandEnv) []*cobra.Command {
	return []*cobra.Command{reindexCommand(env)}
}

func reindexCommand(env pipeline.CommandEnv) *cobra.Command {
	var (
		since   string
		filter  ReindexFilter
		dryRun  bool
		restart bool
		retag   bool
		limit   int
		batch   int
	)
	cmd := &cobra.Command{
		Use:   "reindex [--all | --since T | --channel ID | --post-id ID]",
		Short: "Rebuild vectors and graph of stored posts, without tagging them again",
		Long: `Reindex reads the stored posts the filters select from PostgreSQL (the post,
its tags and its stored crawl) and publishes one posts.enriched entry per post
marked reindex, so that the index stage embeds it and rewrites its vector and
graph node even when nothing changed. The tagger is not called. The running
daemon's index stage does the work, so reindex is safe beside it (and needs
it, or a later 'assistant run', to take effect).

Filters combine with AND: --since (posted, or changed, at or after a time:
RFC 3339, or a duration such as 72h meaning that long ago), --channel and
--post-id (both repeatable); --all selects every stored post. Expired posts
are left to cleanup. --dry-run prints how many posts would be re-indexed and
writes nothing.

Posts are read in post_id order; each batch and a checkpoint go to Redis in
one MULTI/EXEC, so an interrupted run (or one stopped by --limit) resumes
where it stopped. A completed run forgets its checkpoint; --restart forgets
it at the start.

--retag is for a changed tagger (provider, model or prompt): it publishes the
selected posts to posts.parsed instead, marked as a re-tag, so that the tag
stage tags them again although it tagged the same text before (the tagging
dedup mark is keyed on post id and content hash only), and persist, enrich and
index carry the new tags on (posts.tagged trigger=retag). This calls the
tagger once per post.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != "" {
				t, err := parseSince(time.Now(), since)
				if err != nil {
					return usageError(cmd, "--since: %v", err)
				}
				filter.Since = t
			}
			if filter.Empty() {
				return usageError(cmd, "select the posts: --all, --since, --channel or --post-id")
			}
			if limit < 0 || batch < 0 {
				return usageError(cmd, "--limit and --batch must not be negative")
			}
			cfg, err := env.Config()
			if err != nil {
				return err
			}
			pool, err := postgres.Open(cmd.Context(), cfg.Database, postgres.WithApplicationName("assistant-reindex"))
			if err != nil {
				return fmt.Errorf("reindex: %w", err)
			}
			defer pool.Close()
			rdb, err := env.Redis(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			sum, err := Reindex(cmd.Context(), ReindexOptions{
				Pool: pool, Redis: rdb, Keys: pipeline.NewKeys(cfg), Stream: cfg.Streams.Enriched,
				ParsedStream: cfg.Streams.Parsed, Retag: retag,
				Filter: filter, DryRun: dryRun, Restart: restart, Limit: limit, BatchSize: batch,
				Logger: env.Logger(),
			})
			if err != nil {
				return fmt.Errorf("%w (%d posts published)", err, sum.Published)
			}
			fmt.Fprintln(env.Stdout, sum.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&filter.All, "all", false, "select every stored post")
	f.StringVar(&since, "since", "", "select posts posted or changed since this time (RFC 3339, or a duration ago such as 72h)")
	f.StringArrayVar(&filter.Channels, "channel", nil, "select this channel's posts (repeatable)")
	f.StringArrayVar(&filter.PostIDs, "post-id", nil, "select this post (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "print how many posts would be re-indexed; write nothing")
	f.BoolVar(&restart, "restart", false, "forget the checkpoint of an interrupted run and start again")
	f.BoolVar(&retag, "retag", false, "tag the posts again (publish to posts.parsed) instead of only re-indexing them")
	f.IntVar(&limit, "limit", 0, "stop after this many posts (0: no limit); the next run goes on")
	f.IntVar(&batch, "batch", DefaultReindexBatch, "posts per read and per MULTI/EXEC")
	return cmd
}

// parseSince reads a point in time: RFC 3339, or a duration back from now.
func parseSince(now time.Time, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
}

// usageError reports the command used the wrong way, naming it ("reindex:
// ..."), as the command line's own usage errors do.
func usageError(cmd *cobra.Command, format string, args ...any) error {
	name := strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()), " ")
	return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
}
