package crawl

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/temoto/robotstxt"
	"golang.org/x/sync/singleflight"
)

// robotsAgent is the product token matched against robots.txt groups.
const robotsAgent = "assistant-crawler"

// maxRobotsBytes caps a robots.txt body (Google reads the first 500 KiB).
const maxRobotsBytes = 512 << 10

// maxCrawlDelay caps a robots.txt Crawl-delay: a site asking for an hour
// between requests would otherwise hold a worker for that hour.
const maxCrawlDelay = 10 * time.Second

// robotsFetchKey marks the context of a robots.txt fetch.
type robotsFetchKey struct{}

// robotsCache fetches each host's robots.txt once per TTL, through the
// guarded client, and answers whether a URL may be fetched. Concurrent
// first requests to one host share one fetch.
type robotsCache struct {
	client *http.Client
	ua     string
	ttl    time.Duration

	group singleflight.Group
	mu    sync.Mutex
	hosts map[string]robotsEntry
}

type robotsEntry struct {
	group   *robotstxt.Group
	expires time.Time
}

func newRobotsCache(client *http.Client, ua string, ttl time.Duration) *robotsCache {
	return &robotsCache{client: client, ua: ua, ttl: ttl, hosts: map[string]robotsEntry{}}
}

// check returns nil when u may be fetched, a KindRobots *Error when
// robots.txt disallows it, and the classified failure of fetching
// robots.txt otherwise. It also returns the host's Crawl-delay.
func (c *robotsCache) check(ctx context.Context, u *url.URL) (time.Duration, error) {
	origin := u.Scheme + "://" + u.Host
	c.mu.Lock()
	e, ok := c.hosts[origin]
	c.mu.Unlock()
	if !ok || time.Now().After(e.expires) {
		v, err, _ := c.group.Do(origin, func() (any, error) {
			g, err := c.fetch(ctx, origin)
			if err != nil {
				return nil, err
			}
			e := robotsEntry{group: g, expires: time.Now().Add(c.ttl)}
			c.mu.Lock()
			if len(c.hosts) > 10000 {
				now := time.Now()
				for k, v := range c.hosts {
					if now.After(v.expires) {
						delete(c.hosts, k)
					}
				}
			}
			c.hosts[origin] = e
			c.mu.Unlock()
			return e, nil
		})
		if err != nil {
			return 0, err
		}
		e = v.(robotsEntry)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	if !e.group.Test(path) {
		return 0, Permanent(KindRobots, "robots.txt of %s disallows %s", u.Host, path)
	}
	return min(e.group.CrawlDelay, maxCrawlDelay), nil
}

// fetch reads origin's robots.txt with Google's status semantics: 2xx is
// parsed, 4xx allows everything, 5xx disallows everything (for one TTL).
// A network failure is returned classified, so the page is retried later
// rather than fetched without knowing the rules.
func (c *robotsCache) fetch(ctx context.Context, origin string) (*robotstxt.Group, error) {
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, robotsFetchKey{}, true), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, origin+"/robots.txt", nil)
	if err != nil {
		return nil, Permanent(KindInvalidURL, "robots.txt request: %v", err)
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.client.Do(req)
	if err != nil {
		var ce *Error
		if errors.As(classifyFetchError(ctx, err), &ce) && ce.Kind == KindRedirects {
			// A robots.txt that redirects in circles tells nothing: allow.
			data, _ := robotstxt.FromStatusAndBytes(404, nil)
			return data.FindGroup(robotsAgent), nil
		}
		return nil, classifyFetchError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRobotsBytes))
	if err != nil {
		return nil, classifyFetchError(ctx, err)
	}
	data, err := robotstxt.FromStatusAndBytes(resp.StatusCode, body)
	if err != nil {
		// An unparsable file is treated as no file, as the big crawlers do.
		data, _ = robotstxt.FromStatusAndBytes(404, nil)
	}
	return data.FindGroup(robotsAgent), nil
}
