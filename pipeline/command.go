package pipeline

import (
	"context"
	"io"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/config"
)

// CommandEnv is what the command line hands a stage's own commands
// (Definition.Commands, Definition.Bench): how to load the configuration
// and reach Redis as every other command does, the logger, and where to
// talk to the operator. Commands report failures by returning an error;
// the command line prints it once, as "assistant: <error>".
type CommandEnv struct {
	// Registry is the binary's stage registry.
	Registry *Registry
	// Config loads the effective configuration (--config, the environment,
	// the --log-* flags), validates it and installs the logger it names.
	Config func() (*config.Config, error)
	// Logger is the configured logger (the default one before Config).
	Logger func() *slog.Logger
	// Redis opens a client on the configured Redis (a cluster client with
	// redis.cluster) and checks that it answers; the caller closes it.
	Redis func(ctx context.Context, cfg *config.Config) (redis.UniversalClient, error)
	// Stdin, Stdout and Stderr are the operator's terminal (or a test's
	// buffers). Interactive is true when Stdin is a terminal.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Interactive    bool
}

// CommandFunc builds a stage's commands for the command line.
type CommandFunc func(env CommandEnv) []*cobra.Command
