package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/internal/tgfake"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/telegram"
	"github.com/assistant-dev/assistant/store/postgres"
)

// env is one test's world: the test MTProto server, real Redis and a
// private PostgreSQL schema with the migrations applied.
type env struct {
	t      testing.TB
	tg     *tgfake.Server
	rdb    *redis.Client
	prefix string
	db     *pgxpool.Pool
	store  *telegram.PostgresSession
}

func newEnv(t testing.TB) *env {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &env{t: t, tg: tgfake.New(t), rdb: rdb, prefix: prefix, db: db, store: &telegram.PostgresSession{DB: db, Name: "default"}}
}

func testConfig(channels ...string) telegram.Config {
	cfg := telegram.DefaultConfig()
	cfg.Enabled = true
	cfg.APIID, cfg.APIHash = 12345, "0123456789abcdef0123456789abcdef"
	cfg.Channels = channels
	cfg.LeaseTTL = 3 * time.Second
	cfg.HistoryInterval, cfg.CallInterval = 0, 0
	cfg.ReconnectMin, cfg.ReconnectMax = 50*time.Millisecond, 500*time.Millisecond
	cfg.PingInterval = 200 * time.Millisecond
	return cfg
}

// running is a source running in the background.
type running struct {
	src  *telegram.Source
	reg  *prometheus.Registry
	stop func()
}

func (e *env) start(cfg telegram.Config, owner string) *running {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	src, err := telegram.New(cfg, telegram.Deps{
		Redis: e.rdb, Keys: pipeline.Keys{Prefix: e.prefix}, DB: e.db,
		Registerer: reg, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Owner: owner, Network: e.tg.Network(), Session: e.store,
	})
	if err != nil {
		e.t.Fatalf("new source: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	r := &running{src: src, reg: reg}
	var stopped bool
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run returned %v", err)
			}
		case <-time.After(90 * time.Second):
			e.t.Error("Run did not return after cancel")
		}
	}
	e.t.Cleanup(r.stop)
	return r
}

// parsed reads posts.parsed whole.
func (e *env) parsed() []events.PostParsed {
	e.t.Helper()
	return readStream[events.PostParsed](e.t, e.rdb, e.prefix+"posts.parsed")
}

// fenceText marks the messages fence posts.
const fenceText = "fence: every earlier publication is in"

// fence posts a message to a followed channel as a live update and waits
// until the source has published it: the source publishes a channel's
// messages in order, so after the fence nothing the source did before it
// is still to come. It stands where a test would otherwise sleep to see
// that "nothing more comes".
func (e *env) fence(channelID int64) {
	e.t.Helper()
	m := e.tg.Post(channelID, &tg.Message{Message: fenceText}, true)
	testenv.WaitFor(e.t, "the fence message of channel "+itoa(channelID), 30*time.Second, func() bool {
		for _, p := range e.parsed() {
			if p.TGChannelID == ingest.MarkedChannelID(channelID) && p.TGMessageID == int64(m.ID) {
				return true
			}
		}
		return false
	})
}

// withoutFences is posts less the fence messages.
func withoutFences(posts []events.PostParsed) []events.PostParsed {
	out := posts[:0:0]
	for _, p := range posts {
		if p.Text != fenceText {
			out = append(out, p)
		}
	}
	return out
}

func (e *env) deleted() []events.PostDeleted {
	e.t.Helper()
	return readStream[events.PostDeleted](e.t, e.rdb, e.prefix+"posts.deleted")
}

func readStream[T any](t testing.TB, rdb *redis.Client, key string) []T {
	t.Helper()
	entries, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatalf("xrange %s: %v", key, err)
	}
	out := make([]T, 0, len(entries))
	for _, e := range entries {
		data, ok := e.Values[events.DataField].(string)
		if !ok || len(e.Values) != 1 {
			t.Fatalf("entry %s is not in the data form: %v", e.ID, e.Values)
		}
		var v T
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatalf("entry %s: %v", e.ID, err)
		}
		out = append(out, v)
	}
	return out
}

func (e *env) streamLen(stream string) int {
	n, err := e.rdb.XLen(context.Background(), e.prefix+stream).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

func (e *env) waitLen(stream string, n int, timeout time.Duration) {
	e.t.Helper()
	// MTProto key exchanges and RSA under -race on a shared 2-core machine
	// take long; the waits are generous, the assertions exact.
	timeout *= 3
	testenv.WaitFor(e.t, stream+" to hold "+itoa(int64(n))+" entries", timeout, func() bool { return e.streamLen(stream) >= n })
}

func (e *env) checkpoint(channelID int64) int64 {
	var last int64
	err := e.db.QueryRow(context.Background(), `SELECT last_message_id FROM telegram_channels WHERE channel_id = $1`, channelID).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0 // not saved yet: the posts are published first
	}
	if err != nil {
		e.t.Fatalf("checkpoint of %d: %v", channelID, err)
	}
	return last
}

// countByPost counts entries per post id.
func countByPost(posts []events.PostParsed) map[string]int {
	m := map[string]int{}
	for _, p := range posts {
		m[p.PostID]++
	}
	return m
}

// TestBackfillThreeChannels reads 3 channels × 500 messages from the test
// MTProto server (one by username, one by @name, one by marked id found
// through the dialogs) and checks that each message is published exactly
// once, with the event built as file ingest builds it, and the checkpoints.
func TestBackfillThreeChannels(t *testing.T) {
	e := newEnv(t)
	ids := []int64{1001, 1002, 1003}
	e.tg.AddChannel(ids[0], "alpha", "Альфа", 500)
	e.tg.AddChannel(ids[1], "beta", "Бета", 500)
	e.tg.AddChannel(ids[2], "", "Гамма (private)", 500)
	r := e.start(testConfig("alpha", "@Beta", "-1000000001003"), "a")
	e.waitLen("posts.parsed", 1500, 90*time.Second)
	for _, id := range ids {
		id := id
		testenv.WaitFor(t, "checkpoint", 10*time.Second, func() bool {
			var n int
			_ = e.db.QueryRow(context.Background(), `SELECT count(*) FROM telegram_channels WHERE channel_id = $1 AND last_message_id = 500`, id).Scan(&n)
			return n == 1
		})
	}
	for _, id := range ids {
		e.fence(id) // nothing more may come
	}
	posts := withoutFences(e.parsed())
	if len(posts) != 1500 {
		t.Fatalf("published %d entries, want 1500", len(posts))
	}
	counts := countByPost(posts)
	if len(counts) != 1500 {
		t.Fatalf("%d distinct post ids, want 1500", len(counts))
	}
	for _, p := range posts {
		var ev events.PostParsed = p
		if err := ev.Validate(); err != nil {
			t.Fatalf("invalid event %+v: %v", p, err)
		}
		bare := -p.TGChannelID - 1_000_000_000_000
		want := ingest.PostID(itoa(p.TGChannelID), p.TGMessageID)
		if p.PostID != want || p.ChannelID != itoa(p.TGChannelID) {
			t.Fatalf("post id %s channel %s, want %s", p.PostID, p.ChannelID, want)
		}
		if len(p.URLs) != 2 || p.URLs[0] != "https://example.org/"+itoa(bare)+"/"+itoa(p.TGMessageID) ||
			p.URLs[1] != "https://source.example/"+itoa(p.TGMessageID) {
			t.Fatalf("urls %v of message %d/%d: want the entity URL (UTF-16 offsets after an emoji) then the text link", p.URLs, bare, p.TGMessageID)
		}
		if p.ContentHash != events.ContentHash(p.Text) || p.IdempotencyKey != p.PostID || p.SchemaVersion != "v1" || p.TraceID == "" {
			t.Fatalf("envelope or hash wrong: %+v", p)
		}
		if p.ViewsCount != p.TGMessageID*10 {
			t.Fatalf("views %d, want %d", p.ViewsCount, p.TGMessageID*10)
		}
	}
	var alpha events.PostParsed
	for _, p := range posts {
		if p.TGChannelID == ingest.MarkedChannelID(1001) && p.TGMessageID == 7 {
			alpha = p
		}
	}
	if alpha.TelegramPostURL != "https://t.me/alpha/7" || alpha.ChannelTitle != "Альфа" {
		t.Errorf("post link %q title %q", alpha.TelegramPostURL, alpha.ChannelTitle)
	}
	if got := testenv.MetricValue(t, r.reg, "telegram_messages_total", map[string]string{"status": "published"}); got != 1500+3 {
		t.Errorf("telegram_messages_total{published} = %v, want 1503 (1500 and the 3 fences)", got)
	}
	if err := r.src.Check(context.Background()); err != nil {
		t.Errorf("Check while connected: %v", err)
	}
	r.stop()
	if err := r.src.Check(context.Background()); err == nil {
		t.Error("Check after stop reports connected")
	}
}

// TestRestartResumesFromCheckpoint stops the source after a backfill, adds
// messages while it is down, and starts a new source: it publishes the new
// messages only.
func TestRestartResumesFromCheckpoint(t *testing.T) {
	e := newEnv(t)
	e.tg.AddChannel(2001, "news", "News", 500)
	e.tg.AddChannel(2002, "more", "More", 300)
	cfg := testConfig("news", "more")
	first := e.start(cfg, "first")
	e.waitLen("posts.parsed", 800, 60*time.Second)
	testenv.WaitFor(t, "checkpoints", 10*time.Second, func() bool {
		return e.checkpoint(2001) == 500 && e.checkpoint(2002) == 300
	})
	first.stop()
	for i := 0; i < 25; i++ {
		e.tg.Post(2001, &tg.Message{Message: "пока нас не было " + itoa(int64(i))}, false)
	}
	second := e.start(cfg, "second")
	e.waitLen("posts.parsed", 825, 60*time.Second)
	testenv.WaitFor(t, "checkpoint 525", 10*time.Second, func() bool { return e.checkpoint(2001) == 525 })
	e.fence(2001)
	e.fence(2002)
	posts := withoutFences(e.parsed())
	if len(posts) != 825 {
		t.Fatalf("%d entries after the restart, want 825 (800 + 25 new, no duplicates)", len(posts))
	}
	for id, n := range countByPost(posts) {
		if n != 1 {
			t.Fatalf("post %s published %d times", id, n)
		}
	}
	for _, p := range posts[800:] {
		if p.TGMessageID <= 500 || !strings.HasPrefix(p.Text, "пока нас не было") {
			t.Fatalf("after restart published message %d %q", p.TGMessageID, p.Text)
		}
	}
	second.stop()
}

// TestLiveEditDeleteMedia follows a channel after its backfill: a new
// message, a media-only message (empty text, has_media), an edit (published
// again under the same post id) and a deletion (posts.deleted, reason
// telegram) all arrive as pushed updates.
func TestLiveEditDeleteMedia(t *testing.T) {
	e := newEnv(t)
	e.tg.AddChannel(3001, "live", "Live", 20)
	r := e.start(testConfig("live"), "a")
	e.waitLen("posts.parsed", 20, 60*time.Second)
	testenv.WaitFor(t, "checkpoint", 10*time.Second, func() bool { return e.checkpoint(3001) == 20 })

	e.tg.Post(3001, &tg.Message{Message: "Свежая новость https://fresh.example/x"}, true)
	e.waitLen("posts.parsed", 21, 20*time.Second)
	photo := &tg.MessageMediaPhoto{Photo: &tg.Photo{ID: 5, AccessHash: 6, FileReference: []byte{1}, Date: int(time.Now().Unix()), Sizes: []tg.PhotoSizeClass{}, DCID: 2}}
	photo.SetFlags()
	e.tg.Post(3001, &tg.Message{Message: "", Media: photo}, true)
	e.waitLen("posts.parsed", 22, 20*time.Second)
	e.tg.Edit(3001, 5, "Исправленный текст https://fixed.example/5")
	e.waitLen("posts.parsed", 23, 20*time.Second)
	e.tg.Remove(3001, 3, 4)
	e.waitLen("posts.deleted", 2, 20*time.Second)

	posts := e.parsed()
	live, media, edited := posts[20], posts[21], posts[22]
	if live.TGMessageID != 21 || live.Text != "Свежая новость https://fresh.example/x" || len(live.URLs) != 1 || live.URLs[0] != "https://fresh.example/x" {
		t.Errorf("live post: %+v", live)
	}
	if media.TGMessageID != 22 || media.Text != "" || !media.HasMedia {
		t.Errorf("media-only post: id %d text %q has_media %v", media.TGMessageID, media.Text, media.HasMedia)
	}
	if media.ContentHash != events.ContentHash("") {
		t.Errorf("media-only content hash %s", media.ContentHash)
	}
	var original events.PostParsed
	for _, p := range posts[:20] {
		if p.TGMessageID == 5 {
			original = p
		}
	}
	if edited.PostID != original.PostID || edited.Text != "Исправленный текст https://fixed.example/5" || edited.ContentHash == original.ContentHash {
		t.Errorf("edit: %+v (original %s)", edited, original.PostID)
	}
	dels := e.deleted()
	for i, d := range dels {
		want := ingest.PostID(itoa(ingest.MarkedChannelID(3001)), int64(3+i))
		if d.PostID != want || d.Reason != "telegram" || d.ChannelID != "-1000000003001" || d.SchemaVersion != "v1" || d.TraceID == "" {
			t.Errorf("deletion %d: %+v, want post %s", i, d, want)
		}
	}
	if e.checkpoint(3001) != 22 {
		t.Errorf("checkpoint %d after live messages, want 22", e.checkpoint(3001))
	}
	for status, want := range map[string]float64{"published": 22, "edited": 1, "deleted": 2} {
		if got := testenv.MetricValue(t, r.reg, "telegram_messages_total", map[string]string{"status": status}); got != want {
			t.Errorf("telegram_messages_total{%s} = %v, want %v", status, got, want)
		}
	}
	if age := testenv.MetricValue(t, r.reg, "telegram_last_message_age_seconds", map[string]string{"channel": "live"}); age < 0 || age > 120 {
		t.Errorf("last message age %v", age)
	}
}

// TestFloodWaitIsWaited makes the test server answer the first
// messages.getHistory with FLOOD_WAIT_3: the source sleeps 3 s, retries, and
// publishes everything.
func TestFloodWaitIsWaited(t *testing.T) {
	e := newEnv(t)
	e.tg.AddChannel(4001, "slow", "Slow", 150)
	e.tg.SetFloodWait(1, 3)
	start := time.Now()
	r := e.start(testConfig("slow"), "a")
	e.waitLen("posts.parsed", 150, 60*time.Second)
	if el := time.Since(start); el < 3*time.Second {
		t.Errorf("published after %s: the 3 s flood wait was not waited", el)
	}
	if got := testenv.MetricValue(t, r.reg, "telegram_flood_wait_seconds_total", nil); got != 3 {
		t.Errorf("telegram_flood_wait_seconds_total = %v, want 3", got)
	}
	calls := e.tg.HistoryCalls()
	if calls != 3 { // the refused one, then 2 pages (100 + 50, down to message 1)
		t.Errorf("%d getHistory calls, want 3", calls)
	}
	if n := len(countByPost(e.parsed())); n != 150 || e.streamLen("posts.parsed") != 150 {
		t.Errorf("%d distinct posts of %d entries, want 150", n, e.streamLen("posts.parsed"))
	}
}

// TestDroppedConnectionRecovered cuts every connection between the source
// and the test server; a message posted while cut (its update lost) and
// one after are both published once the client has reconnected, through
// the updates engine's gap recovery (getChannelDifference).
func TestDroppedConnectionRecovered(t *testing.T) {
	e := newEnv(t)
	e.tg.AddChannel(5001, "flaky", "Flaky", 10)
	e.start(testConfig("flaky"), "a")
	e.waitLen("posts.parsed", 10, 60*time.Second)
	e.tg.Post(5001, &tg.Message{Message: "до обрыва"}, true)
	e.waitLen("posts.parsed", 11, 20*time.Second)

	e.tg.Cut()
	e.tg.Post(5001, &tg.Message{Message: "во время обрыва"}, false) // update lost
	before := e.tg.RequestCount()
	testenv.WaitFor(t, "the client to reconnect", 30*time.Second, func() bool { return e.tg.RequestCount() > before })
	e.tg.Post(5001, &tg.Message{Message: "после обрыва"}, true)
	e.waitLen("posts.parsed", 13, 30*time.Second)
	e.fence(5001)
	posts := withoutFences(e.parsed())
	got := map[string]int{}
	for _, p := range posts[10:] {
		got[p.Text]++
	}
	for _, text := range []string{"до обрыва", "во время обрыва", "после обрыва"} {
		if got[text] != 1 {
			t.Errorf("%q published %d times, want once (all: %v)", text, got[text], got)
		}
	}
	if len(posts) != 13 {
		t.Errorf("%d entries, want 13", len(posts))
	}
}

// TestExportAndLiveShareThePostID reads a message live from the test server
// and the same message from a Telegram Desktop export (as `assistant
// ingest` does): one post id.
func TestExportAndLiveShareThePostID(t *testing.T) {
	e := newEnv(t)
	e.tg.AddChannel(1234567890, "shared", "Shared", 3)
	e.start(testConfig("shared"), "a")
	e.waitLen("posts.parsed", 3, 60*time.Second)
	var live events.PostParsed
	for _, p := range e.parsed() {
		if p.TGMessageID == 2 {
			live = p
		}
	}
	m := e.tg.Message(1234567890, 2)
	export := map[string]any{
		"name": "Shared", "type": "public_channel", "id": 1234567890,
		"messages": []any{map[string]any{
			"id": 2, "type": "message", "date": "2026-01-01T00:00:00", "date_unixtime": itoa(int64(m.Date)),
			"from": "Shared", "from_id": "channel1234567890", "text": m.Message,
			"text_entities": []any{map[string]any{"type": "plain", "text": m.Message}},
		}},
	}
	path := filepath.Join(t.TempDir(), "result.json")
	data, _ := json.Marshal(export)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var fromFile []*events.PostParsed
	if _, err := ingest.ReadFile(context.Background(), path, ingest.FormatAuto, func(ev *events.PostParsed) error {
		fromFile = append(fromFile, ev)
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if len(fromFile) != 1 {
		t.Fatalf("export gave %d posts", len(fromFile))
	}
	ex := fromFile[0]
	if ex.PostID != live.PostID || ex.ChannelID != live.ChannelID || ex.ContentHash != live.ContentHash || !ex.PostedAt.Equal(live.PostedAt) {
		t.Errorf("export %s/%s/%s, live %s/%s/%s", ex.PostID, ex.ChannelID, ex.ContentHash, live.PostID, live.ChannelID, live.ContentHash)
	}
}

// TestLeaseOneReaderPerChannel runs two sources on the same channels: each
// channel is read by one of them, so every message is published once.
func TestLeaseOneReaderPerChannel(t *testing.T) {
	e := newEnv(t)
	e.tg.AddChannel(6001, "one", "One", 200)
	e.tg.AddChannel(6002, "two", "Two", 200)
	cfg := testConfig("one", "two")
	a := e.start(cfg, "replica-a")
	b := e.start(cfg, "replica-b")
	e.waitLen("posts.parsed", 400, 60*time.Second)
	e.fence(6001)
	e.fence(6002)
	if n := len(withoutFences(e.parsed())); n != 400 {
		t.Fatalf("%d entries from two replicas, want 400", n)
	}
	owner, err := e.rdb.Get(context.Background(), e.prefix+"telegram:lease:6001").Result()
	if err != nil {
		t.Fatalf("lease of 6001: %v", err)
	}
	holder, other, otherName := a, b, "replica-b"
	if owner == "replica-b" {
		holder, other, otherName = b, a, "replica-a"
	}
	// Stopping the holder gives the channel up to the other replica,
	// which reads it from the stored checkpoint: a message posted while
	// nobody followed it (its update lost) is published, the old ones
	// are not published again.
	holder.stop()
	e.tg.Post(6001, &tg.Message{Message: "после остановки"}, false)
	testenv.WaitFor(t, "the other replica to take the lease", time.Minute, func() bool {
		v, _ := e.rdb.Get(context.Background(), e.prefix+"telegram:lease:6001").Result()
		return v == otherName
	})
	e.waitLen("posts.parsed", 401+2, 30*time.Second) // and the two fences
	e.fence(6001)
	other.stop()
	if n := len(withoutFences(e.parsed())); n != 401 {
		t.Errorf("%d entries, want 401", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// BenchmarkBackfill measures the backfill of 3 channels × 2,000 messages
// from the test MTProto server (tgtest over loopback, no request pacing)
// to posts.parsed in real Redis, connection and checkpoints included:
//
//	go test -run '^$' -bench Backfill -benchtime 1x ./telegram/
func BenchmarkBackfill(b *testing.B) {
	e := newEnv(b)
	const perChannel = 2000
	var total int
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		var names []string
		for c := 0; c < 3; c++ {
			id := int64(70000 + i*10 + c)
			name := "bench" + itoa(id)
			e.tg.AddChannel(id, name, name, perChannel)
			names = append(names, name)
		}
		before := e.streamLen("posts.parsed")
		start := time.Now()
		r := e.start(testConfig(names...), "bench")
		e.waitLen("posts.parsed", before+3*perChannel, 5*time.Minute)
		elapsed += time.Since(start)
		total += 3 * perChannel
		r.stop()
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "messages/s")
}
