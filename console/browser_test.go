package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/console"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/stages/all"
	"github.com/assistant-dev/assistant/store/postgres"
)

// TestConsoleInBrowser runs the real tag and persist stages over sample
// posts (real Redis and PostgreSQL), serves the API with the console on a
// loopback listener, and drives headless Chromium through every page: the
// overview shows the stages with rates over a window, charts from the
// console's samples and Redis memory; the groups page shows consumers with
// their heartbeats and a retried pending entry; a search finds the
// expected post under its channel's name; a post with <script> shows it as
// text without running it; a DLQ entry is replayed through the
// confirmation form and ends up persisted; a form stripped of its CSRF
// token is refused; a DLQ filter is purged in bulk after its confirmation.
// Screenshots go to $CONSOLE_SCREENSHOTS (or a temporary directory).
func TestConsoleInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
	}
	shots := os.Getenv("CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rdb, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	cfg := testenv.Config(t, prefix, dbURL)
	keys := pipeline.NewKeys(cfg)

	// Sample posts, plus one that tries to run a script.
	var posts []*events.PostParsed
	if _, err := ingest.ReadFile(ctx, testenv.SamplePath(), ingest.FormatAuto, func(ev *events.PostParsed) error {
		if len(posts) < 30 {
			// Recent, so the retention (posts.expires_at) keeps them live.
			ev.PostedAt = time.Now().UTC().Add(-time.Duration(len(posts)+1) * time.Hour).Truncate(time.Second)
			posts = append(posts, ev)
		}
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	xss := *posts[0]
	xss.PostID, xss.ContentHash = "xss-post", ""
	xss.Text = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2"> Проверка экранирования: уязвимость XSS`
	replayed := posts[len(posts)-1] // goes to the DLQ first, replayed through the UI
	live := append([]*events.PostParsed{&xss}, posts[:len(posts)-1]...)
	for _, ev := range live {
		values, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.Stream(cfg.Streams.Parsed), Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	values, err := events.Encode(replayed)
	if err != nil {
		t.Fatal(err)
	}
	strValues := map[string]any{}
	for k, v := range values {
		strValues[k] = v
	}
	dlqID := addDLQ(t, rdb, keys, cfg.Streams.Parsed, strValues, "tagger: provider unavailable after 5 attempts")
	spareID := addDLQ(t, rdb, keys, cfg.Streams.Parsed, map[string]any{"post_id": "spare"}, "event: missing field text")

	reg := prometheus.NewRegistry()
	// The console samples from before the stages start, as in the daemon,
	// so its rates and charts cover the run.
	var runnerRef atomic.Pointer[pipeline.Runner]
	svc := search.New(pool, nil, nil, search.DefaultOptions())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]string{"tag": cfg.Streams.Parsed, "persist": cfg.Streams.Tagged, "enrich": cfg.Streams.Tagged}
	cons := console.New(console.Options{Redis: rdb, Keys: keys, Streams: all.Registry().Streams(cfg.Streams), Groups: groups,
		Runner: func() console.Runner {
			if r := runnerRef.Load(); r != nil {
				return r
			}
			return nil
		}, Search: svc, Pool: pool, Gatherer: reg, SampleEvery: 250 * time.Millisecond,
		Loopback: console.IsLoopback(ln.Addr()), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	sampleDone := make(chan error, 1)
	go func() { sampleDone <- cons.Run(sampleCtx) }()
	t.Cleanup(func() { stopSampling(); <-sampleDone })
	time.Sleep(600 * time.Millisecond) // a few samples before the stages start, for the charts
	tagged := keys.Stream(cfg.Streams.Tagged)
	if err := rdb.XGroupCreateMkStream(ctx, tagged, "enrich", "0").Err(); err != nil {
		t.Fatal(err)
	}
	runner, err := pipeline.NewRunner(ctx, pipeline.RunnerOptions{Config: cfg, Redis: rdb, Registry: all.Registry(),
		Metrics: reg, Stages: []string{"tag", "persist"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	runnerRef.Store(runner)
	go func() { runDone <- runner.Run(runCtx) }()
	t.Cleanup(func() { stopRun(); <-runDone })
	countPosts := func(ids ...string) int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM posts WHERE post_id = ANY($1)`, ids).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	liveIDs := make([]string, 0, len(live))
	for _, ev := range live {
		liveIDs = append(liveIDs, ev.PostID)
	}
	testenv.WaitFor(t, "tag and persist of the sample", 90*time.Second, func() bool { return countPosts(liveIDs...) == len(live) })

	srv, err := api.New(svc, api.Options{Document: console.Document, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// enrich runs nowhere here: a consumer of its group read two entries
	// and died, and one of them was delivered again (a retry). (Its group
	// exists from the start, so the runner's trim keeps what it has not
	// read.)
	ghost := "enrich-ghost-1"
	read, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "enrich", Consumer: ghost, Streams: []string{tagged, ">"}, Count: 2}).Result()
	if err != nil || len(read) != 1 || len(read[0].Messages) != 2 {
		t.Fatalf("read as the enrich ghost: %v %v", read, err)
	}
	if err := rdb.XClaim(ctx, &redis.XClaimArgs{Stream: tagged, Group: "enrich", Consumer: ghost, Messages: []string{read[0].Messages[0].ID}}).Err(); err != nil {
		t.Fatal(err)
	}
	cons.Mount(srv)
	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- api.Serve(srvCtx, ln, srv, 5*time.Second) }()
	t.Cleanup(func() { stopSrv(); <-srvDone })
	base := "http://" + ln.Addr().String()

	// One Chromium for every subtest, with a fresh profile removed once
	// the browser has exited.
	profile, err := os.MkdirTemp("", "console-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	actx, cancelA := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	shot := func(t *testing.T, name string) {
		t.Helper()
		var buf []byte
		if err := chromedp.Run(bctx, chromedp.FullScreenshot(&buf, 100)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(t *testing.T, sel string) string {
		t.Helper()
		var s string
		if err := chromedp.Run(bctx, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	pwned := func(t *testing.T) {
		t.Helper()
		var v any
		if err := chromedp.Run(bctx, chromedp.Evaluate(`window.__pwned === undefined ? null : window.__pwned`, &v)); err != nil {
			t.Fatal(err)
		}
		if v != nil {
			t.Fatalf("an injected script ran: window.__pwned = %v", v)
		}
	}

	t.Run("overview", func(t *testing.T) {
		if err := chromedp.Run(bctx, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible("#stages", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		got := text(t, "#stages")
		for _, want := range []string{"tag", "persist", cfg.Streams.Parsed, "ok"} {
			if !strings.Contains(got, want) {
				t.Errorf("overview lacks %q:\n%s", want, got)
			}
		}
		if !strings.Contains(text(t, "#stages tr[data-stage=tag]"), "2") { // two DLQ entries on posts.parsed
			t.Errorf("tag row does not show the DLQ size: %s", text(t, "#stages tr[data-stage=tag]"))
		}
		// The tag stage's throughput is over the window the console
		// sampled while it worked: a rate, not "—" nor 0.00/s.
		rate := text(t, "#stages tr[data-stage=tag] td:nth-child(3)")
		if !strings.HasSuffix(rate, "/s") || rate == "0.00/s" {
			t.Errorf("tag throughput %q, want a positive rate", rate)
		}
		for _, id := range []string{"chart-throughput", "chart-lag", "chart-pending", "chart-dlq", "chart-redis"} {
			var n int
			if err := chromedp.Run(bctx, chromedp.Evaluate(`document.querySelectorAll("#`+id+` svg polyline").length`, &n)); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("chart %s has no line (%d)", id, n)
			}
		}
		if got := text(t, "#redis-memory"); !strings.Contains(got, "Memory used") || !strings.Contains(got, "iB") {
			t.Errorf("Redis memory: %q", got)
		}
		// Stream ids are shown as times.
		if got := text(t, "#streams"); !strings.Contains(got, " UTC (") {
			t.Errorf("streams table shows no readable time:\n%s", got)
		}
		shot(t, "overview")
	})

	t.Run("groups", func(t *testing.T) {
		if err := chromedp.Run(bctx, chromedp.Navigate(base+"/ui/groups"), chromedp.WaitVisible("#group-enrich", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, "#group-tag table.consumers"); !strings.Contains(got, "alive") {
			t.Errorf("the tag consumer's heartbeat is not alive:\n%s", got)
		}
		got := text(t, "#group-enrich")
		for _, want := range []string{ghost, "none", "1 retrying", "pending 2"} {
			if !strings.Contains(got, want) {
				t.Errorf("enrich group lacks %q:\n%s", want, got)
			}
		}
		shot(t, "groups")
	})

	t.Run("search", func(t *testing.T) {
		if err := chromedp.Run(bctx, chromedp.Navigate(base+"/ui/search"), chromedp.WaitVisible(`input[name=q]`, chromedp.ByQuery),
			chromedp.SendKeys(`input[name=q]`, "уязвимость", chromedp.ByQuery), chromedp.Submit(`input[name=q]`, chromedp.ByQuery),
			chromedp.WaitVisible("#results", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		got := text(t, "#results")
		if !strings.Contains(got, "xss-post") || !strings.Contains(got, "уязвимость") {
			t.Errorf("search for уязвимость: want xss-post, got:\n%s", got)
		}
		if summary := text(t, "#summary"); !strings.HasPrefix(summary, "1 result ·") {
			t.Errorf("search summary %q, want it to start with \"1 result ·\"", summary)
		}
		// Channels by name (persist keeps posts.parsed channel_title).
		if got := text(t, "#results .channel"); got != xss.ChannelTitle || got == "" {
			t.Errorf("result channel %q, want its title %q", got, xss.ChannelTitle)
		}
		pwned(t)
		shot(t, "search")
		// A sample post is found by a word of its own text.
		word := longestWord(posts[3].Text)
		if err := chromedp.Run(bctx, chromedp.Navigate(base+"/ui/search?mode=keyword&q="+url.QueryEscape(word)),
			chromedp.WaitVisible("#results", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, "#results"); !strings.Contains(got, posts[3].PostID) {
			t.Errorf("search for %q: want %s among:\n%s", word, posts[3].PostID, got)
		}
	})

	t.Run("post", func(t *testing.T) {
		if err := chromedp.Run(bctx, chromedp.Navigate(base+"/ui/posts/xss-post"), chromedp.WaitVisible("#post-text", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, "#post-text"); !strings.Contains(got, "<script>window.__pwned = 1</script>") {
			t.Errorf("post text not shown literally: %q", got)
		}
		pwned(t)
		shot(t, "post-xss")
		p := posts[3]
		if err := chromedp.Run(bctx, chromedp.Navigate(base+"/ui/posts/"+url.PathEscape(p.PostID)), chromedp.WaitVisible("#post-text", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, "#post-text"); !strings.Contains(got, strings.Fields(p.Text)[0]) {
			t.Errorf("post page of %s lacks its text: %q", p.PostID, got)
		}
		shot(t, "post")
	})

	t.Run("dlq replay", func(t *testing.T) {
		if err := chromedp.Run(bctx, chromedp.Navigate(base+"/ui/dlq"), chromedp.WaitVisible("#dlq", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		var links int
		if err := chromedp.Run(bctx, chromedp.Evaluate(`document.querySelectorAll('#dlq a[href$="/`+dlqID+`"]').length`, &links)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, "#dlq"); links != 1 || !strings.Contains(got, "provider unavailable") || !strings.Contains(got, " UTC (") {
			t.Fatalf("DLQ page lacks the entry %s (%d links) or its time:\n%s", dlqID, links, got)
		}
		shot(t, "dlq")
		if err := chromedp.Run(bctx, chromedp.Click(`a[href$="/`+dlqID+`"]`, chromedp.ByQuery), chromedp.WaitVisible("#error", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, "table.fields"); !strings.Contains(got, replayed.PostID) {
			t.Errorf("entry page lacks the original event: %s", got)
		}
		shot(t, "dlq-entry")
		if err := chromedp.Run(bctx, chromedp.Click(`a[href$="confirm?action=replay"]`, chromedp.ByQuery), chromedp.WaitVisible("#confirm", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		shot(t, "dlq-confirm")
		if err := chromedp.Run(bctx, chromedp.Click("#confirm", chromedp.ByQuery), chromedp.WaitVisible(".flash", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ".flash"); !strings.Contains(got, "1 done") {
			t.Errorf("flash after replay: %q", got)
		}
		testenv.WaitFor(t, "the replayed post persisted", 60*time.Second, func() bool { return countPosts(replayed.PostID) == 1 })
	})

	t.Run("csrf", func(t *testing.T) {
		// The confirmation form of the other entry, with its token removed
		// before it is submitted.
		if err := chromedp.Run(bctx, chromedp.Navigate(base+"/ui/dlq/"+cfg.Streams.Parsed+"/"+spareID+"/confirm?action=purge"),
			chromedp.WaitVisible("#confirm", chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector('#confirm-form input[name=csrf]').remove()`, nil),
			chromedp.Click("#confirm", chromedp.ByQuery), chromedp.WaitVisible(".error", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ".error"); !strings.Contains(got, "CSRF") {
			t.Errorf("form without token: %q", got)
		}
		shot(t, "csrf-refused")
		if n, _ := rdb.XLen(ctx, keys.DLQ(cfg.Streams.Parsed)).Result(); n != 1 {
			t.Errorf("DLQ length %d after a refused purge, want 1", n)
		}
		// And outside a browser: a POST with the cookie but no field.
		resp, err := http.PostForm(base+"/ui/dlq/"+cfg.Streams.Parsed+"/"+spareID+"/purge", url.Values{"confirm": {"yes"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST without CSRF token: %d, want 403", resp.StatusCode)
		}
	})

	t.Run("dlq bulk purge", func(t *testing.T) {
		// Two more entries of the same error and one of another: the filter
		// picks the three "missing field" ones.
		addDLQ(t, rdb, keys, cfg.Streams.Parsed, map[string]any{"post_id": "spare-2"}, "event: missing field text")
		addDLQ(t, rdb, keys, cfg.Streams.Tagged, map[string]any{"post_id": "spare-3"}, "event: missing field tags")
		keep := addDLQ(t, rdb, keys, cfg.Streams.Parsed, map[string]any{"post_id": "kept"}, "tagger: provider unavailable")
		if err := chromedp.Run(bctx, chromedp.Navigate(base+"/ui/dlq?q="+url.QueryEscape("missing field")), chromedp.WaitVisible("#bulk-purge", chromedp.ByQuery),
			chromedp.Click("#bulk-purge", chromedp.ByQuery), chromedp.WaitVisible("#confirm", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, "#bulk-entries"); strings.Count(got, "missing field") != 3 || strings.Contains(got, "kept") {
			t.Errorf("bulk confirmation lists:\n%s", got)
		}
		shot(t, "dlq-bulk-confirm")
		if err := chromedp.Run(bctx, chromedp.Click("#confirm", chromedp.ByQuery), chromedp.WaitVisible(".flash", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ".flash"); !strings.Contains(got, "purge of 3 entries: 3 done") {
			t.Errorf("flash after bulk purge: %q", got)
		}
		parsed, _ := rdb.XRange(ctx, keys.DLQ(cfg.Streams.Parsed), "-", "+").Result()
		taggedN, _ := rdb.XLen(ctx, keys.DLQ(cfg.Streams.Tagged)).Result()
		if len(parsed) != 1 || parsed[0].ID != keep || taggedN != 0 {
			t.Errorf("after the bulk purge: posts.parsed DLQ %v, posts.tagged DLQ %d entries; want only %s", parsed, taggedN, keep)
		}
	})

	t.Run("openapi documents the admin API", func(t *testing.T) {
		resp, err := http.Get(base + "/v1/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct {
			Paths map[string]map[string]any `json:"paths"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/v1/admin/streams", "/v1/admin/stages", "/v1/admin/dlq", "/v1/admin/dlq/{stream}/{id}",
			"/v1/admin/dlq/{stream}/replay", "/v1/admin/dlq/{stream}/purge", "/v1/admin/stages/{stage}/pause", "/v1/admin/stages/{stage}/resume"} {
			if doc.Paths[p] == nil {
				t.Errorf("OpenAPI lacks %s", p)
			}
		}
		// Pause and resume answer on this loopback listener.
		for _, a := range []string{"pause", "resume"} {
			resp, err := http.Post(base+"/v1/admin/stages/tag/"+a, "application/json", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d", a, resp.StatusCode)
			}
		}
	})
}

func longestWord(s string) string {
	best := ""
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !(r >= 'а' && r <= 'я' || r >= 'А' && r <= 'Я') }) {
		if len([]rune(w)) > len([]rune(best)) {
			best = w
		}
	}
	return best
}
