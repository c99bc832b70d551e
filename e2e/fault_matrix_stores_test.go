package e2e

// fault_matrix_stores_test.go: the fault matrix rows of the index stage's
// external stores (issue 21). Qdrant is qdranttest, an in-process FAKE
// speaking Qdrant's real gRPC protocol to the official go-client inside the
// daemon (the real binary, a separate process); it is not Qdrant. Neo4j is
// bolttest, a Bolt STUB that speaks the protocol to the official Go driver
// and evaluates no Cypher; it is not a graph database. Both fakes keep
// their data across their Down/Up as a real server keeps it on disk.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/assistant-dev/assistant/store/neo4j/bolttest"
	"github.com/assistant-dev/assistant/store/qdrant/qdranttest"
)

// TestFaultMatrixQdrant: Qdrant down, slow and answering errors under
// `run --stages=tag,persist,enrich,index` (crawling off, local tagger and
// embedder, stores.vector.backend qdrant; 400 posts, runner.max_attempts 2).
func TestFaultMatrixQdrant(t *testing.T) {
	t.Parallel()
	rows := []struct {
		name  string
		fault func(q *qdranttest.Server) func(ctx context.Context, t *testing.T) error
	}{
		{"Qdrant (fake) down: listener closed, connections refused, for 8 s", func(q *qdranttest.Server) func(ctx context.Context, t *testing.T) error {
			return func(ctx context.Context, t *testing.T) error {
				q.Down()
				sleepFor(ctx, 8*time.Second)
				return q.Up()
			}
		}},
		{"Qdrant (fake) slow: every call 3 s longer, for 8 s", func(q *qdranttest.Server) func(ctx context.Context, t *testing.T) error {
			return func(ctx context.Context, t *testing.T) error {
				q.SetDelay(3 * time.Second)
				sleepFor(ctx, 8*time.Second)
				q.SetDelay(0)
				return nil
			}
		}},
		{"Qdrant (fake) answering errors (UNAVAILABLE / RESOURCE_EXHAUSTED / INTERNAL in turn, 8 s)", func(q *qdranttest.Server) func(ctx context.Context, t *testing.T) error {
			return func(ctx context.Context, t *testing.T) error {
				var n atomic.Int64
				codesInTurn := []codes.Code{codes.Unavailable, codes.ResourceExhausted, codes.Internal}
				err := everyFor(ctx, 8*time.Second, 2700*time.Millisecond, func() error {
					c := codesInTurn[n.Add(1)%3]
					q.FailAll(status.Error(c, "scripted "+c.String()))
					return nil
				})
				q.FailAll(nil)
				return err
			}
		}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			q := qdranttest.Start(t)
			stack := NewStack(t)
			stack.Env["ASSISTANT_STORES_VECTOR_BACKEND"] = "qdrant"
			stack.Env["QDRANT_URL"] = q.URL()
			runFaultCase(t, faultCase{
				name: row.name, stack: stack, ingestDuringFault: true,
				stages: []string{"tag", "persist", "enrich", "index"},
				fault:  row.fault(q),
			})
			if q.Requests("/qdrant.Points/Upsert") == 0 {
				t.Fatal("no upsert reached the fake")
			}
		})
	}
}

// TestFaultMatrixNeo4j: Neo4j down and answering errors under
// `run --stages=tag,persist,enrich,index` (crawling off, local tagger and
// embedder, graph_store neo4j; 400 posts, runner.max_attempts 2).
func TestFaultMatrixNeo4j(t *testing.T) {
	t.Parallel()
	rows := []struct {
		name  string
		fault func(b *bolttest.Server, failing *atomic.Bool) func(ctx context.Context, t *testing.T) error
	}{
		{"Neo4j (Bolt stub) down: listener closed, connections dropped, for 8 s", func(b *bolttest.Server, _ *atomic.Bool) func(ctx context.Context, t *testing.T) error {
			return func(ctx context.Context, t *testing.T) error {
				b.Down()
				sleepFor(ctx, 8*time.Second)
				return b.Up()
			}
		}},
		{"Neo4j (Bolt stub) answering Neo.TransientError.General.DatabaseUnavailable to every query for 8 s", func(_ *bolttest.Server, failing *atomic.Bool) func(ctx context.Context, t *testing.T) error {
			return func(ctx context.Context, t *testing.T) error {
				failing.Store(true)
				sleepFor(ctx, 8*time.Second)
				failing.Store(false)
				return nil
			}
		}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			b := bolttest.Start(t)
			var failing atomic.Bool
			b.SetResponder(func(q bolttest.Query) bolttest.Result {
				if failing.Load() {
					return bolttest.Result{FailCode: "Neo.TransientError.General.DatabaseUnavailable", FailMessage: "scripted: database unavailable"}
				}
				return bolttest.Result{}
			})
			stack := NewStack(t)
			stack.Env["ASSISTANT_STORES_GRAPH_BACKEND"] = "neo4j"
			stack.Env["NEO4J_URI"] = b.URI()
			runFaultCase(t, faultCase{
				name: row.name, stack: stack, ingestDuringFault: true,
				stages: []string{"tag", "persist", "enrich", "index"},
				fault:  row.fault(b, &failing),
			})
			if b.Messages("RUN") == 0 {
				t.Fatal("no query reached the stub")
			}
		})
	}
}
