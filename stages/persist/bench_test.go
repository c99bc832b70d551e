package persist

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/store/postgres"
)

// BenchmarkPersist writes fresh posts through the stage and, in the same
// loop, the same kind of rows through a raw unconditional multi-row UPSERT,
// and reports both throughputs and their ratio. ns/op covers one round of
// both plus building the input; the events/s figures time the writes only.
func BenchmarkPersist(b *testing.B) {
	ctx := context.Background()
	dbURL := testenv.Postgres(b)
	if err := postgres.MigrateUp(ctx, dbURL); err != nil {
		b.Fatalf("migrate: %v", err)
	}
	runner, err := newBenchRunner(ctx, dbURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer runner.Close()

	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			if _, _, err := runner.Round(ctx, size); err != nil { // warm up
				b.Fatal(err)
			}
			var stageTime, rawTime time.Duration
			events := 0
			for b.Loop() {
				st, rt, err := runner.Round(ctx, size)
				if err != nil {
					b.Fatal(err)
				}
				stageTime += st
				rawTime += rt
				events += size
			}
			stageRate := float64(events) / stageTime.Seconds()
			rawRate := float64(events) / rawTime.Seconds()
			b.ReportMetric(stageRate, "stage_events/s")
			b.ReportMetric(rawRate, "raw_events/s")
			b.ReportMetric(stageRate/rawRate, "stage/raw")
		})
	}
}

func TestBench(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Bench(ctx, testenv.DatabaseURL(), []int{1, 10}, 20, []string{"первый пост", "второй пост"}, &out); err != nil {
		t.Fatalf("bench: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "stage/raw") {
		t.Fatalf("bench output:\n%s", out.String())
	}
	if err := Bench(ctx, testenv.DatabaseURL(), []int{0}, 20, nil, &out); err == nil {
		t.Error("a batch size of 0 was accepted")
	}
}

func TestWithSearchPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s&sslmode=disable"},
		{"host=h dbname=db", "host=h dbname=db search_path=s"},
	}
	for _, tt := range tests {
		got, err := withSearchPath(tt.in, "s")
		if err != nil || got != tt.want {
			t.Errorf("withSearchPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestEntryTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want time.Time
	}{
		{"1740830400000-0", time.UnixMilli(1740830400000).UTC()},
		{"1-0", time.UnixMilli(1).UTC()},
		{"garbage", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		if got := entryTime(tt.id); !got.Equal(tt.want) {
			t.Errorf("entryTime(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
