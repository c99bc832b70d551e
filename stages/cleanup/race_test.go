package cleanup_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/cleanup"
	"github.com/assistant-dev/assistant/stages/index"
	"github.com/assistant-dev/assistant/stages/persist"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/tombstone"
)

var entrySeq atomic.Int64

func message(t testing.TB, stream string, ev events.Event) *pipeline.Message {
	t.Helper()
	values, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.Message{Stream: stream, ID: fmt.Sprintf("%d-%d", time.Now().UnixMilli(), entrySeq.Add(1)), Values: values, Attempt: 1}
}

// writers are the persist and index stages on the env's stores, both
// reading the tombstones as in the daemon.
type writers struct {
	persist pipeline.Stage
	index   *index.Stage
}

func (e *env) writers(t *testing.T) writers {
	t.Helper()
	cfg := testenv.Config(t, e.prefix, e.dbURL)
	res := pipeline.NewResources()
	t.Cleanup(res.Close)
	p, err := persist.New(e.ctx, pipeline.Deps{Config: cfg, StageConfig: persist.DefaultConfig(), Redis: e.rdb,
		Keys: pipeline.Keys{Prefix: e.prefix}, Logger: quietLogger(), Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.New(e.ctx, index.Options{Pool: e.pool, Vectors: e.vec, Graph: e.graph, Embedder: local.NewEmbedder(16),
		Retention: cfg.Posts.Retention, ReceiptFloor: cfg.Posts.ReceiptFloor, Provider: "local", Logger: quietLogger(), Tombstones: tombstone.New(e.rdb, e.prefix)})
	if err != nil {
		t.Fatal(err)
	}
	return writers{persist: p, index: ix}
}

func tagged(i int) (*events.PostTagged, *events.PostEnriched) {
	id := fmt.Sprintf("race-%04d", i)
	posted := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	env := events.Envelope{SchemaVersion: events.SchemaV1, TraceID: "trace-" + id, OccurredAt: time.Now()}
	tags := []string{"общий", fmt.Sprint("тег", i%5)}
	text := fmt.Sprintf("Пост номер %d о деньгах и погоде", i)
	tg := &events.PostTagged{Envelope: env, PostID: id, ChannelID: "c1", Text: text, URLs: []string{}, PostedAt: posted,
		ContentHash: events.ContentHash(text), Tags: tags, TagsHash: events.TagsHash(tags), Provider: "local", Trigger: events.TriggerInitial,
		ReceivedAt: posted} // a live post: received when posted, so posted_at + retention governs
	en := &events.PostEnriched{Envelope: env, PostID: id, ChannelID: "c1", Text: text, Tags: tags, TagsHash: tg.TagsHash,
		PostedAt: posted, URLs: []string{}, Crawl: []events.CrawlResult{}, ReceivedAt: posted}
	return tg, en
}

func (w writers) write(t *testing.T, e *env, from, to int) {
	t.Helper()
	var tm, em []*pipeline.Message
	for i := from; i < to; i++ {
		tg, en := tagged(i)
		tm = append(tm, message(t, "posts.tagged", tg))
		em = append(em, message(t, "posts.enriched", en))
	}
	if err := w.persist.Handle(e.ctx, tm); err != nil {
		t.Error(err)
	}
	if err := w.index.Handle(e.ctx, em); err != nil {
		t.Error(err)
	}
}

// presence lists, for each store, the given posts it holds.
func (e *env) presence(t testing.TB, ids []string) map[string][]string {
	pids := make([]string, len(ids))
	for i, id := range ids {
		pids[i] = store.PointID(id)
	}
	return map[string][]string{
		"posts":           e.ids(t, `SELECT post_id FROM posts WHERE post_id = ANY($1)`, ids),
		"post_enrichment": e.ids(t, `SELECT post_id FROM post_enrichment WHERE post_id = ANY($1)`, ids),
		"indexing_status": e.ids(t, `SELECT post_id FROM indexing_status WHERE post_id = ANY($1)`, ids),
		"vectors":         e.ids(t, `SELECT post_id FROM vectors WHERE point_id = ANY($1::uuid[])`, pids),
		"graph_posts":     e.ids(t, `SELECT post_id FROM graph_posts WHERE post_id = ANY($1)`, ids),
	}
}

// TestDeletionRacesPipeline deletes posts while their posts.tagged and
// posts.enriched entries are still in flight — before persist and index
// handle them, and concurrently with them — and checks that every deleted
// post ends in no store, while the posts nobody deleted are all there.
func TestDeletionRacesPipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.writers(t)
	del := cleanup.NewStageFor(e.cleaner(t, cleanup.Config{}, nil))
	deleteIDs := func(ids []string) {
		var msgs []*pipeline.Message
		for _, id := range ids {
			msgs = append(msgs, message(t, "posts.deleted", &events.PostDeleted{
				Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: "t", OccurredAt: time.Now()},
				PostID:   id, ChannelID: "c1", Reason: "telegram"}))
		}
		if err := del.Handle(e.ctx, msgs); err != nil {
			t.Error(err)
		}
		for _, m := range msgs {
			if m.Err() != nil {
				t.Error(m.Err())
			}
		}
	}

	// 1. Deleted before persist and index ever saw it.
	deleteIDs([]string{"race-0000", "race-0001"})
	w.write(t, e, 0, 4)
	for st, ids := range e.presence(t, []string{"race-0000", "race-0001"}) {
		if len(ids) != 0 {
			t.Errorf("early deletion: %s holds %v", st, ids)
		}
	}
	if got := e.presence(t, []string{"race-0002", "race-0003"})["vectors"]; len(got) != 2 {
		t.Errorf("posts not deleted are missing: %v", got)
	}

	// 2. Deletions concurrent with the writes, many rounds.
	const n = 400
	var deleted []string
	for i := 4; i < n; i++ {
		if i%2 == 0 {
			deleted = append(deleted, fmt.Sprintf("race-%04d", i))
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 4; i < n; i += 10 {
			w.write(t, e, i, min(i+10, n))
		}
	}()
	go func() {
		defer wg.Done()
		order := rand.Perm(len(deleted))
		for k := 0; k < len(order); k += 5 {
			var ids []string
			for _, j := range order[k:min(k+5, len(order))] {
				ids = append(ids, deleted[j])
			}
			deleteIDs(ids)
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		}
	}()
	wg.Wait()
	for st, ids := range e.presence(t, deleted) {
		if len(ids) != 0 {
			t.Errorf("%s still holds %d deleted posts, e.g. %v", st, len(ids), ids[:min(3, len(ids))])
		}
	}
	var kept []string
	for i := 5; i < n; i += 2 {
		kept = append(kept, fmt.Sprintf("race-%04d", i))
	}
	for st, ids := range e.presence(t, kept) {
		if len(ids) != len(kept) {
			t.Errorf("%s holds %d of the %d posts nobody deleted", st, len(ids), len(kept))
		}
	}
	// Deleting again is harmless.
	deleteIDs(deleted[:5])
}

// TestOneRetention: after persist and index with the default settings, a
// post's posts.expires_at, its point's payload expires_at and its graph
// Post.expires_at are the same instant (posted_at + 90 days).
func TestOneRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.writers(t)
	w.write(t, e, 0, 20)
	rows, err := e.pool.Query(e.ctx, `
		SELECT p.post_id, extract(epoch FROM p.expires_at)::bigint, v.expires_at, extract(epoch FROM g.expires_at)::bigint,
		       extract(epoch FROM p.posted_at + interval '90 days')::bigint
		FROM posts p JOIN vectors v ON v.post_id = p.post_id JOIN graph_posts g ON g.post_id = p.post_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var pe, ve, ge, want int64
		if err := rows.Scan(&id, &pe, &ve, &ge, &want); err != nil {
			t.Fatal(err)
		}
		n++
		if pe != want || ve != want || ge != want {
			t.Errorf("%s: posts.expires_at %d, payload %d, graph %d; want all %d", id, pe, ve, ge, want)
		}
	}
	if n != 20 {
		t.Errorf("%d posts in all three stores, want 20", n)
	}
}
