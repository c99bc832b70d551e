package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/stages/index"
	"github.com/assistant-dev/assistant/store/postgres"
)

func (a *app) reindexCommand() *cobra.Command {
	var (
		since   string
		filter  index.ReindexFilter
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
					return errUsage(cmd, "--since: %v", err)
				}
				filter.Since = t
			}
			if filter.Empty() {
				return errUsage(cmd, "select the posts: --all, --since, --channel or --post-id")
			}
			if limit < 0 || batch < 0 {
				return errUsage(cmd, "--limit and --batch must not be negative")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			pool, err := postgres.Open(cmd.Context(), cfg.Database, postgres.WithApplicationName("assistant-reindex"))
			if err != nil {
				return fmt.Errorf("reindex: %w", err)
			}
			defer pool.Close()
			rdb, err := connectRedis(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			sum, err := index.Reindex(cmd.Context(), index.ReindexOptions{
				Pool: pool, Redis: rdb, Keys: keysOf(cfg), Stream: cfg.Streams.Enriched,
				ParsedStream: cfg.Streams.Parsed, Retag: retag,
				Filter: filter, DryRun: dryRun, Restart: restart, Limit: limit, BatchSize: batch,
				Logger: a.log(),
			})
			if err != nil {
				return fmt.Errorf("%w (%d posts published)", err, sum.Published)
			}
			fmt.Fprintln(a.stdout, sum.String())
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
	f.IntVar(&batch, "batch", index.DefaultReindexBatch, "posts per read and per MULTI/EXEC")
	return cmd
}
