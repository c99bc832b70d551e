package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/ingest/legacy"
)

func (a *app) importCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import history from another system into the pipeline",
	}
	var (
		from    string
		batch   int
		limit   int
		restart bool
	)
	legacyCmd := &cobra.Command{
		Use:   "legacy --from URL",
		Short: "Publish the old Python system's posts to posts.parsed, resumably",
		Long: `Import legacy reads the posts of the old Python system's PostgreSQL database
(--from; its search_path parameter names the schema of the old tables, default
public) and publishes them to posts.parsed, so that history is tagged, crawled
and indexed. Posts keep their old ids. The old database is only read.

Posts are read in (created_at, id) order; each batch and a checkpoint go to
Redis in one MULTI/EXEC, so an interrupted import resumes where it stopped and
a second run publishes only what the old system stored since. --restart
forgets the checkpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return errUsage(cmd, "--from is required: the old system's database URL")
			}
			if limit < 0 || batch < 0 {
				return errUsage(cmd, "--limit and --batch must not be negative")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			rdb, err := connectRedis(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			sum, err := legacy.Import(cmd.Context(), rdb, keysOf(cfg), legacy.Options{
				From:      from,
				Stream:    cfg.Streams.Parsed,
				BatchSize: batch,
				Limit:     limit,
				Restart:   restart,
				Progress:  a.stderr,
				Logger:    a.log(),
				Retention: cfg.Posts,
			})
			if notice := sum.Retention.Notice(); notice != "" {
				fmt.Fprintln(a.stderr, "import legacy: "+notice)
			}
			if err != nil {
				return fmt.Errorf("%w (%d posts published)", err, sum.Published)
			}
			return nil
		},
	}
	legacyCmd.Flags().StringVar(&from, "from", "", "the old system's database URL (postgres://...)")
	legacyCmd.Flags().IntVar(&batch, "batch", legacy.DefaultBatchSize, "posts per read and per MULTI/EXEC")
	legacyCmd.Flags().IntVar(&limit, "limit", 0, "stop after this many posts (0: no limit); the next run goes on")
	legacyCmd.Flags().BoolVar(&restart, "restart", false, "forget the checkpoint and import everything again")
	cmd.AddCommand(legacyCmd)
	return cmd
}
