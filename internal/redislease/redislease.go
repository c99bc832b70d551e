// Package redislease is the daemon's one Redis lease: a key holding its
// holder's value with a TTL, taken with SET NX, renewed and released only by
// the holder (a compare-and-act Lua script), so a holder that lost the
// lease — it expired while the holder was paused and another took it —
// can neither extend nor delete its successor's hold. The cleanup sweeper
// (one sweeper, fenced by an increasing token as the value) and the
// Telegram source (one reader per channel, the replica's name as the
// value) both hold their leases through it.
package redislease

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lease is one lease key. It holds no state of its own: the holder passes
// its value to every call, so one Lease may be shared.
type Lease struct {
	rdb redis.UniversalClient
	key string
	ttl time.Duration
}

// New returns the lease at key, held for ttl after every take or renewal.
func New(rdb redis.UniversalClient, key string, ttl time.Duration) *Lease {
	return &Lease{rdb: rdb, key: key, ttl: ttl}
}

// Key is the lease's Redis key.
func (l *Lease) Key() string { return l.key }

// TTL is how long a take or a renewal holds the lease.
func (l *Lease) TTL() time.Duration { return l.ttl }

// renewScript extends the lease only while it holds the caller's value.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// releaseScript deletes the lease only while it holds the caller's value.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Acquire takes the lease for holder, or renews it when holder has it
// already; false means another holder has it.
func (l *Lease) Acquire(ctx context.Context, holder string) (bool, error) {
	ok, err := l.rdb.SetNX(ctx, l.key, holder, l.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("take lease %s: %w", l.key, err)
	}
	if ok {
		return true, nil
	}
	return l.Renew(ctx, holder)
}

// Renew extends holder's lease by its TTL; false means the lease is not
// holder's any more (it expired, or another holder took it).
func (l *Lease) Renew(ctx context.Context, holder string) (bool, error) {
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, holder, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	return n == 1, nil
}

// Release gives holder's lease up so the next holder need not wait for the
// TTL; false means it was not holder's (nothing was deleted).
func (l *Lease) Release(ctx context.Context, holder string) (bool, error) {
	n, err := releaseScript.Run(ctx, l.rdb, []string{l.key}, holder).Int()
	if err != nil {
		return false, fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return n == 1, nil
}
