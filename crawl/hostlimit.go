package crawl

import (
	"context"
	"sync"
	"time"
)

// hostLimiter keeps crawling polite per host: at most perHost requests in
// flight to one host, and at least a delay between the starts of two
// requests to it. States of idle hosts are dropped so the map stays as
// small as the set of hosts being crawled.
type hostLimiter struct {
	perHost int
	delay   time.Duration

	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	slots chan struct{}
	next  time.Time     // earliest start of the next request
	delay time.Duration // the configured delay, or a larger robots.txt Crawl-delay
	refs  int           // acquirers holding or waiting for a slot
}

func newHostLimiter(perHost int, delay time.Duration) *hostLimiter {
	return &hostLimiter{perHost: perHost, delay: delay, hosts: map[string]*hostState{}}
}

// acquire waits for a slot of host and for its delay, and returns the
// function that gives the slot back.
func (l *hostLimiter) acquire(ctx context.Context, host string) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	st := l.hosts[host]
	if st == nil {
		st = &hostState{slots: make(chan struct{}, l.perHost), delay: l.delay}
		l.hosts[host] = st
	}
	st.refs++
	l.mu.Unlock()

	select {
	case st.slots <- struct{}{}:
	case <-ctx.Done():
		l.done(host, st)
		return nil, ctx.Err()
	}
	release := func() {
		<-st.slots
		l.done(host, st)
	}

	l.mu.Lock()
	now := time.Now()
	start := now
	if st.next.After(now) {
		start = st.next
	}
	st.next = start.Add(st.delay)
	l.mu.Unlock()
	if wait := start.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

// setDelay raises the delay of host (a robots.txt Crawl-delay).
func (l *hostLimiter) setDelay(host string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.hosts[host]; st != nil && d > st.delay {
		st.delay = d
	}
}

func (l *hostLimiter) done(host string, st *hostState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st.refs--
	// An idle host whose delay has passed has nothing left to remember.
	if st.refs == 0 && !st.next.After(time.Now()) {
		delete(l.hosts, host)
	}
	if len(l.hosts) > 4096 {
		now := time.Now()
		for h, s := range l.hosts {
			if s.refs == 0 && !s.next.After(now) {
				delete(l.hosts, h)
			}
		}
	}
}
