package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
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
	// key prefix of Keys, expiring after TTL.
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
func Dedup(o DedupOptions) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, batch []*Message) error {
			keys := make([]string, len(batch))
			var lookup []int // indexes to look up in Redis
			for i, m := range batch {
				keys[i] = o.Key(m)
				if keys[i] == "" {
					continue
				}
				if o.Cache != nil {
					if _, hit := o.Cache.Get(keys[i]); hit {
						o.hit(m, "cache")
						keys[i] = "-"
						continue
					}
				}
				lookup = append(lookup, i)
			}
			if len(lookup) > 0 {
				pipe := o.Redis.Pipeline()
				cmds := make([]*redis.IntCmd, len(lookup))
				for j, i := range lookup {
					cmds[j] = pipe.Exists(ctx, o.Keys.Key(o.Prefix+keys[i]))
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
			err := next(ctx, todo)
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

func (o DedupOptions) hit(m *Message, source string) {
	if o.OnHit != nil {
		o.OnHit(m, source)
	}
}
