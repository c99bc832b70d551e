package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// run runs the real binary with the stack's environment and returns its
// stdout, stderr and exit code.
func (s *Stack) run(ctx context.Context, env map[string]string, args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	cmd := exec.CommandContext(ctx, binaryPath, args...)
	cmd.Dir = s.dir
	cmd.Env = s.environ(env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		s.t.Fatalf("assistant %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// defaultRetention is the environment of a daemon with the default
// retention (the harness keeps the 2024 corpus for ten years otherwise).
var defaultRetention = map[string]string{"ASSISTANT_POSTS_RETENTION": "2160h"}

// TestHistoryStaysVisible (issue 20, item 1): with the default retention,
// the 2024 sample ingested today is searchable in every store (posts rows,
// vector payloads, graph nodes expire at one instant, after the receipt
// floor), ingest says at once how many posts are older than the retention
// and which setting keeps them, and posts_received_past_retention_total
// counts them.
func TestHistoryStaysVisible(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := NewStack(t)
	stack.Env = defaultRetention
	daemon := stack.Start(ctx, Options{})
	const n = 40
	_, stderr, code := stack.run(ctx, nil, "ingest", "--limit", strconv.Itoa(n), testenv.SamplePath())
	if code != 0 {
		t.Fatalf("ingest exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, strconv.Itoa(n)+" posts are older than posts.retention") || !strings.Contains(stderr, "ASSISTANT_POSTS_RETENTION=") {
		t.Errorf("ingest did not report the posts older than the retention:\n%s", stderr)
	}
	stack.WaitDrained(ctx, 90*time.Second)
	floor := time.Now().Add(80 * 24 * time.Hour)
	for _, q := range []struct{ what, sql string }{
		{"posts", `SELECT count(*) FROM posts WHERE expires_at > $1`},
		{"graph posts", `SELECT count(*) FROM graph_posts WHERE expires_at > $1`},
	} {
		if got, err := stack.CountRows(ctx, q.sql, floor); err != nil || got != n {
			t.Errorf("%s live beyond 80 days: %d (%v), want %d", q.what, got, err, n)
		}
	}
	if got, err := stack.CountRows(ctx, `SELECT count(*) FROM vectors WHERE expires_at > $1`, floor.Unix()); err != nil || got != n {
		t.Errorf("vectors live beyond 80 days: %d (%v), want %d", got, err, n)
	}
	// One instant in every store.
	if got, err := stack.CountRows(ctx, `SELECT count(*) FROM posts p JOIN vectors v USING (post_id) JOIN graph_posts g USING (post_id)
		WHERE floor(extract(epoch FROM p.expires_at))::bigint = v.expires_at AND p.expires_at = g.expires_at`); err != nil || got != n {
		t.Errorf("posts whose expires_at agrees in all three stores: %d (%v), want %d", got, err, n)
	}
	m, err := daemon.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Value("posts_received_past_retention_total"); got < n {
		t.Errorf("posts_received_past_retention_total = %v, want >= %d", got, n)
	}
}

// TestOneRetention (issue 20, item 2): per-store retention keys that
// contradict each other, or posts.retention, are a validation error; a lone
// deprecated key is taken as the one retention with a warning.
func TestOneRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := NewStack(t)
	_, stderr, code := stack.run(ctx, map[string]string{"ASSISTANT_STAGES_PERSIST_RETENTION": "87600h", "ASSISTANT_POSTS_RETENTION": "2160h"}, "config", "validate")
	if code == 0 {
		t.Errorf("stages.persist.retention contradicting posts.retention: config validate exit 0\n%s", stderr)
	}
	if out, _, _ := stack.run(ctx, map[string]string{"ASSISTANT_STAGES_PERSIST_RETENTION": "87600h", "ASSISTANT_POSTS_RETENTION": "2160h"}, "config", "validate"); !strings.Contains(out+stderr, "contradicts") {
		t.Errorf("no contradiction reported:\n%s", stderr)
	}
	out, stderr, code := stack.run(ctx, map[string]string{"ASSISTANT_STAGES_PERSIST_RETENTION": "87600h", "ASSISTANT_POSTS_RETENTION": ""}, "config", "validate")
	if code != 0 || !strings.Contains(out+stderr, "deprecated") {
		t.Errorf("a lone deprecated key: config validate exit %d, want 0 and a deprecation warning\n%s%s", code, out, stderr)
	}
}

// TestUnreadStreamBounded (issue 20, item 4): posts.indexed, which no group
// reads, keeps at most streams.unread_max_entries entries; posts.tagged,
// which groups read, is trimmed losslessly.
func TestUnreadStreamBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := NewStack(t)
	stack.Env = map[string]string{"ASSISTANT_STREAMS_UNREAD_MAX_ENTRIES": "10"}
	stack.Start(ctx, Options{})
	if _, stderr, code := stack.run(ctx, nil, "ingest", "--limit", "40", testenv.SamplePath()); code != 0 {
		t.Fatalf("ingest exit %d: %s", code, stderr)
	}
	stack.WaitDrained(ctx, 90*time.Second)
	key := stack.Keys.Stream(stack.Streams.Indexed)
	var n int64
	if !PollUntil(ctx, 20*time.Second, 100*time.Millisecond, func() bool {
		n, _ = stack.Redis.XLen(ctx, key).Result()
		return n <= 10
	}) {
		t.Errorf("%s holds %d entries, want at most 10 (streams.unread_max_entries)", key, n)
	}
	if got, err := stack.CountRows(ctx, `SELECT count(*) FROM indexing_status WHERE embedding_status = 'completed'`); err != nil || got != 40 {
		t.Errorf("indexed posts: %d (%v), want 40", got, err)
	}
}

// TestPostsDeleteChecksIDs (issue 20, item 5): a malformed id is an error
// and publishes nothing; an id no store knows is reported as such.
func TestPostsDeleteChecksIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := NewStack(t)
	if _, stderr, code := stack.run(ctx, nil, "migrate"); code != 0 {
		t.Fatalf("migrate exit %d: %s", code, stderr)
	}
	stream := stack.Keys.Stream(stack.Streams.Deleted)
	for _, tc := range []struct {
		id, want string
	}{
		{"not-a-uuid", "not a post id"},
		{uuid.NewString(), "no store knows"},
		{"with space", "not a post id"},
	} {
		out, stderr, code := stack.run(ctx, nil, "posts", "delete", tc.id)
		if code != 1 || !strings.Contains(stderr, tc.want) || strings.Contains(out, "published") {
			t.Errorf("posts delete %q: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.id, code, out, stderr, tc.want)
		}
	}
	if n, _ := stack.Redis.XLen(ctx, stream).Result(); n != 0 {
		t.Errorf("%s holds %d deletions, want none", stream, n)
	}
}
