package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/bench/benchkit"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// PipelineOptions configures the end-to-end benchmark.
type PipelineOptions struct {
	RedisURL    string
	DatabaseURL string
	// Corpus is a JSONL file in the corpus format; posts are repeated (with
	// distinct message ids) until N are published.
	Corpus string
	N      int
	// Rate paces publishing at about this many posts per second; 0 publishes
	// everything at once (a burst: latency is then mostly queueing).
	Rate int
	Out  io.Writer
	// CPUProfile, when set, is where the run's pprof CPU profile is written.
	CPUProfile string
	// MemProfile, when set, is where the pprof allocation profile is
	// written: allocations during the run (its alloc_space and
	// alloc_objects minus those before the first post went in).
	MemProfile string
	// Stages is the registry holding the stages measured (the binary's):
	// the tag and persist stages run with their defaults.
	Stages *pipeline.Registry
}

// pipelineStages are the stages the pipeline benchmark runs.
var pipelineStages = []string{"tag", "persist"}

// PipelineResult is one end-to-end measurement.
type PipelineResult struct {
	Posts      int
	Elapsed    time.Duration // first publish to the last tags row written
	P50, P99   time.Duration // per post: publish to its tags row written
	PeakRSSKiB int64
	// CPU per post: this process for the whole run, the local tagger alone
	// over the same posts (as the stage builds it), and the PostgreSQL and
	// Redis server processes during the run (shared servers: other clients'
	// work is included).
	ProcessCPU, TaggerCPU, PostgresCPU, RedisCPU time.Duration
}

// Pipeline publishes N posts to posts.parsed while the tag (local tagger)
// and persist stages run in this process, waits until every post has its
// tags row, and prints posts/s, end-to-end latency percentiles and peak RSS.
// It works in a fresh key prefix and a temporary schema, both removed after.
func Pipeline(ctx context.Context, opts PipelineOptions) (PipelineResult, error) {
	posts, err := loadCorpus(ctx, opts.Corpus, opts.N)
	if err != nil {
		return PipelineResult{}, err
	}
	ropts, err := redis.ParseURL(opts.RedisURL)
	if err != nil {
		return PipelineResult{}, fmt.Errorf("parse redis url: %w", err)
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	prefix := fmt.Sprintf("bench:pipeline:%d:%d:", os.Getpid(), time.Now().UnixNano())
	defer cleanup(context.WithoutCancel(ctx), rdb, prefix)

	dbURL, dropSchema, err := tempSchema(ctx, opts.DatabaseURL)
	if err != nil {
		return PipelineResult{}, err
	}
	defer dropSchema()
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		return PipelineResult{}, err
	}

	stages := opts.Stages
	for _, name := range pipelineStages {
		if stages == nil {
			return PipelineResult{}, errors.New("bench pipeline: no stage registry")
		}
		if _, ok := stages.Lookup(name); !ok {
			return PipelineResult{}, fmt.Errorf("bench pipeline: the registry has no %s stage", name)
		}
	}
	cfg := stages.DefaultConfig()
	cfg.Redis.URL, cfg.Redis.KeyPrefix, cfg.Database.URL = opts.RedisURL, prefix, dbURL
	cfg.AI.Tagger, cfg.AI.Embedder = "local", "local"
	cfg.Runner.Block = 50 * time.Millisecond
	res := pipeline.NewResources()
	defer res.Close()
	runner, err := pipeline.NewRunner(ctx, pipeline.RunnerOptions{
		Config: &cfg, Redis: rdb, Registry: stages, Metrics: prometheus.NewRegistry(), Resources: res,
		Stages: pipelineStages, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return PipelineResult{}, err
	}
	pool, err := postgres.Shared(ctx, res, cfg.Database)
	if err != nil {
		return PipelineResult{}, err
	}

	// The tagger alone, over the same posts, in the same process and run:
	// the yardstick of the pipeline's CPU per post.
	taggerCPU, err := taggerAlone(ctx, rdb, prefix+"tagger-alone:", posts, cfg.AI.Local.ChannelStats)
	if err != nil {
		return PipelineResult{}, err
	}
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err != nil {
			return PipelineResult{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return PipelineResult{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if opts.MemProfile != "" {
		// The profile is cumulative: its base (what the setup and the
		// tagger-alone run allocated) is subtracted with pprof -base.
		base, err := writeHeapProfile(opts.MemProfile + ".base")
		if err != nil {
			return PipelineResult{}, err
		}
		defer fmt.Fprintf(opts.Out, "allocation profile of the run: %s (go tool pprof -sample_index=alloc_space -base %s %s)\n", opts.MemProfile, base, opts.MemProfile)
	}
	pgBefore, redisBefore, cpuBefore := serverCPU("postgres"), serverCPU("redis-server"), processCPU()

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	resetPeakRSS()
	go func() { done <- runner.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// Publish in batches while the stages run, remembering when each post
	// went in. With a rate, batches of a 50th of it go out every 20 ms.
	published := make(map[string]time.Time, len(posts))
	start := time.Now()
	keys := pipeline.NewKeys(&cfg)
	batchSize, tick := 500, time.Duration(0)
	if opts.Rate > 0 {
		batchSize, tick = max(1, opts.Rate/50), 20*time.Millisecond
	}
	for i := 0; i < len(posts); i += batchSize {
		if tick > 0 {
			sleepUntil(ctx, start.Add(time.Duration(i/batchSize)*tick))
		}
		batch := posts[i:min(len(posts), i+batchSize)]
		pipe := rdb.Pipeline()
		for _, ev := range batch {
			values, err := events.Encode(ev)
			if err != nil {
				return PipelineResult{}, err
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.Stream(cfg.Streams.Parsed), Values: values})
		}
		now := time.Now()
		if _, err := pipe.Exec(ctx); err != nil {
			return PipelineResult{}, fmt.Errorf("publish: %w", err)
		}
		for _, ev := range batch {
			published[ev.PostID] = now
		}
	}

	// Drained: every post has its tags row.
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM post_enrichment WHERE kind = 'tags'`).Scan(&n); err != nil {
			return PipelineResult{}, fmt.Errorf("count tags rows: %w", err)
		}
		if n >= len(posts) {
			break
		}
		select {
		case <-ctx.Done():
			return PipelineResult{}, ctx.Err()
		case err := <-done:
			return PipelineResult{}, fmt.Errorf("runner stopped early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	n := time.Duration(len(posts))
	result := PipelineResult{Posts: len(posts), PeakRSSKiB: peakRSS(),
		ProcessCPU:  (processCPU() - cpuBefore) / n,
		PostgresCPU: cpuDelta(pgBefore, serverCPU("postgres")) / n,
		RedisCPU:    cpuDelta(redisBefore, serverCPU("redis-server")) / n,
		TaggerCPU:   taggerCPU / n,
	}
	if opts.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if opts.MemProfile != "" {
		if _, err := writeHeapProfile(opts.MemProfile); err != nil {
			return PipelineResult{}, err
		}
	}

	rows, err := pool.Query(ctx, `SELECT post_id, created_at FROM post_enrichment WHERE kind = 'tags'`)
	if err != nil {
		return PipelineResult{}, fmt.Errorf("read tags rows: %w", err)
	}
	var last time.Time
	latencies := make([]time.Duration, 0, len(posts))
	for rows.Next() {
		var id string
		var written time.Time
		if err := rows.Scan(&id, &written); err != nil {
			return PipelineResult{}, err
		}
		if t, ok := published[id]; ok {
			latencies = append(latencies, max(0, written.Sub(t)))
		}
		if written.After(last) {
			last = written
		}
	}
	if err := rows.Err(); err != nil {
		return PipelineResult{}, err
	}
	slices.Sort(latencies)
	result.Elapsed = last.Sub(start)
	result.P50 = latencies[len(latencies)/2]
	result.P99 = latencies[len(latencies)*99/100]
	pacing := "all at once"
	if opts.Rate > 0 {
		pacing = fmt.Sprintf("paced at %d posts/s", opts.Rate)
	}
	fmt.Fprintf(opts.Out, "pipeline benchmark: ingest (%s) -> tag (local) -> persist, in one process, GOMAXPROCS %d\n", pacing, runtime.GOMAXPROCS(0))
	fmt.Fprintf(opts.Out, "posts %d  elapsed %s  posts/s %.0f  latency p50 %s  p99 %s  peak RSS %.1f MiB\n",
		result.Posts, result.Elapsed.Round(time.Millisecond), float64(result.Posts)/result.Elapsed.Seconds(),
		result.P50.Round(time.Millisecond), result.P99.Round(time.Millisecond), float64(result.PeakRSSKiB)/1024)
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
	fmt.Fprintf(opts.Out, "CPU per post: this process %s (tagger alone %s, ratio %.2f; goal <= 1.30)  PostgreSQL server %s  Redis server %s\n",
		us(result.ProcessCPU), us(result.TaggerCPU), float64(result.ProcessCPU)/float64(max(result.TaggerCPU, 1)),
		us(result.PostgresCPU), us(result.RedisCPU))
	if opts.CPUProfile != "" {
		fmt.Fprintf(opts.Out, "CPU profile of the run: %s (go tool pprof -top %s)\n", opts.CPUProfile, opts.CPUProfile)
	}
	return result, nil
}

// taggerAlone runs the local tagger as the tag stage builds it (with the
// per-channel statistics in Redis when channelStats) over posts, one after
// the other, and returns the CPU time this process spent.
func taggerAlone(ctx context.Context, rdb *redis.Client, prefix string, posts []*events.PostParsed, channelStats bool) (time.Duration, error) {
	opt := local.WithoutChannelStats()
	if channelStats {
		opt = local.WithDocFreq(local.NewRedisDocFreq(rdb, prefix, 0))
	}
	defer cleanup(context.WithoutCancel(ctx), rdb, prefix)
	tagger := local.NewTagger(opt)
	start := processCPU()
	for _, p := range posts {
		if _, err := tagger.Tag(ctx, ai.TagRequest{Text: p.Text, MaxTags: 5, Channel: p.ChannelID}); err != nil {
			return 0, fmt.Errorf("tagger alone: %w", err)
		}
	}
	return processCPU() - start, nil
}

// writeHeapProfile writes the heap profile (its allocation samples are
// cumulative since the start) to path and returns path.
func writeHeapProfile(path string) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("memory profile: %w", err)
	}
	defer f.Close()
	runtime.GC() // the profile's in-use figures are as of the last GC
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		return "", fmt.Errorf("memory profile: %w", err)
	}
	return path, f.Close()
}

func sleepUntil(ctx context.Context, t time.Time) { benchkit.SleepUntil(ctx, t) }

func loadCorpus(ctx context.Context, path string, n int) ([]*events.PostParsed, error) {
	return benchkit.LoadCorpus(ctx, path, n)
}

func tempSchema(ctx context.Context, dbURL string) (string, func(), error) {
	return benchkit.TempSchema(ctx, dbURL)
}
