package cleanup

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
)

// Commands are the stage's operator commands: `assistant cleanup run`.
func Commands(env pipeline.CommandEnv) []*cobra.Command {
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
			cfg, err := env.Config()
			if err != nil {
				return err
			}
			c, closeAll, err := openCleaner(cmd.Context(), env, cfg)
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			defer closeAll()
			out := env.Stdout
			if dryRun {
				vectors, graph := cfg.Stores.Embedded()
				plan, err := c.Plan(cmd.Context(), vectors, graph, 10)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "dry run: expired before %s\n", plan.Before.Format("2006-01-02T15:04:05Z"))
				fmt.Fprintf(out, "posts\t%d\npost_enrichment\t%d\nindexing_status\t%d\n", plan.Posts, plan.Enrichment, plan.Statuses)
				if plan.EmbeddedVector {
					fmt.Fprintf(out, "vectors\t%d\n", plan.VectorRows)
				} else {
					fmt.Fprintf(out, "vectors\t(%s: points with expires_at before the cutoff; not counted)\n", cfg.Stores.Vector.Backend)
				}
				if plan.EmbeddedGraph {
					fmt.Fprintf(out, "graph posts\t%d\n", plan.GraphPosts)
				} else {
					fmt.Fprintf(out, "graph posts\t(%s: Post nodes with expires_at before the cutoff; not counted)\n", cfg.Stores.Graph.Backend)
				}
				if len(plan.Sample) > 0 {
					fmt.Fprintf(out, "first posts: %s\n", strings.Join(plan.Sample, ", "))
				}
				return nil
			}
			res, swept, err := NewServiceFor(c).SweepOnce(cmd.Context())
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			if !swept {
				return fmt.Errorf("cleanup: another process holds the sweep lease; try again later")
			}
			if res.Resumed != nil {
				fmt.Fprintf(out, "resumed at phase %s after batch %d\n", res.Resumed.Phase, res.Resumed.Batches)
			}
			fmt.Fprintf(out, "swept in %s, %d batches\n", res.Took.Round(1e6), res.Batches)
			for _, st := range []string{StorePostgres, StoreVector, StoreGraph, StoreOrphans, StoreRedis} {
				fmt.Fprintf(out, "%s\t%d\n", st, res.Deleted[st])
			}
			return nil
		},
	}
	run.Flags().BoolVar(&dryRun, "dry-run", false, "print what a sweep would delete, delete nothing")
	cmd.AddCommand(run)
	return []*cobra.Command{cmd}
}

// openCleaner builds the Cleaner from the configuration exactly as the
// daemon does: the stores of the stores: section, the configured Redis.
func openCleaner(ctx context.Context, env pipeline.CommandEnv, cfg *config.Config) (*Cleaner, func(), error) {
	rdb, err := env.Redis(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	res := pipeline.NewResources()
	closeAll := func() { res.Close(); _ = rdb.Close() }
	settings, ok := cfg.Stage(Name).(*Config)
	if !ok {
		settings = DefaultConfig()
	}
	c, err := FromDeps(ctx, pipeline.Deps{Config: cfg, StageConfig: settings, Redis: rdb,
		Keys: pipeline.NewKeys(cfg), Logger: env.Logger(), Resources: res})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return c, closeAll, nil
}
