package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// Phases of a sweep, in order.
const (
	PhasePosts   = "posts"   // expired posts rows, and the post in every store
	PhaseVectors = "vectors" // points past their payload's expires_at
	PhaseGraph   = "graph"   // Post nodes past their expires_at
	PhaseOrphans = "orphans" // Tag, Channel, WebPage nodes nothing refers to
)

var phases = []string{PhasePosts, PhaseVectors, PhaseGraph, PhaseOrphans}

// Checkpoint is where a sweep is: written to the Redis hash
// <prefix>cleanup:checkpoint after every batch, under the lease's fence, and
// removed when the sweep finishes.
type Checkpoint struct {
	// Before is the sweep's cutoff, fixed when it started, so that a resumed
	// sweep deletes exactly what the interrupted one would have.
	Before time.Time
	Phase  string
	// CursorExpires and CursorID are the keyset position in the posts phase:
	// the last (expires_at, post_id) of the last finished batch.
	CursorExpires time.Time
	CursorID      string
	// Batches counts the batches finished so far in this sweep.
	Batches int
}

func (cp Checkpoint) fields(token int64) []string {
	return []string{
		"before", strconv.FormatInt(cp.Before.UnixMicro(), 10),
		"phase", cp.Phase,
		"cursor_expires", strconv.FormatInt(cp.CursorExpires.UnixMicro(), 10),
		"cursor_id", cp.CursorID,
		"batches", strconv.Itoa(cp.Batches),
		"token", strconv.FormatInt(token, 10),
	}
}

func (c *Cleaner) checkpointKey() string { return c.opts.Prefix + "cleanup:checkpoint" }

// LeaseKey is the Redis key of the sweep lease.
func (c *Cleaner) LeaseKey() string { return c.opts.Prefix + "cleanup:lease" }

// LoadCheckpoint returns the recorded checkpoint; ok is false when no sweep
// is under way.
func (c *Cleaner) LoadCheckpoint(ctx context.Context) (cp Checkpoint, ok bool, err error) {
	h, err := c.opts.Redis.HGetAll(ctx, c.checkpointKey()).Result()
	if err != nil {
		return cp, false, fmt.Errorf("cleanup: read checkpoint: %w", err)
	}
	if len(h) == 0 {
		return cp, false, nil
	}
	micros := func(k string) (time.Time, error) {
		n, err := strconv.ParseInt(h[k], 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("cleanup: checkpoint field %s=%q: %w", k, h[k], err)
		}
		return time.UnixMicro(n).UTC(), nil
	}
	if cp.Before, err = micros("before"); err != nil {
		return cp, false, err
	}
	if cp.CursorExpires, err = micros("cursor_expires"); err != nil {
		return cp, false, err
	}
	cp.Phase, cp.CursorID = h["phase"], h["cursor_id"]
	cp.Batches, _ = strconv.Atoi(h["batches"])
	return cp, true, nil
}

// SweepResult is what one sweep did.
type SweepResult struct {
	Deleted Counts
	Batches int
	// Resumed is the checkpoint the sweep started from (nil: a fresh sweep).
	Resumed *Checkpoint
	Took    time.Duration
}

// Sweep runs one whole sweep under lease: it resumes the recorded
// checkpoint if there is one, else starts fresh with the cutoff now, and
// clears the checkpoint when done. It returns ErrLeaseLost as soon as the
// lease is no longer ours (checked at every batch).
func (c *Cleaner) Sweep(ctx context.Context, lease *Lease) (SweepResult, error) {
	start := time.Now()
	res := SweepResult{Deleted: Counts{}}
	cp, ok, err := c.LoadCheckpoint(ctx)
	if err != nil {
		return res, err
	}
	if ok {
		r := cp
		res.Resumed = &r
		c.log.LogAttrs(ctx, slog.LevelInfo, "sweep resumed from checkpoint",
			slog.String("phase", cp.Phase), slog.Time("cursor_expires", cp.CursorExpires),
			slog.String("cursor_id", cp.CursorID), slog.Int("batches_done", cp.Batches),
			slog.Time("before", cp.Before), slog.Int64("token", lease.Token()))
	} else {
		cp = Checkpoint{Before: c.opts.Now().UTC().Truncate(time.Microsecond), Phase: PhasePosts}
		c.log.LogAttrs(ctx, slog.LevelInfo, "sweep started", slog.Time("before", cp.Before), slog.Int64("token", lease.Token()))
	}
	// Renew in the background too, so that one slow batch does not lose
	// the lease; the fence on every checkpoint is what stops a lost holder.
	rctx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go c.renew(rctx, lease)

	c.m.leaseHeld.Set(1)
	defer c.m.leaseHeld.Set(0)
	for _, ph := range phases[indexOf(phases, cp.Phase):] {
		if cp.Phase != ph {
			cp.Phase, cp.CursorID, cp.CursorExpires = ph, "", time.Time{}
		}
		if err := c.runPhase(ctx, lease, &cp, &res); err != nil {
			res.Took = time.Since(start)
			return res, err
		}
	}
	if err := lease.Checkpoint(ctx, c.checkpointKey(), true); err != nil {
		return res, err
	}
	res.Took = time.Since(start)
	c.m.duration.Observe(res.Took.Seconds())
	c.m.lastSuccess.Set(float64(time.Now().Unix()))
	c.m.setPhase("")
	c.log.LogAttrs(ctx, slog.LevelInfo, "sweep finished", slog.Int("batches", res.Batches),
		slog.Any("deleted", map[string]int(res.Deleted)), slog.Duration("took", res.Took))
	return res, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return 0
}

func (c *Cleaner) renew(ctx context.Context, lease *Lease) {
	t := time.NewTicker(c.opts.Config.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := lease.Renew(ctx); err != nil {
				if ctx.Err() == nil {
					c.log.Warn("sweep lease not renewed", "error", err)
				}
				if errors.Is(err, ErrLeaseLost) {
					return
				}
			}
		}
	}
}

// runPhase runs the batches of cp.Phase until it has nothing left.
func (c *Cleaner) runPhase(ctx context.Context, lease *Lease, cp *Checkpoint, res *SweepResult) error {
	c.m.setPhase(cp.Phase)
	limit := c.opts.Config.SweepBatch
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		counts := Counts{}
		var more bool
		switch cp.Phase {
		case PhasePosts:
			vs, err := c.expiredPosts(ctx, *cp, limit)
			if err != nil {
				return err
			}
			if counts, err = c.deleteVictims(ctx, vs, false); err != nil {
				return err
			}
			if len(vs) > 0 {
				last := vs[len(vs)-1]
				cp.CursorExpires, cp.CursorID = last.expiresAt, last.id
			}
			more = len(vs) == limit
		case PhaseVectors:
			n, err := c.opts.Vectors.DeleteExpired(ctx, c.opts.Collection, cp.Before, limit)
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			counts[StoreVector] = n
			more = n == limit
		case PhaseGraph:
			n, err := c.opts.Graph.DeleteExpired(ctx, cp.Before, limit)
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			counts[StoreGraph] = n
			more = n == limit
		case PhaseOrphans:
			o, err := c.opts.Graph.DeleteOrphans(ctx, limit)
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			counts[StoreOrphans] = o.Total()
			more = o.Tags == limit || o.Channels == limit || o.WebPages == limit
		}
		c.m.observe(counts)
		res.Deleted.add(counts)
		res.Batches++
		cp.Batches++
		if err := lease.Checkpoint(ctx, c.checkpointKey(), false, cp.fields(lease.Token())...); err != nil {
			return err
		}
		c.m.batches.Set(float64(cp.Batches))
		c.log.LogAttrs(ctx, slog.LevelInfo, "sweep batch",
			slog.String("phase", cp.Phase), slog.Int("batch", cp.Batches),
			slog.Time("cursor_expires", cp.CursorExpires), slog.String("cursor_id", cp.CursorID),
			slog.Any("deleted", map[string]int(counts)))
		if !more {
			return nil
		}
		if p := c.opts.Config.Pause; p > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(p):
			}
		}
	}
}

// expiredPosts reads the next batch of expired posts after the cursor, in
// (expires_at, post_id) order, on the posts_expires_at_idx index.
func (c *Cleaner) expiredPosts(ctx context.Context, cp Checkpoint, limit int) ([]victim, error) {
	rows, err := c.opts.Pool.Query(ctx, `
		SELECT post_id, coalesce(tenant_id, ''), coalesce(content_hash, ''), expires_at
		FROM posts
		WHERE expires_at < $1 AND (expires_at, post_id) > ($2, $3)
		ORDER BY expires_at, post_id
		LIMIT $4`, cp.Before, cp.CursorExpires, cp.CursorID, limit)
	if err != nil {
		return nil, fmt.Errorf("cleanup: find expired posts: %w", err)
	}
	defer rows.Close()
	var vs []victim
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.id, &v.tenant, &v.contentHash, &v.expiresAt); err != nil {
			return nil, fmt.Errorf("cleanup: read expired posts: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cleanup: read expired posts: %w", err)
	}
	return vs, nil
}

// DryRun is what a sweep would delete now.
type DryRun struct {
	Before                        time.Time
	Posts, Enrichment, Statuses   int
	VectorRows, GraphPosts        int
	EmbeddedVector, EmbeddedGraph bool
	Sample                        []string
}

// Plan reports, without deleting anything, what a sweep started now would
// delete from PostgreSQL (and from the embedded vector and graph tables when
// those are the backends: Qdrant and Neo4j are only swept, not counted).
func (c *Cleaner) Plan(ctx context.Context, embeddedVector, embeddedGraph bool, sample int) (DryRun, error) {
	d := DryRun{Before: c.opts.Now().UTC(), EmbeddedVector: embeddedVector, EmbeddedGraph: embeddedGraph}
	q := func(dst *int, sql string, args ...any) error {
		if err := c.opts.Pool.QueryRow(ctx, sql, args...).Scan(dst); err != nil {
			return fmt.Errorf("cleanup: dry run: %w", err)
		}
		return nil
	}
	if err := q(&d.Posts, `SELECT count(*) FROM posts WHERE expires_at < $1`, d.Before); err != nil {
		return d, err
	}
	if err := q(&d.Enrichment, `SELECT count(*) FROM post_enrichment e JOIN posts p USING (post_id) WHERE p.expires_at < $1`, d.Before); err != nil {
		return d, err
	}
	if err := q(&d.Statuses, `SELECT count(*) FROM indexing_status s JOIN posts p USING (post_id) WHERE p.expires_at < $1`, d.Before); err != nil {
		return d, err
	}
	if embeddedVector {
		if err := q(&d.VectorRows, `SELECT count(*) FROM vectors WHERE expires_at < $1`, d.Before.Unix()); err != nil {
			return d, err
		}
	}
	if embeddedGraph {
		if err := q(&d.GraphPosts, `SELECT count(*) FROM graph_posts WHERE expires_at < $1`, d.Before); err != nil {
			return d, err
		}
	}
	rows, err := c.opts.Pool.Query(ctx, `SELECT post_id FROM posts WHERE expires_at < $1 ORDER BY expires_at, post_id LIMIT $2`, d.Before, sample)
	if err != nil {
		return d, fmt.Errorf("cleanup: dry run: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return d, fmt.Errorf("cleanup: dry run: %w", err)
		}
		d.Sample = append(d.Sample, id)
	}
	return d, rows.Err()
}
