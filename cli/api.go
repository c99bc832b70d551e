package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/console"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// startAPI serves the HTTP API on api.addr (nothing when it is empty) until
// ctx ends; a server failure cancels the daemon through fail. The returned
// func stops it and waits. Over the PostgreSQL vector backend without
// pgvector, it also keeps the in-memory vector mirror current.
//
// The admin API (/v1/admin) and the web console (/ui) mount on the same
// listener; runner returns this replica's runner once it is built.
func (a *app) startAPI(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, reg prometheus.Registerer, gatherer prometheus.Gatherer,
	runner func() console.Runner, logger *slog.Logger, fail context.CancelCauseFunc) (func(), error) {
	if cfg.API.Addr == "" {
		return func() {}, nil
	}
	pool, err := postgres.Open(ctx, cfg.Database, postgres.WithApplicationName("assistant-api"))
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	svc, mirror, closeStores, err := a.openSearch(ctx, cfg, pool, logger, true)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("api: %w", err)
	}
	handler, err := api.New(svc, api.Options{
		Token: cfg.API.Token, Tokens: cfg.API.Tokens, MaxQueryBytes: cfg.API.MaxQueryBytes, RequestTimeout: cfg.API.RequestTimeout,
		Logger: logger, Registerer: reg, Document: console.Document,
	})
	if err != nil {
		closeStores()
		pool.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.API.Addr)
	if err != nil {
		closeStores()
		pool.Close()
		return nil, fmt.Errorf("listen on api.addr %s: %w", cfg.API.Addr, err)
	}
	groups := map[string]string{}
	for _, def := range a.stages.Definitions() {
		if def.Reads() && cfg.StageEnabled(def.Name) {
			groups[def.Name] = def.Input(cfg.Streams)
		}
	}
	cons := console.New(console.Options{
		Redis: rdb, Keys: pipeline.NewKeys(cfg), Streams: a.stages.Streams(cfg.Streams), Groups: groups,
		Runner: runner, Search: svc, Pool: pool, Gatherer: gatherer,
		AdminToken: cfg.API.AdminToken, APIToken: cfg.API.Token, Readers: handler.Tokens(),
		Loopback: console.IsLoopback(ln.Addr()), Logger: logger.With("component", "console"),
	})
	cons.Mount(handler)
	srv := api.NewHTTPServer(ln.Addr().String(), handler)
	srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{}, 3)
	go func() {
		defer func() { done <- struct{}{} }()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("api server on %s: %w", ln.Addr(), err))
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		if mirror != nil {
			_ = mirror.Run(bg)
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		// The console's samples (rates over a window, charts) start now,
		// not at the first page view.
		_ = cons.Run(bg)
	}()
	if cfg.API.Token == "" && len(cfg.API.Tokens) == 0 && !console.IsLoopback(ln.Addr()) {
		// Said at start, loudly: anyone who reaches this address reads
		// every post. The default address is loopback for that reason.
		logger.Warn("api reads are OPEN: api.addr is not loopback and neither api.token nor api.tokens is set, so anyone who can reach it searches and reads every post; set ASSISTANT_API_TOKEN or bind 127.0.0.1",
			"addr", ln.Addr().String())
	}
	logger.Info("api server listening", "addr", ln.Addr().String(), "auth", cfg.API.Token != "", "admin_token", cfg.API.AdminToken != "",
		"loopback_only", console.IsLoopback(ln.Addr()), "vector_mirror", mirror != nil, "console", "/ui/")
	return func() {
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opsShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(shutCtx); err != nil {
			logger.Warn("api server shutdown", "err", err)
		}
		stopBG()
		<-done
		<-done
		<-done
		closeStores()
		pool.Close()
	}, nil
}
