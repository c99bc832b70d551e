package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/stages/all"
	"github.com/assistant-dev/assistant/store/postgres"
)

// indexSample stores the first n sample posts the way the pipeline does
// (posts, tags, vectors in the PostgreSQL vector store) and returns their ids.
func indexSample(t *testing.T, dbURL string, n int) ([]string, []search.CorpusPost) {
	t.Helper()
	ctx := context.Background()
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st, err := postgres.NewVectorStore(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	posts, err := search.ReadCorpus(testenv.SamplePath(), n)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := search.LoadCorpus(ctx, pool, local.NewEmbedder(0), nil, posts, search.LoadOptions{Store: st, Collection: "posts"})
	if err != nil {
		t.Fatal(err)
	}
	return ids, posts
}

func TestSearchCommand(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	ids, _ := indexSample(t, dbURL, 120)
	cfg := testConfig(t, prefix, dbURL, "")

	code, out, errOut := runCLI(t, "search", "Израиль Хезболла прекращение огня", "--json", "--limit", "3", "--config", cfg)
	if code != 0 {
		t.Fatalf("search --json: %d %s", code, errOut)
	}
	var page search.Page
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(page.Results) == 0 || page.Results[0].PostID != ids[73] || page.Mode != search.Hybrid {
		t.Fatalf("search --json: %+v", page)
	}
	code, out, _ = runCLI(t, "search", "прекращение огня", "--mode", "semantic", "--channel", "-1001003921752", "--since", "2024-11-26", "--until", "2024-11-26", "--config", cfg)
	if code != 0 || !strings.Contains(out, ids[73]) || !strings.Contains(out, "channel -1001003921752") || !strings.Contains(out, "(semantic,") {
		t.Fatalf("search table: %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "search", "x", "--since", "yesterday", "--config", cfg); code != 1 || !strings.Contains(errOut, "--since must be a date") {
		t.Fatalf("bad date: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "search", "x", "--limit", "1000", "--config", cfg); code != 1 || !strings.Contains(errOut, "limit 1000 is over the maximum 100") {
		t.Fatalf("limit: %d %s", code, errOut)
	}
}

// `run` serves the API on api.addr; its semantic search goes through the
// in-memory mirror of the PostgreSQL vectors once loaded.
func TestRunServesAPI(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	ids, _ := indexSample(t, dbURL, 120)
	cfg := testConfig(t, prefix, dbURL, "search:\n  mirror_refresh: 100ms\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	a := &app{stages: all.Registry(), stdout: &stdout, stderr: &stderr}
	done := make(chan int, 1)
	go func() { done <- a.execute(ctx, []string{"run", "--stages=persist,api", "--config", cfg}) }()

	addrRE := regexp.MustCompile(`msg="api server listening" addr=(\S+)`)
	var addr string
	testenv.WaitFor(t, "the api server", 20*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("run exited early with %d:\n%s", code, stderr.String())
		default:
		}
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	testenv.WaitFor(t, "the vector mirror", 20*time.Second, func() bool {
		return strings.Contains(stderr.String(), "vector mirror loaded")
	})
	resp, err := http.Get("http://" + addr + "/v1/search?mode=semantic&q=" + url.QueryEscape("Израиль прекращение огня в Ливане"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), ids[73]) {
		t.Fatalf("GET /v1/search: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exit %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
}
