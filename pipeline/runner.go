package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/assistant-dev/assistant/config"
)

// RunnerOptions configures a Runner.
type RunnerOptions struct {
	Config    *config.Config
	Redis     redis.UniversalClient
	Logger    *slog.Logger
	Registry  *prometheus.Registry
	Resources *Resources
	// Stages names the stages this process runs (registered names).
	Stages []string
	// Pools overrides the pool settings of stages by name; stages missing
	// here take theirs from the configuration (stages.<name>). Tests and
	// benchmarks use it for stages the configuration does not know.
	Pools map[string]config.Pool
}

// Runner runs a set of stages, each as a pool of goroutines between its input
// stream and its outputs.
type Runner struct {
	cfg       *config.Config
	rdb       redis.UniversalClient
	log       *slog.Logger
	keys      Keys
	metrics   *runnerMetrics
	stages    []*stageRunner
	resources *Resources
	// groups are all consumer groups the deployment has: those of the stages
	// run here and of every other stage enabled in the configuration, so
	// that trimming respects consumers running in other replicas.
	groups  []groupRef
	running atomic.Bool
}

// groupRef is one consumer group on one stream.
type groupRef struct {
	stream string // unprefixed
	key    string // prefixed Redis key
	group  string
}

// NewRunner builds the named stages. It fails on an unknown stage name or a
// stage whose constructor fails.
func NewRunner(ctx context.Context, opts RunnerOptions) (*Runner, error) {
	if opts.Config == nil || opts.Redis == nil {
		return nil, errors.New("runner: config and redis client are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Resources == nil {
		opts.Resources = NewResources()
	}
	if len(opts.Stages) == 0 {
		return nil, errors.New("runner: no stage to run")
	}
	metrics, err := newRunnerMetrics(opts.Registry)
	if err != nil {
		return nil, fmt.Errorf("runner: register metrics: %w", err)
	}
	r := &Runner{
		cfg:       opts.Config,
		rdb:       opts.Redis,
		log:       opts.Logger,
		keys:      NewKeys(opts.Config),
		metrics:   metrics,
		resources: opts.Resources,
	}
	pools := opts.Config.StagePools()
	for name, p := range opts.Pools {
		pools[name] = p
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	deps := Deps{
		Config:    opts.Config,
		Redis:     opts.Redis,
		Keys:      r.keys,
		Metrics:   opts.Registry,
		Resources: opts.Resources,
	}
	seen := map[string]bool{}
	for _, name := range opts.Stages {
		if seen[name] {
			continue
		}
		seen[name] = true
		def, ok := Lookup(name)
		if !ok {
			return nil, fmt.Errorf("runner: unknown stage %q (registered: %v)", name, Registered())
		}
		pool, ok := pools[name]
		if !ok {
			return nil, fmt.Errorf("runner: stage %q has no pool settings (stages.%s)", name, name)
		}
		deps.Logger = opts.Logger.With("stage", name)
		stage, err := def.New(ctx, deps)
		if err != nil {
			return nil, fmt.Errorf("runner: build stage %s: %w", name, err)
		}
		sr := newStageRunner(r, def, stage, pool, fmt.Sprintf("%s-%d-%s-0", host, os.Getpid(), name), deps.Logger)
		r.stages = append(r.stages, sr)
	}

	// Groups of the whole deployment: the stages run here, plus every
	// registered stage enabled in the configuration.
	for _, name := range Registered() {
		p, known := pools[name]
		if !seen[name] && !(known && p.Enabled) {
			continue
		}
		def, _ := Lookup(name)
		for _, in := range r.inputsOf(def) {
			r.groups = append(r.groups, groupRef{stream: in, key: r.keys.Stream(in), group: name})
		}
	}
	return r, nil
}

// inputsOf lists the unprefixed streams a stage reads: its input, and the old
// worker's key when the legacy consumer is enabled.
func (r *Runner) inputsOf(def Definition) []string {
	inputs := []string{def.Input(r.cfg.Streams)}
	if r.cfg.Streams.LegacyConsumerEnabled && def.LegacyInput != nil {
		if legacy := def.LegacyInput(r.cfg.Streams); legacy != "" && legacy != inputs[0] {
			inputs = append(inputs, legacy)
		}
	}
	return inputs
}

// Run runs every stage until ctx is cancelled, then stops reading, finishes
// or hands back what is in flight, and returns. It returns nil after a clean
// shutdown within runner.shutdown_timeout.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.ensureGroups(ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, sr := range r.stages {
		g.Go(func() error { return sr.run(gctx) })
	}
	g.Go(func() error { r.maintain(gctx); return nil })
	r.running.Store(true)
	names := make([]string, 0, len(r.stages))
	for _, sr := range r.stages {
		names = append(names, sr.def.Name)
	}
	r.log.Info("runner started", "stages", names)
	err := g.Wait()
	r.running.Store(false)
	for _, sr := range r.stages {
		if c, ok := sr.stage.(Closer); ok {
			if cerr := c.Close(); cerr != nil {
				r.log.Warn("close stage", "stage", sr.def.Name, "err", cerr)
			}
		}
	}
	r.log.Info("runner stopped", "err", err)
	return err
}

// ensureGroups creates every consumer group of the deployment (MKSTREAM,
// starting at 0 so nothing already in the stream is skipped).
func (r *Runner) ensureGroups(ctx context.Context) error {
	for _, g := range r.groups {
		if err := createGroup(ctx, r.rdb, g.key, g.group); err != nil {
			return fmt.Errorf("create group %s on %s: %w", g.group, g.key, err)
		}
	}
	return nil
}

// maintain runs the periodic housekeeping: gauges, trimming and the removal
// of dead consumers.
func (r *Runner) maintain(ctx context.Context) {
	metricsTick := time.NewTicker(r.cfg.Runner.MetricsInterval)
	trimTick := time.NewTicker(r.cfg.Runner.TrimInterval)
	defer metricsTick.Stop()
	defer trimTick.Stop()
	r.refreshGauges(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-metricsTick.C:
			r.refreshGauges(ctx)
		case <-trimTick.C:
			r.trimAndPrune(ctx)
		}
	}
}

func (r *Runner) refreshGauges(ctx context.Context) {
	for _, key := range r.inputKeys() {
		states, err := groupStates(ctx, r.rdb, key.key)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("read stream state", "stream", key.key, "err", err)
			}
			continue
		}
		for _, st := range states {
			r.metrics.lag.WithLabelValues(key.stream, st.name).Set(float64(st.lag))
			r.metrics.pending.WithLabelValues(key.stream, st.name).Set(float64(st.pending))
			age := 0.0
			if st.oldestPending != "" {
				if ms, ok := idMillis(st.oldestPending); ok {
					age = max(0, time.Since(time.UnixMilli(ms)).Seconds())
				}
			}
			r.metrics.oldestPending.WithLabelValues(key.stream, st.name).Set(age)
		}
	}
}

// inputKeys lists the distinct input streams of the stages run here.
func (r *Runner) inputKeys() []groupRef {
	var out []groupRef
	for _, sr := range r.stages {
		for _, in := range sr.inputs {
			if !slices.ContainsFunc(out, func(g groupRef) bool { return g.key == in.key }) {
				out = append(out, in)
			}
		}
	}
	return out
}

func (r *Runner) trimAndPrune(ctx context.Context) {
	own := map[string]bool{}
	for _, sr := range r.stages {
		own[sr.consumer] = true
	}
	for _, in := range r.inputKeys() {
		if err := trimStream(ctx, r.rdb, in.key); err != nil && ctx.Err() == nil {
			r.log.Warn("trim stream", "stream", in.key, "err", err)
		}
	}
	for _, sr := range r.stages {
		for _, in := range sr.inputs {
			n, err := pruneConsumers(ctx, r.rdb, in.key, sr.def.Name, r.cfg.Runner.ConsumerIdleTimeout, own)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("prune consumers", "stream", in.key, "err", err)
			}
			if n > 0 {
				r.log.Info("deleted idle consumers", "stream", in.key, "group", sr.def.Name, "count", n)
			}
		}
	}
}

// Ready reports whether the runner can do its work: Redis answers, every
// consumer group exists, every stage is running and every stage's own
// dependencies answer. The error says what is wrong.
func (r *Runner) Ready(ctx context.Context) error {
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	if !r.running.Load() {
		return errors.New("runner not running")
	}
	for _, g := range r.groups {
		states, err := groupStates(ctx, r.rdb, g.key)
		if err != nil {
			return fmt.Errorf("stream %s: %w", g.key, err)
		}
		if !slices.ContainsFunc(states, func(s groupState) bool { return s.name == g.group }) {
			return fmt.Errorf("consumer group %s missing on %s", g.group, g.key)
		}
	}
	for _, sr := range r.stages {
		if !sr.running.Load() {
			return fmt.Errorf("stage %s not running", sr.def.Name)
		}
		if c, ok := sr.stage.(Checker); ok {
			if err := c.Check(ctx); err != nil {
				return fmt.Errorf("stage %s: %w", sr.def.Name, err)
			}
		}
	}
	return nil
}

// shutdownContext returns a context for handlers that outlives the run
// context by the shutdown timeout, so in-flight work can finish.
func shutdownContext(run context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(run))
	stop := context.AfterFunc(run, func() { time.AfterFunc(timeout, cancel) })
	return hctx, func() { stop(); cancel() }
}
