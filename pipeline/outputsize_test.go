package pipeline_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// doublingStage publishes each input with its Pad doubled: an output larger
// than its input, as tag's posts.tagged (text plus tags) is larger than its
// posts.parsed.
type doublingStage struct{ out string }

func (s doublingStage) Handle(_ context.Context, batch []*pipeline.Message) error {
	for _, m := range batch {
		var ev testEvent
		if err := m.Decode(&ev); err != nil {
			m.Fail(err)
			continue
		}
		ev.Pad += ev.Pad
		if err := m.Publish(s.out, &ev); err != nil {
			m.Fail(err)
		}
	}
	return nil
}

func doubled(t *testing.T, ev testEvent) int {
	t.Helper()
	ev.Pad += ev.Pad
	values, err := events.Encode(&ev)
	if err != nil {
		t.Fatal(err)
	}
	return len(events.DataField) + len(values[events.DataField].(string))
}

// TestRunnerFailsTheInputWhoseOutputIsTooLarge: an output larger than
// runner.max_entry_bytes is not published (the next stage would refuse it
// permanently, and replaying it could not help); the input entry goes to its
// own DLQ as permanent after one attempt, with a reason naming the output
// stream and both sizes. An output of exactly the limit is published.
func TestRunnerFailsTheInputWhoseOutputIsTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 4096
	tests := []struct {
		name      string
		pad       int
		atLimit   bool // set max_entry_bytes to the output's exact size
		published bool
	}{
		{"small output", 100, false, true},
		{"output larger than its input, within the limit", 1900, false, true},
		{"output of exactly the limit", 1900, true, true},
		{"input within the limit, output over it", 2500, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := testenv.Redis(t)
			cfg := testenv.Config(t, prefix, "")
			ev := testEvent{N: 1, Pad: strings.Repeat("x", tt.pad)}
			ev.SchemaVersion, ev.TraceID = events.SchemaV1, "trace-1"
			outSize := doubled(t, ev)
			cfg.Runner.MaxEntryBytes = limit
			if tt.atLimit {
				cfg.Runner.MaxEntryBytes = outSize
			}
			def := pipeline.Definition{
				Name:    "test-doubling",
				Input:   func(s config.Streams) string { return s.Parsed },
				Outputs: func(s config.Streams) []string { return []string{s.Tagged} },
				New: func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
					return doublingStage{out: deps.Config.Streams.Tagged}, nil
				},
			}
			reg := prometheus.NewRegistry()
			r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
				Config: cfg, Redis: rdb, Registry: pipeline.MustRegistry(def), Metrics: reg,
				Stages: []string{def.Name},
				Pools:  map[string]config.Pool{def.Name: {Enabled: true, Workers: 1, BatchSize: 10, MaxInflight: 10}},
			})
			if err != nil {
				t.Fatal(err)
			}
			values, err := events.Encode(&ev)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			keys := pipeline.NewKeys(cfg)
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.Stream(cfg.Streams.Parsed), Values: values}).Err(); err != nil {
				t.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- r.Run(runCtx) }()
			t.Cleanup(func() { cancel(); <-done })

			testenv.WaitFor(t, "the entry handled", 10*time.Second, func() bool {
				p, err := rdb.XPending(ctx, keys.Stream(cfg.Streams.Parsed), def.Name).Result()
				out, _ := rdb.XLen(ctx, keys.Stream(cfg.Streams.Tagged)).Result()
				dlq, _ := rdb.XLen(ctx, keys.DLQ(cfg.Streams.Parsed)).Result()
				return err == nil && p.Count == 0 && out+dlq == 1
			})
			out, err := rdb.XLen(ctx, keys.Stream(cfg.Streams.Tagged)).Result()
			if err != nil {
				t.Fatal(err)
			}
			dlq, err := rdb.XRange(ctx, keys.DLQ(cfg.Streams.Parsed), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			if tt.published {
				if out != 1 || len(dlq) != 0 {
					t.Fatalf("output of %d bytes (limit %d): %d published, %d dead-lettered; want it published",
						outSize, cfg.Runner.MaxEntryBytes, out, len(dlq))
				}
				return
			}
			if out != 0 || len(dlq) != 1 {
				t.Fatalf("output of %d bytes (limit %d): %d published, %d dead-lettered; want the input dead-lettered",
					outSize, cfg.Runner.MaxEntryBytes, out, len(dlq))
			}
			d := pipeline.DecodeDLQEntry(dlq[0])
			if d.ErrorClass != pipeline.ClassPermanent || d.Attempts != 1 || d.Stream != cfg.Streams.Parsed {
				t.Errorf("DLQ entry class %q attempts %d stream %q, want permanent after 1 attempt from %s",
					d.ErrorClass, d.Attempts, d.Stream, cfg.Streams.Parsed)
			}
			want := "output " + cfg.Streams.Tagged + " entry of " + strconv.Itoa(outSize) + " bytes exceeds runner.max_entry_bytes " + strconv.Itoa(limit)
			if d.Error != want {
				t.Errorf("DLQ reason %q, want %q", d.Error, want)
			}
			if d.Data[events.DataField] != values[events.DataField] {
				t.Errorf("DLQ holds %q, want the input entry", d.Data)
			}
		})
	}
}
