package tag

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/prometheus/client_golang/prometheus"
)

// Cache is the stage's in-process dedup cache: hashicorp/golang-lru's
// expirable LRU of dedup keys with a per-entry TTL. A hit moves the entry to
// the front, an insert beyond capacity evicts the least recently used entry,
// an expired entry is never a hit and is removed by the library's sweep (or
// first, when an insert needs room).
//
// The library's eviction callback tells the two kinds of removal apart:
// each entry carries its expiry time, so an entry removed before it is an
// eviction for room (counted in evicted, the sign that the cache is too
// small for the window in which duplicates arrive), one removed after it
// expired is not.
type Cache struct {
	lru     *expirable.LRU[string, time.Time] // value: when the entry expires
	ttl     time.Duration
	evicted prometheus.Counter

	// mu orders the size gauge's updates: it is set from the library's
	// length after every insert and lookup, so it equals what the cache
	// holds as of the last of them (an entry the background sweep removed
	// shows at the next one) and never drifts.
	mu   sync.Mutex
	size prometheus.Gauge
}

// NewCache returns an empty cache. size follows the number of entries;
// evicted counts entries dropped for room before their TTL ran out. Either
// may be nil.
func NewCache(capacity int, ttl time.Duration, size prometheus.Gauge, evicted prometheus.Counter) *Cache {
	if size == nil {
		size = prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused"})
	}
	if evicted == nil {
		evicted = prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"})
	}
	c := &Cache{ttl: ttl, size: size, evicted: evicted}
	// The callback runs under the library's lock: it only reads the clock
	// and counts.
	c.lru = expirable.NewLRU(max(capacity, 1), func(_ string, expires time.Time) {
		if time.Now().Before(expires) {
			c.evicted.Inc()
		}
	}, ttl)
	return c
}

// Contains reports whether key is present and fresh, refreshing its recency.
func (c *Cache) Contains(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.lru.Get(key)
	c.size.Set(float64(c.lru.Len()))
	return ok
}

// Add inserts or refreshes key.
func (c *Cache) Add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(key, time.Now().Add(c.ttl))
	c.size.Set(float64(c.lru.Len()))
}

// Len is the number of entries held (expired ones included until the
// library's sweep removes them).
func (c *Cache) Len() int { return c.lru.Len() }

// Get is Contains in the shape of pipeline.DedupCache.
func (c *Cache) Get(key string) (struct{}, bool) { return struct{}{}, c.Contains(key) }
