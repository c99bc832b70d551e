package qdrant_test

import (
	"context"
	"strings"
	"testing"
	"time"

	qc "github.com/qdrant/go-client/qdrant"

	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/qdrant"
	"github.com/assistant-dev/assistant/store/qdrant/qdranttest"
	"github.com/assistant-dev/assistant/store/storetest"
)

// These tests run the real go-client against qdranttest, a FAKE Qdrant
// (in-process gRPC server on loopback, points in memory); no Qdrant server
// is involved.

func open(t *testing.T, srv *qdranttest.Server, key string) *qdrant.Store {
	t.Helper()
	s, err := qdrant.Open(qdrant.Config{URL: srv.URL(), APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	storetest.TestVectorStore(t, func(t *testing.T) store.VectorStore {
		return open(t, qdranttest.Start(t), "")
	})
}

func TestCollectionCreatedOnceWithIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := qdranttest.Start(t)
	s := open(t, srv, "")
	for range 3 {
		if err := s.EnsureCollection(ctx, store.Collection{Name: "posts", Dim: 1024, Model: "Embeddings"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Requests("/qdrant.Collections/Create"); n != 1 {
		t.Errorf("collection created %d times", n)
	}
	c, _, ok := srv.Collection("posts")
	if !ok || c.Size != 1024 || c.Distance != qc.Distance_Cosine || c.Metadata["embedding_model"].GetStringValue() != "Embeddings" {
		t.Fatalf("collection = %+v", c)
	}
	want := map[string]qc.FieldType{
		"expires_at": qc.FieldType_FieldTypeInteger, "posted_at": qc.FieldType_FieldTypeInteger,
		"channel_id": qc.FieldType_FieldTypeKeyword, "tenant_id": qc.FieldType_FieldTypeKeyword, "tags": qc.FieldType_FieldTypeKeyword,
	}
	for f, typ := range want {
		if c.Indexes[f] != typ {
			t.Errorf("payload index %s = %v, want %v", f, c.Indexes[f], typ)
		}
	}
	// A new process with another model sees the mismatch.
	err := open(t, srv, "").EnsureCollection(ctx, store.Collection{Name: "posts", Dim: 2560, Model: "EmbeddingsGigaR"})
	if err == nil || !strings.Contains(err.Error(), "2560") || !strings.Contains(err.Error(), "1024") {
		t.Errorf("model change: %v", err)
	}
}

func TestAPIKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := qdranttest.Start(t)
	srv.APIKey = "secret"
	if err := open(t, srv, "wrong").Check(ctx); err == nil {
		t.Error("wrong api key accepted")
	}
	if err := open(t, srv, "secret").Check(ctx); err != nil {
		t.Errorf("right api key: %v", err)
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "qdrant:6334", "ftp://h:1", "http://h:port"} {
		if _, err := qdrant.Open(qdrant.Config{URL: bad}); err == nil {
			t.Errorf("url %q accepted", bad)
		}
	}
	for _, good := range []string{"http://qdrant:6334", "https://xyz.cloud.qdrant.io:6334", "http://qdrant"} {
		s, err := qdrant.Open(qdrant.Config{URL: good})
		if err != nil {
			t.Errorf("url %q: %v", good, err)
			continue
		}
		_ = s.Close()
	}
}

func TestPayloadIntegers(t *testing.T) {
	t.Parallel()
	p := qdrant.Payload(store.Payload{PostID: "p", PostedAt: 1_700_000_000, ExpiresAt: time.Unix(1_700_000_000, 0).Add(90 * 24 * time.Hour).Unix(), Tags: []string{"a"}})
	if _, ok := p["expires_at"].GetKind().(*qc.Value_IntegerValue); !ok {
		t.Errorf("expires_at is %T, want an integer value", p["expires_at"].GetKind())
	}
	if got := qdrant.PayloadFrom(p); got.ExpiresAt != 1_707_776_000 || got.Tags[0] != "a" {
		t.Errorf("round trip = %+v", got)
	}
}
