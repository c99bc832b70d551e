package enrich

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/bench/benchkit"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/crawl"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// EnrichOptions configures the enrich benchmark.
type EnrichOptions struct {
	RedisURL    string
	DatabaseURL string
	// Pages is a directory of saved HTML article pages served by the local
	// site (crawl/testdata/pages).
	Pages string
	// Sizes are the post counts of the runs (several show whether memory
	// stays flat).
	Sizes []int
	// Hosts is how many distinct host names the site answers to (each post
	// links to pages on different sites, as news posts do).
	Hosts int
	// Latency is the site's response delay.
	Latency time.Duration
	Out     io.Writer
}

// EnrichResult is one run.
type EnrichResult struct {
	Posts, Pages int
	Elapsed      time.Duration
	PeakRSSKiB   int64
}

// enrichRegistry is the benchmark's own registry: the real enrich stage,
// built around the crawler of the run (a resolver mapping the benchmark's
// host names to the local site).
func enrichRegistry(o Options) *pipeline.Registry {
	def := Definition()
	def.New = func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
		o.Metrics = deps.Metrics
		return NewStage(o)
	}
	return pipeline.MustRegistry(def)
}

// hostsResolver resolves every *.bench.test name to loopback: the local
// site answers to many host names, so per-host politeness applies as it
// would across many real sites.
type hostsResolver struct{}

func (hostsResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if strings.HasSuffix(host, ".bench.test") {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// Enrich measures the enrich stage — runner, crawler at its default
// concurrency and politeness, Redis cache, Postgres rows — against a local
// site that answers after Latency with saved article pages, and reports
// posts/s, pages/s and peak RSS per run.
func Enrich(ctx context.Context, opts EnrichOptions) ([]EnrichResult, error) {
	if opts.Hosts <= 0 {
		opts.Hosts = 200
	}
	var pages [][]byte
	entries, err := os.ReadDir(opts.Pages)
	if err != nil {
		return nil, fmt.Errorf("read pages: %w (run from the repository root or pass --pages)", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".html") {
			b, err := os.ReadFile(filepath.Join(opts.Pages, e.Name()))
			if err != nil {
				return nil, err
			}
			pages = append(pages, b)
		}
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("no .html pages in %s", opts.Pages)
	}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		select {
		case <-time.After(opts.Latency):
		case <-r.Context().Done():
			return
		}
		h := fnv.New32a()
		_, _ = io.WriteString(h, r.URL.Path)
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(pages[h.Sum32()%uint32(len(pages))])
	}))
	defer site.Close()
	port := site.Listener.Addr().(*net.TCPAddr).Port

	ropts, err := redis.ParseURL(opts.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	ropts.PoolSize = 64
	rdb := redis.NewClient(ropts)
	defer rdb.Close()

	fmt.Fprintf(opts.Out, "enrich benchmark: %d saved pages on a local site with %s latency behind %d host names, GOMAXPROCS %d\n",
		len(pages), opts.Latency, opts.Hosts, runtime.GOMAXPROCS(0))
	ecfg := DefaultConfig()
	fmt.Fprintf(opts.Out, "defaults: %d workers, crawl concurrency %d, %d per host, %s between requests to a host; SSRF guard off for the loopback site\n",
		ecfg.Workers, ecfg.Crawl.Concurrency, ecfg.Crawl.PerHostConcurrency, ecfg.Crawl.PerHostDelay)
	var results []EnrichResult
	for run, n := range opts.Sizes {
		r, err := enrichRun(ctx, opts, rdb, port, run, n)
		if err != nil {
			return results, err
		}
		results = append(results, r)
		fmt.Fprintf(opts.Out, "posts %d  pages %d  elapsed %s  posts/s %.0f  pages/s %.0f  peak RSS %.1f MiB\n",
			r.Posts, r.Pages, r.Elapsed.Round(time.Millisecond), float64(r.Posts)/r.Elapsed.Seconds(),
			float64(r.Pages)/r.Elapsed.Seconds(), float64(r.PeakRSSKiB)/1024)
	}
	return results, nil
}

func enrichRun(ctx context.Context, opts EnrichOptions, rdb *redis.Client, port, run, n int) (EnrichResult, error) {
	prefix := fmt.Sprintf("bench:enrich:%d:%d:", os.Getpid(), time.Now().UnixNano())
	defer benchkit.DeleteKeys(context.WithoutCancel(ctx), rdb, prefix)
	dbURL, dropSchema, err := benchkit.TempSchema(ctx, opts.DatabaseURL)
	if err != nil {
		return EnrichResult{}, err
	}
	defer dropSchema()
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		return EnrichResult{}, err
	}
	cfg := config.Default()
	cfg.Redis.URL, cfg.Redis.KeyPrefix, cfg.Database.URL = opts.RedisURL, prefix, dbURL
	cfg.Runner.Block = 50 * time.Millisecond
	res := pipeline.NewResources()
	defer res.Close()
	pool, err := postgres.Shared(ctx, res, cfg.Database)
	if err != nil {
		return EnrichResult{}, err
	}

	ecfg := DefaultConfig()
	ccfg := ecfg.Crawl
	ccfg.AllowPrivateAddresses = true // the site is on loopback
	logger := slog.New(slog.DiscardHandler)
	builtin, err := crawl.NewBuiltin(ccfg, crawl.WithResolver(hostsResolver{}), crawl.WithLogger(logger))
	if err != nil {
		return EnrichResult{}, err
	}
	defer builtin.Close()
	registry := enrichRegistry(Options{
		Config:      *ecfg,
		Crawler:     crawl.NewCache(builtin, rdb, prefix, ccfg.CacheTTL, ccfg.ErrorCacheTTL, logger),
		Store:       postgres.NewRepository(pool),
		Output:      cfg.Streams.Enriched,
		MaxAttempts: cfg.Runner.MaxAttempts,
		Logger:      logger,
	})
	runner, err := pipeline.NewRunner(ctx, pipeline.RunnerOptions{
		Config: &cfg, Redis: rdb, Registry: registry, Metrics: prometheus.NewRegistry(), Resources: res,
		Stages: []string{Name}, Logger: logger,
		Pools: map[string]config.Pool{Name: ecfg.Pool},
	})
	if err != nil {
		return EnrichResult{}, err
	}

	// Posts with 1 to 3 links each, every link a distinct page (no cache
	// hits), spread over the host names.
	keys := pipeline.NewKeys(&cfg)
	pipe := rdb.Pipeline()
	totalPages := 0
	tags := []string{"бенчмарк"}
	for i := range n {
		urls := make([]string, 1+i%3)
		for j := range urls {
			host := (i*3 + j) % opts.Hosts
			urls[j] = fmt.Sprintf("http://h%d.bench.test:%d/r%d/article/%d-%d", host, port, run, i, j)
		}
		totalPages += len(urls)
		ev := &events.PostTagged{
			Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: fmt.Sprintf("bench-%d", i), OccurredAt: time.Now()},
			PostID:   fmt.Sprintf("bench-%d-%d", run, i), ChannelID: "bench", Text: "Новость со ссылками", URLs: urls,
			PostedAt: time.Now(), Tags: tags, TagsHash: events.TagsHash(tags), Trigger: events.TriggerInitial,
		}
		values, err := events.Encode(ev)
		if err != nil {
			return EnrichResult{}, err
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: keys.Stream(cfg.Streams.Tagged), Values: values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return EnrichResult{}, fmt.Errorf("publish: %w", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	benchkit.ResetPeakRSS()
	start := time.Now()
	go func() { done <- runner.Run(runCtx) }()
	defer func() { stop(); <-done }()
	for {
		l, err := rdb.XLen(ctx, keys.Stream(cfg.Streams.Enriched)).Result()
		if err != nil {
			return EnrichResult{}, err
		}
		if l >= int64(n) {
			break
		}
		select {
		case <-ctx.Done():
			return EnrichResult{}, ctx.Err()
		case err := <-done:
			return EnrichResult{}, fmt.Errorf("runner stopped early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	var failed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM post_enrichment WHERE kind = 'crawl' AND status <> 'ok'`).Scan(&failed); err != nil {
		return EnrichResult{}, err
	}
	if failed > 0 {
		return EnrichResult{}, errors.New("some crawls failed; the figures would not be comparable")
	}
	return EnrichResult{Posts: n, Pages: totalPages, Elapsed: elapsed, PeakRSSKiB: benchkit.PeakRSS()}, nil
}

// BenchCommand is `assistant bench enrich`: the stage against a local site
// with response latency (Enrich).
func BenchCommand(env pipeline.CommandEnv) *cobra.Command {
	var sizes []int
	var pages string
	var hosts int
	var latency time.Duration
	cmd := &cobra.Command{
		Use:   Name,
		Short: "The enrich stage against a local site with response latency: posts/s, pages/s, peak RSS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := env.Config()
			if err != nil {
				return err
			}
			_, err = Enrich(cmd.Context(), EnrichOptions{
				RedisURL: cfg.Redis.URL, DatabaseURL: cfg.Database.URL, Pages: pages,
				Sizes: sizes, Hosts: hosts, Latency: latency, Out: env.Stdout,
			})
			return err
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&sizes, "n", []int{1000, 4000}, "post counts (1-3 links each; several show whether memory stays flat)")
	f.StringVar(&pages, "pages", "crawl/testdata/pages", "directory of saved HTML pages the local site serves")
	f.IntVar(&hosts, "hosts", 200, "host names the local site answers to")
	f.DurationVar(&latency, "latency", 50*time.Millisecond, "response latency of the local site")
	return cmd
}
