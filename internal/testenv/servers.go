package testenv

// servers.go: PostgreSQL and Redis servers of one test's own, for tests that
// stop, restart, fill or reconfigure a server (the shared ones must not be).

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// PostgresBin is where Debian's PostgreSQL 15 server programs are.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// PGServer is a PostgreSQL 15 server of one test's own: initdb into a
// temporary directory, pg_ctl on a free port, trust authentication for
// user postgres. Run as root, the programs run as the postgres user
// (initdb refuses root).
type PGServer struct {
	t    testing.TB
	dir  string
	port int
	cred *syscall.Credential
	opts []string
}

// PostgresServer initialises and starts a server; settings are extra
// "name=value" server settings (max_connections=20, say). The server is
// stopped and its directory removed when the test ends. The test is skipped
// when PostgreSQL 15's server programs are not installed.
func PostgresServer(t testing.TB, settings ...string) *PGServer {
	t.Helper()
	if _, err := os.Stat(filepath.Join(PostgresBin, "initdb")); err != nil {
		t.Skipf("PostgreSQL server programs not installed: %v", err)
	}
	dir, err := os.MkdirTemp("", "pgserver-")
	if err != nil {
		t.Fatal(err)
	}
	s := &PGServer{t: t, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and no postgres user to run initdb as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = s.ctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	data := filepath.Join(dir, "data")
	if out, err := s.run(filepath.Join(PostgresBin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.opts = append([]string{"listen_addresses=127.0.0.1", "unix_socket_directories=" + dir, "fsync=off",
		"synchronous_commit=off", "full_page_writes=off", "shared_buffers=16MB"}, settings...)
	var lastErr error
	for range 5 {
		s.port = freePort(t)
		if lastErr = s.Start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("start postgres: %v", lastErr)
	return nil
}

func (s *PGServer) run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *PGServer) ctl(args ...string) error {
	full := append([]string{"-D", filepath.Join(s.dir, "data"), "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60"}, args...)
	out, err := s.run(filepath.Join(PostgresBin, "pg_ctl"), full...)
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return nil
}

func (s *PGServer) serverOptions() string {
	o := "-p " + strconv.Itoa(s.port)
	for _, kv := range s.opts {
		o += " -c " + kv
	}
	return o
}

// Start starts the (stopped) server and waits until it accepts connections.
func (s *PGServer) Start() error { return s.ctl("start", "-o", s.serverOptions()) }

// Stop stops the server: mode is smart, fast or immediate.
func (s *PGServer) Stop(mode string) error { return s.ctl("stop", "-m", mode) }

// Restart is pg_ctl restart -m mode.
func (s *PGServer) Restart(mode string) error {
	return s.ctl("restart", "-m", mode, "-o", s.serverOptions())
}

// URL is the URL of database on the server (postgres when empty), as user
// postgres.
func (s *PGServer) URL(database string) string {
	if database == "" {
		database = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// Log is the server's log so far, for a failing test's message.
func (s *PGServer) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// RedisInstance is a redis-server of one test's own (no persistence).
type RedisInstance struct {
	Addr string
	cmd  *exec.Cmd
}

// RedisServer starts a redis-server on a free port with the extra
// arguments (--maxmemory 8mb, say); it is killed when the test ends.
func RedisServer(t testing.TB, args ...string) *RedisInstance {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("redis-server not installed: %v", err)
	}
	dir := t.TempDir()
	var lastErr error
	for range 5 {
		port := freePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd, err := launchRedis(t, dir, port, args...)
		if err != nil {
			lastErr = err
			continue
		}
		return &RedisInstance{Addr: addr, cmd: cmd}
	}
	t.Fatalf("no redis-server started: %v", lastErr)
	return nil
}

// URL is the instance's redis:// URL.
func (r *RedisInstance) URL() string { return "redis://" + r.Addr + "/0" }

// Client is a client of the instance, closed when the test ends.
func (r *RedisInstance) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis %s: %v", r.Addr, err)
	}
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
