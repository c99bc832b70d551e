package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/bench/benchkit"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// IndexOptions configures Index.
type IndexOptions struct {
	DatabaseURL string
	// Corpus is a JSONL corpus; posts repeat with distinct ids until N.
	Corpus string
	N      int
	// Batch is the posts per Handle call (the runner's batch).
	Batch int
	// LocalWorkers is the concurrency of the local-embedder run.
	LocalWorkers int
	// Workers are the concurrencies of the emulated-embedder runs.
	Workers []int
	// Latency is the emulated embedder's time per call (80ms).
	Latency time.Duration
	// Dim is the vector size of both embedders.
	Dim int
	Out io.Writer
}

// IndexRun is one measured configuration.
type IndexRun struct {
	Embedder    string
	Workers     int
	Posts       int
	Elapsed     time.Duration
	PostsPerSec float64
	// EmbedCalls counts embedder calls of the first pass; SecondPassCalls
	// those of a second pass over the same posts (must be 0).
	EmbedCalls, SecondPassCalls int64
	PeakRSSKiB                  int64
}

// countingEmbedder counts calls; with a latency it is the emulation of a
// remote provider (sleep per call, cheap deterministic vectors).
type countingEmbedder struct {
	inner   ai.Embedder // nil: emulation
	latency time.Duration
	dim     int
	calls   atomic.Int64
}

func (c *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.calls.Add(1)
	if c.inner != nil {
		return c.inner.Embed(ctx, texts)
	}
	t := time.NewTimer(c.latency)
	select {
	case <-ctx.Done():
		t.Stop()
		return nil, ctx.Err()
	case <-t.C:
	}
	out := make([][]float32, len(texts))
	for i, text := range texts {
		out[i] = ai.HashVector(text, c.dim)
	}
	return out, nil
}

func (c *countingEmbedder) Dimension() int { return c.dim }
func (c *countingEmbedder) Model() string {
	if c.inner != nil {
		return c.inner.Model()
	}
	return "emulated-80ms"
}

// Index measures the index stage on the PostgreSQL backends: posts/s with
// the local embedder, then with an embedder emulation answering in
// opts.Latency per call at each concurrency of opts.Workers, and for each
// run the embedder calls of a second pass over the same posts (0 expected:
// unchanged content is not embedded again) and the peak RSS. Each run has
// its own temporary schema, dropped afterwards.
func Index(ctx context.Context, opts IndexOptions) ([]IndexRun, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.N <= 0 || opts.Batch <= 0 || opts.Dim <= 0 {
		return nil, errors.New("bench index: n, batch and dim must be positive")
	}
	parsed, err := benchkit.LoadCorpus(ctx, opts.Corpus, opts.N)
	if err != nil {
		return nil, err
	}
	evs := make([]*events.PostEnriched, len(parsed))
	for i, p := range parsed {
		evs[i] = enrichedOf(p)
	}
	type cfg struct {
		name    string
		workers int
		emb     *countingEmbedder
	}
	runs := []cfg{{"local", opts.LocalWorkers, &countingEmbedder{inner: local.NewEmbedder(opts.Dim), dim: opts.Dim}}}
	for _, w := range opts.Workers {
		runs = append(runs, cfg{fmt.Sprintf("emulated %s", opts.Latency), w, &countingEmbedder{latency: opts.Latency, dim: opts.Dim}})
	}
	fmt.Fprintf(opts.Out, "index stage, PostgreSQL vector + graph backends, %d posts, %d posts per batch, %d-d vectors\n", len(evs), opts.Batch, opts.Dim)
	fmt.Fprintf(opts.Out, "%-16s %7s %9s %10s %11s %13s %9s\n", "embedder", "workers", "posts/s", "elapsed", "embed calls", "2nd-pass calls", "peak RSS")
	var out []IndexRun
	for _, r := range runs {
		res, err := indexRun(ctx, opts, evs, r.name, r.workers, r.emb)
		if err != nil {
			return out, err
		}
		out = append(out, res)
		fmt.Fprintf(opts.Out, "%-16s %7d %9.0f %10s %11d %13d %7.1f MiB\n", res.Embedder, res.Workers, res.PostsPerSec,
			res.Elapsed.Round(time.Millisecond), res.EmbedCalls, res.SecondPassCalls, float64(res.PeakRSSKiB)/1024)
	}
	return out, nil
}

func indexRun(ctx context.Context, opts IndexOptions, evs []*events.PostEnriched, name string, workers int, emb *countingEmbedder) (IndexRun, error) {
	dbURL, drop, err := benchkit.TempSchema(ctx, opts.DatabaseURL)
	if err != nil {
		return IndexRun{}, err
	}
	defer drop()
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		return IndexRun{}, err
	}
	pool, err := postgres.Open(ctx, config.Database{URL: dbURL, MaxConns: max(4, workers+2)})
	if err != nil {
		return IndexRun{}, err
	}
	defer pool.Close()
	vec, err := postgres.NewVectorStore(ctx, pool)
	if err != nil {
		return IndexRun{}, err
	}
	st, err := New(ctx, Options{
		Pool: pool, Vectors: vec, Graph: postgres.NewGraphStore(pool), Embedder: emb, Provider: "bench",
		EmbedBatch: opts.Batch, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return IndexRun{}, err
	}
	pass := func() (time.Duration, error) {
		batches := make(chan []*pipeline.Message, workers)
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					if err := st.Handle(ctx, b); err != nil {
						once.Do(func() { firstErr = err })
					}
				}
			}()
		}
		msgs, err := messagesOf(evs)
		if err != nil {
			return 0, err
		}
		start := time.Now()
		for i := 0; i < len(msgs); i += opts.Batch {
			batches <- msgs[i:min(i+opts.Batch, len(msgs))]
		}
		close(batches)
		wg.Wait()
		return time.Since(start), firstErr
	}
	benchkit.ResetPeakRSS()
	elapsed, err := pass()
	if err != nil {
		return IndexRun{}, fmt.Errorf("bench index (%s): %w", name, err)
	}
	calls := emb.calls.Load()
	if _, err := pass(); err != nil {
		return IndexRun{}, fmt.Errorf("bench index (%s, second pass): %w", name, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM vectors`).Scan(&n); err != nil {
		return IndexRun{}, err
	}
	if n != len(evs) {
		return IndexRun{}, fmt.Errorf("bench index (%s): %d vectors for %d posts", name, n, len(evs))
	}
	return IndexRun{
		Embedder: name, Workers: workers, Posts: len(evs), Elapsed: elapsed,
		PostsPerSec: float64(len(evs)) / elapsed.Seconds(),
		EmbedCalls:  calls, SecondPassCalls: emb.calls.Load() - calls, PeakRSSKiB: benchkit.PeakRSS(),
	}, nil
}

func messagesOf(evs []*events.PostEnriched) ([]*pipeline.Message, error) {
	msgs := make([]*pipeline.Message, len(evs))
	for i, ev := range evs {
		values, err := events.Encode(ev)
		if err != nil {
			return nil, err
		}
		msgs[i] = &pipeline.Message{Stream: "posts.enriched", ID: fmt.Sprintf("1-%d", i), Values: values, Attempt: 1}
	}
	return msgs, nil
}

// enrichedOf makes the posts.enriched event of a corpus post: its first
// three long words as tags, no crawl.
func enrichedOf(p *events.PostParsed) *events.PostEnriched {
	var tags []string
	for _, w := range strings.Fields(p.Text) {
		w = strings.Trim(w, ".,:;!?«»\"'()[]—")
		if utf8.RuneCountInString(w) >= 6 && len(tags) < 3 && !slices.Contains(tags, w) {
			tags = append(tags, w)
		}
	}
	return &events.PostEnriched{
		Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: p.TraceID, OccurredAt: time.Now()},
		PostID:   p.PostID, ChannelID: p.ChannelID, TenantID: p.TenantID, Text: p.Text,
		Tags: tags, TagsHash: events.TagsHash(tags), PostedAt: p.PostedAt,
		URLs: []string{}, Crawl: []events.CrawlResult{},
	}
}

// BenchCommand is `assistant bench index`: the stage on the PostgreSQL
// backends with the local embedder and an emulated slow one (Index).
func BenchCommand(env pipeline.CommandEnv) *cobra.Command {
	var idx IndexOptions
	cmd := &cobra.Command{
		Use:   Name,
		Short: "The index stage on the PostgreSQL backends: posts/s with the local embedder and with an 80 ms embedder emulation per worker count; second-pass embedder calls; peak RSS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := env.Config()
			if err != nil {
				return err
			}
			idx.DatabaseURL, idx.Out = cfg.Database.URL, env.Stdout
			_, err = Index(cmd.Context(), idx)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&idx.Corpus, "corpus", "testdata/telegram-news-ru/sample.jsonl", "JSONL corpus; posts repeat with distinct ids until --n")
	f.IntVar(&idx.N, "n", 5000, "posts to index per run")
	f.IntVar(&idx.Batch, "batch", 100, "posts per stage batch (and per embedder call)")
	f.IntVar(&idx.LocalWorkers, "local-workers", 4, "workers of the local-embedder run")
	f.IntSliceVar(&idx.Workers, "workers", []int{1, 2, 4, 8, 16}, "worker counts of the emulated-embedder runs")
	f.DurationVar(&idx.Latency, "latency", 80*time.Millisecond, "emulated embedder time per call")
	f.IntVar(&idx.Dim, "dim", 384, "vector size")
	return cmd
}
