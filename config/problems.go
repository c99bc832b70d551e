package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Problem is one invalid setting: its full key, the offending value (secrets
// redacted) and why it is refused.
type Problem struct {
	// Key is the full key ("stages.tag.max_tags"); for a problem of the
	// file itself (YAML syntax) it is the file's name and line.
	Key string
	// Value is the effective value as it reads in the configuration
	// (strings quoted, secrets redacted); empty when HasValue is false.
	Value    string
	HasValue bool
	Reason   string
}

// String renders the problem as `key = value: reason`.
func (p Problem) String() string {
	if !p.HasValue {
		return p.Key + ": " + p.Reason
	}
	return p.Key + " = " + p.Value + ": " + p.Reason
}

// ValidationError lists every invalid setting, each naming its key, its
// value and the reason.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid config: " + strings.Join(parts, "; ")
}

// Problems collects validation problems, each under the full key of the
// setting ("stages.tag.max_tags"). A stage's SectionValidator receives one
// scoped to its section, so it names keys relative to it. A problem added
// without a value gets the setting's effective value from Load.
type Problems struct {
	prefix string
	list   *[]Problem
}

// NewProblems returns an empty collection for keys below prefix ("" for the
// whole configuration, "stages.demo" for a section).
func NewProblems(prefix string) *Problems {
	return &Problems{prefix: prefix, list: new([]Problem)}
}

// Section returns a view of p whose keys are below name.
func (p *Problems) Section(name string) *Problems {
	return &Problems{prefix: p.key(name), list: p.list}
}

func (p *Problems) key(k string) string {
	if p.prefix == "" {
		return k
	}
	return p.prefix + "." + k
}

// Add records a problem of key; Load fills in the setting's value.
func (p *Problems) Add(key, format string, args ...any) {
	*p.list = append(*p.list, Problem{Key: p.key(key), Reason: fmt.Sprintf(format, args...)})
}

// Invalid records a problem of key with the offending value, rendered as
// the configuration would spell it. Secrets must not be passed here: Add
// them without a value and Load shows them redacted.
func (p *Problems) Invalid(key string, value any, format string, args ...any) {
	*p.list = append(*p.list, Problem{Key: p.key(key), Value: renderValue(value), HasValue: true, Reason: fmt.Sprintf(format, args...)})
}

// renderValue spells a value the way it reads in config.yaml.
func renderValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case time.Duration:
		return FormatDuration(v)
	case []string:
		return "[" + strings.Join(v, ", ") + "]"
	case nil:
		return "null"
	default:
		return fmt.Sprint(v)
	}
}

// OneOf requires val to be one of allowed.
func (p *Problems) OneOf(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	p.Invalid(key, val, "is not one of %s", strings.Join(allowed, ", "))
}

// Positive requires a positive duration.
func (p *Problems) Positive(key string, d time.Duration) {
	if d <= 0 {
		p.Invalid(key, d, "must be a positive duration")
	}
}

// AtLeast requires n >= min.
func (p *Problems) AtLeast(key string, n, min int) {
	if n < min {
		p.Invalid(key, n, "must be at least %d", min)
	}
}

// NotEmpty requires a non-blank string.
func (p *Problems) NotEmpty(key, val string) {
	if strings.TrimSpace(val) == "" {
		p.Invalid(key, val, "must not be empty")
	}
}

// URL requires a URL with one of the schemes; the value shown has its
// password masked.
func (p *Problems) URL(key, raw string, schemes ...string) {
	if err := checkURL(raw, schemes...); err != nil {
		p.Invalid(key, RedactURL(raw), "%v", err)
	}
}

// List returns the problems recorded so far.
func (p *Problems) List() []Problem { return append([]Problem(nil), *p.list...) }

// Err returns a *ValidationError of the problems, or nil when there are none.
func (p *Problems) Err() error {
	if len(*p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: p.List()}
}
