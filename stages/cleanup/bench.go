package cleanup

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/bench/benchkit"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// CleanupOptions configure the cleanup benchmark.
type CleanupOptions struct {
	RedisURL, DatabaseURL string
	// N is how many expired posts to sweep (each in posts, post_enrichment,
	// indexing_status, the embedded vector and graph tables, and a Redis
	// dedup mark).
	N int
	// Batch is stages.cleanup.sweep_batch.
	Batch int
	// IngestBatch is the posts per write of the concurrent ingest (the
	// persist stage's UPSERT).
	IngestBatch int
	Out         io.Writer
}

// CleanupResult is what the benchmark measured.
type CleanupResult struct {
	Swept       int
	SweepTook   time.Duration
	Baseline    float64 // ingest posts/s without a sweep
	DuringSweep float64 // ingest posts/s while the sweep runs
}

// Cleanup seeds N expired posts into every embedded store, then measures the
// ingest write path (persist's multi-row UPSERT, in a loop) alone for a
// while, and again while one sweep deletes the N posts: rows deleted per
// second, and the ingest throughput kept during the sweep. Everything lives
// in a temporary schema and key prefix, removed afterwards.
func Cleanup(ctx context.Context, opts CleanupOptions) (CleanupResult, error) {
	var res CleanupResult
	if opts.N <= 0 {
		opts.N = 100_000
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultConfig().SweepBatch
	}
	if opts.IngestBatch <= 0 {
		opts.IngestBatch = 100
	}
	dbURL, drop, err := benchkit.TempSchema(ctx, opts.DatabaseURL)
	if err != nil {
		return res, err
	}
	defer drop()
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		return res, err
	}
	pool, err := postgres.Open(ctx, config.Database{URL: dbURL, MaxConns: 8})
	if err != nil {
		return res, err
	}
	defer pool.Close()
	ropts, err := redis.ParseURL(opts.RedisURL)
	if err != nil {
		return res, err
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	prefix := fmt.Sprintf("bench-cleanup-%d:", time.Now().UnixNano())
	defer benchkit.DeleteKeys(context.WithoutCancel(ctx), rdb, prefix)

	fmt.Fprintf(opts.Out, "seeding %d expired posts into every embedded store...\n", opts.N)
	if err := seedExpired(ctx, pool, rdb, prefix, opts.N); err != nil {
		return res, err
	}
	vec, err := postgres.NewVectorStore(ctx, pool)
	if err != nil {
		return res, err
	}
	c, err := NewCleaner(Options{Pool: pool, Vectors: vec, Graph: postgres.NewGraphStore(pool),
		Redis: rdb, Prefix: prefix, Config: Config{SweepBatch: opts.Batch}, Logger: benchkit.DiscardLogger()})
	if err != nil {
		return res, err
	}
	repo := postgres.NewRepository(pool)
	var seq atomic.Int64
	ingest := func(ctx context.Context) (int, time.Duration) {
		start := time.Now()
		n := 0
		for ctx.Err() == nil {
			batch := make([]*events.PostTagged, opts.IngestBatch)
			for i := range batch {
				id := fmt.Sprintf("live-%d", seq.Add(1))
				batch[i] = &events.PostTagged{Envelope: events.Envelope{OccurredAt: time.Now()}, PostID: id, ChannelID: "c",
					Text: "живой пост " + id, PostedAt: time.Now(), Tags: []string{"a"}, TagsHash: events.TagsHash([]string{"a"})}
			}
			if _, err := repo.UpsertTagged(context.WithoutCancel(ctx), batch, config.Posts{Retention: 90 * 24 * time.Hour}); err != nil {
				break
			}
			n += len(batch)
		}
		return n, time.Since(start)
	}

	// Baseline: ingest alone for 5 s.
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	n, took := ingest(bctx)
	cancel()
	res.Baseline = float64(n) / took.Seconds()

	// The sweep with ingest running beside it.
	ictx, stopIngest := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var during int
	var duringTook time.Duration
	wg.Add(1)
	go func() { defer wg.Done(); during, duringTook = ingest(ictx) }()
	svc := NewServiceFor(c)
	sr, swept, err := svc.SweepOnce(ctx)
	stopIngest()
	wg.Wait()
	if err != nil {
		return res, err
	}
	if !swept {
		return res, fmt.Errorf("the sweep lease was held by someone else")
	}
	res.Swept = sr.Deleted[StorePostgres]
	res.SweepTook = sr.Took
	res.DuringSweep = float64(during) / duringTook.Seconds()
	fmt.Fprintf(opts.Out, "swept %d expired posts (sweep_batch %d) in %s: %.0f posts/s; rows removed: %v\n",
		res.Swept, opts.Batch, res.SweepTook.Round(time.Millisecond), float64(res.Swept)/res.SweepTook.Seconds(), sr.Deleted)
	fmt.Fprintf(opts.Out, "ingest (persist UPSERT, batches of %d): alone %.0f posts/s, during the sweep %.0f posts/s = %.0f%%\n",
		opts.IngestBatch, res.Baseline, res.DuringSweep, 100*res.DuringSweep/res.Baseline)
	return res, nil
}

// seedExpired writes n expired posts into every table in a few set-based
// statements (post ids are UUIDs, so a post's point id is its id), and
// their dedup marks.
func seedExpired(ctx context.Context, pool *pgxpool.Pool, rdb *redis.Client, prefix string, n int) error {
	stmts := []string{
		`INSERT INTO posts (post_id, channel_id, text, posted_at, expires_at, content_hash)
		 SELECT gen_random_uuid()::text, 'ch' || (i % 100), 'expired post ' || i, now() - interval '100 days',
		        now() - interval '10 days' + make_interval(secs => i / 1000.0), md5(i::text)
		 FROM generate_series(1, $1) AS i`,
		`INSERT INTO post_enrichment (post_id, kind, data) SELECT post_id, 'tags', '{"tags":["a"]}' FROM posts`,
		`INSERT INTO indexing_status (post_id, embedding_status, graph_status) SELECT post_id, 'completed', 'completed' FROM posts`,
		`INSERT INTO vector_collections (name, dim, model) VALUES ('posts', 4, 'bench')`,
		`INSERT INTO vectors (collection, point_id, post_id, channel_id, expires_at, embedding)
		 SELECT 'posts', post_id::uuid, post_id, channel_id, extract(epoch FROM expires_at)::bigint, '{1,0,0,1}' FROM posts`,
		`INSERT INTO graph_channels (channel_id) SELECT DISTINCT channel_id FROM posts`,
		`INSERT INTO graph_posts (post_id, channel_id, posted_at, expires_at) SELECT post_id, channel_id, posted_at, expires_at FROM posts`,
		`INSERT INTO graph_tags (name) SELECT 'tag' || i FROM generate_series(0, 999) AS i`,
		`INSERT INTO post_tags (post_id, tag) SELECT post_id, 'tag' || (abs(hashtext(post_id)) % 1000) FROM posts`,
	}
	for i, q := range stmts {
		var args []any
		if i == 0 {
			args = append(args, n)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT post_id, content_hash FROM posts`)
	if err != nil {
		return fmt.Errorf("seed marks: %w", err)
	}
	defer rows.Close()
	pipe := rdb.Pipeline()
	for rows.Next() {
		var id, hash string
		if err := rows.Scan(&id, &hash); err != nil {
			return err
		}
		pipe.Set(ctx, prefix+"tagging:processed:"+id+":"+hash, "1", time.Hour)
		if pipe.Len() >= 5000 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	return rows.Err()
}

// BenchCommand is `assistant bench cleanup`: one sweep of N expired posts
// in every embedded store (Cleanup).
func BenchCommand(env pipeline.CommandEnv) *cobra.Command {
	var n, batch int
	cmd := &cobra.Command{
		Use:   Name,
		Short: "One sweep of N expired posts in every embedded store: rows deleted/s, and ingest throughput kept meanwhile",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := env.Config()
			if err != nil {
				return err
			}
			_, err = Cleanup(cmd.Context(), CleanupOptions{
				RedisURL: cfg.Redis.URL, DatabaseURL: cfg.Database.URL, N: n, Batch: batch, Out: env.Stdout,
			})
			return err
		},
	}
	cmd.Flags().IntVar(&n, "n", 100_000, "expired posts to sweep")
	cmd.Flags().IntVar(&batch, "batch", 1000, "stages.cleanup.sweep_batch")
	return cmd
}
