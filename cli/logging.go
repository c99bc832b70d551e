package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/config"
)

// Logging of every command. The configuration's log.level and log.format
// (or the global --log-level and --log-format flags) apply to all of them,
// not to `run` only: `migrate up` logs what it applied in the same format
// as the daemon, so one log pipeline reads both.

// logLevels and logFormats are the values the flags accept; the config
// validation accepts the same.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"json", "text"}
)

// addLogFlags registers --log-level and --log-format on the root command.
func (a *app) addLogFlags(root *cobra.Command) {
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "",
		"log level, overriding log.level: "+strings.Join(logLevels, ", "))
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "",
		"log format, overriding log.format: "+strings.Join(logFormats, ", "))
}

// applyLogFlags lets the global flags override the configuration.
func (a *app) applyLogFlags(cfg *config.Config) error {
	if a.logLevel != "" {
		l := strings.ToLower(strings.TrimSpace(a.logLevel))
		if !slices.Contains(logLevels, l) {
			return fmt.Errorf("--log-level %q: want one of %s", a.logLevel, strings.Join(logLevels, ", "))
		}
		cfg.Log.Level = l
	}
	if a.logFormat != "" {
		f := strings.ToLower(strings.TrimSpace(a.logFormat))
		if !slices.Contains(logFormats, f) {
			return fmt.Errorf("--log-format %q: want one of %s", a.logFormat, strings.Join(logFormats, ", "))
		}
		cfg.Log.Format = f
	}
	return nil
}

// newLogHandler builds the slog handler the configuration asks for.
func newLogHandler(w io.Writer, cfg *config.Config) slog.Handler {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated by config.Load or applyLogFlags
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replaceLogAttr}
	if cfg.Log.Format == "text" {
		return slog.NewTextHandler(w, opts)
	}
	return slog.NewJSONHandler(w, opts)
}

// replaceLogAttr makes log values readable by people and parsers alike:
//   - a time.Duration is written as Go's duration string, rounded to what
//     matters ("22.943ms", "1m30s"), not as nanoseconds (JSON) — the unit is
//     in the value, so no reader has to guess it;
//   - an attribute whose value is nil (typically "err" after a clean stop)
//     is dropped rather than written as err=<nil> or "err":null, which
//     reads like a failure and trips naive alerting on the key.
func replaceLogAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.String(a.Key, humanDuration(a.Value.Duration()))
	case slog.KindAny:
		if a.Value.Any() == nil {
			return slog.Attr{}
		}
	}
	return a
}

// humanDuration rounds a duration to about four significant digits.
func humanDuration(d time.Duration) string {
	abs := d
	if abs < 0 {
		abs = -abs
	}
	switch {
	case abs < time.Microsecond:
		return d.String()
	case abs < time.Millisecond:
		return d.Round(time.Nanosecond * 10).String()
	case abs < time.Second:
		return d.Round(time.Microsecond).String()
	case abs < time.Minute:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// installLogger builds the command's logger from the configuration; in the
// real process it also becomes slog's default, so libraries that log
// through slog.Default (migrations, the go-redis adapter below) follow it.
func (a *app) installLogger(cfg *config.Config) {
	a.logger = slog.New(newLogHandler(a.stderr, cfg))
	if a.setDefaultLogger {
		slog.SetDefault(a.logger)
	}
}

// log is the command's logger; before the configuration is loaded, the
// default one.
func (a *app) log() *slog.Logger {
	if a.logger != nil {
		return a.logger
	}
	return slog.Default()
}

// redisLogger routes go-redis' own log lines (pool.go: "failed to dial
// after 5 attempts", ...) through slog at debug level. Without it they go
// to stderr in the standard library's format, ahead of the one-line error
// the command prints about the same failure; the daemon logs those
// failures itself, with the stage and stream they hit.
type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().Log(ctx, slog.LevelDebug, "redis client", "detail", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// configFileUsed names the configuration file config.Load reads for the
// --config value path: the file given, else ./config.yaml when present,
// else none (built-in defaults and the environment). It mirrors config.Load's
// rule, so that the start-up line states the file actually read.
func configFileUsed(path string) string {
	if path == "" {
		if _, err := os.Stat("config.yaml"); err != nil {
			return "(none: built-in defaults and environment)"
		}
		path = "config.yaml"
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
