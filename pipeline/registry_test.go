package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

func parsedIn(s config.Streams) string { return s.Parsed }

func noStage(context.Context, pipeline.Deps) (pipeline.Stage, error) { return nil, nil }

func noService(context.Context, pipeline.Deps) (pipeline.Service, error) { return nil, nil }

type unpooled struct{ config.Switch }

func TestRegistryRejectsIncompleteDefinitions(t *testing.T) {
	tests := []struct {
		name string
		def  pipeline.Definition
		want string
	}{
		{"no name", pipeline.Definition{Input: parsedIn, New: noStage}, "stage name"},
		{"upper case name", pipeline.Definition{Name: "Tag", Input: parsedIn, New: noStage}, "stage name"},
		{"input without New", pipeline.Definition{Name: "a", Input: parsedIn}, "an Input needs New"},
		{"New without input", pipeline.Definition{Name: "a", New: noStage}, "New needs an Input"},
		{"nothing to run", pipeline.Definition{Name: "a"}, "neither an Input nor a Service"},
		{"batch service", pipeline.Definition{Name: "a", Service: noService, Batch: true}, "Batch and LegacyInput need an Input"},
		{"reader without a pool", pipeline.Definition{Name: "a", Input: parsedIn, New: noStage,
			Config: func() any { return &unpooled{} }}, "must embed config.Pool"},
		{"settings without a switch", pipeline.Definition{Name: "a", Service: noService,
			Config: func() any { return &struct{ N int }{} }}, "embed neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pipeline.NewRegistry(tt.def)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	ok := pipeline.Definition{Name: "a", Input: parsedIn, New: noStage}
	if _, err := pipeline.NewRegistry(ok, ok); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate: %v", err)
	}
}

func TestRegistryDescribesTopologyAndNeeds(t *testing.T) {
	reg := pipeline.MustRegistry(
		pipeline.Definition{Name: "first", Input: parsedIn, New: noStage,
			Outputs: func(s config.Streams) []string { return []string{s.Tagged, "side.out"} },
			Needs:   []pipeline.Need{pipeline.NeedTagger}},
		pipeline.Definition{Name: "sink", Input: func(s config.Streams) string { return s.Tagged }, New: noStage,
			LegacyInput: func(s config.Streams) string { return s.LegacyTagged },
			Needs:       []pipeline.Need{pipeline.NeedMigrations}},
		pipeline.Definition{Name: "sweeper", Service: noService},
	)
	s := config.Default().Streams
	if got, want := reg.Streams(s), []string{"posts.parsed", "posts.tagged", "side.out"}; !slices.Equal(got, want) {
		t.Errorf("Streams = %v, want %v", got, want)
	}
	s.LegacyConsumerEnabled = true
	if got := reg.Streams(s); !slices.Contains(got, "stream:posts:tagged") {
		t.Errorf("Streams with the legacy consumer = %v", got)
	}
	if got := reg.Readers(s, "posts.tagged"); !slices.Equal(got, []string{"sink"}) {
		t.Errorf("Readers = %v", got)
	}
	if !reg.Needs([]string{"sweeper", "sink"}, pipeline.NeedMigrations) || reg.Needs([]string{"first", "sweeper"}, pipeline.NeedMigrations) {
		t.Error("Needs does not follow the selected stages")
	}
	cfg := reg.DefaultConfig()
	if p, ok := cfg.StagePool("first"); !ok || p != pipeline.DefaultPool {
		t.Errorf("a stage without Config gets DefaultPool: %+v %v", p, ok)
	}
	if _, ok := cfg.StagePool("sweeper"); ok || !cfg.StageEnabled("sweeper") {
		t.Error("a service-only stage without Config gets an enabled Switch and no pool")
	}
}

// funcService adapts functions to a Service with a readiness check.
type funcService struct {
	run   func(ctx context.Context) error
	check func(ctx context.Context) error
}

func (f funcService) Run(ctx context.Context) error   { return f.run(ctx) }
func (f funcService) Check(ctx context.Context) error { return f.check(ctx) }

func runService(t *testing.T, svc pipeline.Service, tweak func(*config.Config)) (*pipeline.Runner, context.CancelFunc, chan error) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	if tweak != nil {
		tweak(cfg)
	}
	reg := pipeline.MustRegistry(pipeline.Definition{
		Name:    "svc",
		Service: func(context.Context, pipeline.Deps) (pipeline.Service, error) { return svc, nil },
	})
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: reg, Metrics: prometheus.NewRegistry(), Stages: []string{"svc"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(cancel)
	return r, cancel, done
}

func waitErr(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("runner did not return")
		return nil
	}
}

// TestServiceRunsUntilShutdownAndReportsReadiness: a service-only stage
// runs beside the runner, its Check is part of readiness, and shutdown
// cancels it and returns cleanly.
func TestServiceRunsUntilShutdownAndReportsReadiness(t *testing.T) {
	t.Parallel()
	var healthy, stopped atomic.Bool
	svc := funcService{
		run: func(ctx context.Context) error { <-ctx.Done(); stopped.Store(true); return ctx.Err() },
		check: func(context.Context) error {
			if !healthy.Load() {
				return errors.New("lease not held")
			}
			return nil
		},
	}
	r, cancel, done := runService(t, svc, nil)
	testenv.WaitFor(t, "service not ready, naming its check", 10*time.Second, func() bool {
		err := r.Ready(context.Background())
		return err != nil && strings.Contains(err.Error(), "service svc: lease not held")
	})
	healthy.Store(true)
	testenv.WaitFor(t, "ready", 10*time.Second, func() bool { return r.Ready(context.Background()) == nil })
	var listed bool
	for _, c := range r.Checks(context.Background()) {
		listed = listed || c.Name == "service svc" && c.Err == nil
	}
	if !listed {
		t.Errorf("Checks does not list the service: %+v", r.Checks(context.Background()))
	}
	cancel()
	if err := waitErr(t, done); err != nil {
		t.Fatalf("Run after shutdown: %v", err)
	}
	if !stopped.Load() {
		t.Error("service was not cancelled")
	}
}

// TestServiceFailureStopsTheProcess: a service error, a panic or an early
// return is not swallowed: Run returns it naming the service.
func TestServiceFailureStopsTheProcess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(context.Context) error
		want string
	}{
		{"error", func(context.Context) error { return errors.New("disk on fire") }, "service svc: disk on fire"},
		{"panic", func(context.Context) error { panic("boom") }, "service svc panicked: boom"},
		{"early return", func(context.Context) error { return nil }, "service svc returned before shutdown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, done := runService(t, funcService{run: tt.run, check: func(context.Context) error { return nil }}, nil)
			if err := waitErr(t, done); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestServiceIgnoringShutdownIsAbandoned: a service that does not return
// after cancellation is given runner.shutdown_timeout, then Run reports it.
func TestServiceIgnoringShutdownIsAbandoned(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	svc := funcService{run: func(context.Context) error { <-block; return nil }, check: func(context.Context) error { return nil }}
	r, cancel, done := runService(t, svc, func(c *config.Config) { c.Runner.ShutdownTimeout = 200 * time.Millisecond })
	testenv.WaitFor(t, "ready", 10*time.Second, func() bool { return r.Ready(context.Background()) == nil })
	cancel()
	if err := waitErr(t, done); err == nil || !strings.Contains(err.Error(), "did not stop within") {
		t.Fatalf("Run = %v, want a shutdown timeout naming the service", err)
	}
}
