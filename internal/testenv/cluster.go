package testenv

import (
	"bytes"
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

	"github.com/redis/go-redis/v9"
)

// Cluster is a real three-master Redis Cluster private to one test.
type Cluster struct {
	// Addrs are the masters' host:port, every one a valid seed.
	Addrs []string
}

// Client returns a cluster client of the cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// URL is the cluster as the daemon's redis.url (with redis.cluster set):
// the first master, the others as addr= seeds.
func (c *Cluster) URL() string {
	u := "redis://" + c.Addrs[0]
	for i, a := range c.Addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}

// RedisCluster starts a three-master Redis Cluster (no replicas) from the
// installed redis-server on free loopback ports, in a temporary directory,
// and joins it with `redis-cli --cluster create`. Every process is killed
// and the directory removed when the test ends, also when it fails half way.
// The test is skipped when redis-server or redis-cli is not installed; a
// cluster that does not form fails it.
func RedisCluster(t testing.TB) *Cluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: the Redis Cluster test needs it", bin)
		}
	}
	dir := t.TempDir()
	c := &Cluster{}
	for i := range 3 {
		c.Addrs = append(c.Addrs, startClusterNode(t, filepath.Join(dir, strconv.Itoa(i))))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node must know every slot's owner before a client relies on
	// any of them for the slot map.
	WaitFor(t, "cluster_state:ok on every node", 30*time.Second, func() bool {
		for _, a := range c.Addrs {
			host, port, _ := net.SplitHostPort(a)
			out, err := exec.CommandContext(ctx, "redis-cli", "-h", host, "-p", port, "cluster", "info").Output()
			if err != nil || !bytes.Contains(out, []byte("cluster_state:ok")) {
				return false
			}
		}
		return true
	})
	return c
}

// startClusterNode starts one cluster-enabled redis-server in dir and
// returns its address. A port found free can be taken by another process
// before redis-server binds it (tests run in parallel), so a node that
// exits before answering is started again on other ports.
func startClusterNode(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("cluster node directory: %v", err)
	}
	var lastErr error
	for range 5 {
		port := freeClusterPort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if _, err := launchRedis(t, dir, port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"); err != nil {
			lastErr = err
			_ = os.Remove(filepath.Join(dir, "nodes.conf"))
			continue
		}
		return addr
	}
	t.Fatalf("no cluster node started: %v", lastErr)
	return ""
}

// launchRedis starts redis-server on 127.0.0.1:port with its files and log
// in dir, nothing persisted, and the extra arguments; it is killed when the
// test ends. An error says why it did not answer (its port was taken, say),
// with its log.
func launchRedis(t testing.TB, dir string, port int, args ...string) (*exec.Cmd, error) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logPath := filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("redis-server log: %v", err)
	}
	cmd := exec.Command("redis-server", append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--appendonly", "no", "--save", "", "--protected-mode", "no"}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	err = cmd.Start()
	_ = logFile.Close() // the child has its own descriptor
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	if err := awaitNode(addr, exited); err != nil {
		logs, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(string(logs)))
	}
	return cmd, nil
}

// awaitNode waits until the node at addr accepts connections, or reports
// that its process exited (its port was taken) or never answered.
func awaitNode(addr string, exited chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err // for the cleanup's receive
			return fmt.Errorf("redis-server on %s exited: %v", addr, err)
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = conn.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s did not answer within 10s", addr)
}

// freeClusterPort finds a free port p with p+10000 (the node's cluster bus)
// free too.
func freeClusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000)); err == nil {
			_ = bus.Close()
			return port
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}
