package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

func TestStatusErrorClassification(t *testing.T) {
	for status, temporary := range map[int]bool{400: false, 401: false, 402: false, 403: false, 404: false, 408: true, 413: false, 422: false, 429: true, 500: true, 502: true, 503: true} {
		if got := StatusError("p", status, "", nil, time.Now()).Temporary; got != temporary {
			t.Errorf("status %d: temporary %v, want %v", status, got, temporary)
		}
	}
}

// TestSlotTimeoutsDoNotOpenTheBreaker: calls that time out waiting for the
// local concurrency slot never reached the provider (an httptest server
// here, answering 200), so however many there are, the breaker stays
// closed and the next call goes through.
func TestSlotTimeoutsDoNotOpenTheBreaker(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // runs before srv.Close, also when the test fails early
	c := &Caller{Provider: "fake", HTTP: srv.Client(), Limiter: NewLimiter(1), Breaker: NewBreaker(2, time.Minute, nil)}

	held := make(chan error, 1)
	go func() {
		_, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL + "/slow"})
		held <- err
	}()
	time.Sleep(100 * time.Millisecond) // the slow call holds the only slot
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := c.Do(ctx, Request{Method: "GET", URL: srv.URL + "/fast"})
		cancel()
		if err == nil || !strings.Contains(err.Error(), "concurrency slot") {
			t.Fatalf("queued call %d: %v, want a slot timeout", i, err)
		}
	}
	if c.Breaker.IsOpen() {
		t.Fatal("slot timeouts opened the breaker")
	}
	unblock()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL + "/fast"}); err != nil {
		t.Fatalf("call after the slot freed: %v", err)
	}
}
