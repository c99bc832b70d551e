// Package resource holds process-wide handles (a PostgreSQL pool, the
// vector and graph stores, an AI provider set) that several stages and
// commands share: each is opened once, on first use, and closed when the
// process stops. It sits below pipeline and store, so that store opens its
// shared handles without importing the runner.
package resource

import (
	"fmt"
	"sync"
)

// Set holds the opened resources of one process.
type Set struct {
	mu      sync.Mutex
	entries map[string]any
	closers []func()
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{entries: map[string]any{}} }

// Get returns the shared value named name, opening it with open on the first
// call. open returns the value and the function that closes it. The set's
// lock is held while open runs: open must not call Get on the same set.
func Get[T any](s *Set, name string, open func() (T, func(), error)) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = map[string]any{}
	}
	if v, ok := s.entries[name]; ok {
		t, ok := v.(T)
		if !ok {
			var zero T
			return zero, fmt.Errorf("resource %s holds %T, not the requested type", name, v)
		}
		return t, nil
	}
	v, closeFn, err := open()
	if err != nil {
		var zero T
		return zero, fmt.Errorf("open %s: %w", name, err)
	}
	s.entries[name] = v
	if closeFn != nil {
		s.closers = append(s.closers, closeFn)
	}
	return v, nil
}

// Close closes every opened resource in reverse order of opening.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
	s.entries = map[string]any{}
}
