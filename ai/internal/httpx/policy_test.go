package httpx

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{"1.5", 1500 * time.Millisecond},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// call asks b for a call and reports o when allowed; it returns whether the
// call was let through.
func call(b *Breaker, o Outcome) bool {
	report, ok := b.Allow()
	if ok {
		report(o)
	}
	return ok
}

func TestBreaker(t *testing.T) {
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	b := NewBreaker(2, time.Minute, func() time.Time { return now })
	steps := []struct {
		name    string
		advance time.Duration
		outcome Outcome
		allow   bool
	}{
		{"first failure", 0, Failure, true},
		{"a success resets the count", 0, Success, true},
		{"failure", 0, Failure, true},
		{"second failure in a row opens", 0, Failure, true},
		{"refused while open", 0, Success, false},
		{"still refused half a second later", 500 * time.Millisecond, Success, false},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if got := call(b, s.outcome); got != s.allow {
			t.Fatalf("%s: allowed %v, want %v", s.name, got, s.allow)
		}
	}
	if !b.IsOpen() {
		t.Fatal("IsOpen false after two failures")
	}
	now = now.Add(time.Second) // the first opening waits a second
	probe, ok := b.Allow()
	if !ok {
		t.Fatal("no half-open probe after the wait")
	}
	if _, ok := b.Allow(); ok {
		t.Fatal("a second call let through beside the probe")
	}
	probe(Success)
	if b.IsOpen() || !call(b, Success) || !call(b, Success) {
		t.Fatal("breaker not closed after a successful probe")
	}
}

// TestBreakerCancelledProbe: a probe whose caller gave up says nothing
// about the provider; the next call may probe.
func TestBreakerCancelledProbe(t *testing.T) {
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	b := NewBreaker(1, time.Minute, func() time.Time { return now })
	call(b, Failure)
	now = now.Add(time.Second)
	probe, ok := b.Allow()
	if !ok {
		t.Fatal("no probe after the wait")
	}
	probe(Ignored)
	if !call(b, Success) {
		t.Fatal("no new probe after a cancelled one")
	}
	if !call(b, Success) {
		t.Fatal("breaker not closed")
	}
}

// TestBreakerDisabled: failures <= 0 lets every call through.
func TestBreakerDisabled(t *testing.T) {
	b := NewBreaker(0, time.Minute, nil)
	for i := range 10 {
		if !call(b, Failure) {
			t.Fatalf("call %d refused by a disabled breaker", i)
		}
	}
	if b.IsOpen() {
		t.Fatal("a disabled breaker reports open")
	}
}

// TestBreakerWaitGrows: the first opening waits a second, each failed probe
// doubles the wait up to the configured cooldown, a success starts over.
func TestBreakerWaitGrows(t *testing.T) {
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	b := NewBreaker(1, 5*time.Second, func() time.Time { return now })
	if !call(b, Failure) { // opens
		t.Fatal("closed breaker refused a call")
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		now = now.Add(want - time.Millisecond)
		if _, ok := b.Allow(); ok {
			t.Fatalf("opening %d: probe allowed before %v", i, want)
		}
		now = now.Add(time.Millisecond)
		if !call(b, Failure) { // the probe fails
			t.Fatalf("opening %d: no probe after %v", i, want)
		}
	}
	now = now.Add(5 * time.Second)
	if !call(b, Success) { // recovered
		t.Fatal("no probe after the cooldown")
	}
	if !call(b, Failure) {
		t.Fatal("breaker not closed")
	}
	now = now.Add(time.Second)
	if !call(b, Success) {
		t.Fatal("after a success the next opening did not start at a second again")
	}
}
