package local

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// DocFreq keeps, per channel, in how many posts each term occurred, so the
// tagger can tell a channel's boilerplate (its signature, «Читать нас без
// VPN», a recurring subhead) from the news: a term in most of a channel's
// posts says nothing about any one of them.
type DocFreq interface {
	// Observe counts one more post of channel holding terms (distinct) and
	// returns, for each term, the share of the channel's posts so far that
	// held it, and the number of posts counted (after this one).
	Observe(ctx context.Context, channel string, terms []string) (shares []float64, docs int, err error)
}

// docsField is the hash field counting a channel's posts; terms are folded
// words, never empty, so they cannot collide with it.
const docsField = ""

// DefaultMaxTerms bounds the terms kept per channel. When a channel's table
// grows past it, every count is halved and terms left at zero are dropped:
// the table stays bounded, and what recurs (boilerplate) survives halving
// while one-off words go.
const DefaultMaxTerms = 20000

// MemoryDocFreq is the in-process DocFreq: the fallback when there is no
// Redis (offline use, tests) or when Redis fails. Safe for concurrent use.
type MemoryDocFreq struct {
	maxTerms int
	mu       sync.Mutex
	channels map[string]map[string]int
}

// NewMemoryDocFreq returns an empty in-process table of at most maxTerms
// terms per channel (DefaultMaxTerms when maxTerms <= 0).
func NewMemoryDocFreq(maxTerms int) *MemoryDocFreq {
	if maxTerms <= 0 {
		maxTerms = DefaultMaxTerms
	}
	return &MemoryDocFreq{maxTerms: maxTerms, channels: make(map[string]map[string]int)}
}

// Observe implements DocFreq.
func (m *MemoryDocFreq) Observe(_ context.Context, channel string, terms []string) ([]float64, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tab := m.channels[channel]
	if tab == nil {
		tab = make(map[string]int, 256)
		m.channels[channel] = tab
	}
	tab[docsField]++
	counts := make([]int, len(terms))
	for i, t := range terms {
		tab[t]++
		counts[i] = tab[t]
	}
	docs := tab[docsField]
	if len(tab) > m.maxTerms {
		for k, v := range tab {
			if v /= 2; v == 0 {
				delete(tab, k)
			} else {
				tab[k] = v
			}
		}
		tab[docsField] = max(tab[docsField], 1)
	}
	return shares(counts, docs), docs, nil
}

// Len reports how many terms channel's table holds (for tests).
func (m *MemoryDocFreq) Len(channel string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.channels[channel])
	if n > 0 {
		n-- // the post counter
	}
	return n
}

func shares(counts []int, docs int) []float64 {
	out := make([]float64, len(counts))
	for i, c := range counts {
		out[i] = float64(min(c, docs)) / float64(docs)
	}
	return out
}

// RedisDocFreq keeps the tables in Redis, one hash per channel, so every
// daemon process of a deployment learns from all posts and the statistics
// survive restarts. One Observe is one round trip (a Lua script).
type RedisDocFreq struct {
	rdb      redis.UniversalClient
	prefix   string
	maxTerms int
}

// NewRedisDocFreq keeps the tables under keys prefix+"tagger:df:"+channel,
// at most maxTerms terms each (DefaultMaxTerms when maxTerms <= 0).
func NewRedisDocFreq(rdb redis.UniversalClient, prefix string, maxTerms int) *RedisDocFreq {
	if maxTerms <= 0 {
		maxTerms = DefaultMaxTerms
	}
	return &RedisDocFreq{rdb: rdb, prefix: prefix, maxTerms: maxTerms}
}

// Key is the hash holding channel's table.
func (r *RedisDocFreq) Key(channel string) string { return r.prefix + "tagger:df:" + channel }

// observeScript counts the post and its terms, then, past the bound, halves
// every count and drops the zeros. It returns the post count followed by
// each term's count, taken before any halving.
var observeScript = redis.NewScript(`
local docs = redis.call('HINCRBY', KEYS[1], '', 1)
local out = {docs}
for i = 2, #ARGV do
  out[i] = redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
end
if redis.call('HLEN', KEYS[1]) > tonumber(ARGV[1]) + 1 then
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    local v = math.floor(tonumber(all[i+1]) / 2)
    if all[i] == '' and v < 1 then v = 1 end
    if v == 0 then
      redis.call('HDEL', KEYS[1], all[i])
    else
      redis.call('HSET', KEYS[1], all[i], v)
    end
  end
end
return out
`)

// Observe implements DocFreq.
func (r *RedisDocFreq) Observe(ctx context.Context, channel string, terms []string) ([]float64, int, error) {
	args := make([]any, 0, len(terms)+1)
	args = append(args, r.maxTerms)
	for _, t := range terms {
		args = append(args, t)
	}
	vals, err := observeScript.Run(ctx, r.rdb, []string{r.Key(channel)}, args...).Int64Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("document frequencies of channel %s: %w", channel, err)
	}
	if len(vals) != len(terms)+1 {
		return nil, 0, fmt.Errorf("document frequencies of channel %s: %d values for %d terms", channel, len(vals), len(terms))
	}
	counts := make([]int, len(terms))
	for i := range terms {
		counts[i] = int(vals[i+1])
	}
	return shares(counts, int(vals[0])), int(vals[0]), nil
}
