package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Handler handles a batch of messages, deciding each one's outcome with
// Message.Publish and Message.Fail (see Stage). Stage.Handle is one.
type Handler func(ctx context.Context, batch []*Message) error

// Middleware wraps a Handler with a step of its own, the way Watermill
// composes handlers: recovery, deduplication, and whatever a stage adds.
type Middleware func(next Handler) Handler

// Chain wraps h in mws; the first middleware is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Recover turns a panicking handler into a permanent failure of its batch
// (a retry would panic again), logged with the stack, so one poisonous
// entry cannot take the process down. The runner puts it outermost around
// every stage.
func Recover(stage string, log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, batch []*Message) (err error) {
			defer func() {
				if p := recover(); p != nil {
					log.Error("stage panicked", "panic", p, "stack", string(debug.Stack()))
					err = Permanent(fmt.Errorf("stage %s panicked: %v", stage, p))
				}
			}()
			return next(ctx, batch)
		}
	}
}

// DedupCache is the in-process first level of Dedup (an expirable LRU).
type DedupCache interface {
	Get(key string) (struct{}, bool)
	Add(key string)
}

// DedupOptions configures Dedup.
type DedupOptions struct {
	// Key returns a message's idempotency key; "" skips deduplication for
	// it (an entry that does not decode: the handler fails it).
	Key func(m *Message) string
	// Redis, Keys and Prefix locate the "done" marks: Prefix+key, with the
	// key prefix of the message's partition (Keys.PartKey), expiring after
	// TTL. The key must be one of the post's (a post is always in the same
	// partition), or two copies could be marked in two partitions.
	Redis  redis.UniversalClient
	Keys   Keys
	Prefix string
	TTL    time.Duration
	// Value is what a mark holds (for people reading Redis); "1" if nil.
	Value func(m *Message) string
	// Cache, if set, is consulted before Redis and filled once a mark is
	// committed, so it never runs ahead of Redis.
	Cache DedupCache
	// OnHit is called for each duplicate, with "cache" or "redis".
	OnHit func(m *Message, source string)
}

// Dedup skips messages whose idempotency key is marked done, and marks the
// others done when they succeed: the mark is SET in the same MULTI/EXEC
// that publishes their outputs and acknowledges them (Message.SetKey), so a
// mark exists exactly when the outputs do, and a failure never marks
// anything (docs/delivery.md, "Idempotency"). A duplicate is acknowledged
// without reaching the handler.
//
// Two copies of one key can also arrive at once (the old worker's stream
// and ours, read in one batch or by two workers). A copy in the same batch
// is a duplicate of the first; a copy in another worker waits until the
// first is settled, then finds its mark (or, if the first failed, is
// handled itself). Either way the work is done once and no attempt is
// spent on waiting.
func Dedup(o DedupOptions) Middleware {
	inflight := &inflightKeys{m: map[string]chan struct{}{}}
	return func(next Handler) Handler {
		return func(ctx context.Context, batch []*Message) (err error) {
			keys := make([]string, len(batch))
			claimed := make([]string, 0, len(batch))
			// Claims are released when their message is settled: after its
			// commit when it succeeds, at once otherwise.
			defer func() {
				for _, k := range claimed {
					i := slices.Index(keys, k)
					if err == nil && i >= 0 && batch[i].Err() == nil {
						batch[i].OnCommitted(func() { inflight.release(k) })
						continue
					}
					inflight.release(k)
				}
			}()
			var lookup []int // indexes to look up in Redis
			for i, m := range batch {
				k := o.Key(m)
				if k == "" {
					continue
				}
				if slices.Contains(keys[:i], k) {
					o.hit(m, "batch")
					keys[i] = "-"
					continue
				}
				if !o.cached(k) {
					claimedHere, cerr := inflight.claim(ctx, k, func() bool { return o.cached(k) })
					if cerr != nil {
						m.Fail(fmt.Errorf("wait for the other copy of %s: %w", k, cerr))
						keys[i] = "-"
						continue
					}
					if claimedHere {
						claimed = append(claimed, k)
						keys[i] = k
						lookup = append(lookup, i)
						continue
					}
				}
				o.hit(m, "cache")
				keys[i] = "-"
			}
			if len(lookup) > 0 {
				pipe := o.Redis.Pipeline()
				cmds := make([]*redis.IntCmd, len(lookup))
				for j, i := range lookup {
					cmds[j] = pipe.Exists(ctx, o.Keys.PartKey(batch[i].Partition, o.Prefix+keys[i]))
				}
				if _, err := pipe.Exec(ctx); err != nil {
					for _, i := range lookup {
						batch[i].Fail(fmt.Errorf("read dedup mark %s: %w", o.Prefix+keys[i], err))
						keys[i] = "-"
					}
				} else {
					for j, i := range lookup {
						if cmds[j].Val() > 0 {
							o.hit(batch[i], "redis")
							if o.Cache != nil {
								o.Cache.Add(keys[i])
							}
							keys[i] = "-"
						}
					}
				}
			}
			todo := make([]*Message, 0, len(batch))
			for i, m := range batch {
				if keys[i] != "-" {
					todo = append(todo, m)
				}
			}
			if len(todo) == 0 {
				return nil
			}
			err = next(ctx, todo)
			if err != nil {
				return err
			}
			for i, m := range batch {
				k := keys[i]
				if k == "" || k == "-" || m.Err() != nil {
					continue
				}
				value := "1"
				if o.Value != nil {
					value = o.Value(m)
				}
				m.SetKey(o.Prefix+k, value, o.TTL)
				if o.Cache != nil {
					m.OnCommitted(func() { o.Cache.Add(k) })
				}
			}
			return nil
		}
	}
}

// cached reports whether the in-process cache knows key is done.
func (o DedupOptions) cached(key string) bool {
	if o.Cache == nil {
		return false
	}
	_, hit := o.Cache.Get(key)
	return hit
}

// inflightStale bounds the wait for another worker's copy: a claim whose
// commit never came (its process is stopping) stops holding copies back.
const inflightStale = 30 * time.Second

// inflightKeys are the idempotency keys being handled in this process; a
// key's channel is closed when its handling is settled.
type inflightKeys struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

// claim returns true when key is now handled by the caller. When another
// worker holds it, claim waits until that one is settled; done then tells
// whether it succeeded (false: try to claim again). After inflightStale
// the caller takes the key over; at-least-once makes that safe.
func (f *inflightKeys) claim(ctx context.Context, key string, done func() bool) (bool, error) {
	for {
		f.mu.Lock()
		ch, busy := f.m[key]
		if !busy {
			f.m[key] = make(chan struct{})
			f.mu.Unlock()
			return true, nil
		}
		f.mu.Unlock()
		select {
		case <-ch:
			if done() {
				return false, nil
			}
		case <-time.After(inflightStale):
			f.release(key)
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

func (f *inflightKeys) release(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.m[key]; ok {
		close(ch)
		delete(f.m, key)
	}
}

func (o DedupOptions) hit(m *Message, source string) {
	if o.OnHit != nil {
		o.OnHit(m, source)
	}
}
