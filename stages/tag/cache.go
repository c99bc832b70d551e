package tag

import (
	"container/list"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Cache is a true LRU of dedup keys with a per-entry TTL: a hit moves the
// entry to the front, an insert beyond capacity evicts the least recently
// used entry, and an expired entry is removed when it is looked up or when
// an insert finds it at the back. The size gauge is updated under the same
// lock as every change, so it always equals what the cache holds.
type Cache struct {
	mu       sync.Mutex
	capacity int
	ttl      time.Duration
	order    *list.List // front = most recently used; values are *cacheEntry
	entries  map[string]*list.Element
	size     prometheus.Gauge
	evicted  prometheus.Counter // fresh entries dropped for room
	now      func() time.Time
}

type cacheEntry struct {
	key     string
	expires time.Time
}

// NewCache returns an empty cache. size follows the number of entries;
// evicted counts entries dropped for room before their TTL ran out, the sign
// that the cache is too small for the window in which duplicates arrive.
// Either may be nil.
func NewCache(capacity int, ttl time.Duration, size prometheus.Gauge, evicted prometheus.Counter) *Cache {
	if size == nil {
		size = prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused"})
	}
	if evicted == nil {
		evicted = prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"})
	}
	return &Cache{
		capacity: capacity, ttl: ttl, order: list.New(),
		entries: make(map[string]*list.Element, capacity), size: size, evicted: evicted, now: time.Now,
	}
}

// Contains reports whether key is present and fresh, refreshing its recency.
func (c *Cache) Contains(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return false
	}
	if c.now().After(el.Value.(*cacheEntry).expires) {
		c.remove(el)
		return false
	}
	c.order.MoveToFront(el)
	return true
}

// Add inserts or refreshes key.
func (c *Cache) Add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if el, ok := c.entries[key]; ok {
		el.Value.(*cacheEntry).expires = now.Add(c.ttl)
		c.order.MoveToFront(el)
		return
	}
	// Expired entries at the back go first; then the least recently used.
	for back := c.order.Back(); back != nil && now.After(back.Value.(*cacheEntry).expires); back = c.order.Back() {
		c.remove(back)
	}
	for len(c.entries) >= c.capacity {
		c.remove(c.order.Back())
		c.evicted.Inc()
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, expires: now.Add(c.ttl)})
	c.size.Set(float64(len(c.entries)))
}

// Len is the number of entries held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) remove(el *list.Element) {
	c.order.Remove(el)
	delete(c.entries, el.Value.(*cacheEntry).key)
	c.size.Set(float64(len(c.entries)))
}

// Get is Contains in the shape of pipeline.DedupCache.
func (c *Cache) Get(key string) (struct{}, bool) { return struct{}{}, c.Contains(key) }
