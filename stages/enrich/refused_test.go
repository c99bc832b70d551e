package enrich_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// TestEnrichRefusedRowIsPermanent: a crawl row PostgreSQL refuses with
// SQLSTATE 54000 (a post id over the btree row limit of post_enrichment's
// key) can never be stored, so the entry goes to the DLQ as permanent after
// one attempt instead of burning max_attempts; the other post is enriched.
func TestEnrichRefusedRowIsPermanent(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	e := newEnv(t, s, useBuiltin, nil)
	var b strings.Builder
	sum := sha256.Sum256([]byte("seed"))
	for b.Len() < 6000 {
		sum = sha256.Sum256(sum[:])
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	longID := b.String()
	e.publish(t,
		tagged(longID, "Новость с длинным идентификатором", s.URL+"/ru-news-utf8.html"),
		tagged("p-ok", "Новость", s.URL+"/ru-news-utf8.html"))
	ctx := context.Background()
	dlqKey := e.prefix + e.cfg.Streams.Tagged + e.cfg.Streams.DLQSuffix
	testenv.WaitFor(t, "one post enriched, one dead-lettered", 30*time.Second, func() bool {
		n, _ := e.rdb.XLen(ctx, dlqKey).Result()
		_, ok := e.row(t, "p-ok")
		// The row is written in Handle, the event published after it
		// returns: wait for both.
		return n == 1 && ok && len(e.enriched(t)) > 0
	})
	msgs, err := e.rdb.XRange(ctx, dlqKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	d := pipeline.DecodeDLQEntry(msgs[0])
	if d.ErrorClass != pipeline.ClassPermanent || d.Attempts != 1 {
		t.Errorf("DLQ entry class %q after %d attempts, want permanent after 1", d.ErrorClass, d.Attempts)
	}
	if !strings.Contains(d.Error, "SQLSTATE 54000") || !strings.Contains(d.Error, longID) {
		t.Errorf("DLQ reason %.200q… does not name the post and SQLSTATE 54000", d.Error)
	}
	if got := e.enriched(t); len(got) != 1 || got[0].PostID != "p-ok" {
		t.Errorf("posts.enriched holds %d entries, want only p-ok's", len(got))
	}
}
