package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/bench"
)

// benchCommand groups the throughput benchmarks. Each works in its own key
// prefix and temporary schema on the configured Redis and PostgreSQL and
// removes them afterwards. The runner, the pipeline and search are measured
// here; a stage's own benchmark (`assistant bench <stage>`) comes with its
// Definition and is mounted by mountStageCommands.
func (a *app) benchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput: the runner, the whole pipeline, search, and each stage that brings a benchmark",
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

	var corpus, cpuProfile, memProfile string
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
				Corpus: corpus, N: posts, Rate: rate, Out: a.stdout, CPUProfile: cpuProfile, MemProfile: memProfile,
				Stages: a.stages,
			})
			return err
		},
	}
	pipelineCmd.Flags().StringVar(&corpus, "corpus", "testdata/telegram-news-ru/sample.jsonl", "JSONL corpus; posts repeat with distinct ids until --n")
	pipelineCmd.Flags().IntVar(&posts, "n", 50_000, "posts to push through")
	pipelineCmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write the run's pprof CPU profile to this file")
	pipelineCmd.Flags().StringVar(&memProfile, "memprofile", "", "write the pprof allocation profile of the run (allocations since the posts went in) to this file")
	pipelineCmd.Flags().IntVar(&rate, "rate", 0, "publish at about this many posts/s (0: all at once, so latency is mostly queueing)")

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

	cmd.AddCommand(runner, pipelineCmd, searchCmd)
	return cmd
}
