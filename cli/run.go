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
	"github.com/assistant-dev/assistant/pipeline/operator"
	"github.com/assistant-dev/assistant/store/postgres"
)

// opsShutdownTimeout bounds the HTTP server's drain after the runner stopped.
const opsShutdownTimeout = 5 * time.Second

// apiRole is the role --stages names to serve the HTTP API and the web
// console (api.addr) in a replica: like a stage, it runs where asked. It
// is no pipeline stage (it reads no stream), so the registry does not hold
// it; without --stages it runs when api.addr is set.
const apiRole = "api"

func (a *app) runCommand() *cobra.Command {
	var stagesFlag, httpAddr, apiAddr string
	cmd := &cobra.Command{
		Use:   "run [--stages=NAME,...] [--http-addr HOST:PORT] [--api-addr HOST:PORT]",
		Short: "Run the pipeline stages until SIGTERM or SIGINT",
		Long: `Run starts the roles of this replica: the stages named by --stages, or else
every stage enabled in the configuration, and the HTTP API with the web console
(role "api", on api.addr) when --stages names it or, without --stages, when
api.addr is set. Replicas started with different --stages share the work
through Redis consumer groups. The operations server (/metrics, /healthz,
/readyz) listens on http.addr. An empty address turns a listener off; two
replicas on one host need their own addresses (--http-addr, --api-addr, or
ASSISTANT_HTTP_ADDR and ASSISTANT_API_ADDR).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Everything the selected stages need is checked here, before
			// the operations server binds or anything is connected.
			var stages []string
			var serveAPI bool
			cfg, err := a.checkedConfig(func(cfg *config.Config) ([]string, error) {
				if cmd.Flags().Changed("http-addr") {
					cfg.HTTP.Addr = httpAddr
				}
				if cmd.Flags().Changed("api-addr") {
					cfg.API.Addr = apiAddr
				}
				var err error
				stages, serveAPI, err = selectStages(cfg, a.stages, stagesFlag, cmd.Flags().Changed("stages"))
				return stages, err
			})
			if err != nil {
				return err
			}
			if !serveAPI {
				cfg.API.Addr = ""
			}
			return a.runDaemon(cmd.Context(), cfg, stages)
		},
	}
	cmd.Flags().StringVar(&stagesFlag, "stages", "",
		"comma-separated roles of this replica (default: every stage enabled in the config, and api when api.addr is set); built in: "+
			strings.Join(append(a.stages.Names(), apiRole), ", "))
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", `operations listener (/metrics, /healthz, /readyz), overriding http.addr; "" turns it off`)
	cmd.Flags().StringVar(&apiAddr, "api-addr", "", `API and console listener of the api role, overriding api.addr; "" turns it off`)
	return cmd
}

// selectStages resolves --stages, or without it the enabled stages, in
// registry order, and whether this replica serves the API (the api role).
// A named stage must be built into the binary; it runs even when the
// configuration disables it, and is then marked enabled so trimming
// respects its group.
func selectStages(cfg *config.Config, reg *pipeline.Registry, flag string, given bool) (names []string, serveAPI bool, err error) {
	if !given {
		for _, name := range reg.Names() {
			if cfg.StageEnabled(name) {
				names = append(names, name)
			}
		}
		serveAPI = cfg.API.Addr != ""
		if len(names) == 0 && !serveAPI {
			return nil, false, errors.New("no stage is enabled in the config (stages.<name>.enabled), api.addr is empty and --stages names none")
		}
		return names, serveAPI, nil
	}
	for _, name := range strings.Split(flag, ",") {
		name = strings.TrimSpace(name)
		if name == "" || slices.Contains(names, name) {
			continue
		}
		if name == apiRole {
			if cfg.API.Addr == "" {
				return nil, false, errors.New("--stages names api, but api.addr is empty (set it, ASSISTANT_API_ADDR or --api-addr)")
			}
			serveAPI = true
			continue
		}
		if _, ok := reg.Lookup(name); !ok {
			return nil, false, fmt.Errorf("unknown stage %q in --stages (available: %s)", name, strings.Join(append(reg.Names(), apiRole), ", "))
		}
		if !cfg.SetStageEnabled(name, true) {
			return nil, false, fmt.Errorf("stage %q in --stages has no settings in the config (stages.%s)", name, name)
		}
		names = append(names, name)
	}
	if len(names) == 0 && !serveAPI {
		return nil, false, errors.New("--stages names no stage")
	}
	return names, serveAPI, nil
}

// runDaemon is `assistant run` once the configuration and the stages are
// known: Redis, migrations, the operations server, then the runner until ctx
// is cancelled.
func (a *app) runDaemon(ctx context.Context, cfg *config.Config, stages []string) (err error) {
	logger := a.log()
	bi := readBuildInfo()
	serveAPI := cfg.API.Addr != ""
	logger.Info("starting", "version", bi.Version, "revision", bi.Revision, "stages", stages, "api", serveAPI,
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
	var apiOnly atomic.Bool
	ready := func(ctx context.Context) error {
		if apiOnly.Load() {
			return nil
		}
		r := current.Load()
		if r == nil {
			return errors.New(*waiting.Load())
		}
		return r.Ready(ctx)
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
	if cfg.HTTP.Addr == "" {
		logger.Warn("ops server off (http.addr is empty): no /metrics, /healthz or /readyz, and `assistant healthcheck` has nothing to ask")
	} else {
		stopOps, err := serveOps(runCtx, cfg.HTTP.Addr, registry, ready, func(ctx context.Context) []pipeline.CheckResult {
			if r := current.Load(); r != nil {
				return r.Checks(ctx)
			}
			return nil
		}, logger, cancel)
		if err != nil {
			return err
		}
		defer stopOps()
	}

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
	if err := a.prepareDatabase(runCtx, cfg, stages, serveAPI, setWaiting, logger); err != nil {
		return err
	}
	setWaiting("starting: stages not built yet")

	if serveAPI {
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
	}
	if len(stages) == 0 {
		// An api-only replica: nothing to run but the listeners.
		setWaiting("")
		apiOnly.Store(true)
		<-runCtx.Done()
		if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
		logger.Info("stopped cleanly")
		return nil
	}

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

// prepareDatabase waits for PostgreSQL when the stages or the API read it,
// applies the migrations (and the optional RUM index) when
// database.auto_migrate is on, and refuses a schema that differs from the
// migrations before any stage reads an entry.
func (a *app) prepareDatabase(ctx context.Context, cfg *config.Config, stages []string, serveAPI bool,
	setWaiting func(string), logger *slog.Logger) error {
	// The api role reads PostgreSQL (search, posts) but changes no schema:
	// it waits for the server like a stage, and migrates nothing.
	if serveAPI || a.stages.Needs(stages, pipeline.NeedPostgres) || a.stages.Needs(stages, pipeline.NeedMigrations) {
		err := waitFor(ctx, logger, "postgresql", config.RedactURL(cfg.Database.URL), setWaiting, func(ctx context.Context) error {
			return pingPostgres(ctx, cfg.Database.URL)
		})
		if err != nil {
			return err
		}
	}

	if cfg.Database.AutoMigrate && a.stages.Needs(stages, pipeline.NeedMigrations) {
		setWaiting("starting: applying database migrations")
		applied, version, err := migrateUp(ctx, cfg.Database.URL, cfg.Database.Schema)
		if err != nil {
			return fmt.Errorf("migrate database %s: %w", config.RedactURL(cfg.Database.URL), err)
		}
		if len(applied) > 0 {
			logger.Info("database migrations applied", "count", len(applied), "version", version, "database", config.RedactURL(cfg.Database.URL))
		}
		if err := a.applySearchRUM(ctx, cfg, logger); err != nil {
			return err
		}
	}
	// A schema changed by hand (a table renamed, a column dropped) or
	// behind the binary with auto_migrate off would make every entry fail
	// or pause: refuse before any stage reads one, naming what is missing.
	if a.stages.Needs(stages, pipeline.NeedMigrations) {
		setWaiting("starting: checking the database schema against the migrations")
		if err := postgres.CheckSchema(ctx, cfg.Database.URL, postgres.InSchema(cfg.Database.Schema)); err != nil {
			var mismatch *postgres.SchemaMismatchError
			if errors.As(err, &mismatch) {
				return fmt.Errorf("stages %s: %w", strings.Join(stages, ","), err)
			}
			// Not being able to check (no right to create the scratch
			// schema) is no reason to stay down.
			logger.Warn("database schema not checked", "err", err)
		}
	}
	return nil
}

// serveOps serves the operations handler (/metrics, /healthz, /readyz) on
// addr until the returned func stops it; a server failure cancels the
// daemon through fail. It binds before returning, so a busy port fails the
// start before anything (a migration) changes the database.
func serveOps(ctx context.Context, addr string, registry *prometheus.Registry, ready func(context.Context) error,
	report func(context.Context) []pipeline.CheckResult, logger *slog.Logger, fail context.CancelCauseFunc) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on http.addr %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           operator.NewOpsHandler(registry, ready, operator.WithReadyReport(report)),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("ops server on %s: %w", ln.Addr(), err))
		}
	}()
	logger.Info("ops server listening", "addr", ln.Addr().String())
	return func() {
		shutCtx, shutCancel := context.WithTimeout(context.WithoutCancel(ctx), opsShutdownTimeout)
		defer shutCancel()
		if serr := srv.Shutdown(shutCtx); serr != nil {
			logger.Warn("ops server shutdown", "err", serr)
		}
		<-serveDone
	}, nil
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
