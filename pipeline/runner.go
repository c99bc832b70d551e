package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/assistant-dev/assistant/config"
)

// RunnerOptions configures a Runner.
type RunnerOptions struct {
	Config *config.Config
	Redis  redis.UniversalClient
	Logger *slog.Logger
	// Registry holds the stage definitions; Stages are looked up there.
	Registry *Registry
	// Metrics receives the runner's and the stages' metrics; nil gives a
	// private registry.
	Metrics   prometheus.Registerer
	Resources *Resources
	// Stages names the stages this process runs.
	Stages []string
	// Pools overrides the pool settings of stages by name; stages missing
	// here take theirs from their settings block (stages.<name>).
	// Benchmarks use it to vary the pool shape of one run.
	Pools map[string]config.Pool
	// Replica is the <n> of this runner's consumer names
	// (<hostname>-<pid>-<stage>-<n>); tests running two runners of one
	// stage in one process give them different ones.
	Replica int
}

// Runner runs a set of stages, each as a pool of goroutines between its input
// stream and its outputs, and the services of those stages.
type Runner struct {
	cfg      *config.Config
	rdb      redis.UniversalClient
	log      *slog.Logger
	keys     Keys
	metrics  *runnerMetrics
	stages   []*stageRunner
	services []*serviceRunner
	// routers move the entries of unpartitioned streams into their
	// partitions (router.go); none without partitions.
	routers   []*router
	resources *Resources
	// legacyOut maps an output stream to the old worker's key it is also
	// published to (streams.legacy_publish_*, with the legacy consumer on).
	legacyOut map[string]string
	// groups are all consumer groups the deployment has: those of the stages
	// run here and of every other stage enabled in the configuration, so
	// that trimming respects consumers running in other replicas.
	groups  []groupRef
	running atomic.Bool
}

// groupRef is one consumer group on one stream.
type groupRef struct {
	stream    string // unprefixed
	key       string // prefixed Redis key
	partition int    // the partition key belongs to
	group     string
	start     string // where the group starts when created: "0", or streams.legacy_start on an old key
}

// NewRunner builds the named stages and their services. It fails on an
// unknown stage name or a constructor that fails.
func NewRunner(ctx context.Context, opts RunnerOptions) (*Runner, error) {
	if opts.Config == nil || opts.Redis == nil || opts.Registry == nil {
		return nil, errors.New("runner: config, redis client and stage registry are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	if opts.Resources == nil {
		opts.Resources = NewResources()
	}
	if len(opts.Stages) == 0 {
		return nil, errors.New("runner: no stage to run")
	}
	if err := requireOneSlot(opts.Redis, NewKeys(opts.Config)); err != nil {
		return nil, err
	}
	metrics, err := newRunnerMetrics(opts.Metrics)
	if err != nil {
		return nil, fmt.Errorf("runner: register metrics: %w", err)
	}
	r := &Runner{
		cfg:       opts.Config,
		rdb:       opts.Redis,
		log:       opts.Logger,
		keys:      NewKeys(opts.Config),
		legacyOut: opts.Config.Streams.LegacyOutputs(),
		metrics:   metrics,
		resources: opts.Resources,
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	seen := map[string]bool{}
	for _, name := range opts.Stages {
		if seen[name] {
			continue
		}
		seen[name] = true
		def, ok := opts.Registry.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("runner: unknown stage %q (registered: %v)", name, opts.Registry.Names())
		}
		settings := opts.Config.Stage(name)
		if settings == nil {
			settings = def.Settings() // a configuration built without this registry's sections
		}
		deps := Deps{
			Config:      opts.Config,
			StageConfig: settings,
			Redis:       opts.Redis,
			Keys:        r.keys,
			Logger:      opts.Logger.With("stage", name),
			Metrics:     opts.Metrics,
			Resources:   opts.Resources,
		}
		if def.Reads() {
			pool, ok := opts.Pools[name]
			if !ok {
				pooled, isPooled := settings.(config.Pooled)
				if !isPooled {
					return nil, fmt.Errorf("runner: stage %s: settings %T have no pool (stages.%s)", name, settings, name)
				}
				pool = *pooled.PoolSettings()
			}
			stage, err := def.New(ctx, deps)
			if err != nil {
				return nil, fmt.Errorf("runner: build stage %s: %w", name, err)
			}
			sr := newStageRunner(r, def, stage, pool, fmt.Sprintf("%s-%d-%s-%d", host, os.Getpid(), name, opts.Replica), deps.Logger)
			r.stages = append(r.stages, sr)
		}
		if def.Service != nil {
			svc, err := def.Service(ctx, deps)
			if err != nil {
				return nil, fmt.Errorf("runner: build service of stage %s: %w", name, err)
			}
			r.services = append(r.services, &serviceRunner{name: name, svc: svc, log: deps.Logger})
		}
	}

	// Groups of the whole deployment: the stages run here, plus every
	// registered stage enabled in the configuration.
	for _, def := range opts.Registry.Definitions() {
		if !def.Reads() || !seen[def.Name] && !opts.Config.StageEnabled(def.Name) {
			continue
		}
		r.groups = append(r.groups, r.groupsOf(def)...)
	}
	for _, src := range r.routes() {
		r.routers = append(r.routers, r.newRouter(src, opts.Replica))
		r.groups = append(r.groups, src)
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

// groupsOf lists the consumer groups of a stage: one per input stream and
// partition, partition by partition.
func (r *Runner) groupsOf(def Definition) []groupRef {
	var out []groupRef
	for p := range r.keys.PartitionCount() {
		for _, in := range r.inputsOf(def) {
			out = append(out, groupRef{stream: in, key: r.keys.PartStream(p, in), partition: p, group: def.Name, start: r.startOf(def, in)})
		}
	}
	return out
}

// startOf is where the group of def on stream starts: the old worker's
// keys start at streams.legacy_start ("$" by default: the backlog the old
// worker retained is not processed again when switching over), ours at 0.
func (r *Runner) startOf(def Definition, stream string) string {
	if def.LegacyInput != nil && stream == def.LegacyInput(r.cfg.Streams) && stream != def.Input(r.cfg.Streams) {
		return r.cfg.Streams.LegacyStart
	}
	return "0"
}

// warnIgnoredLegacy logs, at start, every old-worker key that holds entries
// while the legacy consumer is off: they would otherwise be ignored
// without a word.
func (r *Runner) warnIgnoredLegacy(ctx context.Context) {
	if r.cfg.Streams.LegacyConsumerEnabled {
		return
	}
	for _, name := range r.cfg.Streams.LegacyKeys() {
		if name == "" {
			continue
		}
		n, err := r.rdb.XLen(ctx, r.keys.Stream(name)).Result()
		if err != nil || n == 0 {
			continue
		}
		r.log.Warn("an old worker's stream holds entries that are not read: streams.legacy_consumer_enabled (LEGACY_REDIS_CONSUMER_ENABLED) is off",
			"stream", r.keys.Stream(name), "length", n)
	}
}

// Run runs every stage until ctx is cancelled, then stops reading, finishes
// or hands back what is in flight, and returns. It returns nil after a clean
// shutdown within runner.shutdown_timeout.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.ensureGroups(ctx); err != nil {
		return err
	}
	r.warnIgnoredLegacy(ctx)
	g, gctx := errgroup.WithContext(ctx)
	for _, sr := range r.stages {
		g.Go(func() error { return sr.run(gctx) })
	}
	for _, sv := range r.services {
		g.Go(func() error { return sv.run(gctx, r.cfg.Runner.ShutdownTimeout) })
	}
	for _, rt := range r.routers {
		g.Go(func() error { rt.run(gctx); return nil })
	}
	g.Go(func() error { r.maintain(gctx); return nil })
	r.running.Store(true)
	names := make([]string, 0, len(r.stages))
	for _, sr := range r.stages {
		names = append(names, sr.def.Name)
	}
	services := make([]string, 0, len(r.services))
	for _, sv := range r.services {
		services = append(services, sv.name)
	}
	r.log.Info("runner started", "stages", names, "services", services)
	err := g.Wait()
	r.running.Store(false)
	for _, sr := range r.stages {
		if c, ok := sr.stage.(Closer); ok {
			if cerr := c.Close(); cerr != nil {
				r.log.Warn("close stage", "stage", sr.def.Name, "err", cerr)
			}
		}
	}
	for _, sv := range r.services {
		if c, ok := sv.svc.(Closer); ok {
			if cerr := c.Close(); cerr != nil {
				r.log.Warn("close service", "stage", sv.name, "err", cerr)
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
		if err := createGroup(ctx, r.rdb, g.key, g.group, g.start); err != nil {
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

// refreshGauges sets the lag, pending and oldest-pending gauges of every
// input stream and group: summed over the partitions (the oldest pending
// age is the oldest of any partition), and per partition when there are
// several.
func (r *Runner) refreshGauges(ctx context.Context) {
	type sums struct{ lag, pending, age float64 }
	total := map[[2]string]*sums{}
	var order [][2]string
	for _, key := range append(r.inputKeys(), r.routes()...) {
		states, err := groupStates(ctx, r.rdb, key.key)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("read stream state", "stream", key.key, "err", err)
			}
			continue
		}
		for _, st := range states {
			age := 0.0
			if st.oldestPending != "" {
				if id, err := ParseStreamID(st.oldestPending); err == nil {
					age = max(0, time.Since(id.Time()).Seconds())
				}
			}
			if r.keys.Partitioned() && key.partition >= 0 {
				part := strconv.Itoa(key.partition)
				r.metrics.partitionLag.WithLabelValues(key.stream, st.name, part).Set(float64(st.lag))
				r.metrics.partitionPending.WithLabelValues(key.stream, st.name, part).Set(float64(st.pending))
			}
			id := [2]string{key.stream, st.name}
			s, ok := total[id]
			if !ok {
				s = &sums{}
				total[id] = s
				order = append(order, id)
			}
			s.lag += float64(max(st.lag, 0))
			s.pending += float64(st.pending)
			s.age = max(s.age, age)
		}
	}
	for _, id := range order {
		s := total[id]
		r.metrics.lag.WithLabelValues(id[0], id[1]).Set(s.lag)
		r.metrics.pending.WithLabelValues(id[0], id[1]).Set(s.pending)
		r.metrics.oldestPending.WithLabelValues(id[0], id[1]).Set(s.age)
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

// outputOnlyKeys lists the streams the stages run here publish to that no
// stage of the deployment reads: posts.indexed and the legacy output keys
// (streams.legacy_publish_*). Nothing of ours ever trims them by MINID, so
// trimUnread bounds them (streams.unread_max_entries).
func (r *Runner) outputOnlyKeys() []string {
	read := map[string]bool{}
	for _, g := range r.groups {
		read[g.key] = true
	}
	var out []string
	add := func(stream string) {
		for _, key := range r.keys.StreamKeys(stream) {
			if !read[key] && !slices.Contains(out, key) {
				out = append(out, key)
			}
		}
	}
	for _, sr := range r.stages {
		if sr.def.Outputs == nil {
			continue
		}
		for _, o := range sr.def.Outputs(r.cfg.Streams) {
			add(o)
			if legacy, ok := r.legacyOut[o]; ok {
				add(legacy)
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
	for _, in := range append(r.inputKeys(), r.routes()...) {
		if err := trimStream(ctx, r.rdb, in.key); err != nil && ctx.Err() == nil {
			r.log.Warn("trim stream", "stream", in.key, "err", err)
		}
	}
	for _, key := range r.outputOnlyKeys() {
		n, err := trimUnread(ctx, r.rdb, key, r.cfg.Streams.UnreadMaxEntries)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("trim stream", "stream", key, "err", err)
		}
		if n > 0 {
			r.log.Debug("trimmed unread stream", "stream", key, "removed", n, "max_entries", r.cfg.Streams.UnreadMaxEntries)
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
	for _, rt := range r.routers {
		// A router consumer is idle only between reads: its pending
		// entries, if any, are claimed by the others (XAUTOCLAIM).
		if _, err := pruneConsumers(ctx, r.rdb, rt.src.key, RouterGroup, r.cfg.Runner.ConsumerIdleTimeout, map[string]bool{rt.consumer: true}); err != nil && ctx.Err() == nil {
			r.log.Warn("prune consumers", "stream", rt.src.key, "err", err)
		}
	}
}

// ReadyTimeout bounds one /readyz check, so a hung dependency makes the probe
// fail instead of hanging the orchestrator's request.
const ReadyTimeout = 2 * time.Second

// CheckResult is the outcome of one readiness check.
type CheckResult struct {
	Name string // "redis", "stage tag", "service cleanup", ...
	Err  error
}

// Checks runs every readiness check: Redis answers, the runner runs, every
// consumer group exists, every stage and service is running and every
// stage's and service's own dependencies answer. /readyz?verbose lists them.
func (r *Runner) Checks(ctx context.Context) []CheckResult {
	var out []CheckResult
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		out = append(out, CheckResult{"redis", fmt.Errorf("redis unreachable: %w", err)})
	} else {
		out = append(out, CheckResult{"redis", nil})
	}
	var runErr error
	if !r.running.Load() {
		runErr = errors.New("runner not running")
	}
	out = append(out, CheckResult{"runner", runErr})
	for _, g := range r.groups {
		name := "group " + g.group + " on " + g.stream
		states, err := groupStates(ctx, r.rdb, g.key)
		switch {
		case err != nil:
			out = append(out, CheckResult{name, fmt.Errorf("stream %s: %w", g.key, err)})
		case !slices.ContainsFunc(states, func(s groupState) bool { return s.name == g.group }):
			out = append(out, CheckResult{name, fmt.Errorf("consumer group %s missing on %s", g.group, g.key)})
		default:
			out = append(out, CheckResult{name, nil})
		}
	}
	// Stages and services are probed at once, each within a share of the
	// readiness budget: a store that hangs (a blocked database) is then
	// named as the cause instead of eating the budget of every check after
	// it.
	type probe struct {
		kind, name string
		running    bool
		c          any
		paused     error // a stage paused by an outage says so, unprobed
	}
	var probes []probe
	for _, sr := range r.stages {
		probes = append(probes, probe{"stage", sr.def.Name, sr.running.Load(), sr.stage, sr.pauseErr()})
	}
	for _, sv := range r.services {
		probes = append(probes, probe{"service", sv.name, sv.running.Load(), sv.svc, nil})
	}
	results := make([]CheckResult, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		if p.paused != nil {
			results[i] = CheckResult{p.kind + " " + p.name, fmt.Errorf("%s %s: %w", p.kind, p.name, p.paused)}
			continue
		}
		wg.Go(func() {
			results[i] = CheckResult{p.kind + " " + p.name, boundedReady(ctx, p.kind, p.name, p.running, p.c)}
		})
	}
	wg.Wait()
	return append(out, results...)
}

// checkShare is the part of the readiness budget one stage's or service's
// check may take, so the probe still answers with the checks' own errors.
const checkShare = ReadyTimeout * 3 / 4

// boundedReady is componentReady within checkShare; a check that does not
// answer in time is reported as such, by name.
func boundedReady(ctx context.Context, kind, name string, running bool, c any) error {
	ctx, cancel := context.WithTimeout(ctx, checkShare)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- componentReady(kind, name, running, c, ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// A check that honours its context answers now, naming what it probed
	// ("ping postgres: context deadline exceeded"); give it that moment.
	select {
	case err := <-done:
		return err
	case <-time.After(checkGrace):
		return fmt.Errorf("%s %s: its check did not answer within %s (a store that hangs?)", kind, name, checkShare)
	}
}

// checkGrace is how long a check whose context expired may take to say why.
const checkGrace = ReadyTimeout / 8

func componentReady(kind, name string, running bool, c any, ctx context.Context) error {
	if !running {
		return fmt.Errorf("%s %s not running", kind, name)
	}
	if ch, ok := c.(Checker); ok {
		if err := ch.Check(ctx); err != nil {
			return fmt.Errorf("%s %s: %w", kind, name, err)
		}
	}
	return nil
}

// Ready reports whether the runner can do its work: the first failing check
// of Checks, or nil.
func (r *Runner) Ready(ctx context.Context) error {
	for _, c := range r.Checks(ctx) {
		if c.Err != nil {
			return c.Err
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
