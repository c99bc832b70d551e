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

func TestBreaker(t *testing.T) {
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	b := NewBreaker(2, time.Minute, func() time.Time { return now })
	steps := []struct {
		allow   bool
		record  *bool // nil: no call made
		advance time.Duration
	}{
		{allow: true, record: ptr(true)},
		{allow: true, record: ptr(false)}, // success resets the count
		{allow: true, record: ptr(true)},
		{allow: true, record: ptr(true)}, // second in a row: opens
		{allow: false},
		{allow: true, advance: time.Minute}, // half-open probe...
		{allow: false},                      // ...only one
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		got := b.Allow()
		if got != s.allow {
			t.Fatalf("step %d: Allow = %v, want %v", i, got, s.allow)
		}
		if i == 5 {
			continue // the probe's outcome is reported after the loop
		}
		if got && s.record != nil {
			b.Record(*s.record)
		}
	}
	b.Record(false) // the probe succeeded
	if b.IsOpen() || !b.Allow() || !b.Allow() {
		t.Fatal("breaker not closed after a successful probe")
	}
}

func ptr(b bool) *bool { return &b }

// TestBreakerWaitGrows: the first opening waits a second, each failed probe
// doubles the wait up to the configured cooldown, a success starts over.
func TestBreakerWaitGrows(t *testing.T) {
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	b := NewBreaker(1, 5*time.Second, func() time.Time { return now })
	if !b.Allow() {
		t.Fatal("closed breaker refused a call")
	}
	b.Record(true) // opens
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		now = now.Add(want - time.Millisecond)
		if b.Allow() {
			t.Fatalf("opening %d: probe allowed before %v", i, want)
		}
		now = now.Add(time.Millisecond)
		if !b.Allow() {
			t.Fatalf("opening %d: no probe after %v", i, want)
		}
		b.Record(true) // the probe failed
	}
	now = now.Add(5 * time.Second)
	if !b.Allow() {
		t.Fatal("no probe after the cooldown")
	}
	b.Record(false) // recovered
	if !b.Allow() {
		t.Fatal("breaker not closed")
	}
	b.Record(true)
	now = now.Add(time.Second)
	if !b.Allow() {
		t.Fatal("after a success the next opening did not start at a second again")
	}
}
