package index_test

import (
	"testing"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/index"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/qdrant"
	"github.com/assistant-dev/assistant/store/qdrant/qdranttest"
)

// TestIndexQdrant runs the stage with the Qdrant backend against qdranttest,
// a FAKE Qdrant (in-process gRPC server implementing the go-client's
// service interfaces, points in memory): the collection is created once
// with the embedder's size, every point carries an integer expires_at, and
// an upsert that fails fails the batch transiently; the retried batch
// lands every point.
func TestIndexQdrant(t *testing.T) {
	t.Parallel()
	srv := qdranttest.Start(t)
	qs, err := qdrant.Open(qdrant.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = qs.Close() })
	e := newEnv(t, local.NewEmbedder(64), nil)
	e.stage = e.newStage(t, func(o *index.Options) { o.Vectors = qs; o.Collection = "news" })

	evs := corpusEvents(t, 60)
	e.handle(t, evs[:30], 30)

	srv.FailNext("/qdrant.Points/Upsert", status.Error(codes.Unavailable, "connection reset"))
	var msgs []*pipeline.Message
	for _, ev := range evs[30:] {
		msgs = append(msgs, message(t, ev))
	}
	err = e.stage.Handle(e.ctx, msgs)
	if err == nil || pipeline.IsPermanent(err) {
		t.Fatalf("handle with a failing upsert: %v, want a transient error", err)
	}
	for _, m := range msgs {
		if m.Err() != nil {
			t.Fatalf("a message failed on its own: %v", m.Err())
		}
	}
	if _, n, _ := srv.Collection("news"); n != 30 {
		t.Errorf("points after the failed batch: %d, want 30", n)
	}
	// The runner's retry: the same batch again.
	if err := e.stage.Handle(e.ctx, msgs); err != nil {
		t.Fatalf("retried batch: %v", err)
	}

	if n := srv.Requests("/qdrant.Collections/Create"); n != 1 {
		t.Errorf("collection created %d times, want once", n)
	}
	c, n, _ := srv.Collection("news")
	if c.Size != 64 || n != 60 {
		t.Errorf("collection size %d with %d points, want 64 and 60", c.Size, n)
	}
	byID := map[string]*events.PostEnriched{}
	for _, ev := range evs {
		byID[store.PointID(ev.PostID)] = ev
	}
	for _, p := range srv.Points("news") {
		ev := byID[p.ID]
		if ev == nil {
			t.Fatalf("point %s is no post's", p.ID)
		}
		exp, ok := p.Payload["expires_at"].GetKind().(*qc.Value_IntegerValue)
		if !ok {
			t.Fatalf("point %s: expires_at is %T, not an integer", p.ID, p.Payload["expires_at"].GetKind())
		}
		if want := ev.PostedAt.Unix() + 90*86400; exp.IntegerValue != want {
			t.Errorf("point %s: expires_at %d, want %d", p.ID, exp.IntegerValue, want)
		}
		if p.Payload["post_id"].GetStringValue() != ev.PostID || len(p.Vector) != 64 {
			t.Errorf("point %s: post_id %q, %d dims", p.ID, p.Payload["post_id"].GetStringValue(), len(p.Vector))
		}
	}
	if n := e.count(t, `SELECT count(*) FROM indexing_status WHERE embedding_status = 'completed'`); n != 60 {
		t.Errorf("completed: %d", n)
	}
}
