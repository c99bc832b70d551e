package legacy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
	"github.com/assistant-dev/assistant/ingest/legacy"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// oldPost is a row the fixture puts in the old posts table.
type oldPost struct {
	id        string
	channel   string // channels.id
	messageID int64
	content   *string
	media     string // media_urls JSON
	postedAt  time.Time
	createdAt time.Time
	tenant    string // post_enrichment.data->>'tenant_id', "" for none
	user      string // post_enrichment.data->'metadata'->>'user_id', "" for none
}

// oldDB builds the old system's schema (testdata/legacy/old_schema.sql)
// in a schema of the test's own, fills it with n corpus posts plus photo
// posts without a caption, and returns its URL and the posts.
type oldDB struct {
	t     *testing.T
	url   string
	conn  *pgx.Conn
	posts []oldPost
	// channels maps the corpus channel id to the old channels.id.
	channels map[int64]string
	seq      int
	base     time.Time
}

func newOldDB(t *testing.T, ctx context.Context, n int) *oldDB {
	t.Helper()
	db := &oldDB{t: t, url: testenv.Postgres(t), channels: map[int64]string{},
		base: time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)}
	ddl, err := os.ReadFile(filepath.Join("..", "..", "testdata", "legacy", "old_schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db.conn, err = pgx.Connect(ctx, db.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.conn.Close(context.Background()) })
	if _, err := db.conn.Exec(ctx, string(ddl)); err != nil {
		t.Fatalf("old DDL: %v", err)
	}
	for _, p := range testenv.SamplePosts(t, n) {
		posted, err := time.Parse(time.RFC3339, p.Date)
		if err != nil {
			t.Fatal(err)
		}
		text := p.Text
		db.add(ctx, p.ChannelID, p.Channel, p.MessageID, &text, "[]", posted)
	}
	return db
}

// add inserts one old post; every third shares its created_at with the
// previous one, so the id decides their order.
func (db *oldDB) add(ctx context.Context, tgChannel int64, title string, msg int64, content *string, media string, posted time.Time) oldPost {
	db.t.Helper()
	ch, ok := db.channels[tgChannel]
	if !ok {
		ch = uuid.NewString()
		db.channels[tgChannel] = ch
		if _, err := db.conn.Exec(ctx, `INSERT INTO channels (id, tg_channel_id, title, username) VALUES ($1, $2, $3, NULL)`,
			ch, tgChannel, title); err != nil {
			db.t.Fatal(err)
		}
	}
	if db.seq%3 != 2 {
		db.base = db.base.Add(time.Second)
	}
	db.seq++
	p := oldPost{id: uuid.NewString(), channel: ch, messageID: msg, content: content, media: media,
		postedAt: posted, createdAt: db.base}
	if db.seq%4 == 0 {
		p.tenant = "tenant-" + string(rune('a'+db.seq%3))
		// The old tagging task keeps the user under data.metadata.
		p.user = "user-" + strconv.Itoa(db.seq)
	}
	// The old models' DateTime columns are naive and hold UTC.
	if _, err := db.conn.Exec(ctx, `INSERT INTO posts (id, channel_id, telegram_message_id, content, media_urls, posted_at, created_at)
VALUES ($1, $2, $3, $4, $5::json, $6::timestamptz AT TIME ZONE 'UTC', $7::timestamptz AT TIME ZONE 'UTC')`,
		p.id, ch, msg, content, media, posted, p.createdAt); err != nil {
		db.t.Fatal(err)
	}
	if p.tenant != "" {
		if _, err := db.conn.Exec(ctx, `INSERT INTO post_enrichment (post_id, kind, provider, params_hash, data)
VALUES ($1, 'tags', 'gigachat', 'h', jsonb_build_object('tags', '[]'::jsonb, 'tenant_id', $2::text,
	'metadata', jsonb_build_object('model', 'GigaChat:latest', 'user_id', $3::text)))`, p.id, p.tenant, p.user); err != nil {
			db.t.Fatal(err)
		}
	}
	db.posts = append(db.posts, p)
	return p
}

// streamEvents reads every entry of the stream as a posts.parsed event.
func streamEvents(t *testing.T, ctx context.Context, rdb *redis.Client, stream string) []events.PostParsed {
	t.Helper()
	entries, err := rdb.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]events.PostParsed, 0, len(entries))
	for _, e := range entries {
		if _, ok := e.Values[events.DataField].(string); !ok || len(e.Values) != 1 {
			t.Fatalf("entry %s is not in the data form: %v", e.ID, e.Values)
		}
		// Decoded as the tag stage does: every event, the photo posts
		// without text included, is a valid posts.parsed.
		var ev events.PostParsed
		if err := events.Decode(e.Values, &ev); err != nil {
			t.Fatalf("entry %s: %v", e.ID, err)
		}
		out = append(out, ev)
	}
	return out
}

// checkOnce fails unless every old post is in events exactly once.
func checkOnce(t *testing.T, db *oldDB, evs []events.PostParsed) {
	t.Helper()
	seen := map[string]int{}
	for _, ev := range evs {
		seen[ev.PostID]++
	}
	for _, p := range db.posts {
		if seen[p.id] != 1 {
			t.Errorf("old post %s published %d times, want once", p.id, seen[p.id])
		}
	}
	if len(evs) != len(db.posts) {
		t.Errorf("stream holds %d events for %d old posts", len(evs), len(db.posts))
	}
}

func setup(t *testing.T, n int) (context.Context, *oldDB, *redis.Client, pipeline.Keys, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	db := newOldDB(t, ctx, n)
	rdb, prefix := testenv.Redis(t)
	cfg := config.Default()
	cfg.Redis.KeyPrefix = prefix
	keys := pipeline.NewKeys(&cfg)
	return ctx, db, rdb, keys, keys.Stream(cfg.Streams.Parsed)
}

// TestImportEveryPostOnce imports an old database built with the old
// system's DDL: every old post — the photo posts without a caption too —
// reaches posts.parsed once, as a data-form event with the envelope and the
// old ids; a second run publishes nothing; posts the old system stores
// afterwards are picked up by the next run, and only they.
func TestImportEveryPostOnce(t *testing.T) {
	t.Parallel()
	ctx, db, rdb, keys, stream := setup(t, 60)
	empty := ""
	photo := db.add(ctx, -1001000724666, "Naked Science", 90001, &empty, `["https://cdn.example/p1.jpg"]`,
		time.Date(2024, 12, 5, 10, 0, 0, 0, time.UTC))
	photoNull := db.add(ctx, -1001000724666, "Naked Science", 90002, nil, `["https://cdn.example/p2.jpg", "https://cdn.example/p3.jpg"]`,
		time.Date(2024, 12, 5, 10, 1, 0, 0, time.UTC))

	var out strings.Builder
	sum, err := legacy.Import(ctx, rdb, keys, legacy.Options{From: db.url, BatchSize: 7, Progress: &out})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if sum.Published != len(db.posts) || sum.Pending != int64(len(db.posts)) || sum.Resumed || sum.Media != 2 {
		t.Errorf("summary %+v, want %d published of %d pending, 2 with media, not resumed", sum, len(db.posts), len(db.posts))
	}
	if !strings.Contains(out.String(), "imported 62 of 62") {
		t.Errorf("summary line %q", out.String())
	}
	published := streamEvents(t, ctx, rdb, stream)
	checkOnce(t, db, published)

	byID := map[string]events.PostParsed{}
	for _, ev := range published {
		byID[ev.PostID] = ev
		if ev.SchemaVersion != "v1" || ev.TraceID == "" || ev.OccurredAt.IsZero() || ev.IdempotencyKey == "" {
			t.Errorf("post %s: incomplete envelope %+v", ev.PostID, ev.Envelope)
		}
		if ev.ContentHash != events.ContentHash(ev.Text) {
			t.Errorf("post %s: content_hash %s", ev.PostID, ev.ContentHash)
		}
	}
	// The old (created_at, id) order is the stream's order.
	for i := 1; i < len(published); i++ {
		if published[i].PostID == published[i-1].PostID {
			t.Fatalf("post %s twice in a row", published[i].PostID)
		}
	}
	for _, p := range db.posts {
		ev := byID[p.id]
		wantText := ""
		if p.content != nil {
			wantText = *p.content
		}
		if ev.Text != wantText || ev.ChannelID != p.channel || ev.TGMessageID != p.messageID ||
			!ev.PostedAt.Equal(p.postedAt) || ev.TenantID != p.tenant || ev.UserID != p.user {
			t.Errorf("post %s: event %+v does not match the old row %+v", p.id, ev, p)
		}
	}
	for _, p := range []oldPost{photo, photoNull} {
		ev := byID[p.id]
		if !ev.HasMedia || ev.Text != "" {
			t.Errorf("photo post %s: has_media=%v text=%q", p.id, ev.HasMedia, ev.Text)
		}
		if ev.TGChannelID != -1001000724666 || ev.TelegramPostURL != ingest.TelegramPostURL(-1001000724666, "", p.messageID) {
			t.Errorf("photo post %s: tg_channel_id %d, url %q", p.id, ev.TGChannelID, ev.TelegramPostURL)
		}
	}
	tenants := 0
	for _, p := range db.posts {
		if p.tenant != "" {
			tenants++
			if want := p.tenant + ":" + p.channel + ":" + itoa(p.messageID); byID[p.id].IdempotencyKey != want {
				t.Errorf("post %s: idempotency key %q, want %q", p.id, byID[p.id].IdempotencyKey, want)
			}
		}
	}
	if tenants == 0 {
		t.Fatal("the fixture has no post with a tenant")
	}

	// Second run: nothing new.
	sum, err = legacy.Import(ctx, rdb, keys, legacy.Options{From: db.url, BatchSize: 7})
	if err != nil {
		t.Fatalf("second import: %v", err)
	}
	if sum.Published != 0 || sum.Pending != 0 || !sum.Resumed {
		t.Errorf("second run: %+v, want nothing published, resumed", sum)
	}
	if n := rdb.XLen(ctx, stream).Val(); n != int64(len(db.posts)) {
		t.Errorf("after the second run the stream holds %d entries, want %d", n, len(db.posts))
	}

	// The old system stores three more posts, later than the checkpoint:
	// the next run publishes them. One of them is too recent to have
	// settled and waits for a later run.
	db.seq = 0
	for i := range 3 {
		text := "новый пост " + itoa(int64(i))
		db.add(ctx, -1001003313758, "Другой канал", int64(500+i), &text, "[]", time.Date(2024, 12, 6, 0, 0, i, 0, time.UTC))
	}
	fresh := "только что"
	db.base = time.Now().Add(-2 * time.Second)
	db.seq = 0
	db.add(ctx, -1001003313758, "Другой канал", 600, &fresh, "[]", time.Now())
	sum, err = legacy.Import(ctx, rdb, keys, legacy.Options{From: db.url})
	if err != nil || sum.Published != 3 {
		t.Fatalf("third run: %+v, %v; want 3 published", sum, err)
	}
	sum, err = legacy.Import(ctx, rdb, keys, legacy.Options{From: db.url, Settle: time.Millisecond})
	if err != nil || sum.Published != 1 {
		t.Fatalf("fourth run, the fresh post settled: %+v, %v; want 1 published", sum, err)
	}
	checkOnce(t, db, streamEvents(t, ctx, rdb, stream))

	// --restart publishes everything again (downstream idempotency copes).
	sum, err = legacy.Import(ctx, rdb, keys, legacy.Options{From: db.url, Restart: true, Settle: time.Millisecond})
	if err != nil || sum.Published != len(db.posts) || sum.Resumed {
		t.Fatalf("restart: %+v, %v", sum, err)
	}
}

// TestImportResumesAfterInterrupt cancels the import in the middle of a
// batch: the batches before it are in the stream with the checkpoint, the
// one being built is not, and the next run publishes exactly the rest.
func TestImportResumesAfterInterrupt(t *testing.T) {
	t.Parallel()
	ctx, db, rdb, keys, stream := setup(t, 50)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var rows atomic.Int32
	now := func() time.Time {
		// Called once per row read: cancel on the 24th, mid third batch.
		if rows.Add(1) == 24 {
			cancel()
		}
		return time.Now()
	}
	sum, err := legacy.Import(runCtx, rdb, keys, legacy.Options{From: db.url, BatchSize: 10, Now: now})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import: err = %v, want context.Canceled", err)
	}
	if sum.Published != 20 {
		t.Errorf("interrupted import published %d, want the two whole batches (20)", sum.Published)
	}
	if n := rdb.XLen(ctx, stream).Val(); n != 20 {
		t.Fatalf("after the interruption the stream holds %d entries, want 20", n)
	}

	sum, err = legacy.Import(ctx, rdb, keys, legacy.Options{From: db.url, BatchSize: 10})
	if err != nil {
		t.Fatalf("resumed import: %v", err)
	}
	if !sum.Resumed || sum.Pending != 30 || sum.Published != 30 {
		t.Errorf("resumed import: %+v, want 30 of 30 pending, resumed", sum)
	}
	checkOnce(t, db, streamEvents(t, ctx, rdb, stream))
}

// TestImportLimit: --limit stops the run; the next run goes on from there.
func TestImportLimit(t *testing.T) {
	t.Parallel()
	ctx, db, rdb, keys, stream := setup(t, 25)
	sum, err := legacy.Import(ctx, rdb, keys, legacy.Options{From: db.url, BatchSize: 4, Limit: 10})
	if err != nil || sum.Published != 10 || !sum.LimitReached {
		t.Fatalf("limited import: %+v, %v", sum, err)
	}
	sum, err = legacy.Import(ctx, rdb, keys, legacy.Options{From: db.url, BatchSize: 4})
	if err != nil || sum.Published != 15 {
		t.Fatalf("second import: %+v, %v", sum, err)
	}
	checkOnce(t, db, streamEvents(t, ctx, rdb, stream))
}

// TestImportNotTheOldDatabase: a source without the old posts table is
// refused with what is missing, and nothing is published.
func TestImportNotTheOldDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb, prefix := testenv.Redis(t)
	cfg := config.Default()
	cfg.Redis.KeyPrefix = prefix
	keys := pipeline.NewKeys(&cfg)
	for _, tt := range []struct{ name, from, want string }{
		{"empty schema", testenv.Postgres(t), "no posts table with columns id, content, channel_id"},
		{"bad url", "postgres://%zz", "invalid connection string"},
	} {
		_, err := legacy.Import(ctx, rdb, keys, legacy.Options{From: tt.from})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if n := rdb.XLen(ctx, keys.Stream(cfg.Streams.Parsed)).Val(); n != 0 {
		t.Errorf("%d entries published", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestImportReadsEveryFormOfTheOldSchema imports the old schema in the forms
// it has had: the message id as tg_message_id (the old system's rollback
// script renames it back), a channel whose tenant is only in
// channels.settings, and a session whose TimeZone is not UTC (the old naive
// timestamps hold UTC and must not shift).
func TestImportReadsEveryFormOfTheOldSchema(t *testing.T) {
	t.Parallel()
	ctx, db, rdb, keys, stream := setup(t, 12)
	if _, err := db.conn.Exec(ctx, `ALTER TABLE posts RENAME COLUMN telegram_message_id TO tg_message_id`); err != nil {
		t.Fatal(err)
	}
	var settingsChannel string
	for _, ch := range db.channels {
		settingsChannel = ch
		break
	}
	if _, err := db.conn.Exec(ctx, `UPDATE channels SET settings = '{"tenant_id": "tenant-settings"}' WHERE id = $1`, settingsChannel); err != nil {
		t.Fatal(err)
	}
	from := db.url + "&timezone=Asia%2FVladivostok"
	if !strings.Contains(db.url, "?") {
		from = db.url + "?timezone=Asia%2FVladivostok"
	}
	if _, err := legacy.Import(ctx, rdb, keys, legacy.Options{From: from, BatchSize: 5}); err != nil {
		t.Fatalf("import: %v", err)
	}
	published := streamEvents(t, ctx, rdb, stream)
	checkOnce(t, db, published)
	byID := map[string]events.PostParsed{}
	for _, ev := range published {
		byID[ev.PostID] = ev
	}
	for _, p := range db.posts {
		ev := byID[p.id]
		wantTenant := p.tenant
		if wantTenant == "" && p.channel == settingsChannel {
			wantTenant = "tenant-settings"
		}
		if ev.TGMessageID != p.messageID || !ev.PostedAt.Equal(p.postedAt) || ev.TenantID != wantTenant || ev.UserID != p.user {
			t.Errorf("post %s: tg_message_id %d posted_at %s tenant %q user %q; want %d %s %q %q",
				p.id, ev.TGMessageID, ev.PostedAt, ev.TenantID, ev.UserID, p.messageID, p.postedAt, wantTenant, p.user)
		}
	}
}
