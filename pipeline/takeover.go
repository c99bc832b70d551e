package pipeline

// takeover.go: the pending entries of a consumer that stopped or died (no
// live heartbeat, heartbeat.go) are claimed at once, in full batches, rather
// than after runner.claim_min_idle.

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reasons of stage_claimed_total.
const (
	ClaimConsumerGone = "consumer_gone" // its consumer has no live heartbeat
	ClaimIdle         = "idle"          // idle longer than runner.claim_min_idle
)

// takeOver claims the pending entries of every gone consumer of the group
// on one input, batch by batch while this stage has room for a full batch.
// more is true when a gone consumer still holds entries this stage had no
// room for; recheck, when positive, is when a consumer holding entries will
// be gone unless it shows life, so the claimer can look again then rather
// than a claim_interval later.
func (s *stageRunner) takeOver(ctx context.Context, in groupRef) (more bool, recheck time.Duration, err error) {
	consumers, err := s.r.rdb.XInfoConsumers(ctx, in.key, s.def.Name).Result()
	if err != nil {
		if IsNoGroup(err) {
			return false, 0, nil
		}
		return false, 0, err
	}
	for _, c := range consumers {
		if c.Name == s.consumer || c.Pending == 0 {
			continue
		}
		gone, why, staleIn, err := s.consumerGone(ctx, c)
		if err != nil {
			return false, 0, err
		}
		if !gone {
			if staleIn > 0 && (recheck == 0 || staleIn < recheck) {
				recheck = staleIn
			}
			continue
		}
		taken, left, err := s.takeFrom(ctx, in, c.Name)
		if taken > 0 {
			s.log.Info("took over the entries of a stopped consumer", "stream", in.key, "consumer", c.Name,
				"heartbeat", why, "idle", c.Idle.Round(time.Millisecond), "count", taken, "more_left", left)
		}
		if err != nil {
			return false, 0, err
		}
		if left {
			return true, 0, nil
		}
	}
	return false, recheck, nil
}

// takeFrom claims one gone consumer's entries in batches while there is
// room for a full batch. left is true when it still holds some.
func (s *stageRunner) takeFrom(ctx context.Context, in groupRef, consumer string) (taken int, left bool, err error) {
	batch := min(s.pool.BatchSize, s.pool.MaxInflight)
	for ctx.Err() == nil {
		n := s.tryAcquireFull(batch)
		if n == 0 {
			return taken, true, nil
		}
		got, more, err := s.claimBatch(ctx, in, consumer, n)
		taken += got
		if err != nil || !more {
			return taken, false, err
		}
	}
	return taken, true, nil
}

// claimBatch claims up to n (reserved) entries of consumer. more is true
// when the consumer may hold further entries.
func (s *stageRunner) claimBatch(ctx context.Context, in groupRef, consumer string, n int) (int, bool, error) {
	pend, err := s.r.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: in.key, Group: s.def.Name, Consumer: consumer, Start: "-", End: "+", Count: int64(n),
	}).Result()
	if err != nil || len(pend) == 0 {
		s.release(n)
		if err != nil && IsNoGroup(err) {
			err = nil
		}
		return 0, false, err
	}
	ids := make([]string, len(pend))
	deliveries := make(map[string]int64, len(pend))
	minIdle := pend[0].Idle
	for i, p := range pend {
		ids[i] = p.ID
		deliveries[p.ID] = p.RetryCount + 1 // the XCLAIM below counts one more
		minIdle = min(minIdle, p.Idle)
	}
	// MinIdle is the least idle time just read: should another replica
	// claim these entries first, their idle time restarts from zero and
	// this XCLAIM skips them instead of taking them from a live consumer.
	claimed, err := s.r.rdb.XClaim(ctx, &redis.XClaimArgs{
		Stream: in.key, Group: s.def.Name, Consumer: s.consumer, MinIdle: minIdle, Messages: ids,
	}).Result()
	if err != nil {
		s.release(n)
		return 0, false, err
	}
	return s.admitClaimed(in, claimed, n, deliveries, ClaimConsumerGone), len(pend) == n, nil
}
