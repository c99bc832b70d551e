package operator

// partitions.go: the operator tools on partitioned streams
// (streams.partitions > 1). A stream's report sums its partitions and lists
// each; a stream's DLQ is the union of its partitions' DLQs, and a DLQ id
// names its partition ("<id>@p<partition>"), since two partitions' DLQs
// can hold the same id.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/pipeline"
)

// dlqPart is one DLQ key of a stream.
type dlqPart struct {
	key       string
	partition int
}

// dlqParts lists the DLQ keys of a stream: one, or one per partition.
func dlqParts(keys pipeline.Keys, stream string) []dlqPart {
	out := make([]dlqPart, keys.PartitionCount())
	for p := range out {
		out[p] = dlqPart{key: keys.PartDLQ(p, stream), partition: p}
	}
	return out
}

// qualifyID is the id an operator sees for an entry of partition p's DLQ:
// the entry id itself without partitions, else with "@p<p>".
func qualifyID(keys pipeline.Keys, id string, p int) string {
	if !keys.Partitioned() {
		return id
	}
	return id + "@p" + strconv.Itoa(p)
}

// splitID parses an operator's DLQ id: the entry id, and its partition
// when the id names one (p is -1 otherwise: any partition).
func splitID(keys pipeline.Keys, id string) (raw string, p int, err error) {
	raw, part, qualified := strings.Cut(id, "@p")
	p = -1
	if qualified {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || n >= keys.PartitionCount() {
			return "", 0, fmt.Errorf("DLQ id %q: partition %q is not one of 0..%d", id, part, keys.PartitionCount()-1)
		}
		p = n
	}
	if _, err := pipeline.ParseStreamID(raw); err != nil {
		return "", 0, err
	}
	return raw, p, nil
}

// partsOf narrows the DLQ keys of a stream to the partition an id names.
func partsOf(parts []dlqPart, p int) []dlqPart {
	if p < 0 {
		return parts
	}
	return []dlqPart{parts[p]}
}

// qualify rewrites the ids of entries read from partition p's DLQ.
func qualify(keys pipeline.Keys, entries []pipeline.DLQEntry, p int) {
	for i := range entries {
		entries[i].ID = qualifyID(keys, entries[i].ID, p)
	}
}

// sortByDLQTime orders entries from several partitions by their DLQ id
// (the time they were dead-lettered), oldest first.
func sortByDLQTime(entries []pipeline.DLQEntry) {
	rawID := func(e pipeline.DLQEntry) pipeline.StreamID {
		raw, _, _ := strings.Cut(e.ID, "@p")
		id, _ := pipeline.ParseStreamID(raw)
		return id
	}
	slices.SortStableFunc(entries, func(a, b pipeline.DLQEntry) int {
		switch x, y := rawID(a), rawID(b); {
		case x.Less(y):
			return -1
		case y.Less(x):
			return 1
		}
		return 0
	})
}

// DLQName names a stream's DLQ for messages: its key, or with partitions
// the keys it stands for.
func DLQName(keys pipeline.Keys, stream string) string {
	if !keys.Partitioned() {
		return keys.DLQ(stream)
	}
	return fmt.Sprintf("the DLQs of %s's %d partitions (%s)", stream, keys.PartitionCount(), keys.PartDLQ(0, stream)+", …")
}

// DLQCount counts the entries a replay or purge would touch: every entry
// of the stream's DLQ (every partition's), or the given ids, each of which
// must be in it (once).
func DLQCount(ctx context.Context, rdb redis.UniversalClient, keys pipeline.Keys, stream string, ids []string, all bool) (int, error) {
	parts := dlqParts(keys, stream)
	if all {
		total := 0
		for _, part := range parts {
			n, err := rdb.XLen(ctx, part.key).Result()
			if err != nil {
				return 0, fmt.Errorf("XLEN %s: %w", part.key, err)
			}
			total += int(n)
		}
		return total, nil
	}
	for _, id := range ids {
		if _, _, err := locateDLQEntry(ctx, rdb, keys, parts, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}
