package cleanup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrLeaseLost is returned by a sweep whose lease expired or was taken over:
// it stops at the next batch and leaves the rest to the new holder.
var ErrLeaseLost = errors.New("cleanup: sweep lease lost")

// Lease is the "exactly one sweeper" lock: a Redis key holding the holder's
// fencing token, with a TTL. Tokens come from an INCR counter, so a newer
// holder's token is always larger; every write of the sweep's checkpoint is
// fenced by a compare on the token (Lua), so a holder that was paused past
// its TTL cannot overwrite its successor's progress.
type Lease struct {
	rdb     redis.UniversalClient
	key     string
	counter string
	ttl     time.Duration
	token   atomic.Int64 // touched by the sweep and its renewing goroutine
}

// NewLease returns the lease at key (its counter is key+":token").
func NewLease(rdb redis.UniversalClient, key string, ttl time.Duration) *Lease {
	return &Lease{rdb: rdb, key: key, counter: key + ":token", ttl: ttl}
}

// Token is the fencing token of the current hold (0 when not held).
func (l *Lease) Token() int64 { return l.token.Load() }

// Acquire tries once to take the lease; false when another holder has it.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	tok, err := l.rdb.Incr(ctx, l.counter).Result()
	if err != nil {
		return false, fmt.Errorf("cleanup: lease token: %w", err)
	}
	ok, err := l.rdb.SetNX(ctx, l.key, tok, l.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("cleanup: take lease: %w", err)
	}
	if ok {
		l.token.Store(tok)
	}
	return ok, nil
}

// renewScript extends the lease only if it still holds our token.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// Renew extends the lease by its TTL; ErrLeaseLost when it is not ours any more.
func (l *Lease) Renew(ctx context.Context) error {
	tok := l.token.Load()
	if tok == 0 {
		return ErrLeaseLost
	}
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, strconv.FormatInt(tok, 10), l.ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("cleanup: renew lease: %w", err)
	}
	if n == 0 {
		l.token.CompareAndSwap(tok, 0)
		return ErrLeaseLost
	}
	return nil
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Release gives the lease up if it is still ours, so that the next sweep
// need not wait for the TTL.
func (l *Lease) Release(ctx context.Context) error {
	tok := l.token.Swap(0)
	if tok == 0 {
		return nil
	}
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, strconv.FormatInt(tok, 10)).Err(); err != nil {
		return fmt.Errorf("cleanup: release lease: %w", err)
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
	args := []any{strconv.FormatInt(tok, 10), l.ttl.Milliseconds(), mode}
	for _, f := range fields {
		args = append(args, f)
	}
	n, err := checkpointScript.Run(ctx, l.rdb, []string{l.key, key}, args...).Int()
	if err != nil {
		return fmt.Errorf("cleanup: record checkpoint: %w", err)
	}
	if n == 0 {
		l.token.CompareAndSwap(tok, 0)
		return ErrLeaseLost
	}
	return nil
}
