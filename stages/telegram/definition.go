package telegram

import (
	"context"
	"fmt"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// Name is the service's stage name (config stages.telegram).
const Name = "telegram"

// Definition describes the telegram source to the registry: a service that
// reads no stream and publishes posts.parsed and posts.deleted, with its
// checkpoints (and, by default, its session) in the migrated PostgreSQL
// schema.
func Definition() pipeline.Definition {
	return pipeline.Definition{
		Name:     Name,
		Outputs:  func(s config.Streams) []string { return []string{s.Parsed, s.Deleted} },
		Config:   func() any { c := DefaultConfig(); return &c },
		Needs:    []pipeline.Need{pipeline.NeedPostgres, pipeline.NeedMigrations},
		Service:  newService,
		Commands: Commands,
	}
}

func newService(ctx context.Context, deps pipeline.Deps) (pipeline.Service, error) {
	settings, err := pipeline.StageSettings[*Config](deps)
	if err != nil {
		return nil, err
	}
	cfg := *settings
	if err := cfg.ApplyEnv(); err != nil {
		return nil, err
	}
	db, err := postgres.Shared(ctx, deps.Resources, deps.Config.Database)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	return New(cfg, Deps{
		Redis:         deps.Redis,
		Keys:          deps.Keys,
		DB:            db,
		ParsedStream:  deps.Config.Streams.Parsed,
		DeletedStream: deps.Config.Streams.Deleted,
		Registerer:    deps.Metrics,
		Logger:        deps.Logger,
	})
}
