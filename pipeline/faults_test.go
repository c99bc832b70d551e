package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// providerOutage is an error that says it is a dependency outage without
// being marked Unavailable, as ai.APIError does for a 429, a 5xx or a
// refused connection.
type providerOutage struct{}

func (providerOutage) Error() string { return "llm: HTTP 503: overloaded" }
func (providerOutage) Outage() bool  { return true }

// redisReply is an error reply of a Redis server (go-redis's redis.Error).
type redisReply string

func (e redisReply) Error() string { return string(e) }
func (redisReply) RedisError()     {}

var _ redis.Error = redisReply("")

// faultErrors are the errors the test stage fails with for testEvent.Fault,
// unmarked: the runner must read them.
var faultErrors = map[string]error{
	"opaque":      errors.New("something went wrong"),
	"provider":    providerOutage{},
	"oom":         redisReply("OOM command not allowed when used memory > 'maxmemory'."),
	"readonly":    redisReply("READONLY You can't write against a read only replica."),
	"loading":     redisReply("LOADING Redis is loading the dataset in memory"),
	"busy":        redisReply("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT."),
	"clusterdown": redisReply("CLUSTERDOWN The cluster is down"),
	"tryagain":    redisReply("TRYAGAIN Multiple keys request during rehashing of slot"),
	"masterdown":  redisReply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
	"pooltimeout": redis.ErrPoolTimeout,
	// What go-redis returns when a Redis Cluster master is killed: the
	// dial to the dead node refused (until the failover) or the open
	// connection reset, wrapped by the stage (persist's tombstone lookup).
	"dialrefused": fmt.Errorf("tombstone: look up 15 posts: %w",
		&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}),
	"connreset": fmt.Errorf("tombstone: look up 1 posts: %w",
		&net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}),
}

// TestRunnerPausesOnEveryOutageError (issue 21): a dependency being down
// is never an entry's fault, whatever its error looks like. With
// max_attempts 1 a single counted attempt would dead-letter the entry, so
// each case fails its entries many times while the dependency is down and
// then checks that none was dead-lettered and every attempt stayed 1:
// Redis server-state replies (OOM, READONLY, LOADING, BUSY, CLUSTERDOWN,
// TRYAGAIN, MASTERDOWN), a pool timeout, an error that says it is an outage
// (Outage() bool, as a provider's 429/5xx), and — on a stage with a health
// check — any error at all while that check fails. The control: the same
// opaque error while the check passes is the entry's, and dead-lettered.
func TestRunnerPausesOnEveryOutageError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stage, fault string
		checkPasses  bool // the stage's health check passes during the fault
		wantDLQ      bool
	}{
		{"test-pass", "oom", false, false},
		{"test-pass", "readonly", false, false},
		{"test-pass", "loading", false, false},
		{"test-batch", "busy", false, false},
		{"test-batch", "clusterdown", false, false},
		{"test-pass", "tryagain", false, false},
		{"test-pass", "masterdown", false, false},
		{"test-pass", "pooltimeout", false, false},
		{"test-pass", "dialrefused", false, false},
		{"test-batch", "connreset", false, false},
		{"test-batch", "provider", false, false},
		{"test-checked", "opaque", false, false},
		{"test-checked", "opaque", true, true},
	}
	for _, tt := range tests {
		name := tt.stage + "/" + tt.fault
		if tt.checkPasses {
			name += "/check-passes"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.stage, func(c *config.Config, _ *config.Pool) {
				c.Runner.MaxAttempts = 1
				c.Runner.RetryInitialBackoff = 10 * time.Millisecond
				c.Runner.RetryMaxBackoff = 50 * time.Millisecond
			})
			h.stage.down.Store(true)
			h.stage.checkPasses.Store(tt.checkPasses)
			evs := []testEvent{{N: 0, Fault: tt.fault}, {N: 1, Fault: tt.fault}, {N: 2, Fault: tt.fault}}
			h.add(t, evs...)
			h.start()
			if tt.wantDLQ {
				testenv.WaitFor(t, "the entries dead-lettered", 10*time.Second, func() bool { return len(h.dlq(t)) == len(evs) })
				return
			}
			testenv.WaitFor(t, "several tries", 10*time.Second, func() bool {
				h.stage.mu.Lock()
				defer h.stage.mu.Unlock()
				return h.stage.calls[0] >= 3
			})
			if d := h.dlq(t); len(d) != 0 {
				t.Fatalf("%d entries dead-lettered by a %s fault: %v", len(d), tt.fault, d[0].Values["error"])
			}
			if err := h.runner.Ready(context.Background()); err == nil {
				t.Error("ready during the fault, want the pause reported")
			}
			h.stage.down.Store(false)
			testenv.WaitFor(t, "every entry handled", 10*time.Second, func() bool { return len(h.outputs(t)) == len(evs) })
			if d := h.dlq(t); len(d) != 0 {
				t.Fatalf("%d entries dead-lettered", len(d))
			}
			h.stage.mu.Lock()
			defer h.stage.mu.Unlock()
			for n, attempts := range h.stage.attempts {
				for _, a := range attempts {
					if a != 1 {
						t.Fatalf("event %d handled at attempts %v: the %s fault spent attempts", n, attempts, tt.fault)
					}
				}
			}
		})
	}
}
