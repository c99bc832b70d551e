package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/backends"
)

// Stage consumes posts.deleted.
type Stage struct{ c *Cleaner }

var (
	_ pipeline.Stage   = (*Stage)(nil)
	_ pipeline.Service = (*Service)(nil)
)

// NewStageFor returns the posts.deleted consumer of c.
func NewStageFor(c *Cleaner) *Stage { return &Stage{c: c} }

// Reasons a posts.deleted event may give.
var reasons = map[string]bool{"telegram": true, "ttl": true, "admin": true}

// Handle deletes the batch's posts from every store. An entry that does not
// decode, or names an unknown reason, fails alone (permanently); a store
// failure fails the batch (transiently, and deleting again is harmless).
func (s *Stage) Handle(ctx context.Context, batch []*pipeline.Message) error {
	byReason := map[string][]string{}
	for _, m := range batch {
		var ev events.PostDeleted
		if err := m.Decode(&ev); err != nil {
			m.Fail(err)
			continue
		}
		if !reasons[ev.Reason] {
			m.Fail(pipeline.Permanent(fmt.Errorf("posts.deleted: reason %q is not telegram, ttl or admin", ev.Reason)))
			continue
		}
		byReason[ev.Reason] = append(byReason[ev.Reason], ev.PostID)
		s.c.log.LogAttrs(ctx, slog.LevelInfo, "post deleted", append(m.LogAttrs(), slog.String("reason", ev.Reason))...)
	}
	for reason, ids := range byReason {
		if _, err := s.c.DeletePosts(ctx, ids, reason); err != nil {
			return err
		}
	}
	return nil
}

// Service is the periodic sweep: every interval it tries to take the lease
// and, if it gets it, sweeps (resuming a checkpoint) and gives it back.
type Service struct {
	c *Cleaner
	// Retry is the wait after a failed attempt (default interval/10, at
	// most a minute), and how often a replica without the lease looks again
	// while a sweep is under way elsewhere.
	Retry time.Duration
}

// NewServiceFor returns the sweep service of c.
func NewServiceFor(c *Cleaner) *Service {
	r := min(c.opts.Config.Interval/10, time.Minute)
	r = max(r, c.opts.Config.LeaseTTL/2)
	return &Service{c: c, Retry: r}
}

// Run sweeps until ctx ends. Failures are logged and retried: a sweep that
// fails half way resumes from its checkpoint.
func (s *Service) Run(ctx context.Context) error {
	for {
		wait := s.c.opts.Config.Interval
		swept, err := s.Once(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.c.log.Warn("sweep failed; it resumes from its checkpoint", "error", err)
			wait = s.Retry
		case !swept:
			// Another replica holds the lease. If it dies, its checkpoint
			// must be resumed soon, not an interval later.
			if _, ok, _ := s.c.LoadCheckpoint(ctx); ok {
				wait = s.Retry
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Once takes the lease and sweeps once; swept is false when another replica
// holds the lease.
func (s *Service) Once(ctx context.Context) (swept bool, err error) {
	_, swept, err = s.SweepOnce(ctx)
	return swept, err
}

// SweepOnce is Once with what the sweep did.
func (s *Service) SweepOnce(ctx context.Context) (res SweepResult, swept bool, err error) {
	lease := NewLease(s.c.opts.Redis, s.c.LeaseKey(), s.c.opts.Config.LeaseTTL)
	ok, err := lease.Acquire(ctx)
	if err != nil || !ok {
		return res, false, err
	}
	defer func() {
		if rerr := lease.Release(context.WithoutCancel(ctx)); rerr != nil {
			s.c.log.Warn("sweep lease not released; it expires by itself", "error", rerr)
		}
	}()
	res, err = s.c.Sweep(ctx, lease)
	if errors.Is(err, ErrLeaseLost) {
		s.c.log.Warn("sweep lease lost; stopping at this batch", "token", lease.Token())
	}
	return res, err == nil, err
}

// FromDeps builds the process's one Cleaner (shared by the consumer and the
// service through the resources): the shared pool, the stores the
// stores: section names (the same instances the index stage uses), Redis.
func FromDeps(ctx context.Context, deps pipeline.Deps) (*Cleaner, error) {
	if deps.Config == nil || deps.Resources == nil || deps.Redis == nil {
		return nil, errors.New("cleanup: deps need a config, resources and Redis")
	}
	settings, err := pipeline.StageSettings[*Config](deps)
	if err != nil {
		return nil, fmt.Errorf("cleanup: %w", err)
	}
	// Resource holds its lock while opening, so the shared pool and stores
	// are fetched first, not from inside the cleaner's open function.
	pool, stores, err := backends.Shared(ctx, deps.Resources, deps.Config)
	if err != nil {
		return nil, err
	}
	vec := deps.Config.Stores.Vector
	return pipeline.Resource(deps.Resources, "cleanup", func() (*Cleaner, func(), error) {
		if err := stores.Graph.EnsureSchema(ctx); err != nil {
			return nil, nil, fmt.Errorf("prepare graph store: %w", err)
		}
		m, err := NewMetrics(deps.Metrics)
		if err != nil {
			return nil, nil, err
		}
		c, err := NewCleaner(Options{
			Pool: pool, Vectors: stores.Vectors, Graph: stores.Graph, Redis: deps.Redis,
			Prefix: deps.Keys.Prefix, Collection: vec.Collection, CollectionTemplate: vec.CollectionTemplate,
			Config: *settings, Logger: deps.Logger, Metrics: m,
		})
		return c, nil, err
	})
}

// NewStage builds the posts.deleted consumer (Definition.New).
func NewStage(ctx context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
	c, err := FromDeps(ctx, deps)
	if err != nil {
		return nil, fmt.Errorf("cleanup: %w", err)
	}
	return NewStageFor(c), nil
}

// NewService builds the sweep (Definition.Service).
func NewService(ctx context.Context, deps pipeline.Deps) (pipeline.Service, error) {
	c, err := FromDeps(ctx, deps)
	if err != nil {
		return nil, fmt.Errorf("cleanup: %w", err)
	}
	return NewServiceFor(c), nil
}
