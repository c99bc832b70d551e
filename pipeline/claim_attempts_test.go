package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// TestClaimedEntryAttemptsBoundary pins the comparison that dead-letters a
// claimed entry before handling it: with runner.max_attempts 3, an entry
// whose claim is its 3rd delivery still gets its last attempt (handled,
// published, acknowledged), and one whose claim is its 4th is
// dead-lettered as exhausted without being handled. A `>=` for the `>`
// would dead-letter the first; a `> max+1` would handle the second.
func TestClaimedEntryAttemptsBoundary(t *testing.T) {
	t.Parallel()
	const maxAttempts = 3
	h := newHarness(t, "test-pass", func(c *config.Config, _ *config.Pool) { c.Runner.MaxAttempts = maxAttempts })
	ctx := context.Background()
	in := h.key(h.cfg.Streams.Parsed)
	ids := h.add(t, testEvent{N: 1}, testEvent{N: 2})
	if err := h.rdb.XGroupCreateMkStream(ctx, in, "test-pass", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// A consumer of a dead replica read both and never acknowledged them.
	const dead = "dead-1-test-pass-0"
	if err := h.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "test-pass", Consumer: dead, Streams: []string{in, ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	// Deliveries before the runner's claim: entry 1 twice (its claim is
	// attempt 3 = max), entry 2 three times (its claim is attempt 4).
	for id, before := range map[string]int{ids[0]: maxAttempts - 1, ids[1]: maxAttempts} {
		for range before - 1 {
			if err := h.rdb.XClaim(ctx, &redis.XClaimArgs{Stream: in, Group: "test-pass", Consumer: dead, Messages: []string{id}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.start()
	testenv.WaitFor(t, "both claimed entries settled", 15*time.Second, func() bool {
		return len(h.outputs(t))+len(h.dlq(t)) == 2 && h.pending(t, "test-pass") == 0
	})
	st := h.stage
	st.mu.Lock()
	a1, a2 := st.attempts[1], st.attempts[2]
	st.mu.Unlock()
	if len(a1) != 1 || a1[0] != maxAttempts {
		t.Errorf("entry claimed at attempt %d (= max_attempts): handled with attempts %v, want [%d]", maxAttempts, a1, maxAttempts)
	}
	if len(a2) != 0 {
		t.Errorf("entry claimed at attempt %d (> max_attempts) was handled (attempts %v), want dead-lettered unhandled", maxAttempts+1, a2)
	}
	if out := h.outputs(t); len(out) != 1 || out[0].N != 1 {
		t.Errorf("outputs %+v, want entry 1's", out)
	}
	if dl := h.dlq(t); len(dl) != 1 || dl[0].Values[pipeline.DLQFieldErrorClass] != pipeline.ClassExhausted || dl[0].Values[pipeline.DLQFieldEntryID] != ids[1] {
		t.Errorf("DLQ %v, want only entry 2 (%s) as %s", dl, ids[1], pipeline.ClassExhausted)
	}
}
