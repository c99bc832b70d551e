// Package cli is the command line of the assistant daemon (docs/cli.md):
// `assistant run` starts stages, the other commands are operator tools
// (streams, dlq, config, migrate, ingest, version). Commands parse flags,
// load the configuration and format output; the work itself lives in the
// pipeline, store and ingest packages, so it is tested there.
//
// Every failure is reported once, on one line, as "assistant: <what went
// wrong>", with a non-zero exit status.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
)

// app is what every command shares: the stages built in, the global flags
// and where output goes.
type app struct {
	// stages are the stage definitions of this binary (main builds the
	// registry); configuration loading, `run --stages` and `streams` read
	// them, so this package names no stage.
	stages     *pipeline.Registry
	configPath string
	logLevel   string // --log-level, overriding log.level
	logFormat  string // --log-format, overriding log.format
	logger     *slog.Logger
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	// interactive is true when stdin is a terminal: destructive commands
	// ask there, and need --yes otherwise.
	interactive bool
	// setDefaultLogger makes `run` install its logger as slog's default, so
	// libraries that log through slog.Default (migrations) follow the
	// configured format. Only the real process does; tests run commands
	// side by side and must not touch process-wide state.
	setDefaultLogger bool
	// mountErr is what went wrong mounting the stages' commands.
	mountErr error
}

// Execute runs the command line of the process and returns its exit status.
// SIGINT and SIGTERM cancel the command's context (with a SignalError as the
// cause, so `run` can log which signal stopped it); a second signal exits at
// once, unfinished entries left pending.
func Execute(stages *pipeline.Registry) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go watchSignals(sigs, cancel, func(sig os.Signal) {
		// slog's default is the configured logger once `run` loaded its
		// configuration; before that, the standard one on stderr.
		slog.Default().Warn("second shutdown signal: exiting at once; unfinished entries stay pending for another consumer",
			"signal", sig.String())
		os.Exit(signalExitStatus(sig))
	})
	redis.SetLogger(redisLogger{})
	a := &app{
		stages: stages,
		stdin:  os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		interactive:      term.IsTerminal(int(os.Stdin.Fd())),
		setDefaultLogger: true,
	}
	return a.execute(ctx, os.Args[1:])
}

// SignalError is the cause of a command context cancelled by a signal. It
// unwraps to context.Canceled: a signal is a requested stop, not a failure.
type SignalError struct{ Signal os.Signal }

func (e *SignalError) Error() string { return "received " + e.Signal.String() }
func (e *SignalError) Unwrap() error { return context.Canceled }

// watchSignals cancels the command's context on the first signal and calls
// force on a second one. A signal within signalEcho of the first is the
// same request delivered twice (`timeout` signals its child and then the
// child's process group), not an operator insisting.
func watchSignals(sigs <-chan os.Signal, cancel context.CancelCauseFunc, force func(os.Signal)) {
	sig, ok := <-sigs
	if !ok {
		return
	}
	first := time.Now()
	cancel(&SignalError{Signal: sig})
	for sig := range sigs {
		if time.Since(first) >= signalEcho {
			force(sig)
			return
		}
	}
}

// signalEcho is how soon after the first a signal counts as its echo.
const signalEcho = time.Second

// signalExitStatus is the shell's status of a process a signal killed
// (128 + its number), which a forced exit reports as before.
func signalExitStatus(sig os.Signal) int {
	if n, ok := sig.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return exitError
}

// execute runs one command line; tests call it with their own writers.
func (a *app) execute(ctx context.Context, args []string) int {
	root := a.rootCommand()
	if a.mountErr != nil {
		fmt.Fprintf(a.stderr, "assistant: %s\n", oneLine(a.mountErr.Error()))
		return exitError
	}
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(a.stderr, "assistant: %s\n", oneLine(err.Error()))
		return exitError
	}
	return exitOK
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "assistant",
		Short: "Turn Telegram channel posts into tagged, enriched, searchable knowledge",
		Long: `assistant is one daemon with pluggable stages connected by Redis Streams
(stages built in: ` + strings.Join(a.stages.Names(), ", ") + `).
"assistant run" starts the stages; the other commands inspect and repair the
pipeline.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
		Version:           versionString(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&a.configPath, "config", "",
		"configuration file (default ./config.yaml when present, else built-in defaults)")
	a.addLogFlags(root)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if name := commandName(cmd); name != "" {
			return fmt.Errorf("%s: %w", name, err)
		}
		return err
	})
	root.AddCommand(
		a.runCommand(),
		a.streamsCommand(),
		a.dlqCommand(),
		a.configCommand(),
		a.migrateCommand(),
		a.ingestCommand(),
		a.importCommand(),
		a.versionCommand(),
		a.benchCommand(),
		a.healthcheckCommand(),
		a.evalCommand(),
		a.searchCommand(),
		a.postsCommand(),
	)
	a.mountStageCommands(root)
	for _, c := range root.Commands() {
		requireSubcommand(c)
	}
	return root
}

// commandEnv is what the stages' own commands get from the command line.
func (a *app) commandEnv() pipeline.CommandEnv {
	return pipeline.CommandEnv{
		Registry: a.stages,
		Config:   a.loadConfig,
		Logger:   a.log,
		Redis:    connectRedis,
		Stdin:    a.stdin, Stdout: a.stdout, Stderr: a.stderr,
		Interactive: a.interactive,
	}
}

// mountStageCommands adds the commands each stage of the registry brings
// (Definition.Commands) at the root, and its benchmark (Definition.Bench)
// under `bench`. A command whose name is taken is a programming error of
// the binary's stage list: it is reported when any command runs.
func (a *app) mountStageCommands(root *cobra.Command) {
	env := a.commandEnv()
	var bench *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == "bench" {
			bench = c
		}
	}
	taken := func(parent *cobra.Command, name string) bool {
		for _, c := range parent.Commands() {
			if c.Name() == name || c.HasAlias(name) {
				return true
			}
		}
		return false
	}
	for _, def := range a.stages.Definitions() {
		if def.Commands != nil {
			for _, c := range def.Commands(env) {
				if taken(root, c.Name()) {
					a.mountErr = errors.Join(a.mountErr, fmt.Errorf("stage %s: command %q is already defined", def.Name, c.Name()))
					continue
				}
				root.AddCommand(c)
			}
		}
		if def.Bench != nil && bench != nil {
			c := def.Bench(env)
			c.Use = def.Name
			if taken(bench, def.Name) {
				a.mountErr = errors.Join(a.mountErr, fmt.Errorf("stage %s: benchmark %q is already defined", def.Name, def.Name))
				continue
			}
			bench.AddCommand(c)
		}
	}
}

// requireSubcommand makes a command group (dlq, migrate, bench, ...) reject
// an unknown subcommand with an error instead of printing its help and
// exiting 0; without arguments it still shows the help.
func requireSubcommand(cmd *cobra.Command) {
	if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return fmt.Errorf("unknown command %q for %q (want one of: %s)", args[0], cmd.CommandPath(), strings.Join(names, ", "))
	}
	for _, sub := range cmd.Commands() {
		requireSubcommand(sub)
	}
}

// loadConfig loads the effective configuration (defaults, file, env, then
// the --log-* flags) and installs the logger it asks for (logging.go). It
// fails with every problem of the configuration at once.
func (a *app) loadConfig() (*config.Config, error) {
	return a.checkedConfig(nil)
}

// checkedConfig is loadConfig that also checks what the named stages need
// (the AI provider keys of the chains they build); nil checks no stage's
// needs. Unknown ASSISTANT_* variables are logged as warnings.
func (a *app) checkedConfig(stages func(*config.Config) ([]string, error)) (*config.Config, error) {
	rep, err := a.stages.InspectConfig(a.configPath)
	if err != nil {
		return nil, err
	}
	cfg := &rep.Config
	if stages != nil {
		names, err := stages(cfg)
		if err != nil {
			return nil, err
		}
		rep.Add(cfg.ValidateNeeds(a.stages.ConfigNeeds(names))...)
	}
	if err := rep.Err(); err != nil {
		return nil, err
	}
	if err := a.applyLogFlags(cfg); err != nil {
		return nil, err
	}
	a.installLogger(cfg)
	for _, w := range rep.Warnings {
		a.log().Warn(w)
	}
	return cfg, nil
}

// clusterStateReloadInterval bounds how long a Redis Cluster client keeps a
// stale slot map: one CLUSTER SLOTS per interval while commands flow.
const clusterStateReloadInterval = 2 * time.Second

// connectRedis opens a client on the configured URL (a cluster client when
// redis.cluster is set) and checks that the server answers.
func connectRedis(ctx context.Context, cfg *config.Config) (redis.UniversalClient, error) {
	var rdb redis.UniversalClient
	if cfg.Redis.Cluster {
		opts, err := redis.ParseClusterURL(cfg.Redis.URL)
		if err != nil {
			return nil, fmt.Errorf("redis.url %s (cluster): %w", config.RedactURL(cfg.Redis.URL), err)
		}
		// go-redis reloads the slot map only on MOVED/ASK or every
		// ClusterStateReloadInterval (60 s by default): after a master is
		// killed and its replica promoted, no MOVED comes, and every command
		// of the master's slots dials the dead node until the next reload
		// (a minute of a paused pipeline, issue 21's failover row).
		opts.ClusterStateReloadInterval = clusterStateReloadInterval
		rdb = redis.NewClusterClient(opts)
	} else {
		opts, err := redis.ParseURL(cfg.Redis.URL)
		if err != nil {
			return nil, fmt.Errorf("redis.url %s: %w", config.RedactURL(cfg.Redis.URL), err)
		}
		rdb = redis.NewClient(opts)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("connect to redis at %s: %w", config.RedactURL(cfg.Redis.URL), err)
	}
	return rdb, nil
}

// streamRole is one configured stream, by its config key.
type streamRole struct {
	role string // config key under streams:, e.g. "parsed" or "legacy_parsed"
	name string // the stream's (unprefixed) name
}

// configuredStreams lists the pipeline's streams in pipeline order: the
// configured ones (streams.*), then any other stream a built-in stage reads
// or writes (its Definition's Input and Outputs); the old worker's keys come
// last, and only when the legacy consumer is enabled unless withLegacy asks
// for them anyway (searching DLQs).
func configuredStreams(cfg *config.Config, stages *pipeline.Registry, withLegacy bool) []streamRole {
	s := cfg.Streams
	roles := []streamRole{
		{"parsed", s.Parsed}, {"tagged", s.Tagged}, {"enriched", s.Enriched},
		{"indexed", s.Indexed}, {"deleted", s.Deleted},
	}
	if stages != nil {
		current := s
		current.LegacyConsumerEnabled = false // the old keys keep their roles, below
		for _, name := range stages.Streams(current) {
			roles = append(roles, streamRole{name, name})
		}
	}
	if withLegacy || s.LegacyConsumerEnabled {
		roles = append(roles,
			streamRole{"legacy_parsed", s.LegacyParsed}, streamRole{"legacy_tagged", s.LegacyTagged},
			streamRole{"legacy_enriched", s.LegacyEnriched}, streamRole{"legacy_deleted", s.LegacyDeleted})
	}
	var out []streamRole
	for _, r := range roles {
		if r.name != "" && !slices.ContainsFunc(out, func(o streamRole) bool { return o.name == r.name }) {
			out = append(out, r)
		}
	}
	return out
}

func streamNames(roles []streamRole) []string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.name
	}
	return names
}

// resolveStream accepts a configured stream's name ("posts.parsed") or its
// role ("parsed"); anything else is an error listing the configured streams, so a
// typo never reads or deletes the wrong key.
func resolveStream(cfg *config.Config, stages *pipeline.Registry, arg string) (string, error) {
	for _, r := range configuredStreams(cfg, stages, true) {
		if arg == r.name || arg == r.role {
			return r.name, nil
		}
	}
	// The old worker's streams are accepted by name even when the legacy
	// consumer is off (their DLQs may still hold entries), but listed only
	// when it is on.
	return "", fmt.Errorf("unknown stream %q (known: %s)", arg, strings.Join(streamNames(configuredStreams(cfg, stages, false)), ", "))
}

// keysOf is the key namer of a configuration.
func keysOf(cfg *config.Config) pipeline.Keys { return pipeline.NewKeys(cfg) }

// oneLine folds an error message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// errUsage reports a command used the wrong way, naming the command.
func errUsage(cmd *cobra.Command, format string, args ...any) error {
	return errors.New(commandName(cmd) + ": " + fmt.Sprintf(format, args...))
}

// commandName is the command's path below the root ("dlq list"), since every
// error line already starts with "assistant: ".
func commandName(cmd *cobra.Command) string {
	root := cmd.Root().Name()
	return strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), root), " ")
}
