package cleanup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/stages/cleanup"
	"github.com/assistant-dev/assistant/store/postgres"
)

// The crash test runs a sweeper in a separate process — this test binary
// re-executed with sweeperEnv set to "<database url> <redis prefix>" — so
// that it can be killed with SIGKILL mid-sweep.
const sweeperEnv = "CLEANUP_TEST_SWEEPER"

// Settings of the sweeper subprocess and its successor: small batches and
// a pause between them, so the kill lands mid-sweep; a short lease.
var crashCfg = cleanup.Config{SweepBatch: 20, Pause: 100 * time.Millisecond, LeaseTTL: 2 * time.Second, Interval: time.Hour}

func TestMain(m *testing.M) {
	if v := os.Getenv(sweeperEnv); v != "" {
		os.Exit(runSweeper(v))
	}
	os.Exit(m.Run())
}

// runSweeper sweeps until killed (or done), logging JSON to stdout.
func runSweeper(v string) int {
	dbURL, prefix, _ := strings.Cut(v, " ")
	ctx := context.Background()
	pool, err := postgres.Open(ctx, config.Database{URL: dbURL, MaxConns: 4})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	vec, err := postgres.NewVectorStore(ctx, pool)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rdb := redis.NewClient(mustRedisOptions())
	c, err := cleanup.NewCleaner(cleanup.Options{Pool: pool, Vectors: vec, Graph: postgres.NewGraphStore(pool), Redis: rdb,
		Prefix: prefix, Config: crashCfg, Logger: slog.New(slog.NewJSONHandler(os.Stdout, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for {
		swept, err := cleanup.NewServiceFor(c).Once(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if swept {
			return 0
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustRedisOptions() *redis.Options {
	o, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		panic(err)
	}
	return o
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(s.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestKilledSweeperResumes runs two sweepers at once: a subprocess takes the
// lease and sweeps in small batches while this process's sweeper is turned
// away; the subprocess is killed with SIGKILL mid-sweep; this process takes
// the lease once it expires and resumes from the checkpoint — its first
// batch is the one after the last the dead holder recorded (seen in its
// log and in cleanup_sweep_batches) — and the final state is exactly a
// clean single sweep's.
func TestKilledSweeperResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.seed(t, 1500) // 500 expired: 25 batches of 20 in the posts phase

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), sweeperEnv+"="+e.dbURL+" "+e.prefix)
	var childOut syncBuffer
	cmd.Stdout, cmd.Stderr = &childOut, &childOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var logs syncBuffer
	c := e.cleaner(t, crashCfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	svc := cleanup.NewServiceFor(c)

	// Wait until the subprocess is a few batches in; meanwhile our
	// sweeper must be turned away by the lease.
	deadline := time.Now().Add(time.Minute)
	turnedAway := 0
	var cp cleanup.Checkpoint
	for {
		if time.Now().After(deadline) {
			t.Fatalf("subprocess never got 5 batches in; its output:\n%s", childOut.b.String())
		}
		got, ok, err := c.LoadCheckpoint(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok && got.Batches >= 5 {
			break
		}
		if ok {
			swept, err := svc.Once(e.ctx)
			if err != nil || swept {
				t.Fatalf("second sweeper ran beside the holder: swept=%v err=%v", swept, err)
			}
			turnedAway++
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	cp, ok, err := c.LoadCheckpoint(e.ctx)
	if err != nil || !ok {
		t.Fatalf("no checkpoint after the kill: %v", err)
	}
	if cp.Phase != cleanup.PhasePosts {
		t.Fatalf("killed in phase %s; want posts (the test needs a mid-phase kill)", cp.Phase)
	}
	t.Logf("holder killed at checkpoint: phase=%s batches=%d cursor=(%s, %s); our sweeper was turned away %d times",
		cp.Phase, cp.Batches, cp.CursorExpires.Format(time.RFC3339), cp.CursorID, turnedAway)

	// The lease is still the dead holder's until it expires.
	killedAt := time.Now()
	var res cleanup.SweepResult
	for {
		lease := cleanup.NewLease(c.Redis(), c.LeaseKey(), crashCfg.LeaseTTL)
		ok, err := lease.Acquire(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if res, err = c.Sweep(e.ctx, lease); err != nil {
				t.Fatal(err)
			}
			_ = lease.Release(e.ctx)
			break
		}
		if time.Since(killedAt) > 30*time.Second {
			t.Fatal("lease never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if waited := time.Since(killedAt); waited < crashCfg.LeaseTTL/2 {
		t.Errorf("took over after %s, before the lease (TTL %s) could have expired", waited, crashCfg.LeaseTTL)
	}
	if res.Resumed == nil || res.Resumed.Batches != cp.Batches || res.Resumed.CursorID != cp.CursorID {
		t.Fatalf("sweep resumed from %+v, want the checkpoint %+v", res.Resumed, cp)
	}
	var first map[string]any
	for _, l := range logs.lines() {
		if l["msg"] == "sweep batch" {
			first = l
			break
		}
	}
	if first == nil || int(first["batch"].(float64)) != cp.Batches+1 || first["phase"] != cleanup.PhasePosts {
		t.Fatalf("first batch after the takeover = %v, want batch %d of phase posts", first, cp.Batches+1)
	}
	t.Logf("successor's first batch: %d (phase %s, cursor %v)", cp.Batches+1, first["phase"], first["cursor_id"])
	compareState(t, e.snapshot(t, e.pgVectorIDs(t)), e.want(f))
	if _, ok, _ := c.LoadCheckpoint(e.ctx); ok {
		t.Error("checkpoint left after the resumed sweep finished")
	}
}

// TestLeaseFencing: a holder whose lease expired and was taken over cannot
// renew it or write a checkpoint (the fence), and its sweep stops with
// ErrLeaseLost at the next batch.
func TestLeaseFencing(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	key := prefix + "cleanup:lease"
	a := cleanup.NewLease(rdb, key, time.Second)
	b := cleanup.NewLease(rdb, key, time.Second)
	if ok, err := a.Acquire(ctx); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, _ := b.Acquire(ctx); ok {
		t.Fatal("b took a held lease")
	}
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, key) // a "pauses" past its TTL: the lease expires
	if ok, _ := b.Acquire(ctx); !ok {
		t.Fatal("b could not take the expired lease")
	}
	if b.Token() <= a.Token() {
		t.Errorf("tokens not increasing: a=%d b=%d", a.Token(), b.Token())
	}
	if err := a.Checkpoint(ctx, prefix+"cleanup:checkpoint", false, "phase", "posts"); err != cleanup.ErrLeaseLost {
		t.Errorf("stale holder's checkpoint: %v, want ErrLeaseLost", err)
	}
	if err := a.Renew(ctx); err != cleanup.ErrLeaseLost {
		t.Errorf("stale holder's renew: %v, want ErrLeaseLost", err)
	}
	if n := rdb.Exists(ctx, prefix+"cleanup:checkpoint").Val(); n != 0 {
		t.Error("the fenced-off write landed")
	}
	if err := a.Release(ctx); err != nil || rdb.Exists(ctx, key).Val() != 1 {
		t.Errorf("stale release removed the new holder's lease: %v", err)
	}
}

// hookHandler hands every log record to hook before writing it: the test
// acts at an exact point of the sweep (after a batch's checkpoint).
type hookHandler struct {
	slog.Handler
	hook func(slog.Record)
}

func (h hookHandler) Handle(ctx context.Context, r slog.Record) error {
	h.hook(r)
	return h.Handler.Handle(ctx, r)
}
func (h hookHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return hookHandler{h.Handler.WithAttrs(as), h.hook}
}
func (h hookHandler) WithGroup(name string) slog.Handler {
	return hookHandler{h.Handler.WithGroup(name), h.hook}
}

// TestLostLeaseStopsTheSweep: right after the first batch's checkpoint the
// lease passes to another holder (the key expires, the successor takes
// it). The sweep must notice at the next batch's fenced checkpoint and
// return ErrLeaseLost: one batch more deleted at most, no batch recorded
// after the takeover, the checkpoint still the first batch's, and the rest
// of the expired posts left to the new holder.
func TestLostLeaseStopsTheSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.seed(t, 300) // 100 expired: 10 batches of 10 in the posts phase
	cfg := cleanup.Config{SweepBatch: 10, LeaseTTL: 30 * time.Second, Interval: time.Hour}

	var (
		successor   *cleanup.Lease
		takeoverErr error
		afterLoss   int // batches recorded after the takeover
	)
	var c *cleanup.Cleaner
	hook := func(r slog.Record) {
		if r.Message != "sweep batch" {
			return
		}
		if successor != nil {
			afterLoss++
			return
		}
		// The holder's lease expires (as after a long pause) and another
		// replica takes it.
		successor = cleanup.NewLease(c.Redis(), c.LeaseKey(), cfg.LeaseTTL)
		if err := c.Redis().Del(e.ctx, c.LeaseKey()).Err(); err != nil {
			takeoverErr = err
			return
		}
		if ok, err := successor.Acquire(e.ctx); !ok || err != nil {
			takeoverErr = fmt.Errorf("successor could not take the lease: %v %v", ok, err)
		}
	}
	c = e.cleaner(t, cfg, slog.New(hookHandler{slog.NewTextHandler(io.Discard, nil), hook}))
	lease := cleanup.NewLease(c.Redis(), c.LeaseKey(), cfg.LeaseTTL)
	if ok, err := lease.Acquire(e.ctx); !ok || err != nil {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	res, err := c.Sweep(e.ctx, lease)
	if takeoverErr != nil {
		t.Fatal(takeoverErr)
	}
	if !errors.Is(err, cleanup.ErrLeaseLost) {
		t.Fatalf("sweep after losing its lease: %v (%d batches), want ErrLeaseLost", err, res.Batches)
	}
	if afterLoss != 0 || res.Batches > 2 {
		t.Fatalf("the holder went on after losing its lease: %d batches recorded after the takeover, %d run", afterLoss, res.Batches)
	}
	expired := 0
	for i := range f.n {
		if f.expired(i) {
			expired++
		}
	}
	left := e.ids(t, `SELECT post_id FROM posts WHERE expires_at < now()`)
	if want := expired - 10*res.Batches; len(left) != want {
		t.Errorf("%d expired posts left, want %d (only the %d batches before the loss was seen deleted)", len(left), want, res.Batches)
	}
	cp, ok, err := c.LoadCheckpoint(e.ctx)
	if err != nil || !ok || cp.Batches != 1 {
		t.Errorf("checkpoint after the loss: %+v ok=%v err=%v, want the first batch's", cp, ok, err)
	}
	if got := c.Redis().Get(e.ctx, c.LeaseKey()).Val(); got != strconv.FormatInt(successor.Token(), 10) {
		t.Errorf("lease holds %q, want the successor's token %d", got, successor.Token())
	}
}
