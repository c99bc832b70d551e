package pipeline

// heartbeat.go: each stage consumer keeps a heartbeat key alive while it
// runs, so other replicas can tell a consumer that stopped or died (its
// pending entries are taken over at once, takeover.go) from one that is
// alive but slow (its entries stay with it).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
)

// Values of a heartbeat key: "alive <interval ms>" while the consumer runs
// (the writer's heartbeat_interval, so that replicas configured
// differently still read each other right), or heartbeatStopped.
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

// A heartbeat key lives heartbeatKeep but counts as live only while it was
// renewed within heartbeatLive, measured by its remaining TTL — the Redis
// server's clock, so clocks of replicas never disagree. A missed renewal
// or two (a GC pause, a slow Redis) is survived; after that the consumer is
// gone, and its key, still there, says it kept a heartbeat: nobody waits for
// goneGrace.
func heartbeatKeep(interval time.Duration) time.Duration { return 10 * interval }
func heartbeatLive(interval time.Duration) time.Duration { return 3 * interval }

// goneGrace is how long a consumer without a heartbeat key must have been
// idle (XINFO CONSUMERS) before it is taken for gone. A replica from before
// heartbeats never writes one, but while it runs and has room it reads every
// runner.block; a replica starting now writes its heartbeat before its
// first read. An old replica whose every slot is held by slow handlers for
// longer than this is taken for gone: upgrade replicas together.
func goneGrace(cfg config.Runner) time.Duration {
	return 2 * max(cfg.HeartbeatInterval, cfg.ClaimInterval)
}

// beat renews this consumer's heartbeat.
func (s *stageRunner) beat(ctx context.Context) error {
	iv := s.r.cfg.Runner.HeartbeatInterval
	value := fmt.Sprintf("%s %d", heartbeatAlive, iv.Milliseconds())
	return s.r.rdb.Set(ctx, s.r.keys.heartbeatKey(s.def.Name, s.consumer), value, heartbeatKeep(iv)).Err()
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
		if err := s.r.rdb.Set(ctx, key, heartbeatStopped, heartbeatKeep(s.r.cfg.Runner.HeartbeatInterval)).Err(); err != nil {
			errs = append(errs, err)
		}
		return left, errors.Join(errs...)
	}
	for _, in := range s.inputs {
		// Nothing can become pending for this consumer any more: it no
		// longer reads, and other replicas claim entries to themselves.
		if err := s.r.rdb.XGroupDelConsumer(ctx, in.key, s.def.Name, s.consumer).Err(); err != nil && !IsNoGroup(err) {
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
		if IsNoGroup(err) {
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
// its heartbeat says "stopped", was not renewed within heartbeatLive, or
// it has none and has not touched the group for goneGrace. why says which;
// for a consumer not (yet) gone, staleIn is when it will be unless it
// renews its heartbeat or touches the group.
func (s *stageRunner) consumerGone(ctx context.Context, c redis.XInfoConsumer) (gone bool, why string, staleIn time.Duration, err error) {
	cfg := s.r.cfg.Runner
	key := s.r.keys.heartbeatKey(s.def.Name, c.Name)
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err = s.r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		ttl = p.PTTL(ctx, key)
		return nil
	})
	state, gerr := get.Result()
	switch {
	case errors.Is(gerr, redis.Nil):
		if grace := goneGrace(cfg); c.Idle <= grace {
			return false, "", grace - c.Idle, nil
		}
		return true, "none", 0, nil
	case gerr != nil:
		return false, "", 0, fmt.Errorf("read heartbeat of %s: %w", c.Name, gerr)
	case err != nil && !errors.Is(err, redis.Nil):
		return false, "", 0, fmt.Errorf("read heartbeat of %s: %w", c.Name, err)
	case state == heartbeatStopped:
		return true, "stopped", 0, nil
	}
	// The writer's interval; this replica's when the value does not say.
	iv := cfg.HeartbeatInterval
	var ms int64
	if _, serr := fmt.Sscanf(state, heartbeatAlive+" %d", &ms); serr == nil && ms > 0 {
		iv = time.Duration(ms) * time.Millisecond
	}
	if ttl.Val() < 0 {
		return false, "", 0, nil // no TTL: not written by a runner; leave it alone
	}
	// It was renewed heartbeatKeep - remaining TTL ago.
	since := heartbeatKeep(iv) - ttl.Val()
	if since > heartbeatLive(iv) {
		return true, "expired", 0, nil
	}
	return false, "", heartbeatLive(iv) - since, nil
}
