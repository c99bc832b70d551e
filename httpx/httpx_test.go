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
