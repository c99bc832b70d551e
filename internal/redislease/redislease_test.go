package redislease_test

import (
	"context"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/internal/redislease"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestOneHolderAndTheFence walks a lease through two holders: only one holds
// it at a time, a holder re-taking its own lease renews it, and once the
// lease has passed to another (here the key is deleted, as its expiry
// would) the old holder can neither renew nor release the new hold.
func TestOneHolderAndTheFence(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	l := redislease.New(rdb, prefix+"lease", time.Minute)
	ttl := func() time.Duration { return rdb.PTTL(ctx, l.Key()).Val() }
	holder := func() string { return rdb.Get(ctx, l.Key()).Val() }

	steps := []struct {
		name string
		do   func() (bool, error)
		want bool
	}{
		{"a takes the free lease", func() (bool, error) { return l.Acquire(ctx, "a") }, true},
		{"b is turned away", func() (bool, error) { return l.Acquire(ctx, "b") }, false},
		{"b cannot renew a's lease", func() (bool, error) { return l.Renew(ctx, "b") }, false},
		{"b cannot release a's lease", func() (bool, error) { return l.Release(ctx, "b") }, false},
		{"a re-taking its lease renews it", func() (bool, error) {
			rdb.PExpire(ctx, l.Key(), time.Second)
			ok, err := l.Acquire(ctx, "a")
			if ttl() <= time.Second {
				t.Errorf("re-take left the TTL at %v", ttl())
			}
			return ok, err
		}, true},
		{"a renews", func() (bool, error) { return l.Renew(ctx, "a") }, true},
		{"the lease expires, b takes it", func() (bool, error) {
			rdb.Del(ctx, l.Key())
			return l.Acquire(ctx, "b")
		}, true},
		{"a's renewal is refused", func() (bool, error) { return l.Renew(ctx, "a") }, false},
		{"a's release deletes nothing", func() (bool, error) { return l.Release(ctx, "a") }, false},
		{"b releases", func() (bool, error) { return l.Release(ctx, "b") }, true},
		{"a takes it again", func() (bool, error) { return l.Acquire(ctx, "a") }, true},
	}
	for _, s := range steps {
		got, err := s.do()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got != s.want {
			t.Fatalf("%s: %v, want %v (holder now %q)", s.name, got, s.want, holder())
		}
	}
	if holder() != "a" || ttl() <= 0 {
		t.Fatalf("holder %q ttl %v, want a with a TTL", holder(), ttl())
	}
}
