// Package bench holds the throughput benchmarks behind `assistant bench`.
//
// runner.go measures the runner's own overhead: a no-op stage moving N
// entries between two streams, next to a hand-written go-redis loop doing the
// same pipelined XREADGROUP + XADD + XACK, in the same process and run, so
// that the ratio between the two is meaningful on a shared, noisy machine.
//
// The "bench-noop" stage lives in a registry of its own (NoopRegistry), never
// in the production one.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/bench/benchkit"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
)

const stageName = "bench-noop"

// noop forwards each entry's values unchanged to the output stream.
type noop struct{ out string }

func (n noop) Handle(_ context.Context, batch []*pipeline.Message) error {
	for _, m := range batch {
		m.Forward(n.out)
	}
	return nil
}

// NoopRegistry is the registry of the runner benchmark: the no-op stage alone.
func NoopRegistry() *pipeline.Registry {
	return pipeline.MustRegistry(pipeline.Definition{
		Name:    stageName,
		Input:   func(s config.Streams) string { return s.Parsed },
		Outputs: func(s config.Streams) []string { return []string{s.Tagged} },
		New: func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
			return noop{out: deps.Config.Streams.Tagged}, nil
		},
	})
}

// Result is one measured run.
type Result struct {
	Name       string
	Entries    int
	Elapsed    time.Duration
	PeakRSSKiB int64 // peak resident set size during the run (VmHWM), 0 if unknown
}

// PerSecond is the throughput of the run.
func (r Result) PerSecond() float64 { return float64(r.Entries) / r.Elapsed.Seconds() }

// RunnerOptions configures the runner benchmark.
type RunnerOptions struct {
	RedisURL  string
	Sizes     []int // entry counts, e.g. 50k and 200k, to show memory staying flat
	Workers   int
	BatchSize int
	Payload   int // bytes of text per entry
	// Partitions lists the streams.partitions the runner is measured with,
	// one row each (nil: 1). On one Redis the partitions cost no extra
	// round trip; the rows show it.
	Partitions []int
	Out        io.Writer
}

// Runner measures the runner against the raw loop for each size and prints
// a table: entries/s of both, their ratio, and peak RSS.
func Runner(ctx context.Context, opts RunnerOptions) error {
	ropts, err := redis.ParseURL(opts.RedisURL)
	if err != nil {
		return fmt.Errorf("parse redis url: %w", err)
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", opts.RedisURL, err)
	}
	fmt.Fprintf(opts.Out, "runner benchmark: no-op stage vs raw go-redis loop (XREADGROUP + pipelined XADD + XACK), %d workers, batch %d, %d-byte entries, GOMAXPROCS %d\n",
		opts.Workers, opts.BatchSize, opts.Payload, runtime.GOMAXPROCS(0))
	parts := opts.Partitions
	if len(parts) == 0 {
		parts = []int{1}
	}
	fmt.Fprintf(opts.Out, "%10s  %5s  %14s  %14s  %6s  %14s  %14s\n", "entries", "parts", "runner/s", "raw/s", "ratio", "runner RSS MiB", "raw RSS MiB")
	var summary []string
	for _, n := range opts.Sizes {
		prefix := fmt.Sprintf("bench:%d:%d:", os.Getpid(), time.Now().UnixNano())
		raw, err := runRaw(ctx, rdb, prefix+"raw:", n, opts)
		cleanup(ctx, rdb, prefix)
		if err != nil {
			return err
		}
		var first Result
		for i, p := range parts {
			run, err := runRunner(ctx, rdb, prefix+"runner:", n, p, opts)
			cleanup(ctx, rdb, prefix)
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.Out, "%10d  %5d  %14.0f  %14.0f  %6.2f  %14.1f  %14.1f\n",
				n, p, run.PerSecond(), raw.PerSecond(), run.PerSecond()/raw.PerSecond(),
				float64(run.PeakRSSKiB)/1024, float64(raw.PeakRSSKiB)/1024)
			if i == 0 {
				first = run
			} else {
				summary = append(summary, fmt.Sprintf("%d entries: %d partitions / %d = %.2f", n, p, parts[0], run.PerSecond()/first.PerSecond()))
			}
		}
	}
	for _, s := range summary {
		fmt.Fprintln(opts.Out, s)
	}
	return nil
}

// fill adds n entries of post ids 0..n-1; streamOf names the key of each
// post id (its partition's).
func fill(ctx context.Context, rdb *redis.Client, streamOf func(postID string) string, n, payload int) error {
	text := strings.Repeat("ж", payload/2)
	const chunk = 1000
	for done := 0; done < n; done += chunk {
		pipe := rdb.Pipeline()
		for i := done; i < min(n, done+chunk); i++ {
			id := strconv.Itoa(i)
			values, err := events.Encode(&events.PostDeleted{PostID: id, ChannelID: text, Reason: "admin"})
			if err != nil {
				return err
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: streamOf(id), Values: values})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("fill %s: %w", streamOf("0"), err)
		}
	}
	return nil
}

func cleanup(ctx context.Context, rdb *redis.Client, prefix string) {
	benchkit.DeleteKeys(ctx, rdb, prefix)
}

// runRaw is the baseline: one goroutine, the same Redis work, no runner.
func runRaw(ctx context.Context, rdb *redis.Client, prefix string, n int, opts RunnerOptions) (Result, error) {
	in, out := prefix+"in", prefix+"out"
	if err := fill(ctx, rdb, func(string) string { return in }, n, opts.Payload); err != nil {
		return Result{}, err
	}
	if err := rdb.XGroupCreateMkStream(ctx, in, "raw", "0").Err(); err != nil {
		return Result{}, err
	}
	resetPeakRSS()
	start := time.Now()
	for moved := 0; moved < n; {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: "raw", Consumer: "raw-0", Streams: []string{in, ">"}, Count: int64(opts.BatchSize), Block: time.Second,
		}).Result()
		if err != nil {
			return Result{}, fmt.Errorf("raw loop read: %w", err)
		}
		msgs := res[0].Messages
		ids := make([]string, len(msgs))
		pipe := rdb.TxPipeline()
		for i, m := range msgs {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: out, Values: m.Values})
			ids[i] = m.ID
		}
		pipe.XAck(ctx, in, "raw", ids...)
		if _, err := pipe.Exec(ctx); err != nil {
			return Result{}, fmt.Errorf("raw loop write: %w", err)
		}
		moved += len(msgs)
	}
	return Result{Name: "raw", Entries: n, Elapsed: time.Since(start), PeakRSSKiB: peakRSS()}, nil
}

func runRunner(ctx context.Context, rdb *redis.Client, prefix string, n, partitions int, opts RunnerOptions) (Result, error) {
	cfg := config.Default()
	cfg.Redis.URL = opts.RedisURL
	cfg.Redis.KeyPrefix = prefix
	cfg.Runner.Block = 100 * time.Millisecond
	cfg.Streams.Partitions = partitions
	keys := pipeline.NewKeys(&cfg)
	streamOf := func(postID string) string { return keys.PartStream(keys.PartitionOf(postID), cfg.Streams.Parsed) }
	if err := fill(ctx, rdb, streamOf, n, opts.Payload); err != nil {
		return Result{}, err
	}
	outs := keys.StreamKeys(cfg.Streams.Tagged)
	r, err := pipeline.NewRunner(ctx, pipeline.RunnerOptions{
		Config: &cfg, Redis: rdb, Registry: NoopRegistry(), Metrics: prometheus.NewRegistry(), Stages: []string{stageName},
		Pools:  map[string]config.Pool{stageName: {Enabled: true, Workers: opts.Workers, BatchSize: opts.BatchSize, MaxInflight: 4 * opts.BatchSize}},
		Logger: discardLogger(),
	})
	if err != nil {
		return Result{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	resetPeakRSS()
	start := time.Now()
	go func() { done <- r.Run(runCtx) }()
	for {
		var l int64
		for _, out := range outs {
			m, err := rdb.XLen(ctx, out).Result()
			if err != nil {
				cancel()
				return Result{}, err
			}
			l += m
		}
		if l >= int64(n) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	rss := peakRSS()
	cancel()
	if err := <-done; err != nil {
		return Result{}, fmt.Errorf("runner: %w", err)
	}
	return Result{Name: "runner", Entries: n, Elapsed: elapsed, PeakRSSKiB: rss}, nil
}

func resetPeakRSS()                    { benchkit.ResetPeakRSS() }
func peakRSS() int64                   { return benchkit.PeakRSS() }
func procStatusKiB(field string) int64 { return benchkit.ProcStatusKiB(field) }
func discardLogger() *slog.Logger      { return benchkit.DiscardLogger() }
