package config

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/viper"
)

// Posts holds what applies to a post in every store, whichever stage writes
// it: the one retention (docs/retention.md).
type Posts struct {
	// Retention is how long a post is kept after it was posted: the
	// expires_at of its PostgreSQL rows, of its vector's payload and of its
	// graph node.
	Retention time.Duration `mapstructure:"retention" yaml:"retention"`
	// ReceiptFloor keeps every post at least this long after the daemon
	// received it (ingest, import legacy, the telegram source), however old
	// it is: history — a backfill, an import, the bundled 2024 sample — is
	// searchable for that long instead of expiring on arrival. 0 counts
	// from posted_at alone.
	ReceiptFloor time.Duration `mapstructure:"receipt_floor" yaml:"receipt_floor"`
}

// ExpiresAt is when a post posted at posted and received at received
// expires: max(posted + Retention, received + ReceiptFloor). A post without
// posted_at counts from received. Every store computes it here, from the
// same two times carried in the events, so a post expires at one instant
// everywhere.
func (p Posts) ExpiresAt(posted, received time.Time) time.Time {
	base := posted
	if base.IsZero() {
		base = received
	}
	exp := base.Add(p.Retention)
	if p.ReceiptFloor > 0 && !received.IsZero() {
		if floor := received.Add(p.ReceiptFloor); floor.After(exp) {
			exp = floor
		}
	}
	return exp.UTC()
}

// PastRetention reports whether a post posted at posted was already past
// posts.retention when it was received: it is kept only by the floor (or,
// with receipt_floor 0, expires on arrival).
func (p Posts) PastRetention(posted, received time.Time) bool {
	return !posted.IsZero() && !received.IsZero() && posted.Add(p.Retention).Before(received)
}

// RetentionOverride is implemented by a stage section that still has a
// retention key of its own (stages.persist.retention,
// stages.index.retention: deprecated). A non-zero value must equal
// posts.retention; when posts.retention is not set, agreeing overrides set
// it, with a deprecation warning.
type RetentionOverride interface {
	RetentionOverride() time.Duration
}

// retentionKey is the one retention setting.
const retentionKey = "posts.retention"

// resolveRetention applies the deprecated per-stage retention keys to
// posts.retention and reports contradictions. explicit says whether
// posts.retention was set (file or environment).
func (c *Config) resolveRetention(p *Problems, explicit bool) (warnings []string) {
	type override struct {
		key string
		d   time.Duration
	}
	var set []override
	for _, name := range c.Stages.Names() {
		ro, ok := c.Stages.Get(name).(RetentionOverride)
		if !ok {
			continue
		}
		key := stagesKey + "." + name + ".retention"
		switch d := ro.RetentionOverride(); {
		case d < 0:
			p.Add(key, "must not be negative (deprecated: set %s)", retentionKey)
		case d > 0:
			set = append(set, override{key, d})
		}
	}
	if len(set) == 0 {
		return nil
	}
	want, wantKey := c.Posts.Retention, retentionKey
	if !explicit {
		want, wantKey = set[0].d, set[0].key
	}
	contradiction := false
	for _, o := range set {
		if o.d != want && o.key != wantKey {
			contradiction = true
			p.Add(o.key, "%s contradicts %s %s: one retention governs a post in every store (PostgreSQL rows, vectors, graph); set only %s", o.d, wantKey, want, retentionKey)
		}
	}
	if contradiction {
		return nil
	}
	keys := make([]string, 0, len(set))
	for _, o := range set {
		keys = append(keys, o.key)
	}
	slices.Sort(keys)
	if !explicit {
		c.Posts.Retention = want
		return []string{fmt.Sprintf("%v deprecated: posts.retention is the one retention of every store; taking %s from it (set ASSISTANT_POSTS_RETENTION or posts.retention instead)", keys, want)}
	}
	return []string{fmt.Sprintf("%v deprecated and equal to posts.retention (%s): remove them", keys, want)}
}

// retentionExplicit reports whether posts.retention was set in the file or
// the environment (not left at its default).
func retentionExplicit(v *viper.Viper) bool {
	return os.Getenv(EnvPrefix+"_POSTS_RETENTION") != "" || v.InConfig(retentionKey)
}
