package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestFaultMatrixCrawlDNS: the crawl target's DNS failing (issue 21). Every
// post links to a page on a host name that does not resolve (.invalid,
// RFC 2606: the machine's real resolver answers it, or fails to), and
// `run --stages=tag,persist,enrich` runs with crawling on. A page that
// cannot be fetched is that URL's failure, not the post's and not an
// outage: every post must reach posts.enriched with the failure recorded on
// its page, none dead-lettered, and the enrich stage must not stay paused.
func TestFaultMatrixCrawlDNS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const posts = 200
	sample := testenv.SamplePosts(t, 0)
	input := variants(sample, (posts+len(sample)-1)/len(sample))[:posts]
	for i := range input {
		// First in the text: max_urls_per_post keeps the first URLs.
		input[i].Text = fmt.Sprintf("https://news%d.dns-fails.invalid/article/%d\n", i%7, i) + input[i].Text
	}
	if _, err := net.DefaultResolver.LookupHost(ctx, "news0.dns-fails.invalid"); err == nil {
		t.Skip("this machine's resolver answers .invalid names")
	}
	file, err := WriteJSONL(t.TempDir(), "posts.jsonl", input)
	if err != nil {
		t.Fatal(err)
	}
	stack := NewStack(t)
	stack.Env["ASSISTANT_STAGES_ENRICH_CRAWL_ENABLED"] = "true"
	// Only the first URL (the one on the failing name): the sample posts' own
	// URLs would time out here (no network), which is not this row's fault.
	stack.Env["ASSISTANT_STAGES_ENRICH_MAX_URLS_PER_POST"] = "1"
	stack.Env["ASSISTANT_RUNNER_MAX_ATTEMPTS"] = "2"
	stack.Stages = []string{"tag", "persist", "enrich"}
	daemon := stack.Start(ctx, Options{Stages: stack.Stages})
	pid := daemon.PID()
	watch := watchReadyz(ctx, daemon)
	start := time.Now()
	stack.Ingest(ctx, file)
	enriched := stack.Keys.Stream(stack.Streams.Enriched)
	drained := PollUntil(ctx, 3*time.Minute, 100*time.Millisecond, func() bool {
		if stack.Redis.XLen(ctx, enriched).Val() < posts {
			return false
		}
		// Not DrainState: index's group on posts.enriched lags by design.
		for stream, group := range map[string]string{stack.Streams.Parsed: "tag", stack.Streams.Tagged: "persist"} {
			if p, err := stack.Redis.XPending(ctx, stack.Keys.Stream(stream), group).Result(); err != nil || p.Count != 0 {
				return false
			}
		}
		p, err := stack.Redis.XPending(ctx, stack.Keys.Stream(stack.Streams.Tagged), "enrich").Result()
		return err == nil && p.Count == 0
	})
	took := time.Since(start)
	during := watch.finish()
	if !drained {
		t.Fatalf("posts.enriched holds %d of %d within 3 minutes", stack.Redis.XLen(ctx, enriched).Val(), posts)
	}
	entries, err := stack.Redis.XRange(ctx, enriched, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	seen := map[string]bool{}
	for _, e := range entries {
		data, _ := e.Values["data"].(string)
		var ev struct {
			PostID string `json:"post_id"`
			Crawl  []struct {
				URL   string `json:"url"`
				Error string `json:"error"`
			} `json:"crawl"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("posts.enriched entry %s: %v", e.ID, err)
		}
		seen[ev.PostID] = true
		failed := false
		for _, p := range ev.Crawl {
			if strings.Contains(p.URL, ".dns-fails.invalid") && p.Error != "" {
				failed = true
				kind, _, _ := strings.Cut(p.Error, ":")
				kinds[kind]++
			}
		}
		if !failed {
			t.Errorf("post %s: no page failure recorded: %s", ev.PostID, data)
		}
	}
	if len(seen) != posts {
		t.Errorf("%d distinct posts in posts.enriched, want %d", len(seen), posts)
	}
	stack.RequireDLQsEmpty(ctx)
	status, _, err := daemon.Get(ctx, "/readyz")
	if err != nil || status != http.StatusOK {
		t.Errorf("/readyz after the run: %d %v, want 200", status, err)
	}
	t.Logf("fault matrix | crawl target DNS failing (7 .invalid hosts) | %d posts | all in posts.enriched after %s | /readyz during: %s | page error kinds %v | %d dead-lettered | daemon pid kept %v",
		posts, took.Round(100*time.Millisecond), during, kinds, 0, daemon.Running() && daemon.PID() == pid)
	if !daemon.Running() || daemon.PID() != pid {
		t.Fatal("the daemon restarted or exited")
	}
	daemon.Stop()
}
