package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/stages/all"
	"github.com/assistant-dev/assistant/store/postgres"
)

// pageIDs is a page's post ids and scores, the part both paths must agree
// on (took_ms differs).
func pageIDs(t *testing.T, out string) string {
	t.Helper()
	var page search.Page
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var b strings.Builder
	for _, r := range page.Results {
		fmt.Fprintf(&b, "%s %.6f %v %v|", r.PostID, r.Score, r.Signals, r.Weak)
	}
	return fmt.Sprintf("%s %s next=%q: %s", page.Query, page.Mode, page.NextCursor, b.String())
}

// `assistant search` asks the daemon's API when one serves on api.addr
// (with the configured token, every filter passed on), answers what the
// in-process path answers, and falls back to searching in-process with one
// line on stderr when the daemon is absent or fails; a query the daemon
// refuses is an error, not a fallback.
func TestSearchAsksTheDaemon(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	ids, _ := indexSample(t, dbURL, 120)
	ctx := context.Background()

	// The daemon: the API over the service `run` builds, its mirror
	// loaded, behind a switch that makes it fail and a request counter.
	const token = "cli-test-token-0123456789"
	daemonCfg := testConfig(t, prefix, dbURL, "")
	a := &app{stages: all.Registry(), configPath: daemonCfg}
	cfg, err := a.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	svc, mirror, closeStores, err := a.openSearch(ctx, cfg, pool, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStores()
	if mirror == nil {
		t.Fatal("the daemon's service has no vector mirror")
	}
	if err := mirror.Load(ctx); err != nil {
		t.Fatal(err)
	}
	handler, err := api.New(svc, api.Options{Token: token, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	var failing, older atomic.Bool
	var lastQuery atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		lastQuery.Store(r.URL.RawQuery)
		if older.Load() && r.URL.Query().Has("prefix") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"bad_request","message":"unknown query parameter \"prefix\" (accepted: q, mode)"}`))
			return
		}
		if failing.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":"internal_server_error","message":"internal error"}`))
			return
		}
		handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	cfgWith := func(tok string) string {
		return testConfig(t, prefix, dbURL, fmt.Sprintf("api:\n  addr: %s\n  token: %q\n", addr, tok))
	}
	cliCfg := cfgWith(token)

	query := []string{"search", "Израиль Хезболла прекращение огня", "--json", "--limit", "3", "--config", cliCfg}
	code, viaDaemon, errOut := runCLI(t, query...)
	if code != 0 || errOut != "" || asked.Load() != 1 {
		t.Fatalf("search via the daemon: exit %d, %d requests, stderr %q", code, asked.Load(), errOut)
	}
	if !strings.Contains(viaDaemon, ids[73]) {
		t.Fatalf("the daemon's page lacks post %s:\n%s", ids[73], viaDaemon)
	}
	code, here, errOut := runCLI(t, append(query, "--local")...)
	if code != 0 || errOut != "" || asked.Load() != 1 {
		t.Fatalf("search --local: exit %d, %d requests, stderr %q", code, asked.Load(), errOut)
	}
	if pageIDs(t, viaDaemon) != pageIDs(t, here) {
		t.Fatalf("the daemon and this process answer differently:\n daemon %s\n here   %s", pageIDs(t, viaDaemon), pageIDs(t, here))
	}

	here0 := here

	// Every flag reaches the daemon, and the answers still agree.
	flags := []string{"search", "прекращение ог", "--prefix", "--mode", "semantic", "--channel", "-1001003921752",
		"--since", "2024-11-26", "--until", "2024-11-26", "--limit", "2", "--offset", "1", "--tenant", "", "--json", "--config", cliCfg}
	code, viaDaemon, errOut = runCLI(t, flags...)
	if code != 0 || errOut != "" || asked.Load() != 2 {
		t.Fatalf("search with filters via the daemon: exit %d, %d requests, stderr %q", code, asked.Load(), errOut)
	}
	sent, _ := lastQuery.Load().(string)
	for _, want := range []string{"prefix=true", "mode=semantic", "channel=-1001003921752", "since=2024-11-26T00", "until=2024-11-26T23", "limit=2", "offset=1"} {
		if !strings.Contains(sent, want) {
			t.Errorf("the daemon was asked %q, without %s", sent, want)
		}
	}
	if _, here, _ = runCLI(t, append(flags, "--local")...); pageIDs(t, viaDaemon) != pageIDs(t, here) {
		t.Fatalf("filtered: the daemon and this process answer differently:\n daemon %s\n here   %s", pageIDs(t, viaDaemon), pageIDs(t, here))
	}

	// A query the daemon refuses is the user's error.
	code, _, errOut = runCLI(t, "search", "x", "--limit", "1000", "--config", cliCfg)
	if code != 1 || !strings.Contains(errOut, "limit must be between 1 and 100") || strings.Contains(errOut, "searching in this process") {
		t.Fatalf("refused query: exit %d, stderr %q", code, errOut)
	}

	fallback := func(what, cfgPath, notice string) {
		t.Helper()
		before := asked.Load()
		code, out, errOut := runCLI(t, "search", "Израиль Хезболла прекращение огня", "--json", "--limit", "3", "--config", cfgPath)
		if code != 0 || pageIDs(t, out) != pageIDs(t, here0) {
			t.Fatalf("%s: exit %d, page %s\nstderr %s", what, code, out, errOut)
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "searching in this process") || !strings.Contains(lines[0], notice) {
			t.Fatalf("%s: want one notice line with %q, got %q", what, notice, errOut)
		}
		if what != "absent" && asked.Load() != before+1 {
			t.Fatalf("%s: the daemon was asked %d times", what, asked.Load()-before)
		}
	}
	failing.Store(true)
	fallback("failing", cliCfg, "HTTP 500: internal error")
	failing.Store(false)
	// An older daemon that does not know prefix=: searched here, not an error.
	older.Store(true)
	code, out, errOut := runCLI(t, "search", "прекращение ог", "--prefix", "--json", "--config", cliCfg)
	if code != 0 || !strings.Contains(errOut, "unknown query parameter") || !strings.Contains(errOut, "searching in this process") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("older daemon: exit %d, stderr %q", code, errOut)
	}
	if _, here, _ := runCLI(t, "search", "прекращение ог", "--prefix", "--json", "--local", "--config", cliCfg); pageIDs(t, out) != pageIDs(t, here) {
		t.Fatalf("older daemon: the fallback page differs from --local")
	}
	older.Store(false)
	failing.Store(false)
	fallback("wrong token", cfgWith("not-the-token-0123456789"), "HTTP 401")
	srv.Close()
	fallback("absent", cliCfg, "no daemon listening")
}

// `migrate up` with search.rum builds the RUM index of posts (when the
// server has the extension) and without it drops the index again.
func TestMigrateUpSearchRUM(t *testing.T) {
	t.Parallel()
	dbURL := testenv.Postgres(t)
	ctx := context.Background()
	hasIndex := func() bool {
		t.Helper()
		pool, err := pgxpool.New(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var ok bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, postgres.RUMIndex).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	on := testConfig(t, "rum:", dbURL, "search:\n  rum: true\n")
	code, _, stderr := runCLI(t, "migrate", "up", "--config", on)
	if code != 0 {
		t.Fatalf("migrate up with search.rum: %d %s", code, stderr)
	}
	if strings.Contains(stderr, "no RUM index could be built") {
		t.Skipf("the server has no rum extension: %s", stderr)
	}
	if !hasIndex() {
		t.Fatalf("no %s after migrate up with search.rum:\n%s", postgres.RUMIndex, stderr)
	}
	if code, _, stderr := runCLI(t, "migrate", "up", "--config", testConfig(t, "rum:", dbURL, "")); code != 0 || hasIndex() {
		t.Fatalf("migrate up without search.rum: %d, index still there: %v\n%s", code, hasIndex(), stderr)
	}
}
