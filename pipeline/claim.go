package pipeline

// claim.go: the claimer's loop, XAUTOCLAIM of entries idle longer than
// runner.claim_min_idle (a consumer alive by its heartbeat keeps its entries
// that long), and the refresh of this process's own long-held entries.

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimLoop, at start and every runner.claim_interval, takes over the
// entries of consumers that stopped (takeover.go), claims entries idle
// longer than runner.claim_min_idle in other consumers, and keeps this
// process's own slow entries from looking idle to others. While a stopped
// consumer holds more than this stage has room for, it goes on as soon as a
// full batch of room is free, ahead of the fetcher.
func (s *stageRunner) claimLoop(ctx context.Context) {
	defer s.clearClaimFirst()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		more, recheck := s.claimRound(ctx)
		if more {
			if !s.waitRoom(ctx, min(s.pool.BatchSize, s.pool.MaxInflight)) {
				return
			}
			continue
		}
		s.clearClaimFirst()
		// A consumer holding entries whose heartbeat is about to go stale
		// is looked at again right then: a killed replica is taken over
		// one heartbeat window after its last beat, not up to a
		// claim_interval later.
		wait := s.r.cfg.Runner.ClaimInterval
		if recheck > 0 && recheck+recheckSlack < wait {
			wait = recheck + recheckSlack
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// recheckSlack is added to the time a heartbeat goes stale, so the look
// after it finds it stale.
const recheckSlack = 20 * time.Millisecond

// claimRound is one pass of the claimer. more is true when a stopped
// consumer still holds entries this stage had no room for; recheck, when
// positive, is when another consumer holding entries may be gone.
func (s *stageRunner) claimRound(ctx context.Context) (more bool, recheck time.Duration) {
	s.touchOwn(ctx)
	for _, in := range s.inputs {
		m, r, err := s.takeOver(ctx, in)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("take over entries of stopped consumers", "stream", in.key, "err", err)
		}
		more = more || m
		if r > 0 && (recheck == 0 || r < recheck) {
			recheck = r
		}
	}
	for _, in := range s.inputs {
		if err := s.claim(ctx, in); err != nil && ctx.Err() == nil {
			s.log.Warn("claim idle entries", "stream", in.key, "err", err)
		}
	}
	return more, recheck
}

func (s *stageRunner) claim(ctx context.Context, in groupRef) error {
	n := s.tryAcquire(s.pool.BatchSize)
	if n == 0 {
		return nil
	}
	msgs, _, err := s.r.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: in.key, Group: s.def.Name, Consumer: s.consumer,
		MinIdle: s.r.cfg.Runner.ClaimMinIdle, Start: "0-0", Count: int64(n),
	}).Result()
	if err != nil {
		s.release(n)
		if IsNoGroup(err) {
			return nil
		}
		return err
	}
	if len(msgs) == 0 {
		s.release(n)
		return nil
	}
	// XAUTOCLAIM does not return delivery counts: read them from the PEL,
	// where they already include this claim.
	counts := map[string]int64{}
	pend, err := s.r.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: in.key, Group: s.def.Name, Consumer: s.consumer,
		Start: msgs[0].ID, End: msgs[len(msgs)-1].ID, Count: int64(len(msgs)) + 64,
	}).Result()
	if err == nil {
		for _, p := range pend {
			counts[p.ID] = p.RetryCount
		}
	}
	if got := s.admitClaimed(in, msgs, n, counts, ClaimIdle); got > 0 {
		s.log.Info("claimed idle entries", "stream", in.key, "count", got)
	}
	return nil
}

// admitClaimed hands entries just claimed into the n reserved slots to the
// workers and returns how many it admitted. Entries this process already
// holds (claimed while handling) or whose values are gone (deleted from
// the stream) are skipped and their slots released. An entry's attempt is
// its delivery count, at least 2: a claimed entry was delivered before.
func (s *stageRunner) admitClaimed(in groupRef, claimed []redis.XMessage, n int, deliveries map[string]int64, reason string) int {
	now := time.Now()
	out := make([]*Message, 0, len(claimed))
	s.mu.Lock()
	for _, x := range claimed {
		if _, held := s.tracked[in.key+"/"+x.ID]; held || x.Values == nil {
			continue
		}
		out = append(out, &Message{Stream: in.stream, Partition: in.partition, ID: x.ID, Values: x.Values,
			Attempt: max(int(deliveries[x.ID]), 2), FirstSeen: now})
	}
	s.mu.Unlock()
	if unused := n - len(out); unused > 0 {
		s.release(unused)
	}
	if len(out) > 0 {
		s.r.metrics.claimed.WithLabelValues(s.def.Name, reason).Add(float64(len(out)))
		s.admit(out)
	}
	return len(out)
}

// touchOwn resets the idle time of entries this process has held for a
// while (slow handlers, long backoffs), so other replicas do not claim them.
// XCLAIM ... JUSTID does not count as a delivery.
func (s *stageRunner) touchOwn(ctx context.Context) {
	threshold := time.Now().Add(-s.r.cfg.Runner.ClaimMinIdle / 2)
	byKey := map[string][]string{}
	s.mu.Lock()
	for _, t := range s.tracked {
		if t.lastTouch.Before(threshold) {
			byKey[t.key] = append(byKey[t.key], t.id)
			t.lastTouch = time.Now()
		}
	}
	s.mu.Unlock()
	for key, ids := range byKey {
		err := s.r.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
			Stream: key, Group: s.def.Name, Consumer: s.consumer, MinIdle: 0, Messages: ids,
		}).Err()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("refresh idle time of held entries", "stream", key, "err", err)
		}
	}
}
