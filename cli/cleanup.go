package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/cleanup"
	"github.com/assistant-dev/assistant/stages/index"
)

// openCleaner builds the cleanup stage's Cleaner from the configuration,
// exactly as the daemon does (stores as stages.index names them).
func (a *app) openCleaner(ctx context.Context, cfg *config.Config) (*cleanup.Cleaner, func(), error) {
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	res := pipeline.NewResources()
	closeAll := func() { res.Close(); _ = rdb.Close() }
	settings, ok := cfg.Stage(cleanup.Name).(*cleanup.Config)
	if !ok {
		settings = cleanup.DefaultConfig()
	}
	c, err := cleanup.FromDeps(ctx, pipeline.Deps{Config: cfg, StageConfig: settings, Redis: rdb, Keys: keysOf(cfg),
		Logger: a.log(), Resources: res})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return c, closeAll, nil
}

func (a *app) cleanupCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "TTL sweeps of every store (the daemon's cleanup stage runs them every stages.cleanup.interval)",
	}
	var dryRun bool
	run := &cobra.Command{
		Use:   "run",
		Short: "Run one sweep now (under the sweep lease, resuming a checkpoint); --dry-run prints what would go",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			c, closeAll, err := a.openCleaner(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			defer closeAll()
			if dryRun {
				idx := cleanup.IndexConfig(cfg)
				plan, err := c.Plan(cmd.Context(), idx.VectorStore == index.BackendPostgres, idx.GraphStore == index.BackendPostgres, 10)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "dry run: expired before %s\n", plan.Before.Format("2006-01-02T15:04:05Z"))
				fmt.Fprintf(a.stdout, "posts\t%d\npost_enrichment\t%d\nindexing_status\t%d\n", plan.Posts, plan.Enrichment, plan.Statuses)
				if plan.EmbeddedVector {
					fmt.Fprintf(a.stdout, "vectors\t%d\n", plan.VectorRows)
				} else {
					fmt.Fprintf(a.stdout, "vectors\t(%s: points with expires_at before the cutoff; not counted)\n", idx.VectorStore)
				}
				if plan.EmbeddedGraph {
					fmt.Fprintf(a.stdout, "graph posts\t%d\n", plan.GraphPosts)
				} else {
					fmt.Fprintf(a.stdout, "graph posts\t(%s: Post nodes with expires_at before the cutoff; not counted)\n", idx.GraphStore)
				}
				if len(plan.Sample) > 0 {
					fmt.Fprintf(a.stdout, "first posts: %s\n", strings.Join(plan.Sample, ", "))
				}
				return nil
			}
			res, swept, err := cleanup.NewServiceFor(c).SweepOnce(cmd.Context())
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			if !swept {
				return fmt.Errorf("cleanup: another process holds the sweep lease; try again later")
			}
			if res.Resumed != nil {
				fmt.Fprintf(a.stdout, "resumed at phase %s after batch %d\n", res.Resumed.Phase, res.Resumed.Batches)
			}
			fmt.Fprintf(a.stdout, "swept in %s, %d batches\n", res.Took.Round(1e6), res.Batches)
			for _, st := range []string{cleanup.StorePostgres, cleanup.StoreVector, cleanup.StoreGraph, cleanup.StoreOrphans, cleanup.StoreRedis} {
				fmt.Fprintf(a.stdout, "%s\t%d\n", st, res.Deleted[st])
			}
			return nil
		},
	}
	run.Flags().BoolVar(&dryRun, "dry-run", false, "print what a sweep would delete, delete nothing")
	cmd.AddCommand(run)
	return cmd
}
