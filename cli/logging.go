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
		return newUniqueAttrsHandler(slog.NewTextHandler(w, opts))
	}
	return newUniqueAttrsHandler(slog.NewJSONHandler(w, opts))
}

// uniqueAttrsHandler writes each attribute key once per line. slog's
// built-in handlers write every attribute they are given, so a logger built
// with With("stage", s) by two layers (the runner, then the stage itself)
// printed "stage":"cleanup","stage":"cleanup", which JSON parsers take
// differently (first or last wins, or an error). Attributes are collected
// here and handed on once, deduplicated, the last value of a key winning in
// the place of its first. A group ends the collection: what came before is
// handed to the inner handler, and keys inside the group are checked
// separately.
type uniqueAttrsHandler struct {
	inner slog.Handler
	attrs []slog.Attr // collected since the last group
}

func newUniqueAttrsHandler(inner slog.Handler) slog.Handler {
	return &uniqueAttrsHandler{inner: inner}
}

func (h *uniqueAttrsHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *uniqueAttrsHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &uniqueAttrsHandler{inner: h.inner, attrs: append(slices.Clip(h.attrs), attrs...)}
}

func (h *uniqueAttrsHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	inner := h.inner
	if len(h.attrs) > 0 {
		inner = inner.WithAttrs(uniqueAttrs(h.attrs))
	}
	return &uniqueAttrsHandler{inner: inner.WithGroup(name)}
}

func (h *uniqueAttrsHandler) Handle(ctx context.Context, r slog.Record) error {
	if len(h.attrs) == 0 && r.NumAttrs() < 2 {
		return h.inner.Handle(ctx, r)
	}
	all := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		all = append(all, a)
		return true
	})
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(uniqueAttrs(all)...)
	return h.inner.Handle(ctx, out)
}

// uniqueAttrs keeps one attribute per key: the last value, at the first
// position. Attributes without a key (inlined groups) are kept as they are.
func uniqueAttrs(attrs []slog.Attr) []slog.Attr {
	pos := make(map[string]int, len(attrs))
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if a.Key == "" {
			out = append(out, a)
			continue
		}
		if i, ok := pos[a.Key]; ok {
			out[i] = a
			continue
		}
		pos[a.Key] = len(out)
		out = append(out, a)
	}
	return out
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

// atLeast is logger without the records below level.
func atLeast(logger *slog.Logger, level slog.Level) *slog.Logger {
	return slog.New(minLevelHandler{Handler: logger.Handler(), min: level})
}

// minLevelHandler drops the records below min.
type minLevelHandler struct {
	slog.Handler
	min slog.Level
}

func (h minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{Handler: h.Handler.WithGroup(name), min: h.min}
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
