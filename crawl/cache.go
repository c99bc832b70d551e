package crawl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/crawl/links"
)

// Cache is a Crawler that keeps results in Redis under the hash of the
// normalised URL (spec section 5, enrich, step 4): a link shared by many
// posts is crawled once per TTL, and a retried post does not crawl again
// the URLs that already worked. Permanent failures (a 404, a PDF, a robots
// disallow) are cached for a shorter time; transient ones never are.
type Cache struct {
	next   Crawler
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
	errTTL time.Duration
	log    *slog.Logger
}

var _ Crawler = (*Cache)(nil)

// NewCache wraps next. Keys are <keyPrefix>crawl:cache:<sha256 of the
// normalised URL>.
func NewCache(next Crawler, rdb redis.UniversalClient, keyPrefix string, ttl, errorTTL time.Duration, logger *slog.Logger) *Cache {
	if logger == nil {
		logger = slog.Default()
	}
	return &Cache{next: next, rdb: rdb, prefix: keyPrefix, ttl: ttl, errTTL: errorTTL, log: logger}
}

// Key is the Redis key of a URL's cached result.
func (c *Cache) Key(rawURL string) string {
	n, err := links.Normalize(rawURL)
	if err != nil {
		n = rawURL
	}
	return c.prefix + "crawl:cache:" + links.Hash(n)
}

// Crawl returns the cached result of rawURL, or crawls and caches it. A
// Redis failure is logged and the crawl goes ahead: the cache saves work,
// it is not needed for correctness.
func (c *Cache) Crawl(ctx context.Context, rawURL string) (Result, error) {
	key := c.Key(rawURL)
	data, err := c.rdb.Get(ctx, key).Bytes()
	switch {
	case err == nil:
		var res Result
		if err := json.Unmarshal(data, &res); err == nil {
			res.Cached = true
			if res.Error != "" {
				return res, &Error{Kind: res.ErrorKind, Status: res.Status, Err: errors.New(res.Error)}
			}
			return res, nil
		}
		c.log.Warn("crawl cache: unreadable entry, crawling again", slog.String("key", key))
	case !errors.Is(err, redis.Nil):
		c.log.Warn("crawl cache: read failed, crawling without it", slog.String("error", err.Error()))
	}

	res, err := c.next.Crawl(ctx, rawURL)
	ttl := c.ttl
	if err != nil {
		if IsTransient(err) {
			return res, err
		}
		ttl = c.errTTL
	}
	if ttl > 0 {
		if data, merr := json.Marshal(res); merr == nil {
			if serr := c.rdb.Set(ctx, key, data, ttl).Err(); serr != nil {
				c.log.Warn("crawl cache: write failed", slog.String("error", serr.Error()))
			}
		}
	}
	return res, err
}

// New builds the crawler that cfg selects, without a cache.
func New(cfg Config, opts ...Option) (Crawler, error) {
	switch cfg.Backend {
	case BackendBuiltin, "":
		return NewBuiltin(cfg, opts...)
	case BackendCrawl4AI:
		return NewCrawl4AI(cfg, opts...)
	default:
		return nil, fmt.Errorf("crawl: unknown backend %q (builtin or crawl4ai)", cfg.Backend)
	}
}
