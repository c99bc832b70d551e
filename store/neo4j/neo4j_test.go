package neo4j_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/neo4j"
	"github.com/assistant-dev/assistant/store/neo4j/bolttest"
)

// These tests drive the real Neo4j driver against bolttest, a Bolt-protocol
// STUB (in-process TCP server speaking the handshake and PackStream) that
// records every query, its parameters and its transaction. It evaluates no
// Cypher: the tests check what the store sends, not graph semantics (those
// are the PostgreSQL backend's contract tests).

func open(t *testing.T, srv *bolttest.Server) *neo4j.Store {
	t.Helper()
	s, err := neo4j.Open(neo4j.Config{URI: srv.URI(), User: "neo4j", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func stub(t *testing.T) *bolttest.Server {
	srv := bolttest.Start(t)
	srv.User, srv.Password = "neo4j", "secret"
	return srv
}

func TestConstraintsAtStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := stub(t)
	s := open(t, srv)
	if err := s.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range srv.Queries() {
		got = append(got, q.Text)
	}
	if !slices.Equal(got, neo4j.Schema) {
		t.Errorf("schema statements = %q", got)
	}
	for _, want := range []string{"(p:Post) REQUIRE p.post_id IS UNIQUE", "(t:Tag) REQUIRE t.name IS UNIQUE",
		"(c:Channel) REQUIRE c.channel_id IS UNIQUE", "(w:WebPage) REQUIRE w.url IS UNIQUE"} {
		if !slices.ContainsFunc(got, func(q string) bool { return strings.Contains(q, want) }) {
			t.Errorf("no constraint %q", want)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("check: %v", err)
	}
	bad, err := neo4j.Open(neo4j.Config{URI: srv.URI(), User: "neo4j", Password: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close(ctx)
	if err := bad.Check(ctx); err == nil {
		t.Error("wrong password accepted")
	}
}

// TestUpsertOneTransaction: the stale-edge removal and the new edges run in
// one committed transaction, and no value appears in any query text.
func TestUpsertOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := stub(t)
	s := open(t, srv)
	now := time.Unix(1_800_000_000, 0)
	evil := `x'}) DETACH DELETE n //`
	posts := []store.GraphPost{
		{PostID: "p1", ChannelID: "c1", TenantID: "t", PostedAt: now, ExpiresAt: now.Add(time.Hour),
			Tags: []string{"Go", evil, "Go"}, Pages: []store.WebPage{{URL: "https://go.dev/", Title: "Go"}}},
		{PostID: "p2", ChannelID: "c1", Tags: []string{"Rust"}},
	}
	counts, err := s.UpsertPosts(ctx, posts)
	if err != nil {
		t.Fatal(err)
	}
	if counts != (store.GraphCounts{Nodes: 2 + 1 + 3 + 1, Relationships: 2 + 3 + 1}) {
		t.Errorf("counts = %+v", counts)
	}
	txs := srv.Transactions()
	if len(txs) != 1 || !txs[0].Committed || txs[0].RolledBack {
		t.Fatalf("transactions = %+v, want one committed", txs)
	}
	qs := txs[0].Queries
	if len(qs) != 4 {
		t.Fatalf("%d statements in the transaction, want 4", len(qs))
	}
	if !strings.Contains(qs[0].Text, "DELETE") || !strings.Contains(qs[0].Text, "TAGGED_AS") || !strings.Contains(qs[0].Text, "REFERS_TO") {
		t.Errorf("first statement does not remove stale edges: %s", qs[0].Text)
	}
	if !strings.Contains(qs[2].Text, "MERGE (p)-[:TAGGED_AS]->(t)") || !strings.Contains(qs[3].Text, "MERGE (p)-[:REFERS_TO]->(w)") {
		t.Errorf("new edges not in the same transaction: %q, %q", qs[2].Text, qs[3].Text)
	}
	for _, q := range srv.Queries() {
		for _, v := range []string{"p1", "p2", "c1", "Rust", evil, "go.dev", "1800000000"} {
			if strings.Contains(q.Text, v) {
				t.Errorf("value %q is in the query text: %s", v, q.Text)
			}
		}
		if !strings.HasPrefix(q.Text, "UNWIND $rows AS row") {
			t.Errorf("not a batched UNWIND: %s", q.Text)
		}
	}
	rows := qs[0].Params["rows"].([]any)
	r0 := rows[0].(map[string]any)
	if r0["post_id"] != "p1" || r0["expires_at"] != int64(1_800_003_600) || !slices.Equal(r0["tags"].([]any), []any{"Go", evil}) {
		t.Errorf("post row = %v", r0)
	}
	tagRows := qs[2].Params["rows"].([]any)
	if len(tagRows) != 3 {
		t.Errorf("tag rows = %v", tagRows)
	}
}

// TestUpsertRetriedOnTransientError: a transient failure rolls the
// transaction back and the driver runs it again, whole.
func TestUpsertRetriedOnTransientError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := stub(t)
	failed := false
	srv.SetResponder(func(q bolttest.Query) bolttest.Result {
		if !failed && strings.Contains(q.Text, "TAGGED_AS]->(t)") {
			failed = true
			return bolttest.Result{FailCode: "Neo.TransientError.Transaction.DeadlockDetected", FailMessage: "deadlock"}
		}
		return bolttest.Result{}
	})
	s := open(t, srv)
	if _, err := s.UpsertPosts(ctx, []store.GraphPost{{PostID: "p", ChannelID: "c", Tags: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	txs := srv.Transactions()
	if len(txs) != 2 || txs[0].Committed || !txs[1].Committed || len(txs[1].Queries) != 3 {
		t.Fatalf("transactions = %+v, want a failed one then a committed retry of all statements", txs)
	}
}

func TestReadsAndDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := stub(t)
	srv.SetResponder(func(q bolttest.Query) bolttest.Result {
		switch {
		case strings.Contains(q.Text, "RETURN p.post_id"):
			return bolttest.Result{Columns: []string{"post_id"}, Rows: [][]any{{"a"}, {"b"}}}
		case strings.Contains(q.Text, "RETURN o.name"):
			return bolttest.Result{Columns: []string{"tag", "posts"}, Rows: [][]any{{"GC", int64(2)}}}
		case strings.Contains(q.Text, "count(*) AS n"):
			return bolttest.Result{Columns: []string{"n"}, Rows: [][]any{{int64(3)}}}
		}
		return bolttest.Result{}
	})
	s := open(t, srv)
	ids, err := s.PostsWithTag(ctx, store.TagQuery{Tag: "Go", TenantID: "t1", Limit: 5})
	if err != nil || !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("posts with tag = %v %v", ids, err)
	}
	rel, err := s.RelatedTags(ctx, "Go", 5)
	if err != nil || !slices.Equal(rel, []store.TagCount{{Tag: "GC", Posts: 2}}) {
		t.Errorf("related = %v %v", rel, err)
	}
	if ids, err := s.PostsLinking(ctx, "https://go.dev/", 5); err != nil || len(ids) != 2 {
		t.Errorf("linking = %v %v", ids, err)
	}
	if n, err := s.DeletePosts(ctx, []string{"a"}); err != nil || n != 3 {
		t.Errorf("delete = %d %v", n, err)
	}
	if n, err := s.DeleteExpired(ctx, time.Unix(1_800_000_000, 0), 100); err != nil || n != 3 {
		t.Errorf("delete expired = %d %v", n, err)
	}
	if oc, err := s.DeleteOrphans(ctx, 100); err != nil || oc != (store.OrphanCounts{Tags: 3, Channels: 3, WebPages: 3}) {
		t.Errorf("orphans = %+v %v", oc, err)
	}
	want := map[string]map[string]any{
		"posts with tag": {"tag": "Go", "tenant": "t1", "limit": int64(5)},
		"delete expired": {"before": int64(1_800_000_000), "limit": int64(100)},
	}
	qs := srv.Queries()
	check := func(i int, name string) {
		for k, v := range want[name] {
			if qs[i].Params[k] != v {
				t.Errorf("%s: param %s = %v, want %v", name, k, qs[i].Params[k], v)
			}
		}
	}
	check(0, "posts with tag")
	check(4, "delete expired")
	for _, q := range qs {
		if strings.Contains(q.Text, "Go") || strings.Contains(q.Text, "t1") || strings.Contains(q.Text, "1800000000") {
			t.Errorf("value in query text: %s", q.Text)
		}
	}
}
