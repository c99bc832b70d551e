package telegram

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// leases claims channels in Redis so that, across replicas, one reader
// follows each channel. A lease is a key holding the owner's id with a TTL;
// the owner renews it while it reads and deletes it when it stops, and a
// dead owner's lease expires so another replica takes the channel over.
type leases struct {
	rdb   redis.UniversalClient
	owner string
	key   func(channelID int64) string
	ttl   time.Duration
}

// renewScript extends a lease only for its owner.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// releaseScript deletes a lease only for its owner.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// acquire takes the lease of a channel, or renews it if this owner holds
// it already; false means another replica holds it.
func (l *leases) acquire(ctx context.Context, channelID int64) (bool, error) {
	key := l.key(channelID)
	ok, err := l.rdb.SetNX(ctx, key, l.owner, l.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("acquire lease of channel %d: %w", channelID, err)
	}
	if ok {
		return true, nil
	}
	return l.renew(ctx, channelID)
}

// renew extends this owner's lease; false means it was lost.
func (l *leases) renew(ctx context.Context, channelID int64) (bool, error) {
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key(channelID)}, l.owner, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease of channel %d: %w", channelID, err)
	}
	return n == 1, nil
}

// release gives the channel up.
func (l *leases) release(ctx context.Context, channelID int64) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key(channelID)}, l.owner).Err(); err != nil {
		return fmt.Errorf("release lease of channel %d: %w", channelID, err)
	}
	return nil
}
