package e2e

// fault_matrix_test.go: issue 21's fault matrix. Each test runs posts
// through `assistant run --stages=tag,persist` (the real binary) while a
// real server fails the way it really fails — PostgreSQL refusing
// connections, restarting, stopped, out of connection slots, timing out on
// a lock, killing the transaction mid-commit; Redis pausing writes, out of
// memory under noeviction, demoted to a read-only replica — and checks that
// no post is dead-lettered or lost, that the daemon never exits, and how
// soon it recovers. A test that stops, restarts or reconfigures a server
// starts its own (testenv.PostgresServer, testenv.RedisServer); one that
// only blocks a database uses a database of its own on the shared server.
// Every test logs one "fault matrix |" line with its figures
// (docs/operations.md, "Fault matrix").

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/store/postgres"
)

// faultPosts is the number of posts of each fault test: enough that posts
// are in flight through the fault, few enough to keep the suite fast.
const faultPosts = 400

// faultCase is one row of the fault matrix.
type faultCase struct {
	name string
	// stack is the test's stack (its own servers where the fault needs
	// them).
	stack *Stack
	// fault breaks the dependency, keeps it broken for its duration, and
	// repairs it before returning.
	fault func(ctx context.Context, t *testing.T) error
	// ingestDuringFault publishes the second half of the posts while the
	// fault lasts (not when the fault is Redis's own: ingest needs it).
	ingestDuringFault bool
	// ingestAfterFault publishes the second half of the posts as soon as
	// the fault function returns (a Redis that fails over: ingest needs a
	// master for the slot).
	ingestAfterFault bool
	// stages the daemon runs (default tag,persist). With index among them
	// the row ends when every post is indexed (posts.indexed) and every
	// group of the daemon's stages is drained.
	stages []string
}

// readyzWatch records the /readyz answers while a fault lasts.
type readyzWatch struct {
	mu     sync.Mutex
	counts map[string]int
	stop   chan struct{}
	done   chan struct{}
}

func watchReadyz(ctx context.Context, d *Daemon) *readyzWatch {
	w := &readyzWatch{counts: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			status, _, err := d.Get(rctx, "/readyz")
			cancel()
			key := fmt.Sprint(status)
			if err != nil {
				key = "no answer"
			}
			w.mu.Lock()
			w.counts[key]++
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *readyzWatch) finish() string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for _, k := range sortedKeys(w.counts) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, w.counts[k]))
	}
	return strings.Join(parts, " ")
}

// runFaultCase runs the row: half the posts in, the fault (the other half
// published during it where it can be), then every post stored, no DLQ
// entry, the same daemon process, and the figures logged.
func runFaultCase(t *testing.T, fc faultCase) {
	ctx := context.Background()
	sample := testenv.SamplePosts(t, 0)
	input := variants(sample, (faultPosts+len(sample)-1)/len(sample))[:faultPosts]
	dir := t.TempDir()
	first, err := WriteJSONL(dir, "first.jsonl", input[:faultPosts/2])
	if err != nil {
		t.Fatal(err)
	}
	second, err := WriteJSONL(dir, "second.jsonl", input[faultPosts/2:])
	if err != nil {
		t.Fatal(err)
	}
	stack := fc.stack
	// Two attempts, not the default five: a fault that spent attempts
	// would dead-letter posts within the fault's few seconds (before
	// issue 21 the refusal rows did), one that spends none dead-letters
	// nothing however small the budget.
	stack.Env["ASSISTANT_RUNNER_MAX_ATTEMPTS"] = "2"
	stages := fc.stages
	if len(stages) == 0 {
		stages = []string{"tag", "persist"}
	}
	indexing := slices.Contains(stages, "index")
	stack.Stages = stages
	daemon := stack.Start(ctx, Options{Stages: stages})
	pid := daemon.PID()
	stack.Ingest(ctx, first)
	if !fc.ingestDuringFault && !fc.ingestAfterFault {
		stack.Ingest(ctx, second)
	}
	before := waitStoredTags(ctx, t, stack, faultPosts/8)

	watch := watchReadyz(ctx, daemon)
	faultStart := time.Now()
	faultErr := make(chan error, 1)
	go func() { faultErr <- fc.fault(ctx, t) }()
	if fc.ingestDuringFault {
		stack.Ingest(ctx, second)
	}
	if err := <-faultErr; err != nil {
		watch.finish()
		t.Fatalf("fault %s: %v", fc.name, err)
	}
	lifted := time.Now()
	during := watch.finish()
	if fc.ingestAfterFault {
		stack.Ingest(ctx, second)
	}

	ready := PollUntil(ctx, time.Minute, 50*time.Millisecond, func() bool {
		status, _, err := daemon.Get(ctx, "/readyz")
		return err == nil && status == http.StatusOK
	})
	readyAfter := time.Since(lifted)
	if !ready {
		t.Errorf("/readyz not 200 within a minute of the fault's end")
	}
	// Not WaitDrained: the groups of the stages this daemon does not run
	// (enrich on posts.tagged) exist and lag by design.
	stored := 0
	drained := PollUntil(ctx, 3*time.Minute, 50*time.Millisecond, func() bool {
		n, err := stack.CountRows(ctx, `SELECT count(*) FROM post_enrichment WHERE kind = 'tags'`)
		if err != nil {
			return false
		}
		stored = n
		if stored < faultPosts {
			return false
		}
		if indexing {
			state, err := stack.DrainState(ctx)
			return err == nil && state == "" && stack.Redis.XLen(ctx, stack.Keys.Stream(stack.Streams.Indexed)).Val() >= faultPosts
		}
		for stream, group := range map[string]string{stack.Streams.Parsed: "tag", stack.Streams.Tagged: "persist"} {
			p, err := stack.Redis.XPending(ctx, stack.Keys.Stream(stream), group).Result()
			if err != nil || p.Count != 0 {
				return false
			}
		}
		return true
	})
	drainedAfter := time.Since(lifted)
	if !drained {
		t.Errorf("not drained within 3 minutes of the fault's end: %d of %d stored", stored, faultPosts)
	}
	dlq, err := stack.DLQLengths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dead := int64(0)
	for _, n := range dlq {
		dead += n
	}
	t.Logf("fault matrix | %s | %d posts | %d stored before the fault | fault %s | /readyz during: %s | ready %s after | drained %s after | %d stored | %d dead-lettered | daemon pid kept %v",
		fc.name, faultPosts, before, lifted.Sub(faultStart).Round(100*time.Millisecond), during,
		readyAfter.Round(100*time.Millisecond), drainedAfter.Round(100*time.Millisecond), stored, dead,
		daemon.Running() && daemon.PID() == pid)
	requireAllStored(ctx, t, stack, input)
	stack.RequireDLQsEmpty(ctx)
	if !daemon.Running() || daemon.PID() != pid {
		t.Fatal("the daemon restarted or exited during the fault")
	}
	daemon.Stop()
}

// everyFor runs step every interval for d (and once more at the end).
func everyFor(ctx context.Context, d, interval time.Duration, step func() error) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := step(); err != nil {
			return err
		}
		sleepFor(ctx, interval)
	}
	return nil
}

func sleepFor(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// withParam returns rawURL with a query parameter set.
func withParam(t *testing.T, rawURL, key, value string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// ownServerStack is a stack whose daemon uses a PostgreSQL server of the
// test's own.
func ownServerStack(t *testing.T, settings ...string) (*Stack, *testenv.PGServer) {
	pg := testenv.PostgresServer(t, settings...)
	return NewStackWithDatabase(t, withParam(t, pg.URL(""), "search_path", "assistant")), pg
}

// TestFaultMatrixPostgres: the PostgreSQL rows (runner.max_attempts 2: a
// fault that spent attempts would dead-letter posts).
func TestFaultMatrixPostgres(t *testing.T) {
	t.Parallel()
	t.Run("connections refused", func(t *testing.T) {
		// Issue 21 item 1: ALLOW_CONNECTIONS false plus pg_terminate_backend
		// every 0.5 s for 8 s (the 10 s, shortened; the refusal is
		// the same every half second).
		t.Parallel()
		ctx := context.Background()
		admin, database, dbURL := dedicatedDatabase(ctx, t)
		ident := pgx.Identifier{database}.Sanitize()
		runFaultCase(t, faultCase{
			name:  "PostgreSQL refuses connections (ALLOW_CONNECTIONS false + pg_terminate_backend every 0.5 s, 8 s)",
			stack: NewStackWithDatabase(t, dbURL), ingestDuringFault: true,
			fault: func(ctx context.Context, t *testing.T) error {
				if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS false"); err != nil {
					return err
				}
				err := everyFor(ctx, 8*time.Second, 500*time.Millisecond, func() error {
					_, err := terminateDaemonConnections(ctx, admin, database)
					return err
				})
				if _, aerr := admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS true"); aerr != nil && err == nil {
					err = aerr
				}
				return err
			},
		})
	})
	t.Run("restart fast", func(t *testing.T) {
		t.Parallel()
		stack, pg := ownServerStack(t)
		runFaultCase(t, faultCase{
			name: "pg_ctl restart -m fast during a batch", stack: stack, ingestDuringFault: true,
			fault: func(ctx context.Context, t *testing.T) error { return pg.Restart("fast") },
		})
	})
	t.Run("stopped", func(t *testing.T) {
		// The 30 s, shortened to 10 s: the daemon's behaviour
		// (paused, probing every second, backoff capped) is the same.
		t.Parallel()
		stack, pg := ownServerStack(t)
		runFaultCase(t, faultCase{
			name: "PostgreSQL stopped (pg_ctl stop -m fast) for 10 s", stack: stack, ingestDuringFault: true,
			fault: func(ctx context.Context, t *testing.T) error {
				if err := pg.Stop("fast"); err != nil {
					return err
				}
				sleepFor(ctx, 10*time.Second)
				return pg.Start()
			},
		})
	})
	t.Run("max_connections exhausted", func(t *testing.T) {
		t.Parallel()
		stack, pg := ownServerStack(t, "max_connections=15", "superuser_reserved_connections=0")
		runFaultCase(t, faultCase{
			name: "max_connections exhausted by another client for 8 s", stack: stack, ingestDuringFault: true,
			fault: func(ctx context.Context, t *testing.T) error {
				admin, err := pgx.Connect(ctx, pg.URL(""))
				if err != nil {
					return err
				}
				defer admin.Close(ctx)
				var hogs []*pgx.Conn
				defer func() {
					for _, c := range hogs {
						_ = c.Close(ctx)
					}
				}()
				// Take every slot: the daemon's connections are terminated
				// one by one and the slots taken before it reconnects.
				for range 40 {
					c, err := pgx.Connect(ctx, withParam(t, pg.URL(""), "application_name", "hog"))
					if err == nil {
						hogs = append(hogs, c)
						continue
					}
					if postgres.SQLState(err) != "53300" {
						return fmt.Errorf("hog connection: %w", err)
					}
					if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, postgres.DefaultApplicationName); err != nil {
						return err
					}
				}
				t.Logf("another client holds %d of max_connections=15", len(hogs)+1)
				sleepFor(ctx, 8*time.Second)
				return nil
			},
		})
	})
	t.Run("lock timeout", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		_, _, dbURL := dedicatedDatabase(ctx, t)
		stack := NewStackWithDatabase(t, withParam(t, dbURL, "lock_timeout", "300ms"))
		runFaultCase(t, faultCase{
			name: "lock_timeout (300 ms): another client holds ACCESS EXCLUSIVE on posts and post_enrichment for 8 s", stack: stack, ingestDuringFault: true,
			fault: func(ctx context.Context, t *testing.T) error {
				locker, err := pgx.Connect(ctx, dbURL)
				if err != nil {
					return err
				}
				defer locker.Close(ctx)
				tx, err := locker.Begin(ctx)
				if err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "LOCK TABLE posts, post_enrichment IN ACCESS EXCLUSIVE MODE"); err != nil {
					_ = tx.Rollback(ctx)
					return err
				}
				sleepFor(ctx, 8*time.Second)
				return tx.Rollback(ctx)
			},
		})
	})
	t.Run("killed mid-commit", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		admin, database, dbURL := dedicatedDatabase(ctx, t)
		killed := 0
		runFaultCase(t, faultCase{
			name:  "transactions killed mid-statement/commit (pg_terminate_backend of active persist backends every 50 ms, 8 s)",
			stack: NewStackWithDatabase(t, dbURL), ingestDuringFault: true,
			fault: func(ctx context.Context, t *testing.T) error {
				err := everyFor(ctx, 8*time.Second, 50*time.Millisecond, func() error {
					var n int
					err := admin.QueryRow(ctx, `
SELECT count(*) FROM (
    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = $1 AND application_name = $2 AND state IN ('active', 'idle in transaction')
) AS k`, database, postgres.DefaultApplicationName).Scan(&n)
					killed += n
					return err
				})
				t.Logf("terminated %d active persist backends", killed)
				return err
			},
		})
	})
}

// ownRedisStack is a stack whose daemon and ingest use a Redis of the
// test's own.
func ownRedisStack(t *testing.T, r *testenv.RedisInstance) *Stack {
	stack := NewStack(t)
	stack.Redis = r.Client(t)
	stack.Env["REDIS_URL"] = r.URL()
	return stack
}

// TestFaultMatrixRedis: the Redis rows (a Redis killed and restarted empty
// is pipeline's TestRunnerRepublishesRetriesRedisLost). The posts are all published before the
// fault: ingest writes to the Redis at fault.
func TestFaultMatrixRedis(t *testing.T) {
	t.Parallel()
	t.Run("client pause write", func(t *testing.T) {
		t.Parallel()
		r := testenv.RedisServer(t)
		stack := ownRedisStack(t, r)
		admin := r.Client(t)
		runFaultCase(t, faultCase{
			name: "Redis CLIENT PAUSE 8000 WRITE", stack: stack,
			fault: func(ctx context.Context, t *testing.T) error {
				if err := admin.Do(ctx, "CLIENT", "PAUSE", "8000", "WRITE").Err(); err != nil {
					return err
				}
				sleepFor(ctx, 8*time.Second)
				return nil
			},
		})
	})
	t.Run("maxmemory noeviction", func(t *testing.T) {
		t.Parallel()
		r := testenv.RedisServer(t, "--maxmemory-policy", "noeviction")
		stack := ownRedisStack(t, r)
		admin := r.Client(t)
		runFaultCase(t, faultCase{
			name: "Redis maxmemory reached with noeviction (writes answer OOM) for 8 s", stack: stack,
			fault: func(ctx context.Context, t *testing.T) error {
				info, err := admin.Info(ctx, "memory").Result()
				if err != nil {
					return err
				}
				var usedMemory int64
				for _, line := range strings.Split(info, "\n") {
					if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
						_, _ = fmt.Sscan(v, &usedMemory)
					}
				}
				if err := admin.ConfigSet(ctx, "maxmemory", fmt.Sprint(usedMemory/2)).Err(); err != nil {
					return err
				}
				oom := admin.Set(ctx, "oom-probe", "x", 0).Err()
				t.Logf("maxmemory set to %d bytes (used %d); a write answers: %v", usedMemory/2, usedMemory, oom)
				if oom == nil || !strings.HasPrefix(oom.Error(), "OOM") {
					return fmt.Errorf("a write under maxmemory answered %v, want OOM", oom)
				}
				sleepFor(ctx, 8*time.Second)
				return admin.ConfigSet(ctx, "maxmemory", "0").Err()
			},
		})
	})
	t.Run("readonly after failover", func(t *testing.T) {
		t.Parallel()
		r := testenv.RedisServer(t)
		other := testenv.RedisServer(t)
		stack := ownRedisStack(t, r)
		admin := r.Client(t)
		peer := other.Client(t)
		host, port, _ := strings.Cut(r.Addr, ":")
		if err := peer.ReplicaOf(context.Background(), host, port).Err(); err != nil {
			t.Fatal(err)
		}
		runFaultCase(t, faultCase{
			name: "Redis demoted to a read-only replica (peer promoted, REPLICAOF) for 8 s", stack: stack,
			fault: func(ctx context.Context, t *testing.T) error {
				// A failover as Sentinel does it: writes paused on the
				// master, the replica caught up and promoted, the old
				// master made its replica (READONLY to every write).
				// The replica's first sync may still run on a loaded
				// machine: wait for the link before pausing.
				if !PollUntil(ctx, 15*time.Second, 20*time.Millisecond, func() bool {
					p, _ := peer.Info(ctx, "replication").Result()
					return strings.Contains(p, "master_link_status:up")
				}) {
					return fmt.Errorf("replica never linked to the master")
				}
				if err := admin.Do(ctx, "CLIENT", "PAUSE", "10000", "WRITE").Err(); err != nil {
					return err
				}
				if !PollUntil(ctx, 8*time.Second, 20*time.Millisecond, func() bool {
					m, _ := admin.Info(ctx, "replication").Result()
					p, _ := peer.Info(ctx, "replication").Result()
					return replOffset(m, "master_repl_offset") > 0 && replOffset(m, "master_repl_offset") == replOffset(p, "slave_repl_offset")
				}) {
					return fmt.Errorf("replica did not catch up")
				}
				if err := peer.ReplicaOf(ctx, "NO", "ONE").Err(); err != nil {
					return err
				}
				phost, pport, _ := strings.Cut(other.Addr, ":")
				if err := admin.ReplicaOf(ctx, phost, pport).Err(); err != nil {
					return err
				}
				_ = admin.Do(ctx, "CLIENT", "UNPAUSE").Err()
				ro := admin.Set(ctx, "readonly-probe", "x", 0).Err()
				t.Logf("demoted; a write answers: %v", ro)
				sleepFor(ctx, 8*time.Second)
				// Back: the old master promoted again (it holds the peer's
				// copy of the data, which was its own).
				return admin.ReplicaOf(ctx, "NO", "ONE").Err()
			},
		})
	})
}

// replOffset reads a numeric field of INFO replication.
func replOffset(info, field string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			var n int64
			_, _ = fmt.Sscan(v, &n)
			return n
		}
	}
	return -1
}
