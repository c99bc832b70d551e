package index_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
)

// longURL is a URL PostgreSQL cannot index: over the btree row limit (2704
// bytes) and incompressible, as a tracking URL can be.
func longURL() string {
	var b strings.Builder
	b.WriteString("https://example.org/track?q=")
	sum := sha256.Sum256([]byte("seed"))
	for b.Len() < 6000 {
		sum = sha256.Sum256(sum[:])
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()
}

// TestIndexRefusedPost: a post whose crawled page has a URL over the index
// row limit makes the graph store refuse the batch (SQLSTATE 54000). That
// post fails alone and permanently, naming its post id and the SQLSTATE,
// with the failure in indexing_status; every other post of the batch is
// indexed. Before, the whole batch was retried until every entry was
// exhausted.
func TestIndexRefusedPost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, local.NewEmbedder(16), nil)
	evs := corpusEvents(t, 40)
	bad := evs[17]
	u := longURL()
	bad.URLs = []string{u}
	bad.Crawl = []events.CrawlResult{{URL: u, FinalURL: u, Status: 200, Title: "Трекинг", MarkdownExcerpt: "текст", WordCount: 1}}
	msgs := make([]*pipeline.Message, len(evs))
	for i, ev := range evs {
		msgs[i] = message(t, ev)
	}
	if err := e.stage.Handle(e.ctx, msgs); err != nil {
		t.Fatalf("handle: %v", err)
	}
	for i, m := range msgs {
		if i == 17 {
			continue
		}
		if m.Err() != nil {
			t.Fatalf("post %d failed: %v", i, m.Err())
		}
	}
	err := msgs[17].Err()
	if !pipeline.IsPermanent(err) {
		t.Fatalf("refused post: %v, want a permanent failure", err)
	}
	for _, want := range []string{bad.PostID, "sqlstate 54000", "index row size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("failure %q does not name %q", err, want)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM indexing_status WHERE embedding_status = 'completed' AND graph_status = 'completed'`); n != len(evs)-1 {
		t.Errorf("%d posts indexed, want %d", n, len(evs)-1)
	}
	if n := e.count(t, `SELECT count(*) FROM graph_posts`); n != len(evs)-1 {
		t.Errorf("%d graph posts, want %d", n, len(evs)-1)
	}
	if n := e.count(t, `SELECT count(*) FROM indexing_status WHERE post_id = $1 AND graph_status = 'failed' AND error LIKE '%sqlstate 54000%'`, bad.PostID); n != 1 {
		t.Errorf("indexing_status of the refused post does not record the failure")
	}
	if got := e.metric(t, "indexing_processed_total", map[string]string{"status": "error"}); got != 1 {
		t.Errorf("indexing_processed_total{error} = %v, want 1", got)
	}
	if got := e.metric(t, "indexing_processed_total", map[string]string{"status": "success"}); got != float64(len(evs)-1) {
		t.Errorf("indexing_processed_total{success} = %v, want %d", got, len(evs)-1)
	}
}
