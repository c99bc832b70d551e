package pipeline

import (
	"testing"
	"time"

	"github.com/assistant-dev/assistant/config"
)

func TestTrimFloor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		states []groupState
		want   string
		ok     bool
	}{
		{"no groups: never trim", nil, "", false},
		{"fresh group needs everything", []groupState{{lastDelivered: "0-0"}}, "0-1", true},
		{"all acknowledged", []groupState{{lastDelivered: "5-3"}}, "5-4", true},
		{"pending below last delivered", []groupState{{lastDelivered: "9-0", oldestPending: "4-2"}}, "4-2", true},
		{"lagging second group wins", []groupState{{lastDelivered: "9-0"}, {lastDelivered: "2-7"}}, "2-8", true},
		{"pending of another group wins", []groupState{{lastDelivered: "9-0"}, {lastDelivered: "9-0", oldestPending: "1-0"}}, "1-0", true},
		{"sequence overflow", []groupState{{lastDelivered: "3-18446744073709551615"}}, "4-0", true},
		{"unparsable id: never trim", []groupState{{lastDelivered: "x"}}, "", false},
	}
	for _, tc := range tests {
		got, ok := trimFloor(tc.states)
		if ok != tc.ok || ok && got.String() != tc.want {
			t.Errorf("%s: trimFloor = %s, %v; want %s, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	t.Parallel()
	cfg := config.Runner{RetryInitialBackoff: 100 * time.Millisecond, RetryMaxBackoff: time.Second}
	for attempt, base := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		for range 50 {
			d := retryDelay(cfg, attempt)
			if d < base/2 || d > base*3/2 {
				t.Fatalf("attempt %d: backoff %s outside [%s, %s]", attempt, d, base/2, base*3/2)
			}
		}
	}
}

// TestBackoffHasJitter: retry delays of one attempt spread over ±50% of the
// exponential step, so that entries failing together do not retry
// together; and the step grows with the attempt up to the cap.
func TestBackoffHasJitter(t *testing.T) {
	t.Parallel()
	cfg := config.Runner{RetryInitialBackoff: 100 * time.Millisecond, RetryMaxBackoff: 2 * time.Second}
	for _, tc := range []struct {
		attempt int
		step    time.Duration
	}{{1, 100 * time.Millisecond}, {3, 400 * time.Millisecond}, {10, 2 * time.Second}} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := retryDelay(cfg, tc.attempt)
			if d < tc.step/2 || d > tc.step*3/2 {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", tc.attempt, d, tc.step/2, tc.step*3/2)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("attempt %d: only %d distinct delays in 200 draws: no jitter", tc.attempt, len(seen))
		}
	}
}
