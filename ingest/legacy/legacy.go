// Package legacy imports the history of the old Python system (the
// telegram-assistant worker this daemon replaces) from its PostgreSQL
// database into the pipeline: every old post becomes a posts.parsed event,
// so that history is tagged, crawled and indexed like new posts. It is the
// library behind `assistant import legacy --from URL`.
//
// The old database is only read. Posts are read in (created_at, id) order,
// in keyset-paginated batches; each batch's XADDs and the checkpoint — the
// (created_at, id) of its last post, in Redis — go in one MULTI/EXEC, so a
// run that is interrupted (Ctrl-C, a crash, Redis or Postgres failing)
// resumes after the last batch that reached the stream, and no post is
// published twice. A second run publishes nothing but the posts the old
// system stored since.
//
// Old posts keep their ids (posts.id, a UUID), so the new stores (Postgres,
// the vector store's point ids, the graph) key them as the old stores did.
package legacy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
	"github.com/assistant-dev/assistant/pipeline"
)

// DefaultBatchSize is how many posts one read and one MULTI/EXEC carry.
const DefaultBatchSize = 500

// Options control Import.
type Options struct {
	// From is the old database's URL. Its search_path parameter, when set,
	// names the old tables' schema (default: the server's, public).
	From string
	// Stream is the unprefixed posts.parsed stream; Import prefixes it with
	// the keys.
	Stream string
	// BatchSize is the number of posts per read and per MULTI/EXEC; 0 means
	// DefaultBatchSize.
	BatchSize int
	// Limit stops after that many posts in this run; 0 means no limit. The
	// checkpoint keeps what was published, so the next run goes on.
	Limit int
	// Restart forgets the checkpoint and imports everything again (the
	// consumers' idempotency makes the repeat harmless downstream).
	Restart bool
	// Progress receives a progress line, redrawn in place on a terminal, and
	// the summary line. nil shows nothing.
	Progress io.Writer
	// Logger logs the start, each skipped row, and the summary; nil means
	// slog.Default().
	Logger *slog.Logger
	// Settle leaves out the posts stored less than this long ago; 0 means
	// DefaultSettle. A row's created_at is set when its transaction starts,
	// so a row that commits late can carry an earlier created_at than one
	// already imported; waiting for rows to settle keeps the checkpoint
	// from passing such a row by. (The old ingest publishes new posts to
	// its stream anyway.)
	Settle time.Duration
	// Now is the clock of the events' occurred_at; nil means time.Now.
	Now func() time.Time
	// Retention, when set (posts.retention > 0), is checked against each
	// post: Summary.Retention counts those already older than it.
	Retention config.Posts
}

// DefaultSettle is Options.Settle's default.
const DefaultSettle = time.Minute

// Summary is the outcome of Import.
type Summary struct {
	// Pending is how many old posts lay after the checkpoint at the start.
	Pending int64 `json:"pending"`
	// Published is how many were added to the stream in this run.
	Published int `json:"published"`
	// Media counts the published posts that have media (of those, the
	// ones without text are photo or video posts without a caption).
	Media int `json:"media"`
	// Resumed reports that a checkpoint of an earlier run was found.
	Resumed bool `json:"resumed"`
	// LimitReached reports that Options.Limit stopped the run.
	LimitReached bool          `json:"limit_reached"`
	Stream       string        `json:"stream"`
	Checkpoint   string        `json:"checkpoint"`
	Elapsed      time.Duration `json:"elapsed"`
	// Retention counts the published posts older than posts.retention.
	Retention *ingest.RetentionTally `json:"retention,omitempty"`
}

// String is the summary line shown at the end of a run.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "imported %d of %d pending old posts to %s in %s (%d with media)",
		s.Published, s.Pending, s.Stream, s.Elapsed.Round(time.Millisecond), s.Media)
	if s.Resumed {
		b.WriteString(", resumed from the checkpoint")
	}
	if s.LimitReached {
		b.WriteString(", stopped at the limit")
	}
	return b.String()
}

// position is a place in the (created_at, id) order of the old posts.
type position struct {
	CreatedAt time.Time `json:"created_at"`
	ID        string    `json:"id"`
}

// Import publishes the old database's posts that lie after the checkpoint
// to the posts.parsed stream. The checkpoint key is derived from the old
// database's identity (host, port, database, schema), so two old databases
// imported into one pipeline keep separate checkpoints.
func Import(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, opts Options) (Summary, error) {
	start := time.Now()
	if opts.Stream == "" {
		opts.Stream = ingest.DefaultStream
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	sum := Summary{Stream: keys.Stream(opts.Stream)}
	if opts.Retention.Retention > 0 {
		sum.Retention = ingest.NewRetentionTally(opts.Retention, start)
	}
	if rdb == nil {
		return sum, errors.New("import legacy: no Redis client")
	}
	connConfig, err := pgx.ParseConfig(opts.From)
	if err != nil {
		// The parse error may quote the URL, password included.
		return sum, errors.New("import legacy: parse --from: invalid connection string")
	}
	if connConfig.RuntimeParams["application_name"] == "" {
		connConfig.RuntimeParams["application_name"] = "assistant-import-legacy"
	}
	conn, err := pgx.ConnectConfig(ctx, connConfig)
	if err != nil {
		return sum, fmt.Errorf("import legacy: connect to the old database at %s:%d: %w", connConfig.Host, connConfig.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	src, err := inspect(ctx, conn)
	if err != nil {
		return sum, fmt.Errorf("import legacy: %w", err)
	}
	sum.Checkpoint = keys.Key("import:legacy:" + sourceID(connConfig, src.schema))
	if opts.Limit < 0 {
		return sum, errors.New("import legacy: the limit must not be negative")
	}
	if opts.Restart {
		if err := rdb.Del(ctx, sum.Checkpoint).Err(); err != nil {
			return sum, fmt.Errorf("import legacy: forget checkpoint %s: %w", sum.Checkpoint, err)
		}
	}
	after, found, err := loadCheckpoint(ctx, rdb, sum.Checkpoint)
	if err != nil {
		return sum, fmt.Errorf("import legacy: %w", err)
	}
	sum.Resumed = found
	cutoff := time.Now().Add(-opts.Settle)
	if err := conn.QueryRow(ctx, src.countQuery(), after.CreatedAt, after.ID, cutoff).Scan(&sum.Pending); err != nil {
		return sum, fmt.Errorf("import legacy: count old posts: %w", err)
	}
	logger.Info("import legacy: starting", "schema", src.schema, "pending", sum.Pending,
		"resumed", found, "after_created_at", after.CreatedAt, "after_id", after.ID,
		"stream", sum.Stream, "checkpoint", sum.Checkpoint)

	prog := newProgress(opts.Progress, sum.Pending)
	finish := func(err error) (Summary, error) {
		sum.Elapsed = time.Since(start)
		prog.finish(sum, err)
		logger.Info("import legacy: finished", "published", sum.Published, "pending", sum.Pending,
			"media", sum.Media, "limit_reached", sum.LimitReached, "elapsed", sum.Elapsed, "error", err)
		return sum, err
	}
	rows, err := conn.Query(ctx, src.selectQuery(), after.CreatedAt, after.ID, cutoff)
	if err != nil {
		return finish(fmt.Errorf("import legacy: read old posts after %s: %w", after, err))
	}
	defer rows.Close()
	batch := make([]*events.PostParsed, 0, opts.BatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := publish(ctx, rdb, sum.Stream, sum.Checkpoint, batch, after); err != nil {
			return fmt.Errorf("import legacy: %w (the checkpoint keeps what was published before; run again to resume)", err)
		}
		for _, ev := range batch {
			if ev.HasMedia {
				sum.Media++
			}
			sum.Retention.Observe(ev.PostedAt)
		}
		sum.Published += len(batch)
		clear(batch)
		batch = batch[:0]
		prog.tick(sum.Published)
		return nil
	}
	for rows.Next() {
		var r row
		if err := r.scan(rows); err != nil {
			return finish(fmt.Errorf("import legacy: read old post after %s: %w", after, err))
		}
		batch = append(batch, r.event(opts.Now()))
		after = position{CreatedAt: r.order, ID: r.id}
		if opts.Limit > 0 && sum.Published+len(batch) >= opts.Limit {
			sum.LimitReached = true
			break
		}
		if len(batch) == opts.BatchSize {
			if err := flush(); err != nil {
				return finish(err)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil && !sum.LimitReached {
		return finish(fmt.Errorf("import legacy: read old posts after %s: %w", after, err))
	}
	return finish(flush())
}

// publish adds the batch's events to the stream and moves the checkpoint
// in one MULTI/EXEC: either the whole batch and its checkpoint are in
// Redis, or neither is.
func publish(ctx context.Context, rdb redis.UniversalClient, stream, checkpoint string, evs []*events.PostParsed, last position) error {
	cp, err := json.Marshal(last)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	_, err = rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, ev := range evs {
			values, err := events.Encode(ev)
			if err != nil {
				return fmt.Errorf("post %s: %w", ev.PostID, err)
			}
			// No MAXLEN: a cap would silently drop the backlog (spec 12).
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: values})
		}
		pipe.Set(ctx, checkpoint, cp, 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish %d posts to %s: %w", len(evs), stream, err)
	}
	return nil
}

func loadCheckpoint(ctx context.Context, rdb redis.UniversalClient, key string) (position, bool, error) {
	raw, err := rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return position{}, false, nil
	}
	if err != nil {
		return position{}, false, fmt.Errorf("read checkpoint %s: %w", key, err)
	}
	var p position
	if err := json.Unmarshal(raw, &p); err != nil {
		return position{}, false, fmt.Errorf("checkpoint %s is unreadable (%q): delete it, or run with --restart", key, raw)
	}
	return p, true, nil
}

// sourceID identifies the old database: a checkpoint belongs to one.
func sourceID(cfg *pgx.ConnConfig, schema string) string {
	h := sha256.Sum256([]byte(cfg.Host + "\x00" + strconv.Itoa(int(cfg.Port)) + "\x00" + cfg.Database + "\x00" + schema))
	return hex.EncodeToString(h[:8])
}
