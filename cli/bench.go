package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/bench"
)

// benchCommand groups the throughput benchmarks. Each works in its own key
// prefix and temporary schema on the configured Redis and PostgreSQL and
// removes them afterwards. The benchmarks are named after what they measure
// (some measure one stage); the stages themselves come from package bench,
// not from here.
func (a *app) benchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput: the runner, the persist stage, the whole pipeline, search",
	}

	var sizes []int
	var workers, batch, payload int
	var partitions []int
	runner := &cobra.Command{
		Use:   "runner",
		Short: "A no-op stage next to a raw go-redis loop: entries/s, ratio, peak RSS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			return bench.Runner(cmd.Context(), bench.RunnerOptions{
				RedisURL: cfg.Redis.URL, Sizes: sizes, Workers: workers,
				BatchSize: batch, Payload: payload, Partitions: partitions, Out: a.stdout,
			})
		},
	}
	runner.Flags().IntSliceVar(&sizes, "n", []int{50_000, 200_000}, "entry counts to move (several show whether memory stays flat)")
	runner.Flags().IntVar(&workers, "workers", 4, "workers of the no-op stage")
	runner.Flags().IntVar(&batch, "batch", 500, "XREADGROUP COUNT for both the runner and the raw loop")
	runner.Flags().IntVar(&payload, "payload", 300, "bytes of text per entry")
	runner.Flags().IntSliceVar(&partitions, "partitions", []int{1}, "streams.partitions to run the no-op stage with, one row each (e.g. 1,3: no loss from partitioning)")

	var persistSizes []int
	var persistN int
	persistCmd := &cobra.Command{
		Use:   "persist",
		Short: "The persist stage next to a raw unnest UPSERT of the same rows, per batch size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			return bench.Persist(cmd.Context(), cfg.Database.URL, persistSizes, persistN, a.stdout)
		},
	}
	persistCmd.Flags().IntSliceVar(&persistSizes, "batch", []int{1, 100, 1000}, "batch sizes")
	persistCmd.Flags().IntVar(&persistN, "n", 20_000, "events per batch size")

	var cleanupN, cleanupBatch int
	cleanupCmd := &cobra.Command{
		Use:   "cleanup",
		Short: "One sweep of N expired posts in every embedded store: rows deleted/s, and ingest throughput kept meanwhile",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			_, err = bench.Cleanup(cmd.Context(), bench.CleanupOptions{
				RedisURL: cfg.Redis.URL, DatabaseURL: cfg.Database.URL, N: cleanupN, Batch: cleanupBatch, Out: a.stdout,
			})
			return err
		},
	}
	cleanupCmd.Flags().IntVar(&cleanupN, "n", 100_000, "expired posts to sweep")
	cleanupCmd.Flags().IntVar(&cleanupBatch, "batch", 1000, "stages.cleanup.sweep_batch")

	var corpus, cpuProfile string
	var posts, rate int
	pipelineCmd := &cobra.Command{
		Use:   "pipeline",
		Short: "ingest -> tag (local) -> persist in one process: posts/s, latency p50/p99, peak RSS, CPU per post (process, tagger alone, PostgreSQL, Redis)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			_, err = bench.Pipeline(cmd.Context(), bench.PipelineOptions{
				RedisURL: cfg.Redis.URL, DatabaseURL: cfg.Database.URL,
				Corpus: corpus, N: posts, Rate: rate, Out: a.stdout, CPUProfile: cpuProfile,
			})
			return err
		},
	}
	pipelineCmd.Flags().StringVar(&corpus, "corpus", "testdata/telegram-news-ru/sample.jsonl", "JSONL corpus; posts repeat with distinct ids until --n")
	pipelineCmd.Flags().IntVar(&posts, "n", 50_000, "posts to push through")
	pipelineCmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write the run's pprof CPU profile to this file")
	pipelineCmd.Flags().IntVar(&rate, "rate", 0, "publish at about this many posts/s (0: all at once, so latency is mostly queueing)")

	var idx bench.IndexOptions
	indexCmd := &cobra.Command{
		Use:   "index",
		Short: "The index stage on the PostgreSQL backends: posts/s with the local embedder and with an 80 ms embedder emulation per worker count; second-pass embedder calls; peak RSS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			idx.DatabaseURL, idx.Out = cfg.Database.URL, a.stdout
			_, err = bench.Index(cmd.Context(), idx)
			return err
		},
	}
	indexCmd.Flags().StringVar(&idx.Corpus, "corpus", "testdata/telegram-news-ru/sample.jsonl", "JSONL corpus; posts repeat with distinct ids until --n")
	indexCmd.Flags().IntVar(&idx.N, "n", 5000, "posts to index per run")
	indexCmd.Flags().IntVar(&idx.Batch, "batch", 100, "posts per stage batch (and per embedder call)")
	indexCmd.Flags().IntVar(&idx.LocalWorkers, "local-workers", 4, "workers of the local-embedder run")
	indexCmd.Flags().IntSliceVar(&idx.Workers, "workers", []int{1, 2, 4, 8, 16}, "worker counts of the emulated-embedder runs")
	indexCmd.Flags().DurationVar(&idx.Latency, "latency", 80*time.Millisecond, "emulated embedder time per call")
	indexCmd.Flags().IntVar(&idx.Dim, "dim", 384, "vector size")

	var enrichSizes []int
	var enrichPages string
	var enrichHosts int
	var enrichLatency time.Duration
	enrichCmd := &cobra.Command{
		Use:   "enrich",
		Short: "The enrich stage against a local site with response latency: posts/s, pages/s, peak RSS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			_, err = bench.Enrich(cmd.Context(), bench.EnrichOptions{
				RedisURL: cfg.Redis.URL, DatabaseURL: cfg.Database.URL, Pages: enrichPages,
				Sizes: enrichSizes, Hosts: enrichHosts, Latency: enrichLatency, Out: a.stdout,
			})
			return err
		},
	}
	enrichCmd.Flags().IntSliceVar(&enrichSizes, "n", []int{1000, 4000}, "post counts (1-3 links each; several show whether memory stays flat)")
	enrichCmd.Flags().StringVar(&enrichPages, "pages", "crawl/testdata/pages", "directory of saved HTML pages the local site serves")
	enrichCmd.Flags().IntVar(&enrichHosts, "hosts", 200, "host names the local site answers to")
	enrichCmd.Flags().DurationVar(&enrichLatency, "latency", 50*time.Millisecond, "response latency of the local site")

	var searchSizes []int
	var searchCorpus, searchSet string
	var searchClients int
	var searchDuration time.Duration
	searchCmd := &cobra.Command{
		Use:   "search",
		Short: "Search at each size: vector backend p50/p99 and recall@10 vs exact scan, per-mode latency and QPS, RSS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			_, err = bench.Search(cmd.Context(), bench.SearchOptions{
				DatabaseURL: cfg.Database.URL, Corpus: searchCorpus, Set: searchSet, Sizes: searchSizes,
				Concurrency: searchClients, Duration: searchDuration, Out: a.stdout,
			})
			return err
		},
	}
	searchCmd.Flags().IntSliceVar(&searchSizes, "n", []int{10_000, 100_000}, "indexed posts (the corpus repeated under new ids)")
	searchCmd.Flags().StringVar(&searchCorpus, "corpus", "testdata/telegram-news-ru/sample.jsonl", "JSONL corpus")
	searchCmd.Flags().StringVar(&searchSet, "set", "testdata/search/judged.json", "judged query set whose queries are searched")
	searchCmd.Flags().IntVar(&searchClients, "clients", 4, "concurrent clients of the QPS measurement")
	searchCmd.Flags().DurationVar(&searchDuration, "duration", 5*time.Second, "QPS measurement time per mode")

	cmd.AddCommand(runner, persistCmd, pipelineCmd, enrichCmd, indexCmd, searchCmd, cleanupCmd)
	return cmd
}
