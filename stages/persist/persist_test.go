package persist_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/persist"
	"github.com/assistant-dev/assistant/store/postgres"
)

// statementCounter is a pgx tracer counting the statements sent to the
// server: plain queries (BEGIN/COMMIT included) and every query of a batch.
type statementCounter struct {
	n atomic.Int64
}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (c *statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.n.Add(1)
}
func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// env is one test's stage on its own schema.
type env struct {
	ctx      context.Context
	dbURL    string
	appName  string
	pool     *pgxpool.Pool
	repo     *postgres.Repository
	stage    pipeline.Stage
	registry *prometheus.Registry
	tracer   *statementCounter
	cfg      *config.Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	e := &env{
		ctx: ctx, dbURL: dbURL, registry: prometheus.NewRegistry(), tracer: &statementCounter{},
		// Unique, so that killing "our" connections kills no other test's.
		appName: fmt.Sprintf("persist-test-%d", time.Now().UnixNano()),
	}
	e.cfg = testenv.Config(t, "", dbURL)
	pool, err := postgres.Open(ctx, e.cfg.Database, postgres.WithTracer(e.tracer), postgres.WithApplicationName(e.appName))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(pool.Close)
	e.pool, e.repo = pool, postgres.NewRepository(pool)

	// The stage takes the shared pool from the resources; put the traced
	// one there first, as the daemon would have opened it.
	res := pipeline.NewResources()
	if _, err := pipeline.Resource(res, postgres.ResourceName, func() (*pgxpool.Pool, func(), error) { return pool, nil, nil }); err != nil {
		t.Fatalf("resource: %v", err)
	}
	def := persist.Definition()
	e.stage, err = def.New(ctx, pipeline.Deps{
		Config: e.cfg, StageConfig: persist.DefaultConfig(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: e.registry, Resources: res,
	})
	if err != nil {
		t.Fatalf("new stage: %v", err)
	}
	return e
}

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// tagged builds a complete posts.tagged event occurring at base+minute.
func tagged(postID string, minute int, tags ...string) *events.PostTagged {
	if tags == nil {
		tags = []string{}
	}
	return &events.PostTagged{
		Envelope: events.Envelope{
			SchemaVersion: events.SchemaV1, TraceID: fmt.Sprintf("trace-%s-%d", postID, minute),
			OccurredAt: base.Add(time.Duration(minute) * time.Minute),
		},
		PostID: postID, ChannelID: "chan-1", TenantID: "tenant-1",
		Text: "Вышел релиз Python: производительность выросла", URLs: []string{"https://python.org/"},
		PostedAt: base.Add(-time.Hour), ContentHash: events.ContentHash("text"),
		Tags: tags, TagsHash: events.TagsHash(tags),
		Provider: "local", Model: "rake", PromptVersion: "v1", LatencyMS: 7, Trigger: events.TriggerInitial,
	}
}

var entrySeq atomic.Int64

func message(t *testing.T, ev events.Event) *pipeline.Message {
	t.Helper()
	values, err := events.Encode(ev)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return rawMessage(values)
}

func rawMessage(values map[string]any) *pipeline.Message {
	id := fmt.Sprintf("%d-%d", time.Now().UnixMilli(), entrySeq.Add(1))
	return &pipeline.Message{Stream: "posts.tagged", ID: id, Values: values, Attempt: 1}
}

func (e *env) handle(t *testing.T, events ...*events.PostTagged) []*pipeline.Message {
	t.Helper()
	msgs := make([]*pipeline.Message, len(events))
	for i, ev := range events {
		msgs[i] = message(t, ev)
	}
	if err := e.stage.Handle(e.ctx, msgs); err != nil {
		t.Fatalf("handle: %v", err)
	}
	for _, m := range msgs {
		if m.Err() != nil {
			t.Fatalf("message %s failed: %v", m.ID, m.Err())
		}
	}
	return msgs
}

func (e *env) persisted(t *testing.T, status string) float64 {
	t.Helper()
	return gatherValue(t, e.registry, "tags_persisted_total", status)
}

func (e *env) conflicts(t *testing.T) float64 {
	t.Helper()
	return gatherValue(t, e.registry, "tags_persist_conflicts_total", "")
}

// gatherValue reads a counter (or a histogram's sample count) from reg; a
// non-empty status selects that label value.
func gatherValue(t *testing.T, reg *prometheus.Registry, name, status string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if status != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == "status" && l.GetValue() == status
			}) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s{status=%q} not found", name, status)
	return 0
}

// rowVersion identifies the physical version of the tags row: it changes
// with every write, even one that changes no value.
func (e *env) rowVersion(t *testing.T, postID string) string {
	t.Helper()
	var xmin string
	if err := e.pool.QueryRow(e.ctx, `SELECT xmin::text FROM post_enrichment WHERE post_id = $1 AND kind = 'tags'`, postID).Scan(&xmin); err != nil {
		t.Fatalf("read xmin of %s: %v", postID, err)
	}
	return xmin
}

func TestDefinition(t *testing.T) {
	t.Parallel()
	def := persist.Definition()
	streams := config.Default().Streams
	if !def.Batch || def.Input(streams) != "posts.tagged" || def.LegacyInput(streams) != "stream:posts:tagged" || def.Outputs != nil {
		t.Errorf("definition: batch=%v input=%q legacy=%q outputs=%v", def.Batch, def.Input(streams), def.LegacyInput(streams), def.Outputs != nil)
	}
	if !slices.Contains(def.Needs, pipeline.NeedMigrations) || !slices.Contains(def.Needs, pipeline.NeedPostgres) {
		t.Errorf("needs %v, want postgres and migrations", def.Needs)
	}
	if _, err := pipeline.NewRegistry(def); err != nil {
		t.Errorf("registry rejects the definition: %v", err)
	}
}

// TestPersistTagsRow runs sequences of batches for one post and checks the
// tags row at the end: which event's data it holds, which batch last wrote
// it (updated_at), and how many replacements were counted.
func TestPersistTagsRow(t *testing.T) {
	t.Parallel()
	const post = "post-1"
	tests := []struct {
		name    string
		batches [][]*events.PostTagged
		// wantTrace is the trace id of the event whose data is stored.
		wantTrace string
		wantTags  []string
		// wantWrittenBy is the batch after which updated_at last changed.
		wantWrittenBy int
		wantConflicts float64
		wantSource    int // minute of the stored source_occurred_at
		wantUntouched bool
		wantSuccess   float64
	}{
		{
			name:      "insert",
			batches:   [][]*events.PostTagged{{tagged(post, 1, "Python", "релиз")}},
			wantTrace: "trace-post-1-1", wantTags: []string{"Python", "релиз"}, wantSource: 1, wantSuccess: 1,
		},
		{
			name:      "redelivery writes nothing",
			batches:   [][]*events.PostTagged{{tagged(post, 1, "Python")}, {tagged(post, 1, "Python")}},
			wantTrace: "trace-post-1-1", wantTags: []string{"Python"}, wantSource: 1, wantUntouched: true, wantSuccess: 2,
		},
		{
			name:      "same tags from a newer event keep data and updated_at",
			batches:   [][]*events.PostTagged{{tagged(post, 1, "Python")}, {tagged(post, 5, "Python")}},
			wantTrace: "trace-post-1-1", wantTags: []string{"Python"}, wantSource: 5, wantSuccess: 2,
		},
		{
			name:      "different tags replace and count a conflict",
			batches:   [][]*events.PostTagged{{tagged(post, 1, "Python")}, {tagged(post, 2, "Python", "релиз")}},
			wantTrace: "trace-post-1-2", wantTags: []string{"Python", "релиз"}, wantWrittenBy: 1, wantConflicts: 1, wantSource: 2, wantSuccess: 2,
		},
		{
			name:      "an older event never overwrites a newer one",
			batches:   [][]*events.PostTagged{{tagged(post, 5, "Python")}, {tagged(post, 2, "релиз")}},
			wantTrace: "trace-post-1-5", wantTags: []string{"Python"}, wantSource: 5, wantUntouched: true, wantSuccess: 2,
		},
		{
			name: "an event between a write and a newer same-tags event is stale",
			batches: [][]*events.PostTagged{
				{tagged(post, 1, "Python")}, {tagged(post, 3, "Python")}, {tagged(post, 2, "релиз")},
			},
			wantTrace: "trace-post-1-1", wantTags: []string{"Python"}, wantSource: 3, wantSuccess: 3,
		},
		{
			name:      "newest event of a batch wins whatever the order",
			batches:   [][]*events.PostTagged{{tagged(post, 4, "GIL"), tagged(post, 2, "релиз"), tagged(post, 3, "JIT")}},
			wantTrace: "trace-post-1-4", wantTags: []string{"GIL"}, wantSource: 4, wantSuccess: 3,
		},
		{
			name:      "empty tags are stored too",
			batches:   [][]*events.PostTagged{{tagged(post, 1)}},
			wantTrace: "trace-post-1-1", wantTags: []string{}, wantSource: 1, wantSuccess: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var updatedAt []time.Time
			var versions []string
			for _, batch := range tt.batches {
				e.handle(t, batch...)
				_, row, err := e.repo.GetTags(e.ctx, post)
				if err != nil {
					t.Fatalf("read tags: %v", err)
				}
				updatedAt = append(updatedAt, row.UpdatedAt)
				versions = append(versions, e.rowVersion(t, post))
			}
			data, row, err := e.repo.GetTags(e.ctx, post)
			if err != nil {
				t.Fatalf("read tags: %v", err)
			}
			if data.TraceID != tt.wantTrace || !slices.Equal(data.Tags, tt.wantTags) {
				t.Errorf("stored trace %s tags %q, want %s %q", data.TraceID, data.Tags, tt.wantTrace, tt.wantTags)
			}
			if data.TagsHash != events.TagsHash(tt.wantTags) || row.DataHash != data.TagsHash {
				t.Errorf("data_hash %s, data.tags_hash %s, want %s", row.DataHash, data.TagsHash, events.TagsHash(tt.wantTags))
			}
			if data.Provider != "local" || data.Model != "rake" || data.PromptVersion != "v1" || data.LatencyMS != 7 {
				t.Errorf("data = %+v", data)
			}
			if row.Status != "ok" || row.Provider != "local" || row.Kind != "tags" {
				t.Errorf("row status %s provider %s kind %s", row.Status, row.Provider, row.Kind)
			}
			if want := base.Add(time.Duration(tt.wantSource) * time.Minute); !row.SourceOccurredAt.Equal(want) {
				t.Errorf("source_occurred_at %v, want %v", row.SourceOccurredAt, want)
			}
			if !row.UpdatedAt.Equal(updatedAt[tt.wantWrittenBy]) {
				t.Errorf("updated_at %v, want the one after batch %d (%v)", row.UpdatedAt, tt.wantWrittenBy, updatedAt)
			}
			for i := tt.wantWrittenBy + 1; i < len(updatedAt); i++ {
				if !updatedAt[i].Equal(updatedAt[tt.wantWrittenBy]) {
					t.Errorf("batch %d changed updated_at", i)
				}
			}
			if tt.wantUntouched && versions[len(versions)-1] != versions[0] {
				t.Errorf("row rewritten: xmin %v", versions)
			}
			if got := e.conflicts(t); got != tt.wantConflicts {
				t.Errorf("tags_persist_conflicts_total = %v, want %v", got, tt.wantConflicts)
			}
			if got := e.persisted(t, "success"); got != tt.wantSuccess {
				t.Errorf("tags_persisted_total{success} = %v, want %v", got, tt.wantSuccess)
			}
			if got := e.persisted(t, "error"); got != 0 {
				t.Errorf("tags_persisted_total{error} = %v", got)
			}
			if got := gatherValue(t, e.registry, "tags_persist_latency_seconds", ""); got != float64(len(tt.batches)) {
				t.Errorf("latency observations = %v, want one per batch", got)
			}
		})
	}
}

func TestPersistPostsColumns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	full := tagged("p-full", 1, "Python")
	e.handle(t, full)
	got, err := e.repo.GetPost(e.ctx, "p-full")
	if err != nil {
		t.Fatalf("read post: %v", err)
	}
	wantExpires := e.cfg.Posts.ExpiresAt(full.PostedAt, full.OccurredAt)
	if got.ChannelID != "chan-1" || got.TenantID != "tenant-1" || got.Text != full.Text ||
		!slices.Equal(got.URLs, full.URLs) || !got.PostedAt.Equal(full.PostedAt) ||
		!got.ExpiresAt.Equal(wantExpires) || got.ContentHash != full.ContentHash {
		t.Errorf("post = %+v", got)
	}

	// A newer event that carries only the required fields: nothing is cleared.
	sparse := &events.PostTagged{
		Envelope: events.Envelope{SchemaVersion: events.SchemaV1, OccurredAt: base.Add(5 * time.Minute)},
		PostID:   "p-full", Tags: []string{"GIL"}, TagsHash: events.TagsHash([]string{"GIL"}), URLs: []string{},
	}
	e.handle(t, sparse)
	after, err := e.repo.GetPost(e.ctx, "p-full")
	if err != nil {
		t.Fatalf("read post: %v", err)
	}
	if after.ChannelID != got.ChannelID || after.TenantID != got.TenantID || after.Text != got.Text ||
		!slices.Equal(after.URLs, got.URLs) || !after.PostedAt.Equal(got.PostedAt) ||
		!after.ExpiresAt.Equal(got.ExpiresAt) || after.ContentHash != got.ContentHash {
		t.Errorf("sparse event cleared columns:\nbefore %+v\nafter  %+v", got, after)
	}
	if !after.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("posts row rewritten by an event that changes nothing in it")
	}
	if data, _, _ := e.repo.GetTags(e.ctx, "p-full"); !slices.Equal(data.Tags, []string{"GIL"}) {
		t.Errorf("tags = %q, want [GIL]", data.Tags)
	}

	// A row an external ingest wrote first keeps the columns the event lacks.
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO posts (post_id, channel_id, text, content_hash) VALUES ('p-ext', 'ext-chan', 'external text', 'ext-hash')`); err != nil {
		t.Fatalf("external insert: %v", err)
	}
	ev := tagged("p-ext", 1, "Python")
	ev.ChannelID, ev.Text, ev.ContentHash = "", "", ""
	e.handle(t, ev)
	ext, err := e.repo.GetPost(e.ctx, "p-ext")
	if err != nil {
		t.Fatalf("read post: %v", err)
	}
	if ext.ChannelID != "ext-chan" || ext.Text != "external text" || ext.ContentHash != "ext-hash" ||
		ext.TenantID != "tenant-1" || !ext.PostedAt.Equal(ev.PostedAt) {
		t.Errorf("external post = %+v", ext)
	}

	// An older event does not bring back an older text.
	old := tagged("p-full", 0, "Python")
	old.Text = "old text"
	e.handle(t, old)
	if p, _ := e.repo.GetPost(e.ctx, "p-full"); p.Text != full.Text {
		t.Errorf("older event changed text to %q", p.Text)
	}
}

func TestPersistBatchIsConstantStatements(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var counts []int64
	sizes := []int{1, 10, 1000}
	total := 0
	for _, size := range sizes {
		events := make([]*events.PostTagged, size)
		for i := range events {
			events[i] = tagged(fmt.Sprintf("batch-%d-%d", size, i), 1, "Python", fmt.Sprint(i))
		}
		e.tracer.n.Store(0)
		e.handle(t, events...)
		counts = append(counts, e.tracer.n.Load())
		total += size
	}
	// One statement writes both tables, whatever the batch's size.
	for i, n := range counts {
		if n != 1 {
			t.Errorf("batch of %d sent %d statements, want 1 (counts %v)", sizes[i], n, counts)
		}
	}
	var rows, posts int
	if err := e.pool.QueryRow(e.ctx, `SELECT (SELECT count(*) FROM post_enrichment WHERE kind = 'tags'), (SELECT count(*) FROM posts)`).Scan(&rows, &posts); err != nil {
		t.Fatalf("count: %v", err)
	}
	if rows != total || posts != total {
		t.Errorf("%d tags rows and %d posts, want %d", rows, posts, total)
	}
}

// TestPersistConnectionKilled kills the stage's connection after the posts
// statement ran and while the tags statement waits: both travel in one
// pipeline that PostgreSQL runs as one implicit transaction, so nothing may
// be half-written, Handle reports the failure, and handling the batch again
// stores every event.
func TestPersistConnectionKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 200
	msgs := make([]*pipeline.Message, n)
	for i := range msgs {
		msgs[i] = message(t, tagged(fmt.Sprintf("kill-%d", i), 1, "Python"))
	}
	last := fmt.Sprintf("kill-%d", n-1)
	// The last post already has a tags row, and another session holds it
	// locked: the statement inserts the other posts' rows, then waits on
	// that row's lock, and is killed there, mid-write.
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO post_enrichment (post_id, kind, data, data_hash) VALUES ($1, 'tags', '{}', 'older')`, last); err != nil {
		t.Fatal(err)
	}
	locker, err := pgx.Connect(e.ctx, e.dbURL) // the test's schema
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(e.ctx)
	tx, err := locker.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(e.ctx, `SELECT 1 FROM post_enrichment WHERE post_id = $1 AND kind = 'tags' FOR UPDATE`, last); err != nil {
		t.Fatal(err)
	}
	killed := make(chan error, 1)
	go func() {
		kill := func() error {
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				var terminated int
				err := locker.QueryRow(e.ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock') k`, e.appName).Scan(&terminated)
				if err != nil || terminated > 0 {
					return err
				}
				time.Sleep(5 * time.Millisecond) // polling pg_stat_activity: there is no event to wait on
			}
			return fmt.Errorf("no connection named %s waited on the lock", e.appName)
		}
		err := kill()
		// Done with locker before the test goes on (and closes it): the
		// rollback used to run after the send, racing with that Close.
		_ = tx.Rollback(e.ctx)
		killed <- err
	}()

	err = e.stage.Handle(e.ctx, msgs)
	if kerr := <-killed; kerr != nil {
		t.Fatalf("terminate connections: %v", kerr)
	}
	if err == nil {
		t.Fatal("Handle succeeded although its connection was killed mid-transaction")
	}
	if pipeline.IsPermanent(err) {
		t.Errorf("connection loss classified as permanent: %v", err)
	}
	for _, m := range msgs {
		if m.Err() != nil {
			t.Fatalf("message %s has its own failure %v; the batch error is what fails it", m.ID, m.Err())
		}
	}
	count := func() int {
		var c int
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM post_enrichment`).Scan(&c); err != nil {
			t.Fatalf("count: %v", err)
		}
		return c
	}
	if c := count(); c != 1 {
		t.Fatalf("%d tags rows after the kill, want only the one there before: the statement's rows survived", c)
	}
	var posts int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM posts`).Scan(&posts); err != nil {
		t.Fatalf("count posts: %v", err)
	}
	if posts != 0 {
		t.Fatalf("%d posts rows survived a statement that never committed", posts)
	}
	if got := e.persisted(t, "error"); got != n {
		t.Errorf("tags_persisted_total{error} = %v, want %d", got, n)
	}

	// The runner retries the batch.
	if err := e.stage.Handle(e.ctx, msgs); err != nil {
		t.Fatalf("retry after the kill: %v", err)
	}
	if c := count(); c != n {
		t.Errorf("%d rows after the retry, want %d", c, n)
	}
	if got := e.persisted(t, "success"); got != n {
		t.Errorf("tags_persisted_total{success} = %v, want %d", got, n)
	}
}

func TestPersistMalformedEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wrongHash := tagged("bad-hash", 1, "Python")
	wrongHash.TagsHash = events.TagsHash([]string{"Go"})
	wrongHashJSON, _ := json.Marshal(wrongHash)
	malformed := []struct {
		name   string
		values map[string]any
	}{
		{"not json", map[string]any{"data": "{not json"}},
		{"json array", map[string]any{"data": `["a"]`}},
		{"missing tags_hash", map[string]any{"data": `{"post_id":"p","tags":["a"]}`}},
		{"missing post_id", map[string]any{"data": `{"tags":[],"tags_hash":"4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"}`}},
		{"tags_hash does not match", map[string]any{"data": string(wrongHashJSON)}},
		{"unknown schema version", map[string]any{"data": `{"schema_version":"v9","post_id":"p","tags":[],"tags_hash":"4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"}`}},
	}
	good := []*pipeline.Message{message(t, tagged("good-1", 1, "Python")), message(t, tagged("good-2", 1, "релиз"))}
	batch := []*pipeline.Message{good[0]}
	bad := map[*pipeline.Message]string{}
	for _, m := range malformed {
		msg := rawMessage(m.values)
		bad[msg] = m.name
		batch = append(batch, msg)
	}
	batch = append(batch, good[1])

	if err := e.stage.Handle(e.ctx, batch); err != nil {
		t.Fatalf("handle: %v", err)
	}
	for _, m := range batch {
		name, isBad := bad[m]
		switch {
		case isBad && (m.Err() == nil || !pipeline.IsPermanent(m.Err())):
			t.Errorf("%s: failure %v, want a permanent one", name, m.Err())
		case !isBad && m.Err() != nil:
			t.Errorf("good entry %s failed: %v", m.ID, m.Err())
		}
	}
	for _, id := range []string{"good-1", "good-2"} {
		if _, _, err := e.repo.GetTags(e.ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if got := e.persisted(t, "error"); got != float64(len(malformed)) {
		t.Errorf("tags_persisted_total{error} = %v, want %d", got, len(malformed))
	}
	want := `
# HELP tags_persist_conflicts_total Stored tags rows that held different tags and were replaced.
# TYPE tags_persist_conflicts_total counter
tags_persist_conflicts_total 0
# HELP tags_persisted_total posts.tagged entries handled by persist, by status: success (the tags row reflects the event, written or already up to date) or error.
# TYPE tags_persisted_total counter
tags_persisted_total{status="error"} 6
tags_persisted_total{status="success"} 2
`
	if err := testutil.GatherAndCompare(e.registry, strings.NewReader(want), "tags_persisted_total", "tags_persist_conflicts_total"); err != nil {
		t.Error(err)
	}
}

// TestPersistLegacyFlatEntry: the old worker's flat entries carry no
// envelope; the entry id's time orders them.
func TestPersistLegacyFlatEntry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tags := []string{"Python", "релиз"}
	msg := &pipeline.Message{Stream: "stream:posts:tagged", ID: fmt.Sprintf("%d-0", base.UnixMilli()), Attempt: 1,
		Values: map[string]any{"post_id": "legacy-1", "tags": `["Python", "релиз"]`, "tags_hash": events.TagsHash(tags)}}
	if err := e.stage.Handle(e.ctx, []*pipeline.Message{msg}); err != nil || msg.Err() != nil {
		t.Fatalf("handle: %v / %v", err, msg.Err())
	}
	data, row, err := e.repo.GetTags(e.ctx, "legacy-1")
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !slices.Equal(data.Tags, tags) || !row.SourceOccurredAt.Equal(base) {
		t.Errorf("tags %q source %v", data.Tags, row.SourceOccurredAt)
	}
}

// TestPersistRefusedRow: a row Postgres refuses for its data fails alone
// and permanently; the rest of the batch is stored.
func TestPersistRefusedRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A constraint stands in for any value the columns refuse.
	if _, err := e.pool.Exec(e.ctx, `ALTER TABLE posts ADD CONSTRAINT test_refuse CHECK (text <> 'poison')`); err != nil {
		t.Fatalf("add constraint: %v", err)
	}
	poison := tagged("poison", 1, "Python")
	poison.Text = "poison"
	msgs := []*pipeline.Message{
		message(t, tagged("ok-1", 1, "Python")), message(t, poison), message(t, tagged("ok-2", 1, "Python")),
	}
	if err := e.stage.Handle(e.ctx, msgs); err != nil {
		t.Fatalf("handle: %v", err)
	}
	if msgs[0].Err() != nil || msgs[2].Err() != nil {
		t.Errorf("good entries failed: %v, %v", msgs[0].Err(), msgs[2].Err())
	}
	if !pipeline.IsPermanent(msgs[1].Err()) {
		t.Errorf("refused entry: %v, want a permanent failure", msgs[1].Err())
	}
	for _, id := range []string{"ok-1", "ok-2"} {
		if _, _, err := e.repo.GetTags(e.ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if _, _, err := e.repo.GetTags(e.ctx, "poison"); err == nil {
		t.Error("the refused post's tags were stored without its post")
	}
	if e.persisted(t, "success") != 2 || e.persisted(t, "error") != 1 {
		t.Errorf("success %v error %v, want 2 and 1", e.persisted(t, "success"), e.persisted(t, "error"))
	}
}

func TestPersistCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	checker, ok := e.stage.(pipeline.Checker)
	if !ok {
		t.Fatal("stage does not implement pipeline.Checker")
	}
	if err := checker.Check(e.ctx); err != nil {
		t.Errorf("check: %v", err)
	}
	e.pool.Close()
	if err := checker.Check(e.ctx); err == nil {
		t.Error("check passed on a closed pool")
	}
}

// TestPersistPhotoPost stores a photo post without a caption (empty text,
// empty tags) as the tag stage publishes it: the post row with its
// channel, tenant and dates, and the tags row whose data carries tenant_id
// (the old enrichment and indexing code reads data->>'tenant_id').
func TestPersistPhotoPost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	photo := tagged("p-photo", 1)
	photo.Text, photo.URLs, photo.ContentHash = "", []string{}, events.ContentHash("")
	photo.Provider, photo.Model = "rule", "min_chars"
	e.handle(t, photo)
	got, err := e.repo.GetPost(e.ctx, "p-photo")
	if err != nil {
		t.Fatalf("read post: %v", err)
	}
	if got.ChannelID != "chan-1" || got.TenantID != "tenant-1" || !got.PostedAt.Equal(photo.PostedAt) || got.Text != "" {
		t.Errorf("photo post row = %+v", got)
	}
	var tenant, hash string
	if err := e.pool.QueryRow(e.ctx, `SELECT data->>'tenant_id', data->>'tags_hash' FROM post_enrichment
WHERE post_id = 'p-photo' AND kind = 'tags' AND jsonb_array_length(data->'tags') = 0`).Scan(&tenant, &hash); err != nil {
		t.Fatalf("read tags row: %v", err)
	}
	if tenant != "tenant-1" || hash != events.TagsHash(nil) {
		t.Errorf("tags data: tenant_id %q, tags_hash %s", tenant, hash)
	}
}
