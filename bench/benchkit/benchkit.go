// Package benchkit holds what the throughput benchmarks share (`assistant
// bench ...`: the runner's and the pipeline's in package bench, each
// stage's own in its package): peak memory, a temporary schema, a corpus
// repeated to size, Redis keys removed afterwards. It imports no stage.
package benchkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
)

// ResetPeakRSS resets the kernel's high-water mark of this process's RSS
// (writing 5 to clear_refs), so each run reports its own peak.
func ResetPeakRSS() {
	runtime.GC()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// PeakRSS reads VmHWM from /proc/self/status, in KiB.
func PeakRSS() int64 { return ProcStatusKiB("VmHWM:") }

// ProcStatusKiB reads a kB field of /proc/self/status.
func ProcStatusKiB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kib
		}
	}
	return 0
}

// DiscardLogger logs nothing.
func DiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// SleepUntil waits until t or until ctx ends.
func SleepUntil(ctx context.Context, t time.Time) {
	if d := time.Until(t); d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
}

// DeleteKeys removes every Redis key under prefix.
func DeleteKeys(ctx context.Context, rdb *redis.Client, prefix string) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

// LoadCorpus reads the corpus and repeats it with distinct message ids (so
// distinct post ids) until n posts are there.
func LoadCorpus(ctx context.Context, path string, n int) ([]*events.PostParsed, error) {
	var base []*events.PostParsed
	_, err := ingest.ReadFile(ctx, path, ingest.FormatJSONL, func(ev *events.PostParsed) error {
		base = append(base, ev)
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("read corpus %s: %w", path, err)
	}
	if len(base) == 0 {
		return nil, errors.New("corpus has no posts")
	}
	out := make([]*events.PostParsed, 0, n)
	for round := int64(0); len(out) < n; round++ {
		for _, p := range base {
			if len(out) == n {
				break
			}
			cp := *p
			cp.TGMessageID = p.TGMessageID + round*10_000_000
			cp.PostID = ingest.PostID(cp.ChannelID, cp.TGMessageID)
			cp.IdempotencyKey = cp.ParsedIdempotencyKey()
			out = append(out, &cp)
		}
	}
	return out, nil
}

// TempSchema creates a schema for the benchmark and returns a URL whose
// connections use it, and a function dropping it.
func TempSchema(ctx context.Context, dbURL string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect %s: %w", config.RedactURL(dbURL), err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("assistant_bench_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() {
		ctx := context.WithoutCancel(ctx)
		if c, err := pgx.Connect(ctx, dbURL); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			_ = c.Close(ctx)
		}
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
