package cleanup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/redislease"
)

// ErrLeaseLost is returned by a sweep whose lease expired or was taken over:
// it stops at the next batch and leaves the rest to the new holder.
var ErrLeaseLost = errors.New("cleanup: sweep lease lost")

// Lease is the "exactly one sweeper" lock: the shared Redis lease
// (internal/redislease) holding the holder's fencing token. Tokens come from
// an INCR counter, so a newer holder's token is always larger; every write
// of the sweep's checkpoint is fenced by a compare on the token (Lua), so a
// holder that was paused past its TTL cannot overwrite its successor's
// progress.
type Lease struct {
	lease   *redislease.Lease
	rdb     redis.UniversalClient
	counter string
	token   atomic.Int64 // touched by the sweep and its renewing goroutine
}

// NewLease returns the lease at key (its counter is key+":token").
func NewLease(rdb redis.UniversalClient, key string, ttl time.Duration) *Lease {
	return &Lease{lease: redislease.New(rdb, key, ttl), rdb: rdb, counter: key + ":token"}
}

// Token is the fencing token of the current hold (0 when not held).
func (l *Lease) Token() int64 { return l.token.Load() }

// Acquire tries once to take the lease; false when another holder has it.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	tok, err := l.rdb.Incr(ctx, l.counter).Result()
	if err != nil {
		return false, fmt.Errorf("cleanup: lease token: %w", err)
	}
	ok, err := l.lease.Acquire(ctx, strconv.FormatInt(tok, 10))
	if err != nil {
		return false, fmt.Errorf("cleanup: %w", err)
	}
	if ok {
		l.token.Store(tok)
	}
	return ok, nil
}

// Renew extends the lease by its TTL; ErrLeaseLost when it is not ours any more.
func (l *Lease) Renew(ctx context.Context) error {
	tok := l.token.Load()
	if tok == 0 {
		return ErrLeaseLost
	}
	ok, err := l.lease.Renew(ctx, strconv.FormatInt(tok, 10))
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	if !ok {
		l.token.CompareAndSwap(tok, 0)
		return ErrLeaseLost
	}
	return nil
}

// Release gives the lease up if it is still ours, so that the next sweep
// need not wait for the TTL.
func (l *Lease) Release(ctx context.Context) error {
	tok := l.token.Swap(0)
	if tok == 0 {
		return nil
	}
	if _, err := l.lease.Release(ctx, strconv.FormatInt(tok, 10)); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	return nil
}

// checkpointScript writes the checkpoint hash and renews the lease in one
// step, only while the lease holds our token (the fence).
var checkpointScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] == 'done' then
  redis.call('DEL', KEYS[2])
else
  redis.call('HSET', KEYS[2], unpack(ARGV, 4))
end
return 1`)

// Checkpoint records the sweep's position (or clears it when done is true)
// under the fence; ErrLeaseLost when the lease is not ours.
func (l *Lease) Checkpoint(ctx context.Context, key string, done bool, fields ...string) error {
	tok := l.token.Load()
	if tok == 0 {
		return ErrLeaseLost
	}
	mode := "set"
	if done {
		mode = "done"
	}
	args := []any{strconv.FormatInt(tok, 10), l.lease.TTL().Milliseconds(), mode}
	for _, f := range fields {
		args = append(args, f)
	}
	n, err := checkpointScript.Run(ctx, l.rdb, []string{l.lease.Key(), key}, args...).Int()
	if err != nil {
		return fmt.Errorf("cleanup: record checkpoint: %w", err)
	}
	if n == 0 {
		l.token.CompareAndSwap(tok, 0)
		return ErrLeaseLost
	}
	return nil
}
