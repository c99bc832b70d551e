package persist_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/persist"
)

// incompressible returns n hex characters that pglz cannot shrink below
// the btree limit (2704 bytes), unlike a repeated character.
func incompressible(n int) string {
	var b strings.Builder
	sum := sha256.Sum256([]byte("seed"))
	for b.Len() < n {
		sum = sha256.Sum256(sum[:])
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

// refusals are posts that PostgreSQL refuses for their own data, one per
// SQLSTATE class that no retry can fix, with what the schema needs for it.
var refusals = []struct {
	name     string
	sqlstate string
	// setup prepares the test's schema (nil: the schema as migrated).
	setup string
	// poison makes the event refused.
	poison func(ev *events.PostTagged)
}{
	{
		name: "over-long index key (54000)", sqlstate: "54000",
		// "index row size … exceeds btree version 4 maximum 2704 for index
		// posts_channel_id_posted_at_idx"
		poison: func(ev *events.PostTagged) { ev.ChannelID = incompressible(6000) },
	},
	{
		name: "value too long for its column (22001)", sqlstate: "22001",
		setup:  `ALTER TABLE posts ALTER COLUMN content_hash TYPE varchar(64)`,
		poison: func(ev *events.PostTagged) { ev.ContentHash = strings.Repeat("f", 65) },
	},
	{
		name: "check constraint (23514)", sqlstate: "23514",
		setup:  `ALTER TABLE posts ADD CONSTRAINT test_refuse CHECK (text <> 'poison')`,
		poison: func(ev *events.PostTagged) { ev.Text = "poison" },
	},
}

// TestPersistRefusedPostInTheRunner runs persist in the real runner on
// real Redis and PostgreSQL with a batch of 64 entries, one of which
// PostgreSQL refuses: the other 63 are stored, the refused one is in
// posts.tagged.dlq as permanent after one attempt, with its post id and
// SQLSTATE in the error, and no retry was spent.
func TestPersistRefusedPostInTheRunner(t *testing.T) {
	t.Parallel()
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.setup != "" {
				if _, err := e.pool.Exec(e.ctx, tt.setup); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			rdb, prefix := testenv.Redis(t)
			def := persist.Definition()
			def.New = func(context.Context, pipeline.Deps) (pipeline.Stage, error) { return e.stage, nil }
			cfg := testenv.Config(t, prefix, e.dbURL)
			cfg.Runner.RetryInitialBackoff = 10 * time.Millisecond
			cfg.Runner.RetryMaxBackoff = 20 * time.Millisecond
			set := persist.DefaultConfig()
			set.Pool = config.Pool{Enabled: true, Workers: 1, BatchSize: 64, MaxInflight: 64}
			cfg.Stages.Set(def.Name, set)
			keys := pipeline.NewKeys(cfg)

			// All 64 entries are queued before the runner starts, so they
			// arrive as one batch.
			const n, badAt = 64, 37
			badID := fmt.Sprintf("refused-%02d", badAt)
			pipe := rdb.Pipeline()
			for i := range n {
				ev := tagged(fmt.Sprintf("refused-%02d", i), i, "Python")
				if i == badAt {
					tt.poison(ev)
				}
				values, err := events.Encode(ev)
				if err != nil {
					t.Fatal(err)
				}
				pipe.XAdd(e.ctx, &redis.XAddArgs{Stream: keys.Stream(cfg.Streams.Tagged), Values: values})
			}
			if _, err := pipe.Exec(e.ctx); err != nil {
				t.Fatal(err)
			}

			reg := prometheus.NewRegistry()
			r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
				Config: cfg, Redis: rdb, Registry: pipeline.MustRegistry(def), Stages: []string{def.Name},
				Metrics: reg, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })

			dlqKey := keys.DLQ(cfg.Streams.Tagged)
			testenv.WaitFor(t, "one entry dead-lettered", 30*time.Second, func() bool {
				n, _ := rdb.XLen(e.ctx, dlqKey).Result()
				return n >= 1
			})
			testenv.WaitFor(t, "nothing pending", 30*time.Second, func() bool {
				p, err := rdb.XPending(e.ctx, keys.Stream(cfg.Streams.Tagged), def.Name).Result()
				return err == nil && p.Count == 0
			})

			var stored int
			if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM posts p JOIN post_enrichment t
				ON t.post_id = p.post_id AND t.kind = 'tags' WHERE p.post_id LIKE 'refused-%'`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored != n-1 {
				t.Errorf("%d posts stored with their tags, want %d", stored, n-1)
			}
			var badRows int
			if err := e.pool.QueryRow(e.ctx, `SELECT (SELECT count(*) FROM posts WHERE post_id = $1)
				+ (SELECT count(*) FROM post_enrichment WHERE post_id = $1)`, badID).Scan(&badRows); err != nil {
				t.Fatal(err)
			}
			if badRows != 0 {
				t.Errorf("the refused post left %d rows", badRows)
			}

			msgs, err := rdb.XRange(e.ctx, dlqKey, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 {
				t.Fatalf("DLQ holds %d entries, want 1", len(msgs))
			}
			d := pipeline.DecodeDLQEntry(msgs[0])
			if d.ErrorClass != pipeline.ClassPermanent || d.Attempts != 1 || d.Stage != def.Name {
				t.Errorf("DLQ entry class %q attempts %d stage %q, want permanent after 1 attempt in persist", d.ErrorClass, d.Attempts, d.Stage)
			}
			for _, want := range []string{badID, "sqlstate " + tt.sqlstate, "(SQLSTATE " + tt.sqlstate + ")"} {
				if !strings.Contains(d.Error, want) {
					t.Errorf("DLQ error %q does not name %q", d.Error, want)
				}
			}
			t.Logf("DLQ error: %.300s", d.Error)
			if got := gatherValue(t, reg, "stage_retries_total", ""); got != 0 {
				t.Errorf("stage_retries_total = %v, want 0: a refused post is not worth a retry", got)
			}
			if got := e.persisted(t, "success"); got != n-1 {
				t.Errorf("tags_persisted_total{success} = %v, want %d", got, n-1)
			}
			if got := e.persisted(t, "error"); got != 1 {
				t.Errorf("tags_persisted_total{error} = %v, want 1", got)
			}
		})
	}
}

// TestPersistSplitStatements counts what finding one refused post in a
// batch of 64 costs: the batch is bisected, not written post by post. A
// write that succeeds is BEGIN, two UPSERTs and COMMIT (4 statements); one
// that is refused ends at the refusing UPSERT and a ROLLBACK. The bound is
// 13 writes of 4 statements; one post per write would take 65 writes.
func TestPersistSplitStatements(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 64
	for _, badAt := range []int{0, 31, 63} {
		evs := make([]*events.PostTagged, n)
		for i := range evs {
			evs[i] = tagged(fmt.Sprintf("split-%d-%02d", badAt, i), i, "Python")
		}
		evs[badAt].ChannelID = incompressible(6000)
		msgs := make([]*pipeline.Message, n)
		for i, ev := range evs {
			msgs[i] = message(t, ev)
		}
		e.tracer.n.Store(0)
		if err := e.stage.Handle(e.ctx, msgs); err != nil {
			t.Fatalf("handle: %v", err)
		}
		statements := e.tracer.n.Load()
		for i, m := range msgs {
			if (i == badAt) != pipeline.IsPermanent(m.Err()) {
				t.Errorf("bad at %d: entry %d failure %v", badAt, i, m.Err())
			}
		}
		if statements > 13*4 {
			t.Errorf("bad at %d: %d statements, want at most %d", badAt, statements, 13*4)
		}
		t.Logf("batch of %d with the refused post at %d: %d statements", n, badAt, statements)
	}
}
