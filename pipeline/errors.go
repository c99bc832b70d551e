package pipeline

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Failure classes, as recorded in DLQ entries (error_class) and metrics.
const (
	ClassPermanent = "permanent"
	ClassExhausted = "exhausted"
)

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that retrying cannot fix (an undecodable
// entry, a missing field, a 4xx that will not change): the entry goes to the
// DLQ at once. Every unmarked error is transient.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks a transient failure whose source said when to try again
// (an HTTP 429 with Retry-After); the runner waits at least that long.
func RetryAfter(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: after}
}

// RetryAfterHint returns the wait requested by RetryAfter, if any.
func RetryAfterHint(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// Unavailable marks err as a dependency outage (a store down or refusing
// connections, a table or column missing): it would fail any entry, so it
// says nothing about the entry in hand. The runner pauses the stage with a
// growing backoff instead of spending the entries' attempts, keeps the
// entries pending, and reports the cause on /readyz until a try succeeds.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return &unavailableError{err: err}
}

// IsUnavailable reports whether err is a dependency outage: marked
// Unavailable, or an error that says so itself (an Outage() bool method
// answering true, as a provider's 429, 5xx or refused connection does), or
// a Redis reply about the server's state rather than the command's data
// (isRedisServerState), go-redis finding no free connection in time, or a
// network failure under any client (a refused dial, a reset or broken
// connection: a Redis Cluster master killed before its replica takes
// over). Errors of one entry's data are everything else: they count
// attempts.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var u *unavailableError
	if errors.As(err, &u) {
		return true
	}
	var o outage
	if errors.As(err, &o) && o.Outage() {
		return true
	}
	return isRedisServerState(err) || errors.Is(err, redis.ErrPoolTimeout) || isNetworkFailure(err)
}

// isNetworkFailure reports whether err is a failed network operation
// (*net.OpError: dial, read, write) or a refused, reset or broken
// connection: the dependency's, whatever entry was in hand.
func isNetworkFailure(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// outage is implemented by errors that know whether they are a dependency
// outage (ai.APIError): the pipeline need not know every provider.
type outage interface {
	error
	Outage() bool
}

// redisServerStates are the prefixes of Redis error replies that describe
// the server, not the command: out of memory under noeviction, a replica
// (after a failover or REPLICAOF), loading its dataset, busy with a
// script, a cluster without all its slots, a slot moving, a replica whose
// master is gone, a failed RDB save that stops writes, too few replicas.
var redisServerStates = []string{
	"OOM ", "READONLY ", "LOADING ", "BUSY ", "CLUSTERDOWN ", "TRYAGAIN ", "MASTERDOWN ", "MISCONF ", "NOREPLICAS ",
}

// isRedisServerState reports whether err is an error reply of a Redis
// server about its own state (redisServerStates).
func isRedisServerState(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, p := range redisServerStates {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
