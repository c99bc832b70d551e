package pipeline

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestRouterIsIdempotent: a router that died after adding an entry to its
// partition and before acknowledging it leaves the entry pending; routed
// again (by the replica that claims it, and by a stalled router after
// that), the entry is acknowledged without a second copy, and an entry
// without a post id goes to partition 0.
func TestRouterIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	cfg := config.Default()
	cfg.Redis.KeyPrefix = prefix
	cfg.Streams.Partitions = 3
	reg := prometheus.NewRegistry()
	metrics, err := newRunnerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{cfg: &cfg, rdb: rdb, keys: NewKeys(&cfg), metrics: metrics, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	const stream = "posts.parsed"
	src := groupRef{stream: stream, key: r.keys.Stream(stream), group: RouterGroup, partition: -1}
	if err := createGroup(ctx, rdb, src.key, RouterGroup, "0"); err != nil {
		t.Fatal(err)
	}
	for _, values := range []map[string]any{
		{"data": `{"post_id":"chan/42","n":1}`}, // FNV-1a mod 3 = 2
		{"post_id": "chan/42", "flat": "1"},     // the old flat form, same post
		{"data": "not json"},
	} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: src.key, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: RouterGroup, Consumer: "dead", Streams: []string{src.key, ">"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	msgs := res[0].Messages
	// The dead router's last act: the script ran for the first entry, the
	// XACK never came.
	first := msgs[0]
	mark := r.keys.PartKey(2, "routed:"+stream+":"+first.ID)
	if err := routeScript.Eval(ctx, rdb, []string{mark, r.keys.PartStream(2, stream)}, 60, "data", first.Values["data"]).Err(); err != nil {
		t.Fatal(err)
	}

	rt := r.newRouter(src, 0)
	for range 2 { // the claimer, then the stalled router
		if err := rt.route(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.XLen(ctx, r.keys.PartStream(2, stream)).Val(); n != 2 {
		t.Fatalf("partition 2 holds %d entries, want the two of post chan/42 once each", n)
	}
	if n := rdb.XLen(ctx, r.keys.PartStream(0, stream)).Val(); n != 1 {
		t.Fatalf("partition 0 holds %d entries, want the one without a post id", n)
	}
	if n := rdb.XLen(ctx, r.keys.PartStream(1, stream)).Val(); n != 0 {
		t.Fatalf("partition 1 holds %d entries, want none", n)
	}
	if p := rdb.XPending(ctx, src.key, RouterGroup).Val(); p.Count != 0 {
		t.Fatalf("%d entries still pending on the source", p.Count)
	}
	// Counted: the two entries the routers added, not the one the dead
	// router had added already.
	if got := testenv.MetricValue(t, reg, "stream_routed_total", map[string]string{"stream": stream}); got != 2 {
		t.Fatalf("stream_routed_total = %v, want 2", got)
	}
	// The mark stays for a router that stalled and is about to route the
	// entry again, until its TTL.
	if ttl := rdb.TTL(ctx, mark).Val(); ttl <= 0 {
		t.Fatalf("mark TTL %s", ttl)
	}
}
