package operator_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/pipeline/operator"
)

// TestPartitionedStreamsAndDLQ: with three partitions, the report sums the
// partitions and lists each; the DLQ of a stream is the union of its
// partitions' DLQs, its ids name their partition, an id two partitions
// share is refused as ambiguous unless qualified, and a replay puts an
// entry back in its own partition.
func TestPartitionedStreamsAndDLQ(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq", Partitions: 3}
	const stream = "posts.parsed"

	// Two entries in partition 0, one in partition 2, one unrouted; the
	// group reads partition 0's and leaves them pending.
	for _, x := range []struct{ key, id string }{
		{keys.PartStream(0, stream), "1000-0"}, {keys.PartStream(0, stream), "1000-1"},
		{keys.PartStream(2, stream), "1500-0"}, {keys.Stream(stream), "900-0"},
	} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: x.key, ID: x.id, Values: []any{"data", "{}"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for p := range 3 {
		if err := rdb.XGroupCreateMkStream(ctx, keys.PartStream(p, stream), "tag", "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "tag", Consumer: "c0", Streams: []string{keys.PartStream(0, stream), ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	reps, err := operator.StreamsReport(ctx, rdb, keys, []string{stream})
	if err != nil {
		t.Fatal(err)
	}
	rep := reps[0]
	if rep.Length != 4 || len(rep.Partitions) != 3 || rep.Partitions[2].Length != 1 || rep.Partitions[2].Partition != 2 {
		t.Fatalf("report: length %d, %d partitions %+v", rep.Length, len(rep.Partitions), rep.Partitions)
	}
	if len(rep.Groups) != 1 || rep.Groups[0].Pending != 2 || rep.Groups[0].Lag != 1 || rep.Groups[0].OldestPendingID != "1000-0" {
		t.Fatalf("summed group: %+v", rep.Groups)
	}
	pend, err := operator.PendingEntries(ctx, rdb, keys, stream, "tag", 10)
	if err != nil || len(pend) != 2 || pend[0].ID != "1000-0@p0" {
		t.Fatalf("pending entries: %+v, %v", pend, err)
	}

	// The same DLQ id in partitions 0 and 2, another in partition 1.
	for _, x := range []struct {
		p  int
		id string
	}{{0, "1700000000000-0"}, {2, "1700000000000-0"}, {1, "1700000000001-0"}} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.PartDLQ(x.p, stream), ID: x.id, Values: []any{
			"data", `{"n":"` + x.id + `"}`, "stream", stream, "stage", "tag", "error_class", "permanent",
		}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	page, err := operator.DLQList(ctx, rdb, keys, stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range page.Entries {
		ids = append(ids, e.ID)
	}
	if page.Total != 3 || strings.Join(ids, " ") != "1700000000000-0@p0 1700000000000-0@p2 1700000000001-0@p1" {
		t.Fatalf("DLQ list: total %d, ids %v", page.Total, ids)
	}
	if _, err := operator.DLQGet(ctx, rdb, keys, []string{stream}, "1700000000000-0"); !errors.Is(err, operator.ErrDLQEntryAmbiguous) {
		t.Fatalf("shared id unqualified: %v, want ambiguous", err)
	}
	if e, err := operator.DLQGet(ctx, rdb, keys, []string{stream}, "1700000000001-0"); err != nil || e.ID != "1700000000001-0@p1" {
		t.Fatalf("id of one partition: %+v, %v", e, err)
	}
	if _, err := operator.DLQGet(ctx, rdb, keys, []string{stream}, "1700000000000-0@p7"); err == nil {
		t.Fatal("a partition that does not exist was accepted")
	}
	found, err := operator.DLQFind(ctx, rdb, keys, []string{stream}, "1700000000000-0@p2")
	if err != nil || len(found) != 1 || found[0].ID != "1700000000000-0@p2" {
		t.Fatalf("find qualified: %+v, %v", found, err)
	}
	q, err := operator.DLQQuery(ctx, rdb, keys, stream, operator.DLQFilter{}, 2)
	if err != nil || q.Total != 3 || len(q.Entries) != 2 || q.Entries[1].ID != "1700000000000-0@p2" {
		t.Fatalf("query: %+v, %v", q, err)
	}

	res, err := operator.DLQReplay(ctx, rdb, keys, stream, []string{"1700000000000-0@p2"}, false)
	if err != nil || res.Done != 1 {
		t.Fatalf("replay: %+v, %v", res, err)
	}
	back, err := rdb.XRevRangeN(ctx, keys.PartStream(2, stream), "+", "-", 1).Result()
	if err != nil || len(back) != 1 || back[0].Values["n"] != "1700000000000-0" {
		t.Fatalf("replayed entry not back in partition 2: %+v, %v", back, err)
	}
	if n := rdb.XLen(ctx, keys.PartDLQ(0, stream)).Val(); n != 1 {
		t.Fatalf("partition 0's DLQ entry of the same id touched: %d left", n)
	}
	// What `dlq purge --all` and `--dry-run` count first.
	if n, err := operator.DLQCount(ctx, rdb, keys, stream, nil, true); err != nil || n != 2 {
		t.Fatalf("count all: %d, %v; want 2", n, err)
	}
	if _, err := operator.DLQCount(ctx, rdb, keys, stream, []string{"1700000000001-0", "1700000000009-0"}, false); !errors.Is(err, operator.ErrDLQEntryNotFound) {
		t.Fatalf("count of an absent id: %v, want not found", err)
	}
	res, err = operator.DLQPurge(ctx, rdb, keys, stream, nil, true)
	if err != nil || res.Done != 2 {
		t.Fatalf("purge all: %+v, %v", res, err)
	}
}
