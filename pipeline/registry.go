package pipeline

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/config"
)

// Definition describes a stage completely, so that adding one touches nothing
// but its own package and the list in stages/all: configuration loading,
// `run --stages`, auto-migration, `assistant streams`, readiness and the e2e
// harness all read it from the Registry.
//
// A stage reads a stream (Input and New), runs periodic work that reads no
// stream (Service), or both.
type Definition struct {
	// Name is the stage name, used in config (stages.<name>), in --stages,
	// as the consumer-group name and as the metrics label. Lower case
	// letters, digits and dashes.
	Name string
	// Input returns the (unprefixed) stream the stage consumes; nil for a
	// service-only stage.
	Input func(config.Streams) string
	// LegacyInput returns the old worker's stream key read as well when
	// streams.legacy_consumer_enabled is set; nil or "" for none.
	LegacyInput func(config.Streams) string
	// Outputs returns the (unprefixed) streams the stage publishes to; nil
	// for a sink.
	Outputs func(config.Streams) []string
	// Batch asks for whole batches in one Handle call (persist uses one
	// multi-row statement per batch). Otherwise the runner hands each worker
	// one message per call, so slow calls do not hold others back.
	Batch bool
	// Config returns a pointer to the stage's settings struct filled with
	// its defaults: the block stages.<name> is decoded into it, environment
	// overrides (ASSISTANT_STAGES_<NAME>_<KEY>) applied and its
	// config.SectionValidator run. The struct embeds config.Pool (a stage
	// with an Input) or config.Switch (service-only). nil means a bare
	// config.Pool (or config.Switch) with the defaults of DefaultPool.
	Config func() any
	// Renamed maps keys the stage's block no longer has (relative to
	// stages.<name>) to the full keys that replaced them; a file or
	// environment that still sets one works, with a deprecation warning
	// (config.Section.Renamed).
	Renamed map[string]string
	// Needs lists what the stage requires of the process: the daemon
	// applies migrations before building a stage that needs them, and
	// builds shared clients (an embedder, a vector store) only for stages
	// that need them.
	Needs []Need
	// New builds the stage. It runs once per process, before any entry is
	// read. Required with Input.
	New func(ctx context.Context, deps Deps) (Stage, error)
	// Service builds the stage's service, if it has one. It runs once per
	// process that runs the stage, beside the stage's readers.
	Service func(ctx context.Context, deps Deps) (Service, error)
	// Commands returns the stage's own operator commands, mounted at the
	// root of the command line (`assistant cleanup run`, `assistant
	// reindex`); nil for none. Their names must not clash with another
	// command's.
	Commands CommandFunc
	// Bench returns the stage's benchmark, mounted as `assistant bench
	// <name>`; nil for none. The command's Use is replaced by the stage's
	// name.
	Bench func(env CommandEnv) *cobra.Command
}

// Reads reports whether the stage consumes a stream.
func (d Definition) Reads() bool { return d.Input != nil }

// Settings returns a fresh settings struct with the stage's defaults.
func (d Definition) Settings() any {
	if d.Config != nil {
		return d.Config()
	}
	if d.Reads() {
		p := DefaultPool
		return &p
	}
	return &config.Switch{Enabled: true}
}

// DefaultPool is the pool of a stage whose Definition has no Config.
var DefaultPool = config.Pool{Enabled: true, Workers: 1, BatchSize: 32, MaxInflight: 256}

// Need is something a stage requires of the process.
type Need string

// Needs a stage may declare.
const (
	NeedPostgres    Need = "postgres"     // the shared PostgreSQL pool
	NeedMigrations  Need = "migrations"   // the schema migrated (database.auto_migrate)
	NeedVectorStore Need = "vector_store" // the configured vector store
	NeedGraphStore  Need = "graph_store"  // the configured graph store
	NeedEmbedder    Need = "embedder"     // the configured embedder (ai.embedder)
	NeedTagger      Need = "tagger"       // the configured tagger chain (ai.tagger)
)

// Service is long-running work that reads no stream: a periodic sweep, a
// lease holder, a live source. The runner runs it in the process's errgroup
// beside the stage readers and cancels ctx on shutdown; Run then returns
// within runner.shutdown_timeout. A non-nil error other than ctx's stops the
// whole process, so Run handles its transient failures itself (log, wait,
// try again) and returns only what it cannot recover from. A service that
// also implements Checker reports its readiness in /readyz.
type Service interface {
	Run(ctx context.Context) error
}

// ServiceFunc adapts a function to Service.
type ServiceFunc func(ctx context.Context) error

// Run calls f.
func (f ServiceFunc) Run(ctx context.Context) error { return f(ctx) }

// Registry is the set of stages built into a program. main builds the
// production one (stages/all); tests build their own, so nothing is shared
// through package state.
type Registry struct {
	defs  []Definition
	index map[string]int
}

var stageName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// NewRegistry returns a registry of defs, in that order.
func NewRegistry(defs ...Definition) (*Registry, error) {
	r := &Registry{index: map[string]int{}}
	for _, d := range defs {
		if err := r.Add(d); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// MustRegistry is NewRegistry for lists fixed at compile time (main, tests):
// an invalid definition is a programming error.
func MustRegistry(defs ...Definition) *Registry {
	r, err := NewRegistry(defs...)
	if err != nil {
		panic(err)
	}
	return r
}

// Add appends a definition after checking it is complete and unique.
func (r *Registry) Add(def Definition) error {
	if r.index == nil {
		r.index = map[string]int{}
	}
	if !stageName.MatchString(def.Name) {
		return fmt.Errorf("pipeline: stage name %q: want lower-case letters, digits and dashes", def.Name)
	}
	if _, dup := r.index[def.Name]; dup {
		return fmt.Errorf("pipeline: stage %s defined twice", def.Name)
	}
	var problems []error
	switch {
	case def.Input != nil && def.New == nil:
		problems = append(problems, errors.New("an Input needs New"))
	case def.Input == nil && def.New != nil:
		problems = append(problems, errors.New("New needs an Input"))
	case def.Input == nil && def.Service == nil:
		problems = append(problems, errors.New("neither an Input nor a Service"))
	}
	if def.Input == nil && (def.Batch || def.LegacyInput != nil) {
		problems = append(problems, errors.New("Batch and LegacyInput need an Input"))
	}
	settings := def.Settings()
	if _, ok := settings.(config.Toggle); !ok {
		problems = append(problems, fmt.Errorf("settings %T embed neither config.Pool nor config.Switch", settings))
	}
	if _, ok := settings.(config.Pooled); def.Reads() && !ok {
		problems = append(problems, fmt.Errorf("settings %T of a stage with an Input must embed config.Pool", settings))
	}
	if err := errors.Join(problems...); err != nil {
		return fmt.Errorf("pipeline: incomplete stage definition %s: %w", def.Name, err)
	}
	r.index[def.Name] = len(r.defs)
	r.defs = append(r.defs, def)
	return nil
}

// Lookup returns the definition of name.
func (r *Registry) Lookup(name string) (Definition, bool) {
	i, ok := r.index[name]
	if !ok {
		return Definition{}, false
	}
	return r.defs[i], true
}

// Names lists the stage names in registration (pipeline) order.
func (r *Registry) Names() []string {
	names := make([]string, len(r.defs))
	for i, d := range r.defs {
		names[i] = d.Name
	}
	return names
}

// Definitions lists the definitions in registration order.
func (r *Registry) Definitions() []Definition { return slices.Clone(r.defs) }

// Sections are the stages' settings blocks, for config.Load and
// config.Default.
func (r *Registry) Sections() []config.Section {
	out := make([]config.Section, len(r.defs))
	for i, d := range r.defs {
		out[i] = config.Section{Name: d.Name, New: d.Settings, Renamed: d.Renamed}
	}
	return out
}

// LoadConfig loads the configuration with this registry's stage sections.
func (r *Registry) LoadConfig(path string) (config.Config, error) {
	return config.Load(path, r.Sections()...)
}

// DefaultConfig is config.Default with this registry's stage sections.
func (r *Registry) DefaultConfig() config.Config { return config.Default(r.Sections()...) }

// Needs reports whether any of the named stages declares need.
func (r *Registry) Needs(names []string, need Need) bool {
	for _, n := range names {
		if d, ok := r.Lookup(n); ok && slices.Contains(d.Needs, need) {
			return true
		}
	}
	return false
}

// Streams lists the (unprefixed) streams the stages read and write, in
// pipeline order, each once; the old worker's keys are included when the
// legacy consumer is enabled.
func (r *Registry) Streams(s config.Streams) []string {
	var out []string
	add := func(name string) {
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for _, d := range r.defs {
		if d.Input != nil {
			add(d.Input(s))
		}
		if d.Outputs != nil {
			for _, o := range d.Outputs(s) {
				add(o)
			}
		}
	}
	if s.LegacyConsumerEnabled {
		for _, d := range r.defs {
			if d.LegacyInput != nil {
				add(d.LegacyInput(s))
			}
		}
	}
	return out
}

// Readers lists the stages that consume stream (their consumer groups live
// there), in registration order.
func (r *Registry) Readers(s config.Streams, stream string) []string {
	var out []string
	for _, d := range r.defs {
		if d.Input != nil && d.Input(s) == stream {
			out = append(out, d.Name)
		}
	}
	return out
}

// ConfigNeeds tells the configuration what the named stages need, so that
// validation requires the settings they will use (a provider's key) and no
// others.
func (r *Registry) ConfigNeeds(names []string) config.Needs {
	return config.Needs{
		Stages:   names,
		Postgres: r.Needs(names, NeedPostgres) || r.Needs(names, NeedMigrations),
		Tagger:   r.Needs(names, NeedTagger),
		Embedder: r.Needs(names, NeedEmbedder),
	}
}

// InspectConfig is config.Inspect with this registry's stage sections.
func (r *Registry) InspectConfig(path string) (config.Report, error) {
	return config.Inspect(path, r.Sections()...)
}
