package config

import (
	"fmt"
	"strings"
	"time"
)

// ValidationError lists every invalid setting, each naming its key.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "invalid config: " + strings.Join(e.Problems, "; ")
}

// Problems collects validation problems, each prefixed with the full key of
// the setting ("stages.tag.max_tags: must be at least 1, got 0"). A stage's
// SectionValidator receives one scoped to its section, so it names keys
// relative to it.
type Problems struct {
	prefix string
	list   *[]string
}

// NewProblems returns an empty collection for keys below prefix ("" for the
// whole configuration, "stages.demo" for a section).
func NewProblems(prefix string) *Problems {
	return &Problems{prefix: prefix, list: new([]string)}
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

// Add records a problem of key.
func (p *Problems) Add(key, format string, args ...any) {
	*p.list = append(*p.list, p.key(key)+": "+fmt.Sprintf(format, args...))
}

// OneOf requires val to be one of allowed.
func (p *Problems) OneOf(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	p.Add(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
}

// Positive requires a positive duration.
func (p *Problems) Positive(key string, d time.Duration) {
	if d <= 0 {
		p.Add(key, "must be a positive duration, got %s", d)
	}
}

// AtLeast requires n >= min.
func (p *Problems) AtLeast(key string, n, min int) {
	if n < min {
		p.Add(key, "must be at least %d, got %d", min, n)
	}
}

// NotEmpty requires a non-blank string.
func (p *Problems) NotEmpty(key, val string) {
	if strings.TrimSpace(val) == "" {
		p.Add(key, "must not be empty")
	}
}

// URL requires a URL with one of the schemes.
func (p *Problems) URL(key, raw string, schemes ...string) {
	if err := checkURL(raw, schemes...); err != nil {
		p.Add(key, "%v", err)
	}
}

// List returns the problems recorded so far.
func (p *Problems) List() []string { return append([]string(nil), *p.list...) }

// Err returns a *ValidationError of the problems, or nil when there are none.
func (p *Problems) Err() error {
	if len(*p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: p.List()}
}
