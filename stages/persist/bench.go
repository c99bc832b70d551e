package persist

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/bench/benchkit"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// BenchResult compares the stage with a raw multi-row UPSERT of the same
// rows at one batch size.
type BenchResult struct {
	BatchSize int
	Events    int
	// StageEventsPerSec is the stage's throughput: decode, dedupe and the
	// statement with both conditional UPSERTs.
	StageEventsPerSec float64
	// RawEventsPerSec is the floor: the same rows, already in column
	// arrays, written by two unconditional INSERT … SELECT FROM unnest …
	// ON CONFLICT DO UPDATE statements in one pgx batch.
	RawEventsPerSec float64
}

// Ratio is the stage's throughput as a fraction of the raw one.
func (r BenchResult) Ratio() float64 {
	if r.RawEventsPerSec == 0 {
		return 0
	}
	return r.StageEventsPerSec / r.RawEventsPerSec
}

// Bench measures the stage against the raw UPSERT for each batch size, with
// about n events per size, and prints a table to out. The posts take their
// texts from texts in turn (one typical 400-character post when texts is
// empty). It works in a schema of its own, created in dbURL's database and
// dropped at the end, so it never touches the daemon's tables. This is what
// `assistant bench persist` runs.
func Bench(ctx context.Context, dbURL string, sizes []int, n int, texts []string, out io.Writer) error {
	schema := "assistant_bench_" + randomHex(6)
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("bench: connect to postgres: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("bench: create schema %s: %w", schema, err)
	}
	defer func() {
		_, _ = admin.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}()
	benchURL, err := withSearchPath(dbURL, schema)
	if err != nil {
		return err
	}
	if err := postgres.MigrateUp(ctx, benchURL); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	runner, err := newBenchRunner(ctx, benchURL, texts)
	if err != nil {
		return err
	}
	defer runner.Close()

	var results []BenchResult
	for _, size := range sizes {
		if size <= 0 {
			return fmt.Errorf("bench: batch size %d is not positive", size)
		}
		// One batch of each kind first: connections, prepared statements.
		if _, _, err := runner.Round(ctx, size); err != nil {
			return err
		}
		res := BenchResult{BatchSize: size}
		var stageTime, rawTime time.Duration
		for rounds := max(1, n/size); rounds > 0; rounds-- {
			st, rt, err := runner.Round(ctx, size)
			if err != nil {
				return err
			}
			stageTime += st
			rawTime += rt
			res.Events += size
		}
		res.StageEventsPerSec = float64(res.Events) / stageTime.Seconds()
		res.RawEventsPerSec = float64(res.Events) / rawTime.Seconds()
		results = append(results, res)
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "batch\tevents\tstage ev/s\traw ev/s\tstage/raw\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%.2f\t\n", r.BatchSize, r.Events, r.StageEventsPerSec, r.RawEventsPerSec, r.Ratio())
	}
	return tw.Flush()
}

// withSearchPath returns dbURL with its connections' search_path set to
// schema, for URLs and keyword/value strings alike.
func withSearchPath(dbURL, schema string) (string, error) {
	if strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://") {
		u, err := url.Parse(dbURL)
		if err != nil {
			return "", errors.New("bench: parse database url: invalid connection string")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dbURL + " search_path=" + schema, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// benchRunner writes fresh posts through the stage and through the raw
// statements, alternately, so that both see the same table sizes.
type benchRunner struct {
	pool   *pgxpool.Pool
	stage  *Stage
	seq    int
	rounds int
	run    string
	// texts are the posts' texts, used in turn; the stage's and the raw
	// side's i-th post of a round have the same text.
	texts []string
}

func newBenchRunner(ctx context.Context, dbURL string, texts []string) (*benchRunner, error) {
	if len(texts) == 0 {
		texts = []string{benchText}
	}
	pool, err := postgres.Open(ctx, config.Database{URL: dbURL, MaxConns: 4},
		postgres.WithApplicationName("assistant-bench"))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	stage, err := newStage(postgres.NewRepository(pool), config.Posts{Retention: 90 * 24 * time.Hour},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &benchRunner{pool: pool, stage: stage, run: randomHex(4), texts: texts}, nil
}

func (r *benchRunner) Close() { r.pool.Close() }

// Round writes one batch of size new posts through the stage and another
// through the raw statements and returns the time each write took (building
// the input is not timed).
func (r *benchRunner) Round(ctx context.Context, size int) (stage, raw time.Duration, err error) {
	msgs := make([]*pipeline.Message, size)
	evs := make([]*events.PostTagged, size)
	for i := range size {
		text := r.texts[(r.rounds*size+i)%len(r.texts)]
		ev := r.event("s", text)
		values, err := events.Encode(ev)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: %w", err)
		}
		msgs[i] = &pipeline.Message{Stream: "posts.tagged", ID: strconv.Itoa(i+1) + "-0", Values: values, Attempt: 1}
		evs[i] = r.event("r", text)
	}
	cols := newRawColumns(evs)

	// The two sides take turns going first: whichever goes second runs
	// slower (measured: the stage at batch 100 was 0.97–1.06 of raw going
	// first every time, 0.81–0.84 taking turns), presumably paying for the
	// first one's commit and dirty pages.
	r.rounds++
	if r.rounds%2 == 0 {
		if raw, err = r.timeRaw(ctx, cols); err != nil {
			return 0, 0, err
		}
		stage, err = r.timeStage(ctx, msgs)
		return stage, raw, err
	}
	if stage, err = r.timeStage(ctx, msgs); err != nil {
		return 0, 0, err
	}
	raw, err = r.timeRaw(ctx, cols)
	return stage, raw, err
}

func (r *benchRunner) timeStage(ctx context.Context, msgs []*pipeline.Message) (time.Duration, error) {
	start := time.Now()
	if err := r.stage.Handle(ctx, msgs); err != nil {
		return 0, fmt.Errorf("bench: stage: %w", err)
	}
	for _, m := range msgs {
		if m.Err() != nil {
			return 0, fmt.Errorf("bench: stage failed an entry: %w", m.Err())
		}
	}
	return time.Since(start), nil
}

func (r *benchRunner) timeRaw(ctx context.Context, cols *rawColumns) (time.Duration, error) {
	start := time.Now()
	if err := cols.write(ctx, r.pool); err != nil {
		return 0, fmt.Errorf("bench: raw upsert: %w", err)
	}
	return time.Since(start), nil
}

// benchCorpusPosts is how many of the corpus's posts lend their texts.
const benchCorpusPosts = 1000

// benchText is a typical post: a few hundred characters of Russian news.
const benchText = "Вышел релиз Python 3.13: интерпретатор стал быстрее, появился экспериментальный режим без GIL " +
	"и JIT-компилятор. Производительность на типичных задачах выросла на 10–15%, а новая интерактивная " +
	"оболочка поддерживает многострочное редактирование и цветной вывод ошибок. Подробности в блоге " +
	"разработчиков и в заметках к релизу: https://docs.python.org/3.13/whatsnew/3.13.html"

var benchTags = []string{"Python 3.13", "релиз", "производительность", "JIT-компилятор"}

func (r *benchRunner) event(kind, text string) *events.PostTagged {
	r.seq++
	now := time.Now().UTC()
	return &events.PostTagged{
		Envelope: events.Envelope{
			SchemaVersion: events.SchemaV1, TraceID: randomHex(8), OccurredAt: now,
		},
		PostID:        fmt.Sprintf("bench-%s-%s-%d", r.run, kind, r.seq),
		ChannelID:     "-1001234567890",
		TenantID:      "default",
		Text:          text,
		URLs:          []string{"https://docs.python.org/3.13/whatsnew/3.13.html"},
		PostedAt:      now.Add(-time.Minute),
		ContentHash:   events.ContentHash(text),
		Tags:          benchTags,
		TagsHash:      events.TagsHash(benchTags),
		Provider:      "local",
		Model:         "rake",
		PromptVersion: "v1",
		LatencyMS:     12,
		Trigger:       events.TriggerInitial,
	}
}

// rawColumns are the parameter arrays of the raw statements.
type rawColumns struct {
	postIDs, channelIDs, tenantIDs, texts, urls, contentHashes []string
	data, tagsHashes, providers                                []string
	postedAt, occurredAt                                       []time.Time
}

func newRawColumns(evs []*events.PostTagged) *rawColumns {
	c := &rawColumns{}
	for _, ev := range evs {
		urls, _ := json.Marshal(ev.URLs) // []string always marshals
		data, _ := json.Marshal(postgres.TagsData{
			Tags: ev.Tags, TagsHash: ev.TagsHash, Provider: ev.Provider, Model: ev.Model,
			PromptVersion: ev.PromptVersion, LatencyMS: ev.LatencyMS, TraceID: ev.TraceID,
		})
		c.postIDs = append(c.postIDs, ev.PostID)
		c.channelIDs = append(c.channelIDs, ev.ChannelID)
		c.tenantIDs = append(c.tenantIDs, ev.TenantID)
		c.texts = append(c.texts, ev.Text)
		c.urls = append(c.urls, string(urls))
		c.contentHashes = append(c.contentHashes, ev.ContentHash)
		c.data = append(c.data, string(data))
		c.tagsHashes = append(c.tagsHashes, ev.TagsHash)
		c.providers = append(c.providers, ev.Provider)
		c.postedAt = append(c.postedAt, ev.PostedAt)
		c.occurredAt = append(c.occurredAt, ev.OccurredAt)
	}
	return c
}

const rawPostsSQL = `
INSERT INTO posts (post_id, channel_id, tenant_id, text, urls, posted_at, expires_at, content_hash)
SELECT post_id, channel_id, tenant_id, text, urls::jsonb, posted_at, posted_at + interval '90 days', content_hash
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
     AS u(post_id, channel_id, tenant_id, text, urls, posted_at, content_hash)
ON CONFLICT (post_id) DO UPDATE SET
    channel_id = EXCLUDED.channel_id, tenant_id = EXCLUDED.tenant_id, text = EXCLUDED.text,
    urls = EXCLUDED.urls, posted_at = EXCLUDED.posted_at, expires_at = EXCLUDED.expires_at,
    content_hash = EXCLUDED.content_hash, updated_at = now()`

const rawTagsSQL = `
INSERT INTO post_enrichment (post_id, kind, provider, data, data_hash, status, source_occurred_at)
SELECT post_id, 'tags', provider, data::jsonb, data_hash, 'ok', occurred_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
     AS u(post_id, data, data_hash, provider, occurred_at)
ON CONFLICT (post_id, kind) DO UPDATE SET
    provider = EXCLUDED.provider, data = EXCLUDED.data, data_hash = EXCLUDED.data_hash,
    source_occurred_at = EXCLUDED.source_occurred_at, updated_at = now()`

// write runs both raw statements in one round trip (a pgx batch is one
// implicit transaction).
func (c *rawColumns) write(ctx context.Context, pool *pgxpool.Pool) error {
	batch := &pgx.Batch{}
	batch.Queue(rawPostsSQL, c.postIDs, c.channelIDs, c.tenantIDs, c.texts, c.urls, c.postedAt, c.contentHashes)
	batch.Queue(rawTagsSQL, c.postIDs, c.data, c.tagsHashes, c.providers, c.occurredAt)
	return pool.SendBatch(ctx, batch).Close()
}

// BenchCommand is `assistant bench persist`: the stage next to a raw unnest
// UPSERT of the same rows, per batch size (Bench).
func BenchCommand(env pipeline.CommandEnv) *cobra.Command {
	var sizes []int
	var n int
	var corpus string
	cmd := &cobra.Command{
		Use:   Name,
		Short: "The persist stage next to a raw unnest UPSERT of the same rows, per batch size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := env.Config()
			if err != nil {
				return err
			}
			var texts []string
			if corpus != "" {
				posts, err := benchkit.LoadCorpus(cmd.Context(), corpus, benchCorpusPosts)
				if err != nil {
					return fmt.Errorf("bench: %w", err)
				}
				for _, p := range posts {
					texts = append(texts, p.Text)
				}
			}
			return Bench(cmd.Context(), cfg.Database.URL, sizes, n, texts, env.Stdout)
		},
	}
	cmd.Flags().IntSliceVar(&sizes, "batch", []int{1, 100, 1000}, "batch sizes")
	cmd.Flags().IntVar(&n, "n", 20_000, "events per batch size")
	cmd.Flags().StringVar(&corpus, "corpus", "testdata/telegram-news-ru/sample.jsonl",
		`JSONL corpus whose texts the posts take in turn ("" = one typical 400-character post)`)
	return cmd
}
