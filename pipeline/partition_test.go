package pipeline_test

import (
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/pipeline"
)

// TestPartitionOf pins the partition function: FNV-1a-32 of the post id
// mod N (golden values computed independently), so that producers in other
// languages and other releases agree on it.
func TestPartitionOf(t *testing.T) {
	for _, tc := range []struct {
		id   string
		n    int
		want int
	}{
		{"a", 3, 1}, {"a", 12, 4}, // 0xe40c292c
		{"post-1", 3, 1}, {"post-1", 12, 1}, // 0xdf50543d
		{"chan/42", 3, 2}, {"chan/42", 12, 8}, // 0x333950c0
		{"chan/42", 1, 0}, {"", 12, 0},
	} {
		if got := pipeline.PartitionOf(tc.id, tc.n); got != tc.want {
			t.Errorf("PartitionOf(%q, %d) = %d, want %d", tc.id, tc.n, got, tc.want)
		}
	}
}

// TestPartitionKeys: one partition keeps today's key names; with N every
// partition has a prefix of its own whose hash slot is in the partition's
// N-th of the slot space, and all keys of one partition share that slot.
func TestPartitionKeys(t *testing.T) {
	one := pipeline.Keys{Prefix: "{assistant}:", DLQSuffix: ".dlq", Partitions: 1}
	if got := one.PartStream(0, "posts.parsed"); got != "{assistant}:posts.parsed" {
		t.Fatalf("one partition: %q, want the unpartitioned name", got)
	}
	if got := one.PartDLQ(0, "posts.parsed"); got != one.DLQ("posts.parsed") {
		t.Fatalf("one partition DLQ: %q", got)
	}
	for _, prefix := range []string{"{assistant}:", "test:", "", "x{t}y:"} {
		for _, n := range []int{2, 3, 12, 256} {
			k := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq", Partitions: n}
			seen := map[int]bool{}
			for p := range n {
				s := pipeline.KeySlot(k.PartStream(p, "posts.parsed"))
				if lo, hi := p*16384/n, (p+1)*16384/n; s < lo || s >= hi {
					t.Fatalf("prefix %q, %d partitions: partition %d in slot %d, outside [%d,%d)", prefix, n, p, s, lo, hi)
				}
				if seen[s] {
					t.Fatalf("prefix %q: two partitions in slot %d", prefix, s)
				}
				seen[s] = true
				for _, key := range []string{k.PartStream(p, "posts.tagged"), k.PartDLQ(p, "posts.parsed"), k.PartKey(p, "tag:done:1")} {
					if pipeline.KeySlot(key) != s {
						t.Fatalf("key %s of partition %d not in its slot %d", key, p, s)
					}
				}
				if !strings.HasPrefix(k.PartStream(p, "x"), strings.SplitN(prefix, "{", 2)[0]) {
					t.Fatalf("partition key %q lost the prefix %q", k.PartStream(p, "x"), prefix)
				}
				if got, ok := k.PartitionOfKey(k.PartDLQ(p, "posts.parsed")); !ok || got != p {
					t.Fatalf("PartitionOfKey(%s) = %d %v, want %d", k.PartDLQ(p, "posts.parsed"), got, ok, p)
				}
			}
			if _, ok := k.PartitionOfKey(k.Stream("posts.parsed")); ok {
				t.Fatalf("the unpartitioned key %s taken for a partition's", k.Stream("posts.parsed"))
			}
		}
	}
	// Redis's own examples (cluster spec): the slot of a key, and of a
	// key with a hash tag.
	for key, want := range map[string]int{"foo": 12182, "{user1000}.following": 3443, "user1000": 3443, "123456789": 12739} {
		if got := pipeline.KeySlot(key); got != want {
			t.Fatalf("KeySlot(%q) = %d, want %d", key, got, want)
		}
	}
}
