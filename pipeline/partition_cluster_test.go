package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// seedPartitioned adds test events 0..n-1, event i with post id
// "post-<i>": with routed, every third to the unpartitioned key (a producer
// that does not know partitions: the router moves it), the others straight
// to their partition, as a partition-aware producer writes them.
func seedPartitioned(t *testing.T, rdb redis.Cmdable, keys pipeline.Keys, stream string, n int, routed bool) {
	t.Helper()
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range n {
		ev := testEvent{N: i, PostID: "post-" + strconv.Itoa(i)}
		ev.SchemaVersion = events.SchemaV1
		ev.TraceID = "trace-" + strconv.Itoa(i)
		values, err := events.Encode(&ev)
		if err != nil {
			t.Fatal(err)
		}
		key := keys.PartStream(keys.PartitionOf(ev.PostID), stream)
		if routed && i%3 == 0 {
			key = keys.Stream(stream)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// partitionedOutputs reads every partition of the output stream: the
// outputs of each event number, and the events found outside their post's
// partition.
func partitionedOutputs(t *testing.T, rdb redis.Cmdable, keys pipeline.Keys, stream string) (counts map[int]int, misplaced int) {
	t.Helper()
	counts = map[int]int{}
	for p, key := range keys.StreamKeys(stream) {
		msgs, err := rdb.XRange(context.Background(), key, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var ev testEvent
			if err := events.Decode(m.Values, &ev); err != nil {
				t.Fatal(err)
			}
			counts[ev.N]++
			if keys.PartitionOf(ev.PostID) != p {
				misplaced++
			}
		}
	}
	return counts, misplaced
}

// pendingOf sums the pending entries of group over keys, and those held by
// consumers whose name contains owner.
func pendingOf(ctx context.Context, rdb redis.Cmdable, keys []string, group, owner string) (all, owned int64, err error) {
	for _, key := range keys {
		p, err := rdb.XPending(ctx, key, group).Result()
		if err != nil {
			return 0, 0, fmt.Errorf("xpending %s: %w", key, err)
		}
		all += p.Count
		for c, n := range p.Consumers {
			if strings.Contains(c, owner) {
				owned += n
			}
		}
	}
	return all, owned, nil
}

// masterStats is what INFO says about one master.
type masterStats struct {
	addr     string
	calls    map[string]int64 // commandstats calls by command
	crossErr int64            // errorstat_CROSSSLOT
}

func readMasterStats(t *testing.T, rdb *redis.ClusterClient) []masterStats {
	t.Helper()
	ctx := context.Background()
	var out []masterStats
	var mu = make(chan struct{}, 1)
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		info, err := m.Info(ctx, "commandstats", "errorstats").Result()
		if err != nil {
			return err
		}
		st := masterStats{addr: m.Options().Addr, calls: map[string]int64{}}
		for _, line := range strings.Split(info, "\n") {
			line = strings.TrimSpace(line)
			if name, rest, ok := strings.Cut(line, ":calls="); ok && strings.HasPrefix(name, "cmdstat_") {
				n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
				st.calls[strings.TrimPrefix(name, "cmdstat_")] = n
			}
			if v, ok := strings.CutPrefix(line, "errorstat_CROSSSLOT:count="); ok {
				st.crossErr, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		mu <- struct{}{}
		out = append(out, st)
		<-mu
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out
}

func resetMasterStats(t *testing.T, rdb *redis.ClusterClient) {
	t.Helper()
	if err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		return m.ConfigResetStat(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
}

// streamCommands are the commands whose spread over the masters the
// partitions are for: reads, writes, acknowledgements, commits.
var streamCommands = []string{"xreadgroup", "xadd", "xack", "exec"}

// TestPartitionedClusterReplicaKilledMidRun runs two replicas of a stage on
// a real three-master cluster with 1, 3 and 12 partitions (and a six-master
// one with 12), a third of the
// input written unpartitioned (routed) and the rest straight into the
// partitions (and 12 partitions once more with nothing routed), and kills one replica (SIGKILL) while it holds entries. Every
// entry comes out, in its post's partition, nothing stays pending, no
// command was refused with CROSSSLOT, and with 3 and 12 partitions every
// master carries its share of the stream commands.
func TestPartitionedClusterReplicaKilledMidRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const total = 4000
	clusters := map[int]*testenv.Cluster{}
	for _, tc := range []struct {
		masters int
		n       int
		routed  bool // a third of the input through the router
	}{{3, 1, true}, {3, 3, true}, {3, 12, true}, {3, 12, false}, {6, 12, false}} {
		n := tc.n
		if clusters[tc.masters] == nil {
			clusters[tc.masters] = testenv.RedisClusterWithReplicas(t, tc.masters, 0)
		}
		cluster := clusters[tc.masters]
		rdb := cluster.Client(t)
		// One after the other: the command counts of a run are its own.
		t.Run(fmt.Sprintf("masters=%d,partitions=%d,routed=%v", tc.masters, n, tc.routed), func(t *testing.T) {
			start := time.Now()
			prefix := fmt.Sprintf("{pt%d%v}:", n, tc.routed)
			keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq", Partitions: n}
			in, out := "posts.parsed", "posts.tagged"
			for _, key := range keys.StreamKeys(in) {
				if got, err := rdb.ClusterKeySlot(ctx, key).Result(); err != nil || int(got) != pipeline.KeySlot(key) {
					t.Fatalf("slot of %s: Redis says %d (%v), KeySlot %d", key, got, err, pipeline.KeySlot(key))
				}
			}
			resetMasterStats(t, rdb)
			seedPartitioned(t, rdb, keys, in, total, tc.routed)
			env := []string{daemonClusterEnv + "=" + strings.Join(cluster.Addrs, ","), daemonPartitionsEnv + "=" + strconv.Itoa(n)}
			victim := startDaemon(t, prefix, env...)
			survivor := startDaemon(t, prefix, env...)
			t.Cleanup(func() {
				_ = victim.Process.Kill()
				_ = victim.Wait()
				_ = survivor.Process.Signal(syscall.SIGTERM)
				_ = survivor.Wait()
			})
			victimTag := fmt.Sprintf("-%d-test-slow-", victim.Process.Pid)
			var held int64
			testenv.WaitFor(t, "the victim to hold entries mid-run", 30*time.Second, func() bool {
				counts, _ := partitionedOutputs(t, rdb, keys, out)
				if len(counts) < total/8 {
					return false
				}
				_, held, _ = pendingOf(ctx, rdb, keys.StreamKeys(in), "test-slow", victimTag)
				return held > 0
			})
			if err := victim.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = victim.Wait()
			done, _ := partitionedOutputs(t, rdb, keys, out)
			if len(done) >= total {
				t.Fatal("the kill landed after every entry was handled; the test proved nothing")
			}
			t.Logf("SIGKILL of a replica holding %d entries, %d of %d handled", held, len(done), total)

			sources := keys.StreamKeys(in)
			testenv.WaitFor(t, "every entry handled, nothing pending", 60*time.Second, func() bool {
				counts, _ := partitionedOutputs(t, rdb, keys, out)
				if len(counts) < total {
					return false
				}
				all, _, err := pendingOf(ctx, rdb, sources, "test-slow", "")
				if err != nil || all != 0 {
					return false
				}
				if n > 1 {
					routed, _, err := pendingOf(ctx, rdb, []string{keys.Stream(in)}, pipeline.RouterGroup, "")
					lag, _ := rdb.XInfoGroups(ctx, keys.Stream(in)).Result()
					return err == nil && routed == 0 && len(lag) == 1 && lag[0].Lag == 0
				}
				return true
			})
			counts, misplaced := partitionedOutputs(t, rdb, keys, out)
			outputs := 0
			for i := range total {
				if counts[i] == 0 {
					t.Fatalf("entry %d lost", i)
				}
				outputs += counts[i]
			}
			if misplaced != 0 {
				t.Fatalf("%d outputs outside their post's partition", misplaced)
			}

			// Where the work went: the stream commands of each master.
			stats := readMasterStats(t, rdb)
			var sum int64
			per := make([]int64, len(stats))
			for i, st := range stats {
				if st.crossErr != 0 {
					t.Fatalf("master %s refused %d commands with CROSSSLOT", st.addr, st.crossErr)
				}
				for _, c := range streamCommands {
					per[i] += st.calls[c]
				}
				sum += per[i]
			}
			parts := map[string]int{}
			var shares []string
			for i, st := range stats {
				shares = append(shares, fmt.Sprintf("%s %.1f%% (xadd %d, xack %d, xreadgroup %d, exec %d, eval %d)", st.addr,
					100*float64(per[i])/float64(sum), st.calls["xadd"], st.calls["xack"], st.calls["xreadgroup"], st.calls["exec"], st.calls["eval"]))
			}
			for _, key := range sources {
				node, err := rdb.MasterForKey(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				parts[node.Options().Addr]++
			}
			t.Logf("%d partitions (routed %v): %d outputs for %d entries (%d redelivered) in %s; partitions per master %v; stream commands per master: %s",
				n, tc.routed, outputs, total, outputs-total, time.Since(start).Round(time.Millisecond), parts, strings.Join(shares, "; "))
			if n >= len(stats) {
				for i, st := range stats {
					share := float64(per[i]) / float64(sum)
					if fair := 1 / float64(len(stats)); share < fair/2 || share > fair*1.5 {
						t.Errorf("master %s carried %.1f%% of the stream commands, want about %.1f%%", st.addr, 100*share, 100*fair)
					}
					if parts[st.addr] != n/len(stats) {
						t.Errorf("master %s holds %d partitions, want %d", st.addr, parts[st.addr], n/len(stats))
					}
				}
			}
		})
	}
}

// TestPartitionedClusterMasterFailover kills (SIGKILL) the master of one
// partition while a replica of the stage runs on a three-master cluster
// with one replica per master and 3 partitions; the master's replica takes
// the partition over and the run completes: no entry lost, none handled
// twice, nothing left pending.
func TestPartitionedClusterMasterFailover(t *testing.T) {
	t.Parallel()
	cluster := testenv.RedisClusterWithReplicas(t, 3, 1)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs, ClusterStateReloadInterval: 2 * time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	const n, total = 3, 6000
	prefix := "{pf}:"
	keys := pipeline.Keys{Prefix: prefix, DLQSuffix: ".dlq", Partitions: n}
	in, out := "posts.parsed", "posts.tagged"
	seedPartitioned(t, rdb, keys, in, total, true)
	// The seed is on the replicas before anything is killed.
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.Do(ctx, "WAIT", 1, 5000).Err()
	}); err != nil {
		t.Fatal(err)
	}
	daemon := startDaemon(t, prefix, daemonClusterEnv+"="+strings.Join(cluster.Addrs, ","), daemonPartitionsEnv+"="+strconv.Itoa(n))
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		_ = daemon.Wait()
	})
	// The victim is the master of a partition that is not in the slot of
	// the unpartitioned key and the heartbeats (that would be a failover
	// of the router's source, tested as well but not what this is about).
	base, err := rdb.MasterForKey(ctx, keys.Stream(in))
	if err != nil {
		t.Fatal(err)
	}
	victimKey := ""
	for _, key := range keys.StreamKeys(in) {
		m, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if m.Options().Addr != base.Options().Addr {
			victimKey = key
			break
		}
	}
	before := 0
	testenv.WaitFor(t, "the run to be under way", 30*time.Second, func() bool {
		counts, _ := partitionedOutputs(t, rdb, keys, out)
		before = len(counts)
		return before >= total/8
	})
	if before >= total {
		t.Fatal("every entry was handled before the failover; the test proves nothing")
	}
	f, err := cluster.KillMasterOf(ctx, t, victimKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed master %s of slot %d (%s) with %d of %d handled before; %s took over in %s",
		f.Killed, f.Slot, victimKey, before, total, f.Promoted, f.Took.Round(time.Millisecond))
	testenv.WaitFor(t, "every entry handled after the failover, nothing pending", 60*time.Second, func() bool {
		// The test's own client may still dial the dead master until its
		// slot map is reloaded: an error is "not yet".
		if err := rdb.XLen(ctx, victimKey).Err(); err != nil {
			return false
		}
		counts, _ := partitionedOutputs(t, rdb, keys, out)
		if len(counts) < total {
			return false
		}
		all, _, err := pendingOf(ctx, rdb, keys.StreamKeys(in), "test-slow", "")
		return err == nil && all == 0
	})
	counts, misplaced := partitionedOutputs(t, rdb, keys, out)
	dup := 0
	for i := range total {
		switch c := counts[i]; {
		case c == 0:
			t.Fatalf("entry %d lost across the failover", i)
		case c > 1:
			dup += c - 1
		}
	}
	if misplaced != 0 {
		t.Fatalf("%d outputs outside their post's partition", misplaced)
	}
	if dup != 0 {
		t.Fatalf("%d entries handled twice across the failover", dup)
	}
}

// countingStage takes a millisecond per entry, counts what it handled, and
// publishes each entry on.
type countingStage struct {
	out     string
	handled *atomic.Int64
	first   chan struct{} // closed at its first entry
	once    *sync.Once
}

func (s countingStage) Handle(ctx context.Context, batch []*pipeline.Message) error {
	s.once.Do(func() { close(s.first) })
	for _, m := range batch {
		time.Sleep(time.Millisecond)
		m.Forward(s.out)
		s.handled.Add(1)
	}
	return nil
}

// TestPartitionedReplicaJoins measures how a replica joining a running
// stage shares the work when every replica reads every partition (no
// partition is leased to a replica): on a three-master cluster with 12
// partitions, one replica works through a backlog alone, a second joins
// once a quarter is done; the test reports how soon the second handles its
// first entry and the share of the rest it takes, and requires that it
// takes a real share (the two replicas have the same pool).
func TestPartitionedReplicaJoins(t *testing.T) {
	t.Parallel()
	rdb := testenv.RedisCluster(t).Client(t)
	ctx := context.Background()
	const n, total = 12, 8000
	cfg := testenv.Config(t, "{pj}:", "")
	cfg.Streams.Partitions = n
	cfg.Runner.Block = 100 * time.Millisecond
	keys := pipeline.NewKeys(cfg)
	seedPartitioned(t, rdb, keys, cfg.Streams.Parsed, total, false)
	type replica struct {
		handled atomic.Int64
		first   chan struct{}
		cancel  context.CancelFunc
		done    chan error
	}
	start := func(i int) *replica {
		rep := &replica{first: make(chan struct{}), done: make(chan error, 1)}
		once := &sync.Once{}
		reg := pipeline.MustRegistry(pipeline.Definition{
			Name: "test-count", Input: func(s config.Streams) string { return s.Parsed },
			Outputs: func(s config.Streams) []string { return []string{s.Tagged} },
			New: func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
				return countingStage{out: deps.Config.Streams.Tagged, handled: &rep.handled, first: rep.first, once: once}, nil
			},
		})
		r, err := pipeline.NewRunner(ctx, pipeline.RunnerOptions{
			Config: cfg, Redis: rdb, Registry: reg, Metrics: prometheus.NewRegistry(), Stages: []string{"test-count"}, Replica: i,
			Pools:  map[string]config.Pool{"test-count": {Enabled: true, Workers: 4, BatchSize: 50, MaxInflight: 200}},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		rep.cancel = cancel
		go func() { rep.done <- r.Run(rctx) }()
		t.Cleanup(func() { cancel(); <-rep.done })
		return rep
	}
	a := start(0)
	testenv.WaitFor(t, "a quarter handled by the first replica", 60*time.Second, func() bool {
		return a.handled.Load() >= total/4
	})
	joined := time.Now()
	before := a.handled.Load()
	b := start(1)
	select {
	case <-b.first:
	case <-time.After(30 * time.Second):
		t.Fatal("the joining replica handled nothing within 30 s")
	}
	firstAfter := time.Since(joined)
	testenv.WaitFor(t, "every entry handled", 60*time.Second, func() bool {
		return a.handled.Load()+b.handled.Load() >= total
	})
	rest := total - before
	share := float64(b.handled.Load()) / float64(rest)
	t.Logf("12 partitions, 3 masters: the joining replica handled its first entry %s after it started and %.0f%% of the %d entries left (first replica %d, joining %d)",
		firstAfter.Round(time.Millisecond), 100*share, rest, a.handled.Load()-before, b.handled.Load())
	if share < 0.25 {
		t.Errorf("the joining replica took %.0f%% of the remaining work, want a real share", 100*share)
	}
}
