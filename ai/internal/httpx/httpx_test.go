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
	arrived := make(chan struct{}) // closed when the slow call reached the server, holding the slot
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
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
	<-arrived // the slow call holds the only slot
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
