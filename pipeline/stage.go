// Package pipeline is the stage runner of the assistant daemon: it moves
// entries between Redis Streams through consumer groups, with at-least-once
// delivery, retries, a dead-letter queue and trimming that never loses an
// unacknowledged entry (docs/delivery.md). It also defines the event
// envelope that every stage reads and writes.
//
// The runner knows nothing about stages. A stage is a small type implementing
// Stage (and, for periodic work that reads no stream, Service); its package
// exports a Definition that describes it completely — input, outputs,
// settings block, needs, constructors — and the daemon's main package lists
// those definitions into an explicit Registry (see stages/all). Nothing
// registers itself behind the program's back, and tests build registries of
// their own.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/resource"
)

// Stage handles batches of entries read from its input stream.
//
// Handle decides the outcome of each message: it publishes outputs with
// Message.Publish and marks failures with Message.Fail. Returning a non-nil
// error fails every message of the batch that has no outcome of its own (a
// store that is down fails the whole batch). A message with neither a failure
// nor outputs is simply acknowledged. Handle must be safe to call from several
// goroutines at once: the runner calls it from a pool of workers.
type Stage interface {
	Handle(ctx context.Context, batch []*Message) error
}

// Checker is implemented by stages whose dependencies can be probed; /readyz
// reports the first failing check.
type Checker interface {
	Check(ctx context.Context) error
}

// Closer is implemented by stages that hold resources of their own.
type Closer interface {
	Close() error
}

// Deps is what a stage or service constructor may use.
type Deps struct {
	Config *config.Config
	// StageConfig is the stage's own settings block (stages.<name>): the
	// pointer its Definition.Config returned, decoded from the file and the
	// environment and validated. StageSettings gives it typed.
	StageConfig any
	Redis       redis.UniversalClient
	Keys        Keys
	Logger      *slog.Logger
	Metrics     prometheus.Registerer
	Resources   *Resources
}

// StageSettings returns deps.StageConfig as the stage's settings type T (a
// pointer to its struct); an error names what was there instead.
func StageSettings[T any](deps Deps) (T, error) {
	t, ok := deps.StageConfig.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("stage settings are %T, not %T", deps.StageConfig, zero)
	}
	return t, nil
}

// Keys names every Redis key the daemon uses, applying the configured prefix.
type Keys struct {
	Prefix    string
	DLQSuffix string
	// Partitions is streams.partitions; 0 or 1 is the unpartitioned
	// layout (partition.go).
	Partitions int
	// prefixes are the partitions' key prefixes, computed once by NewKeys
	// (a Keys built as a literal looks them up in a process-wide cache).
	// A pointer keeps Keys comparable.
	prefixes *[]string
}

// NewKeys returns the key namer of a configuration.
func NewKeys(cfg *config.Config) Keys {
	k := Keys{Prefix: cfg.Redis.KeyPrefix, DLQSuffix: cfg.Streams.DLQSuffix, Partitions: cfg.Streams.Partitions}
	if k.Partitioned() {
		prefixes := partitionPrefixes(k.Prefix, k.Partitions)
		k.prefixes = &prefixes
	}
	return k
}

// Stream is the Redis key of a stream; with partitions (streams.partitions
// > 1) the unpartitioned key external producers write to, which the
// router moves into the partitions (PartStream).
func (k Keys) Stream(name string) string { return k.Prefix + name }

// DLQ is the Redis key of a stream's dead-letter queue.
func (k Keys) DLQ(name string) string { return k.Prefix + name + k.DLQSuffix }

// Key is the Redis key of anything else (dedup marks, leases, caches).
func (k Keys) Key(name string) string { return k.Prefix + name }

// Resources holds process-wide handles (a Postgres pool, the stores) that
// several stages share; see package resource.
type Resources = resource.Set

// NewResources returns an empty set.
func NewResources() *Resources { return resource.NewSet() }

// Resource returns the shared value named name, opening it with open on the
// first call (resource.Get).
func Resource[T any](r *Resources, name string, open func() (T, func(), error)) (T, error) {
	return resource.Get(r, name, open)
}
