package pipeline_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// startCluster starts a real three-master Redis Cluster from Debian's
// redis-server on free loopback ports in a temporary directory and stops
// every process when the test ends.
func startCluster(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	dir := t.TempDir()
	var addrs []string
	for i := range 3 {
		port := freeClusterPort(t)
		nodeDir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--dir", nodeDir,
			"--appendonly", "no", "--save", "", "--protected-mode", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	for _, a := range addrs {
		testenv.WaitFor(t, "redis node "+a, 10*time.Second, func() bool {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	testenv.WaitFor(t, "cluster_state:ok", 20*time.Second, func() bool {
		for _, a := range addrs {
			out, err := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strings.Split(a, ":")[1], "cluster", "info").Output()
			if err != nil || !strings.Contains(string(out), "cluster_state:ok") {
				return false
			}
		}
		return true
	})
	return addrs
}

// freeClusterPort finds a port p with p+10000 (the cluster bus) free too.
func freeClusterPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000)); err == nil {
			bus.Close()
			return port
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// TestRunnerOnRedisCluster: on a real three-master cluster, with the key
// prefix hash-tagged, the input stream, the output stream and the DLQ are in
// one slot (so the runner's outputs and acknowledgement are one MULTI/EXEC on
// one node), and every entry is delivered exactly once with nothing left
// pending. A kill -9 of a replica mid-run on the cluster is not tested here.
func TestRunnerOnRedisCluster(t *testing.T) {
	t.Parallel()
	addrs := startCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { rdb.Close() })
	cfg := testenv.Config(t, "{assistant}:", "")
	if !pipeline.NewKeys(cfg).OneSlot() {
		t.Fatal("hash-tagged prefix not seen as one slot")
	}
	if (pipeline.Keys{Prefix: "assistant:"}).OneSlot() || (pipeline.Keys{Prefix: "{}x:"}).OneSlot() {
		t.Fatal("untagged prefix seen as one slot")
	}
	slot := func(key string) int64 {
		v, err := rdb.ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	keys := pipeline.NewKeys(cfg)
	if a, b, c := slot(keys.Stream(cfg.Streams.Parsed)), slot(keys.Stream(cfg.Streams.Tagged)), slot(keys.DLQ(cfg.Streams.Parsed)); a != b || b != c {
		t.Fatalf("slots %d %d %d: the keys a commit writes are not in one slot", a, b, c)
	}
	stage := newTestStage()
	r, err := pipeline.NewRunner(context.Background(), pipeline.RunnerOptions{
		Config: cfg, Redis: rdb, Registry: testRegistry(stage), Metrics: prometheus.NewRegistry(), Stages: []string{"test-pass"},
		Pools: map[string]config.Pool{"test-pass": {Enabled: true, Workers: 4, BatchSize: 50, MaxInflight: 200}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	const n = 300
	for i := range n {
		ev := testEvent{N: i}
		ev.SchemaVersion = events.SchemaV1
		ev.TraceID = "trace-" + strconv.Itoa(i)
		values, err := events.Encode(&ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: cfg.Redis.KeyPrefix + cfg.Streams.Parsed, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	key := cfg.Redis.KeyPrefix + cfg.Streams.Tagged
	testenv.WaitFor(t, "every output", 60*time.Second, func() bool {
		l, _ := rdb.XLen(context.Background(), key).Result()
		return l >= n
	})
	msgs, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for _, m := range msgs {
		var ev testEvent
		if err := events.Decode(m.Values, &ev); err != nil {
			t.Fatal(err)
		}
		seen[ev.N]++
	}
	if len(msgs) != n || len(seen) != n {
		t.Fatalf("%d outputs for %d distinct entries, want %d each", len(msgs), len(seen), n)
	}
	testenv.WaitFor(t, "nothing pending", 10*time.Second, func() bool {
		p, err := rdb.XPending(context.Background(), cfg.Redis.KeyPrefix+cfg.Streams.Parsed, "test-pass").Result()
		return err == nil && p.Count == 0
	})
}
