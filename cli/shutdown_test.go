package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// publishBacklog adds n posts.parsed events made of the corpus sample, each
// with its own post id, and returns the stream key.
func publishBacklog(t *testing.T, rdb *redis.Client, prefix string, n int) string {
	t.Helper()
	ctx := context.Background()
	key := prefix + "posts.parsed"
	posts := testenv.SamplePosts(t, 0)
	pipe := rdb.Pipeline()
	for i := range n {
		p := posts[i%len(posts)]
		posted, _ := time.Parse(time.RFC3339, p.Date)
		ev := &events.PostParsed{
			Envelope:  events.Envelope{SchemaVersion: events.SchemaV1, TraceID: fmt.Sprintf("trace-%d", i), OccurredAt: time.Now()},
			PostID:    fmt.Sprintf("backlog-%d", i),
			ChannelID: fmt.Sprint(p.ChannelID), Text: p.Text, PostedAt: posted,
		}
		values, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: values})
		if i%1000 == 999 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return key
}

// backlogSize is the backlog of TestRunSIGTERMFinishesWhatItHolds;
// ASSISTANT_TEST_BACKLOG raises it for a measurement (the 20,000).
func backlogSize(t *testing.T) int {
	if s := os.Getenv("ASSISTANT_TEST_BACKLOG"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ASSISTANT_TEST_BACKLOG=%q: want a positive number", s)
		}
		return n
	}
	return 5000
}

// TestRunSIGTERMFinishesWhatItHolds: `assistant run` told to stop with
// SIGTERM in the middle of a backlog logs the signal, stops reading, and
// handles and acknowledges everything it had read (queued for its workers
// included) before it exits 0: the group has nothing pending, the rest of
// the backlog is unread, every entry read has its output, and the consumer
// left the group with its heartbeat.
func TestRunSIGTERMFinishesWhatItHolds(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	n := backlogSize(t)
	in := publishBacklog(t, rdb, prefix, n)
	out := prefix + "posts.tagged"

	body := fmt.Sprintf(`log:
  format: text
http:
  addr: 127.0.0.1:0
api:
  addr: ""
redis:
  url: %s
  key_prefix: %q
ai:
  tagger: local
runner:
  block: 100ms
  shutdown_timeout: 20s
  heartbeat_interval: 200ms
stages:
  tag:
    workers: 2
    batch_size: 32
    max_inflight: 256
`, testenv.RedisURL(), prefix)
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := processCommand(t, "", nil, "run", "--stages=tag", "--config", cfgPath)
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	deadline := time.Now().Add(60 * time.Second)
	for rdb.XLen(ctx, out).Val() < int64(min(n/10, 500)) {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not get going; log:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30 s after SIGTERM; log:\n%s", stderr.String())
	}
	took := time.Since(signalled)
	logs := stderr.String()
	if waitErr != nil {
		t.Fatalf("exit after SIGTERM: %v (want 0); log:\n%s", waitErr, logs)
	}
	if !regexp.MustCompile(`level=INFO msg="shutdown signal received" signal=terminated shutdown_timeout=20s`).MatchString(logs) {
		t.Errorf("no log line for the signal; log:\n%s", logs)
	}
	stopped := regexp.MustCompile(`msg="stage stopped".* held_at_stop=(\d+) acked_at_stop=(\d+) left_pending=0 `).FindStringSubmatch(logs)
	if stopped == nil {
		t.Errorf("no last line of the stage with left_pending=0; log:\n%s", logs)
	}

	pend, err := rdb.XPending(ctx, in, "tag").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pend.Count != 0 {
		t.Errorf("%d entries left pending in group tag after a clean stop, want 0", pend.Count)
	}
	groups, err := rdb.XInfoGroups(ctx, in).Result()
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups of %s: %v %v", in, groups, err)
	}
	read := int64(n) - groups[0].Lag
	if groups[0].Lag == 0 {
		t.Errorf("the whole backlog of %d was read: the stop came too late to test anything", n)
	}
	if tagged := rdb.XLen(ctx, out).Val(); tagged != read {
		t.Errorf("%d outputs for %d entries read, want one each", tagged, read)
	}
	consumers, err := rdb.XInfoConsumers(ctx, in, "tag").Result()
	if err != nil || len(consumers) != 0 {
		t.Errorf("consumers left in group tag: %v (%v), want none", consumers, err)
	}
	if keys := rdb.Keys(ctx, prefix+"heartbeat:*").Val(); len(keys) != 0 {
		t.Errorf("heartbeat keys left: %v", keys)
	}
	held := ""
	if stopped != nil {
		held = stopped[1] + " held, " + stopped[2] + " acked during the stop"
	}
	t.Logf("backlog %d: SIGTERM to exit %s; %s; %d read, %d unread, %d pending", n, took.Round(time.Millisecond), held, read, groups[0].Lag, pend.Count)
}

// TestWatchSignals: the first signal cancels the command with a
// SignalError cause (a requested stop: it unwraps to context.Canceled); an
// echo of it within signalEcho is ignored; a later signal forces the exit.
func TestWatchSignals(t *testing.T) {
	t.Parallel()
	sigs := make(chan os.Signal, 3)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	forced := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { defer close(done); watchSignals(sigs, cancel, func(s os.Signal) { forced <- s }) }()

	sigs <- syscall.SIGTERM
	<-ctx.Done()
	var se *SignalError
	if cause := context.Cause(ctx); !errors.As(cause, &se) || se.Signal != syscall.SIGTERM || !errors.Is(cause, context.Canceled) {
		t.Fatalf("cause %v: want a SignalError for SIGTERM that is a context.Canceled", cause)
	}
	sigs <- syscall.SIGTERM // the same request delivered twice
	select {
	case s := <-forced:
		t.Fatalf("an echo of the first signal forced the exit (%v)", s)
	case <-time.After(signalEcho / 2):
	}
	time.Sleep(signalEcho / 2)
	sigs <- syscall.SIGINT
	select {
	case s := <-forced:
		if s != syscall.SIGINT {
			t.Errorf("forced by %v, want SIGINT", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second signal after the echo window did not force the exit")
	}
	<-done
	if got := signalExitStatus(syscall.SIGTERM); got != 143 {
		t.Errorf("exit status after SIGTERM %d, want 143", got)
	}
}
