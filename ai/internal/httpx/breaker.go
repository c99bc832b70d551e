package httpx

import (
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Outcome is what a call let through by a Breaker says about the provider.
type Outcome int

const (
	// Success: the provider answered, or refused the request itself (a
	// permanent 4xx says the service is up).
	Success Outcome = iota
	// Failure: a temporary failure (429, 5xx, timeout, network).
	Failure
	// Ignored: the call says nothing about the provider (the caller
	// cancelled it); a half-open breaker may probe again.
	Ignored
)

// Breaker is a consecutive-failure circuit breaker: sony/gobreaker/v2's
// two-step breaker keeps the states — after `failures` failures in a row it
// opens; then one probe call is let through (half-open) whose success
// closes it and whose failure opens it again; an outcome reported for a
// call of an earlier state is dropped.
//
// How long it stays open is decided here, with the injected clock: the
// wait starts at firstCooldown and doubles with every failed probe up to
// `cooldown`. A fixed 30 s wait kept a stage paused up to 30 s after an 8 s
// 429 or 5xx storm had ended (issue 21's fault matrix), while a long outage
// is still probed only once per `cooldown`. gobreaker/v2 (v2.4.0) reads
// time.Now itself and has one fixed Timeout, so its Timeout is set to a
// nanosecond and the open wait is enforced in Allow before the library is
// asked.
type Breaker struct {
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}] // nil: disabled
	cooldown time.Duration
	now      func() time.Time

	mu       sync.Mutex // taken inside gobreaker's lock (OnStateChange), never around a call into it
	open     bool
	openedAt time.Time
	wait     time.Duration // the current opening's wait
}

// firstCooldown is the wait of a breaker's first opening after a success.
const firstCooldown = time.Second

// errFailure and errIgnored carry an Outcome into gobreaker.
var (
	errFailure = errors.New("provider call failed")
	errIgnored = errors.New("provider call cancelled")
)

// NewBreaker returns a closed breaker; failures <= 0 disables it. now is
// the clock of the open wait (time.Now when nil).
func NewBreaker(failures int, cooldown time.Duration, now func() time.Time) *Breaker {
	if now == nil {
		now = time.Now
	}
	b := &Breaker{cooldown: cooldown, now: now}
	if failures <= 0 {
		return b
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		MaxRequests:   1,               // one probe at a time when half-open
		Timeout:       time.Nanosecond, // the open wait is ours (see Breaker)
		ReadyToTrip:   func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures) },
		IsSuccessful:  func(err error) bool { return err == nil },
		IsExcluded:    func(err error) bool { return errors.Is(err, errIgnored) },
		OnStateChange: b.changed,
	})
	return b
}

// changed follows gobreaker's transitions: an opening starts a wait (the
// first at firstCooldown, after a failed probe twice the last), a closing
// forgets it.
func (b *Breaker) changed(_ string, from, to gobreaker.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch to {
	case gobreaker.StateOpen:
		if from == gobreaker.StateHalfOpen {
			b.wait = min(2*b.wait, b.cooldown)
		} else {
			b.wait = min(firstCooldown, b.cooldown)
		}
		b.open, b.openedAt = true, b.now()
	case gobreaker.StateClosed:
		b.open, b.wait = false, 0
	}
}

// Allow reports whether a call may go out now. When it does, the caller
// must report the call's outcome, once, with the returned function.
func (b *Breaker) Allow() (report func(Outcome), ok bool) {
	if b.cb == nil {
		return func(Outcome) {}, true
	}
	b.mu.Lock()
	waiting := b.open && b.now().Sub(b.openedAt) < b.wait
	b.mu.Unlock()
	if waiting {
		return nil, false
	}
	done, err := b.cb.Allow() // open: becomes half-open; half-open: the one probe
	if err != nil {
		return nil, false
	}
	return func(o Outcome) {
		switch o {
		case Success:
			done(nil)
		case Ignored:
			done(errIgnored)
		default:
			done(errFailure)
		}
	}, true
}

// IsOpen reports whether calls are being refused now (for health output).
func (b *Breaker) IsOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open && b.now().Sub(b.openedAt) < b.wait
}
