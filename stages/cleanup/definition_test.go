package cleanup_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/cleanup"
	"github.com/assistant-dev/assistant/stages/index"
)

// TestDefinitionFromDeps builds the consumer and the service from the
// daemon's dependencies, as the runner does: both share one Cleaner (one
// set of metrics) and the stores stages.index names, and the service sweeps.
func TestDefinitionFromDeps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := pipeline.MustRegistry(index.Definition(), cleanup.Definition())
	cfg := reg.DefaultConfig()
	cfg.Database.URL = e.dbURL
	cfg.Redis.KeyPrefix = e.prefix
	res := pipeline.NewResources()
	t.Cleanup(res.Close)
	deps := pipeline.Deps{Config: &cfg, StageConfig: cfg.Stage(cleanup.Name), Redis: e.rdb,
		Keys: pipeline.NewKeys(&cfg), Logger: quietLogger(), Metrics: e.reg, Resources: res}
	def, _ := reg.Lookup(cleanup.Name)
	if _, err := def.New(context.Background(), deps); err != nil {
		t.Fatal(err)
	}
	svc, err := def.Service(context.Background(), deps)
	if err != nil {
		t.Fatal(err)
	}
	f := e.seed(t, 60)
	swept, err := svc.(*cleanup.Service).Once(e.ctx)
	if err != nil || !swept {
		t.Fatalf("once: %v %v", swept, err)
	}
	compareState(t, e.snapshot(t, e.pgVectorIDs(t)), e.want(f))
	if v := e.metric(t, "cleanup_deleted_total", "store", "postgres"); v != 20 {
		t.Errorf("cleanup_deleted_total{store=postgres} = %v, want 20", v)
	}
	if v := e.metric(t, "cleanup_last_success_timestamp_seconds", "", ""); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("cleanup_last_success_timestamp_seconds = %v", v)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		tweak func(*cleanup.Config)
		want  string
	}{
		{"defaults", func(*cleanup.Config) {}, ""},
		{"zero interval", func(c *cleanup.Config) { c.Interval = 0 }, "interval"},
		{"zero batch", func(c *cleanup.Config) { c.SweepBatch = 0 }, "sweep_batch"},
		{"short lease", func(c *cleanup.Config) { c.LeaseTTL = 100 * time.Millisecond }, "lease_ttl"},
		{"no tombstone ttl", func(c *cleanup.Config) { c.TombstoneTTL = 0 }, "tombstone_ttl"},
		{"negative pause", func(c *cleanup.Config) { c.Pause = -time.Second }, "pause"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cleanup.DefaultConfig()
			tc.tweak(c)
			p := config.NewProblems("stages.cleanup")
			c.Validate(p)
			err := p.Err()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate = %v, want a problem with %q", err, tc.want)
			}
		})
	}
}
