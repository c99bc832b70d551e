package tag

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/assistant-dev/assistant/internal/testenv"
)

func TestCacheIsATrueLRUWithAnExactGauge(t *testing.T) {
	t.Parallel()
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	c := NewCache(3, time.Hour, gauge, nil)

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
	// All 15000 were fresh when they went for room: each is counted.
	if n := testutil.ToFloat64(evicted); n != 15000 {
		t.Errorf("evictions %v, want 15000", n)
	}
	if c.Contains("0") || !c.Contains("24999") {
		t.Fatal("eviction did not drop the oldest entries")
	}
}

// TestCacheExpiryIsNotAnEviction: entries whose TTL ran out stop being hits,
// leave the cache (the gauge follows) and are not counted in
// tagging_cache_evictions_total, whether the library's sweep removes them
// or an insert needing room does — a full cache of expiring entries is
// healthy, evicting fresh ones is not. (The library reads the real clock,
// so the TTL here is short and the test waits on conditions.)
func TestCacheExpiryIsNotAnEviction(t *testing.T) {
	t.Parallel()
	const ttl = 50 * time.Millisecond
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	evicted := prometheus.NewCounter(prometheus.CounterOpts{Name: "e"})
	c := NewCache(2, ttl, gauge, evicted)
	c.Add("a")
	c.Add("b")
	testenv.WaitFor(t, "a and b to expire", 10*time.Second, func() bool { return !c.Contains("a") && !c.Contains("b") })
	c.Add("c") // room is made from expired entries, if the sweep has not removed them yet
	c.Add("d")
	if n := testutil.ToFloat64(evicted); n != 0 {
		t.Fatalf("%v evictions counted for expired entries, want 0", n)
	}
	testenv.WaitFor(t, "the sweep to empty the cache", 10*time.Second, func() bool { return c.Len() == 0 })
	c.Contains("c") // a lookup brings the gauge up to date
	if n, g := testutil.ToFloat64(evicted), testutil.ToFloat64(gauge); n != 0 || g != 0 {
		t.Fatalf("after every entry expired: %v evictions, gauge %v; want 0, 0", n, g)
	}
}
