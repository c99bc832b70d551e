package tag

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCacheIsATrueLRUWithTTLAndAnExactGauge(t *testing.T) {
	t.Parallel()
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	c := NewCache(3, time.Minute, gauge, nil)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }

	steps := []struct {
		do       func()
		present  []string
		absent   []string
		wantSize int
	}{
		{do: func() { c.Add("a"); c.Add("b"); c.Add("c") }, present: []string{"a", "b", "c"}, wantSize: 3},
		// "a" is used, so "b" is the least recently used and goes first.
		{do: func() { c.Contains("a"); c.Add("d") }, present: []string{"a", "c", "d"}, absent: []string{"b"}, wantSize: 3},
		// Re-adding an existing key does not grow the cache.
		{do: func() { c.Add("d") }, present: []string{"a", "c", "d"}, wantSize: 3},
		// After the TTL every entry is gone on lookup, and the gauge follows.
		{do: func() { now = now.Add(2 * time.Minute) }, absent: []string{"a", "c", "d"}, wantSize: 0},
	}
	for i, st := range steps {
		st.do()
		for _, k := range st.absent {
			if c.Contains(k) {
				t.Errorf("step %d: %q present, want evicted", i, k)
			}
		}
		for _, k := range st.present {
			if !c.Contains(k) {
				t.Errorf("step %d: %q missing", i, k)
			}
		}
		if c.Len() != st.wantSize || int(testutil.ToFloat64(gauge)) != st.wantSize {
			t.Errorf("step %d: len %d, gauge %v, want %d", i, c.Len(), testutil.ToFloat64(gauge), st.wantSize)
		}
	}
}

func TestCacheNeverExceedsCapacity(t *testing.T) {
	t.Parallel()
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	evicted := prometheus.NewCounter(prometheus.CounterOpts{Name: "e"})
	c := NewCache(10000, 24*time.Hour, gauge, evicted)
	for i := range 25000 {
		c.Add(fmt.Sprint(i))
	}
	if c.Len() != 10000 || testutil.ToFloat64(gauge) != 10000 {
		t.Fatalf("len %d gauge %v, want 10000", c.Len(), testutil.ToFloat64(gauge))
	}
	if n := testutil.ToFloat64(evicted); n != 15000 {
		t.Errorf("evictions %v, want 15000", n)
	}
	if c.Contains("0") || !c.Contains("24999") {
		t.Fatal("eviction did not drop the oldest entries")
	}
}

// TestCacheCountsOnlyFreshEvictions: tagging_cache_evictions_total counts
// entries dropped for room while still fresh, not those whose TTL ran out —
// a full cache of expiring entries is healthy, evicting fresh ones is not.
func TestCacheCountsOnlyFreshEvictions(t *testing.T) {
	t.Parallel()
	evicted := prometheus.NewCounter(prometheus.CounterOpts{Name: "e"})
	c := NewCache(2, time.Minute, nil, evicted)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	c.Add("a")
	c.Add("b")
	now = now.Add(2 * time.Minute) // a and b expire
	c.Add("c")
	c.Add("d")
	if n := testutil.ToFloat64(evicted); n != 0 || c.Len() != 2 {
		t.Fatalf("after expiry: %v evictions, len %d; want 0, 2", n, c.Len())
	}
	c.Add("e") // c is fresh and goes for room
	if n := testutil.ToFloat64(evicted); n != 1 || c.Contains("c") {
		t.Errorf("evictions %v (want 1), c present %v", n, c.Contains("c"))
	}
}
