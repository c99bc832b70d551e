package config

import (
	"fmt"
	"reflect"
	"slices"
)

// Section describes one stage's settings block to the loader: the block
// stages.<Name> of the file is decoded into the struct New returns. The
// config package names no stage; the stage registry hands Load the sections
// of the stages built into the binary (the way a Caddy module or a Benthos
// plugin carries its own config spec).
type Section struct {
	// Name is the stage name, the key under stages:.
	Name string
	// New returns a pointer to the stage's settings struct, filled with its
	// defaults. The struct embeds Pool (stages that read a stream) or Switch
	// (service-only stages) with `mapstructure:",squash" yaml:",inline"`,
	// and may implement SectionValidator.
	New func() any
	// Renamed maps keys this block no longer has (relative to the block,
	// "vector_store") to the full key that replaced them
	// ("stores.vector.backend"). A renamed key still set in the file or
	// the environment sets its replacement, with a deprecation warning.
	Renamed map[string]string
}

// SectionValidator is implemented by a stage's settings struct that has
// rules of its own. Keys are given relative to the section ("min_chars");
// the loader prefixes them with stages.<name>.
type SectionValidator interface {
	Validate(p *Problems)
}

// Toggle is implemented by every stage section through the embedded Pool or
// Switch: whether the stage exists in this deployment.
type Toggle interface {
	EnabledFlag() *bool
}

// Pooled is implemented by the sections of stages that read a stream,
// through the embedded Pool.
type Pooled interface {
	PoolSettings() *Pool
}

// EnabledFlag makes Pool a Toggle.
func (p *Pool) EnabledFlag() *bool { return &p.Enabled }

// PoolSettings makes Pool (and every struct embedding it) Pooled.
func (p *Pool) PoolSettings() *Pool { return p }

// Switch is the settings of a service-only stage that reads no stream and
// so has no pool: only whether it exists in this deployment.
type Switch struct {
	Enabled bool `mapstructure:"enabled" yaml:"enabled"`
}

// EnabledFlag makes Switch a Toggle.
func (s *Switch) EnabledFlag() *bool { return &s.Enabled }

// StageSections holds each stage's decoded settings, in the order of the
// sections given to Load or Default. Values are pointers to the stage
// packages' own structs.
type StageSections struct {
	names  []string
	byName map[string]any
}

// Names lists the stage sections in order.
func (s StageSections) Names() []string { return slices.Clone(s.names) }

// Get returns the settings of a stage (a pointer to its struct), or nil.
func (s StageSections) Get(name string) any { return s.byName[name] }

// Set stores the settings of a stage, replacing earlier ones. v must be a
// pointer to a struct.
func (s *StageSections) Set(name string, v any) {
	if rv := reflect.ValueOf(v); rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: settings of stage %s must be a pointer to a struct, not %T", name, v))
	}
	if s.byName == nil {
		s.byName = map[string]any{}
	}
	if _, ok := s.byName[name]; !ok {
		s.names = append(s.names, name)
	}
	s.byName[name] = v
}

// clone copies every section's struct, so that a copy of the configuration
// can be changed without changing the original.
func (s StageSections) clone() StageSections {
	out := StageSections{names: slices.Clone(s.names)}
	if s.byName != nil {
		out.byName = make(map[string]any, len(s.byName))
		for name, v := range s.byName {
			out.byName[name] = cloneStruct(v)
		}
	}
	return out
}

func cloneStruct(v any) any {
	rv := reflect.ValueOf(v)
	cp := reflect.New(rv.Elem().Type())
	cp.Elem().Set(rv.Elem())
	return cp.Interface()
}

// Stage returns the settings of the named stage, or nil when the
// configuration has no such section.
func (c *Config) Stage(name string) any { return c.Stages.Get(name) }

// StagePool returns the pool settings of a stage that reads a stream.
func (c *Config) StagePool(name string) (Pool, bool) {
	if p, ok := c.Stages.Get(name).(Pooled); ok {
		return *p.PoolSettings(), true
	}
	return Pool{}, false
}

// StageEnabled reports whether stages.<name>.enabled is set.
func (c *Config) StageEnabled(name string) bool {
	t, ok := c.Stages.Get(name).(Toggle)
	return ok && *t.EnabledFlag()
}

// SetStageEnabled flips a stage's enabled flag by name; it reports false for
// a name the configuration has no section for.
func (c *Config) SetStageEnabled(name string, enabled bool) bool {
	t, ok := c.Stages.Get(name).(Toggle)
	if !ok {
		return false
	}
	*t.EnabledFlag() = enabled
	return true
}

// Clone returns a deep copy of the configuration (stage sections included).
func (c Config) Clone() Config {
	c.Stages = c.Stages.clone()
	return c
}
