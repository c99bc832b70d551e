package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// serviceRunner runs one stage's Service for the lifetime of the runner.
type serviceRunner struct {
	name    string
	svc     Service
	log     *slog.Logger
	running atomic.Bool
}

// run runs the service until ctx ends. A service that returns before
// shutdown, or fails, or panics, stops the process with an error naming it
// (an errgroup member); one that ignores cancellation is abandoned after
// the shutdown timeout, with an error.
func (s *serviceRunner) run(ctx context.Context, shutdownTimeout time.Duration) error {
	done := make(chan error, 1)
	s.running.Store(true)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("service panicked", "panic", p, "stack", string(debug.Stack()))
				done <- fmt.Errorf("service %s panicked: %v", s.name, p)
			}
		}()
		done <- s.svc.Run(ctx)
	}()
	s.log.Info("service started")
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done:
		case <-time.After(shutdownTimeout):
			s.running.Store(false)
			return fmt.Errorf("service %s did not stop within runner.shutdown_timeout %s", s.name, shutdownTimeout)
		}
	}
	s.running.Store(false)
	switch {
	case ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)):
		s.log.Info("service stopped")
		return nil
	case err == nil:
		return fmt.Errorf("service %s returned before shutdown", s.name)
	default:
		return fmt.Errorf("service %s: %w", s.name, err)
	}
}
