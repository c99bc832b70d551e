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

// Cluster is a real Redis Cluster private to one test.
type Cluster struct {
	// Addrs are the nodes' host:port (masters and replicas), every one a
	// valid seed.
	Addrs []string
	// procs are the nodes' processes by address, for KillMasterOf.
	procs map[string]*exec.Cmd
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
	return startCluster(t, 3, 0)
}

// clusterNodeTimeout is cluster-node-timeout of a cluster with replicas:
// small, so that a killed master's replica takes over within seconds.
const clusterNodeTimeout = 1000 * time.Millisecond

// RedisClusterWithReplicas is RedisCluster with masters masters, each with
// replicasPerMaster replicas (`--cluster-replicas`), cluster-node-timeout
// 1 s (a failover takes a few seconds). It returns once the cluster is ok
// on every node and every replica is in sync with its master.
func RedisClusterWithReplicas(t testing.TB, masters, replicasPerMaster int) *Cluster {
	t.Helper()
	return startCluster(t, masters, replicasPerMaster)
}

func startCluster(t testing.TB, masters, replicasPerMaster int) *Cluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: the Redis Cluster test needs it", bin)
		}
	}
	dir := t.TempDir()
	c := &Cluster{procs: map[string]*exec.Cmd{}}
	var extra []string
	if replicasPerMaster > 0 {
		extra = []string{"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout / time.Millisecond))}
	}
	for i := range masters * (1 + replicasPerMaster) {
		addr, cmd := startClusterNode(t, filepath.Join(dir, strconv.Itoa(i)), extra...)
		c.Addrs = append(c.Addrs, addr)
		c.procs[addr] = cmd
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPerMaster), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node must know every slot's owner before a client relies on
	// any of them for the slot map, and every replica must hold its
	// master's data before a test kills a master.
	WaitFor(t, "cluster_state:ok on every node, every replica in sync", 30*time.Second, func() bool {
		for _, a := range c.Addrs {
			if !bytes.Contains(nodeCLI(ctx, a, "cluster", "info"), []byte("cluster_state:ok")) {
				return false
			}
			repl := string(nodeCLI(ctx, a, "info", "replication"))
			if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return false
			}
			if strings.Contains(repl, "role:master") && replicasPerMaster > 0 &&
				!strings.Contains(repl, "connected_slaves:"+strconv.Itoa(replicasPerMaster)) {
				return false
			}
		}
		return true
	})
	return c
}

// nodeCLI runs redis-cli against the node at addr and returns its output
// (nil when it failed).
func nodeCLI(ctx context.Context, addr string, args ...string) []byte {
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", host, "-p", port}, args...)...).Output()
	if err != nil {
		return nil
	}
	return out
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, flags, masterID string
	slots                     []string
}

func parseClusterNodes(out []byte) []clusterNode {
	var nodes []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		nodes = append(nodes, clusterNode{id: f[0], addr: addr, flags: f[2], masterID: f[3], slots: f[8:]})
	}
	return nodes
}

// slotOwned says whether a CLUSTER NODES slot range field holds slot.
func slotOwned(field string, slot int) bool {
	lo, hi, isRange := strings.Cut(field, "-")
	from, err := strconv.Atoi(lo)
	if err != nil {
		return false // an importing/migrating marker
	}
	to := from
	if isRange {
		if to, err = strconv.Atoi(hi); err != nil {
			return false
		}
	}
	return slot >= from && slot <= to
}

// Failover is what KillMasterOf did.
type Failover struct {
	// Slot is the key's hash slot.
	Slot int
	// Killed is the address of the master killed (SIGKILL).
	Killed string
	// Promoted is the address of its replica that took the slot over.
	Promoted string
	// Took is the time from the kill to every live node seeing the
	// promoted replica as the slot's owner and cluster_state:ok.
	Took time.Duration
}

// KillMasterOf kills (SIGKILL) the master that holds key's hash slot and
// waits until one of its replicas is promoted and every live node reports
// cluster_state:ok with the slot on the promoted node. It needs a cluster
// with replicas (RedisClusterWithReplicas).
func (c *Cluster) KillMasterOf(ctx context.Context, t testing.TB, key string) (Failover, error) {
	t.Helper()
	var f Failover
	live := c.Addrs[0]
	slot, err := strconv.Atoi(strings.TrimSpace(string(nodeCLI(ctx, live, "cluster", "keyslot", key))))
	if err != nil {
		return f, fmt.Errorf("cluster keyslot %s: %w", key, err)
	}
	f.Slot = slot
	var masterID string
	for _, n := range parseClusterNodes(nodeCLI(ctx, live, "cluster", "nodes")) {
		if !strings.Contains(n.flags, "master") {
			continue
		}
		for _, s := range n.slots {
			if slotOwned(s, slot) {
				f.Killed, masterID = n.addr, n.id
			}
		}
	}
	proc := c.procs[f.Killed]
	if proc == nil {
		return f, fmt.Errorf("no node of this cluster holds slot %d", slot)
	}
	start := time.Now()
	if err := proc.Process.Kill(); err != nil {
		return f, fmt.Errorf("kill the master %s: %w", f.Killed, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if f.Promoted = c.promotedFor(ctx, slot, masterID, f.Killed); f.Promoted != "" {
			f.Took = time.Since(start)
			return f, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return f, fmt.Errorf("no replica of %s took slot %d over within 30s", f.Killed, slot)
}

// promotedFor returns the node that owns slot on every live node's view,
// once that is not the killed master and every live node says
// cluster_state:ok; "" until then.
func (c *Cluster) promotedFor(ctx context.Context, slot int, killedID, killed string) string {
	owner := ""
	for _, a := range c.Addrs {
		if a == killed {
			continue
		}
		if !bytes.Contains(nodeCLI(ctx, a, "cluster", "info"), []byte("cluster_state:ok")) {
			return ""
		}
		seen := ""
		for _, n := range parseClusterNodes(nodeCLI(ctx, a, "cluster", "nodes")) {
			if n.id == killedID || !strings.Contains(n.flags, "master") || strings.Contains(n.flags, "fail") {
				continue
			}
			for _, s := range n.slots {
				if slotOwned(s, slot) {
					seen = n.addr
				}
			}
		}
		if seen == "" || (owner != "" && seen != owner) {
			return ""
		}
		owner = seen
	}
	return owner
}

// startClusterNode starts one cluster-enabled redis-server in dir and
// returns its address. A port found free can be taken by another process
// before redis-server binds it (tests run in parallel), so a node that
// exits before answering is started again on other ports.
func startClusterNode(t testing.TB, dir string, extra ...string) (string, *exec.Cmd) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("cluster node directory: %v", err)
	}
	var lastErr error
	for range 5 {
		port := freeClusterPort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd, err := launchRedis(t, dir, port, append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}, extra...)...)
		if err != nil {
			lastErr = err
			_ = os.Remove(filepath.Join(dir, "nodes.conf"))
			continue
		}
		return addr, cmd
	}
	t.Fatalf("no cluster node started: %v", lastErr)
	return "", nil
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
