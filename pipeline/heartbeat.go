package pipeline

// heartbeat.go: each stage consumer keeps a heartbeat key alive while it
// runs, so other replicas can tell a consumer that stopped or died (its
// pending entries are taken over at once, takeover.go) from one that is
// alive but slow (its entries stay with it).

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Values of a heartbeat key.
const (
	heartbeatAlive = "alive"
	// heartbeatStopped marks a consumer that stopped cleanly but left
	// entries pending (the shutdown deadline passed): they are taken over
	// at once, without waiting for any idle time.
	heartbeatStopped = "stopped"
)

// heartbeatKey is the heartbeat of one consumer of a stage's group. It lives
// under redis.key_prefix, so a hash-tagged prefix keeps it in the
// deployment's cluster slot.
func (k Keys) heartbeatKey(group, consumer string) string {
	return k.Key("heartbeat:" + group + ":" + consumer)
}

// heartbeatTTL outlives a few missed renewals (a GC pause, a slow Redis)
// before the consumer is taken for gone.
func heartbeatTTL(interval time.Duration) time.Duration { return 3 * interval }

// goneGrace is how long a consumer without any heartbeat key must have been
// idle before it is taken for gone: a replica older than heartbeats never
// writes one, and a starting replica writes its own before its first read,
// so only a consumer that stopped interacting with the group for a while
// qualifies.
func goneGrace(interval time.Duration) time.Duration { return 2 * interval }

// beat renews this consumer's heartbeat.
func (s *stageRunner) beat(ctx context.Context) error {
	iv := s.r.cfg.Runner.HeartbeatInterval
	return s.r.rdb.Set(ctx, s.r.keys.heartbeatKey(s.def.Name, s.consumer), heartbeatAlive, heartbeatTTL(iv)).Err()
}

// heartbeatLoop renews the heartbeat until ctx ends. It runs until the
// stage has finished what it holds at shutdown, so nobody takes the entries
// of a replica that is still draining.
func (s *stageRunner) heartbeatLoop(ctx context.Context) {
	tick := time.NewTicker(s.r.cfg.Runner.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := s.beat(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("renew consumer heartbeat", "consumer", s.consumer, "err", err)
		}
	}
}

// leave ends this consumer's membership after its last acknowledgement:
// with nothing pending, the heartbeat is deleted and the consumer removed
// from the group (XGROUP DELCONSUMER), so XINFO CONSUMERS does not list it
// forever; with entries left pending, the heartbeat says "stopped" so other
// replicas take them over at once. It returns the entries this consumer
// still has pending.
func (s *stageRunner) leave(ctx context.Context) (int64, error) {
	var left int64
	var errs []error
	for _, in := range s.inputs {
		n, err := s.ownPending(ctx, in)
		if err != nil {
			errs = append(errs, err)
			left = -1
			break
		}
		left += n
	}
	key := s.r.keys.heartbeatKey(s.def.Name, s.consumer)
	if left != 0 {
		// Unknown (-1) or some: tell the others to take them now.
		if err := s.r.rdb.Set(ctx, key, heartbeatStopped, heartbeatTTL(s.r.cfg.Runner.HeartbeatInterval)).Err(); err != nil {
			errs = append(errs, err)
		}
		return left, errors.Join(errs...)
	}
	for _, in := range s.inputs {
		// Nothing can become pending for this consumer any more: it no
		// longer reads, and other replicas claim entries to themselves.
		if err := s.r.rdb.XGroupDelConsumer(ctx, in.key, s.def.Name, s.consumer).Err(); err != nil && !isNoGroup(err) {
			errs = append(errs, err)
		}
	}
	if err := s.r.rdb.Del(ctx, key).Err(); err != nil {
		errs = append(errs, err)
	}
	return 0, errors.Join(errs...)
}

// ownPending counts the entries this consumer has pending on one input.
func (s *stageRunner) ownPending(ctx context.Context, in groupRef) (int64, error) {
	consumers, err := s.r.rdb.XInfoConsumers(ctx, in.key, s.def.Name).Result()
	if err != nil {
		if isNoGroup(err) {
			return 0, nil
		}
		return 0, err
	}
	for _, c := range consumers {
		if c.Name == s.consumer {
			return c.Pending, nil
		}
	}
	return 0, nil
}

// consumerGone reports whether another consumer of the group has stopped:
// its heartbeat says so, or it has none (expired, or a replica from before
// heartbeats) and it has not touched the group for goneGrace.
func (s *stageRunner) consumerGone(ctx context.Context, c redis.XInfoConsumer) (bool, string, error) {
	state, err := s.r.rdb.Get(ctx, s.r.keys.heartbeatKey(s.def.Name, c.Name)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		if c.Idle > goneGrace(s.r.cfg.Runner.HeartbeatInterval) {
			return true, "no heartbeat", nil
		}
		return false, "", nil
	case err != nil:
		return false, "", err
	case state == heartbeatStopped:
		return true, "stopped", nil
	default:
		return false, "", nil
	}
}
