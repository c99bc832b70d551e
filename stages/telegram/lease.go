package telegram

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/redislease"
)

// leases claims channels in Redis so that, across replicas, one reader
// follows each channel: one shared Redis lease (internal/redislease) per
// channel holding the owner's id. The owner renews it while it reads and
// releases it when it stops, and a dead owner's lease expires so another
// replica takes the channel over.
type leases struct {
	rdb   redis.UniversalClient
	owner string
	key   func(channelID int64) string
	ttl   time.Duration
}

func (l *leases) lease(channelID int64) *redislease.Lease {
	return redislease.New(l.rdb, l.key(channelID), l.ttl)
}

// acquire takes the lease of a channel, or renews it if this owner holds
// it already; false means another replica holds it.
func (l *leases) acquire(ctx context.Context, channelID int64) (bool, error) {
	ok, err := l.lease(channelID).Acquire(ctx, l.owner)
	if err != nil {
		return false, fmt.Errorf("channel %d: %w", channelID, err)
	}
	return ok, nil
}

// renew extends this owner's lease; false means it was lost.
func (l *leases) renew(ctx context.Context, channelID int64) (bool, error) {
	ok, err := l.lease(channelID).Renew(ctx, l.owner)
	if err != nil {
		return false, fmt.Errorf("channel %d: %w", channelID, err)
	}
	return ok, nil
}

// release gives the channel up.
func (l *leases) release(ctx context.Context, channelID int64) error {
	if _, err := l.lease(channelID).Release(ctx, l.owner); err != nil {
		return fmt.Errorf("channel %d: %w", channelID, err)
	}
	return nil
}
