package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/console"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// opsShutdownTimeout bounds the HTTP server's drain after the runner stopped.
const opsShutdownTimeout = 5 * time.Second

func (a *app) runCommand() *cobra.Command {
	var stagesFlag string
	cmd := &cobra.Command{
		Use:   "run [--stages=NAME,...]",
		Short: "Run the pipeline stages until SIGTERM or SIGINT",
		Long: `Run starts the stages of this replica: those named by --stages, or else
every stage enabled in the configuration. Replicas started with different
--stages share the work through Redis consumer groups. The operations server
(/metrics, /healthz, /readyz) listens on http.addr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Everything the selected stages need is checked here, before
			// the operations server binds or anything is connected.
			var stages []string
			cfg, err := a.checkedConfig(func(cfg *config.Config) ([]string, error) {
				var err error
				stages, err = selectStages(cfg, a.stages, stagesFlag, cmd.Flags().Changed("stages"))
				return stages, err
			})
			if err != nil {
				return err
			}
			return a.runDaemon(cmd.Context(), cfg, stages)
		},
	}
	cmd.Flags().StringVar(&stagesFlag, "stages", "",
		"comma-separated stages to run in this replica (default: every stage enabled in the config); built in: "+
			strings.Join(a.stages.Names(), ", "))
	return cmd
}

// selectStages resolves --stages, or without it the enabled stages, in
// registry order. A named stage must be built into the binary; it runs even
// when the configuration disables it, and is then marked enabled so trimming
// respects its group.
func selectStages(cfg *config.Config, reg *pipeline.Registry, flag string, given bool) ([]string, error) {
	if !given {
		var names []string
		for _, name := range reg.Names() {
			if cfg.StageEnabled(name) {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return nil, errors.New("no stage is enabled in the config (stages.<name>.enabled) and --stages names none")
		}
		return names, nil
	}
	var names []string
	for _, name := range strings.Split(flag, ",") {
		name = strings.TrimSpace(name)
		if name == "" || slices.Contains(names, name) {
			continue
		}
		if _, ok := reg.Lookup(name); !ok {
			return nil, fmt.Errorf("unknown stage %q in --stages (available: %s)", name, strings.Join(reg.Names(), ", "))
		}
		if !cfg.SetStageEnabled(name, true) {
			return nil, fmt.Errorf("stage %q in --stages has no settings in the config (stages.%s)", name, name)
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, errors.New("--stages names no stage")
	}
	return names, nil
}

// runDaemon is `assistant run` once the configuration and the stages are
// known: Redis, migrations, the operations server, then the runner until ctx
// is cancelled.
func (a *app) runDaemon(ctx context.Context, cfg *config.Config, stages []string) (err error) {
	logger := a.log()
	bi := readBuildInfo()
	logger.Info("starting", "version", bi.Version, "revision", bi.Revision, "stages", stages,
		"redis", config.RedactURL(cfg.Redis.URL), "config", configFileUsed(a.configPath))
	if a.stages.Needs(stages, pipeline.NeedTagger) {
		logger.Info("tagger providers", "setting", cfg.AI.Tagger, "chain", cfg.ResolveProviders(cfg.AI.Tagger))
	}
	if a.stages.Needs(stages, pipeline.NeedEmbedder) {
		logger.Info("embedder providers", "setting", cfg.AI.Embedder, "chain", cfg.ResolveProviders(cfg.AI.Embedder))
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoGauge(bi),
	)

	// The operations server binds first: a busy port fails before anything
	// (a migration) changes the database, and liveness answers while the
	// daemon waits for its dependencies; readiness names what it waits for
	// until the runner runs.
	var current atomic.Pointer[pipeline.Runner]
	var waiting atomic.Pointer[string]
	setWaiting := func(what string) { waiting.Store(&what) }
	setWaiting("starting: stages not built yet")
	ready := func(ctx context.Context) error {
		r := current.Load()
		if r == nil {
			return errors.New(*waiting.Load())
		}
		return r.Ready(ctx)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	srv := &http.Server{
		Handler: pipeline.NewOpsHandler(registry, ready, pipeline.WithReadyReport(func(ctx context.Context) []pipeline.CheckResult {
			if r := current.Load(); r != nil {
				return r.Checks(ctx)
			}
			return nil
		})),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// The stop is logged as it begins, with the budget it has: the stages
	// then log what they finish and what they leave pending.
	stopLogged := context.AfterFunc(ctx, func() {
		var sig *SignalError
		if errors.As(context.Cause(ctx), &sig) {
			logger.Info("shutdown signal received", "signal", sig.Signal.String(),
				"shutdown_timeout", cfg.Runner.ShutdownTimeout)
		}
	})
	defer stopLogged()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			cancel(fmt.Errorf("ops server on %s: %w", ln.Addr(), err))
		}
	}()
	defer func() {
		shutCtx, shutCancel := context.WithTimeout(context.WithoutCancel(ctx), opsShutdownTimeout)
		defer shutCancel()
		if serr := srv.Shutdown(shutCtx); serr != nil {
			logger.Warn("ops server shutdown", "err", serr)
		}
		<-serveDone
	}()
	logger.Info("ops server listening", "addr", ln.Addr().String())

	// Wait for the stores, as an orchestrator expects of a daemon started
	// alongside them: retry with a growing backoff until they answer or the
	// daemon is told to stop.
	var rdb redis.UniversalClient
	err = waitFor(runCtx, logger, "redis", config.RedactURL(cfg.Redis.URL), setWaiting, func(ctx context.Context) error {
		var err error
		rdb, err = connectRedis(ctx, cfg)
		return err
	})
	if err != nil {
		return err
	}
	defer rdb.Close()
	if a.stages.Needs(stages, pipeline.NeedPostgres) || a.stages.Needs(stages, pipeline.NeedMigrations) {
		err = waitFor(runCtx, logger, "postgresql", config.RedactURL(cfg.Database.URL), setWaiting, func(ctx context.Context) error {
			return pingPostgres(ctx, cfg.Database.URL)
		})
		if err != nil {
			return err
		}
	}

	if cfg.Database.AutoMigrate && a.stages.Needs(stages, pipeline.NeedMigrations) {
		setWaiting("starting: applying database migrations")
		applied, version, err := migrateUp(runCtx, cfg.Database.URL, cfg.Database.Schema)
		if err != nil {
			return fmt.Errorf("migrate database %s: %w", config.RedactURL(cfg.Database.URL), err)
		}
		if len(applied) > 0 {
			logger.Info("database migrations applied", "count", len(applied), "version", version, "database", config.RedactURL(cfg.Database.URL))
		}
	}
	// A schema changed by hand (a table renamed, a column dropped) or
	// behind the binary with auto_migrate off would make every entry fail
	// or pause: refuse before any stage reads one, naming what is missing.
	if a.stages.Needs(stages, pipeline.NeedMigrations) {
		setWaiting("starting: checking the database schema against the migrations")
		if err := postgres.CheckSchema(runCtx, cfg.Database.URL, postgres.InSchema(cfg.Database.Schema)); err != nil {
			var mismatch *postgres.SchemaMismatchError
			if errors.As(err, &mismatch) {
				return fmt.Errorf("stages %s: %w", strings.Join(stages, ","), err)
			}
			// Not being able to check (no right to create the scratch
			// schema) is no reason to stay down.
			logger.Warn("database schema not checked", "err", err)
		}
	}
	setWaiting("starting: stages not built yet")

	stopAPI, err := a.startAPI(runCtx, cfg, rdb, registry, registry, func() console.Runner {
		if r := current.Load(); r != nil {
			return r
		}
		return nil
	}, logger, cancel)
	if err != nil {
		return err
	}
	defer stopAPI()

	resources := pipeline.NewResources()
	defer resources.Close()
	runner, err := pipeline.NewRunner(runCtx, pipeline.RunnerOptions{
		Config:    cfg,
		Redis:     rdb,
		Logger:    logger,
		Registry:  a.stages,
		Metrics:   registry,
		Resources: resources,
		Stages:    stages,
	})
	if err != nil {
		return err
	}
	current.Store(runner)

	runErr := runner.Run(runCtx)
	if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause // the ops server failed and stopped the runner
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return fmt.Errorf("runner: %w", runErr)
	}
	logger.Info("stopped cleanly")
	return nil
}

// buildInfoGauge is assistant_build_info: constant 1, labelled with the
// build, so dashboards can show which version each replica runs.
func buildInfoGauge(bi buildInfo) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "assistant_build_info",
		Help: "Build of the running binary (always 1).",
		ConstLabels: prometheus.Labels{
			"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion,
		},
	})
	g.Set(1)
	return g
}

// waitFor calls try until it succeeds, logging each failure and backing off
// from 250 ms up to 10 s; meanwhile readiness says what is awaited. It gives
// up only when ctx ends (SIGTERM), with the last failure.
func waitFor(ctx context.Context, logger *slog.Logger, name, target string, setWaiting func(string), try func(context.Context) error) error {
	const initial, maxWait = 250 * time.Millisecond, 10 * time.Second
	wait := initial
	for attempt := 1; ; attempt++ {
		err := try(ctx)
		if err == nil {
			if attempt > 1 {
				logger.Info("dependency reachable", "dependency", name, "target", target, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopped while waiting for %s at %s: %w", name, target, err)
		}
		setWaiting(fmt.Sprintf("waiting for %s at %s: %v", name, target, err))
		logger.Warn("waiting for dependency", "dependency", name, "target", target, "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("stopped while waiting for %s at %s: %w", name, target, err)
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// pingPostgres opens one connection to url and checks it answers.
func pingPostgres(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to postgresql: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}
