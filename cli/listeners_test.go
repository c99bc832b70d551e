package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/stages/all"
)

// freeTCPAddr returns a loopback address nothing listens on right now.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// daemon is one `assistant run` of a test, in process.
type daemon struct {
	stderr *syncBuffer
	done   chan int
}

// startDaemon runs `assistant run args...` until the test ends.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{stderr: &syncBuffer{}, done: make(chan int, 1)}
	a := &app{stages: all.Registry(), stdout: io.Discard, stderr: d.stderr}
	go func() { d.done <- a.execute(ctx, append([]string{"run"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			t.Errorf("run %v did not stop within 20s", args)
		}
	})
	return d
}

// waitReady waits for /readyz 200 on the ops address, failing the test if
// the daemon exits first.
func (d *daemon) waitReady(t *testing.T, opsAddr string) {
	t.Helper()
	testenv.WaitFor(t, "/readyz 200 on "+opsAddr, 60*time.Second, func() bool {
		select {
		case code := <-d.done:
			t.Fatalf("run exited with %d:\n%s", code, d.stderr.String())
		default:
		}
		code, _ := httpGet("http://" + opsAddr + "/readyz")
		return code == http.StatusOK
	})
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestTwoRolesOnOneHost: the design card's roles per replica, on one host.
// `run --stages=tag` and `run --stages=persist,api` start side by side with
// their own ops ports (--http-addr) and only the second serves the API
// (the api role, --api-addr): the tag replica binds no API port although
// the config sets api.addr, and it starts with PostgreSQL's database
// missing, since tagging needs neither PostgreSQL nor the vector mirror.
func TestTwoRolesOnOneHost(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	schema := testenv.SchemaName(t)
	// The same file for both replicas; its api.addr is a fixed port, so
	// serving it twice would fail with "address already in use".
	apiAddr := freeTCPAddr(t)
	cfg := startupConfig(t, prefix, freeTCPAddr(t), testenv.DatabaseURL(), schema)
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(body), "addr: 127.0.0.1:0", "addr: "+apiAddr, 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	tagOps, persistOps := freeTCPAddr(t), freeTCPAddr(t)
	tagger := startDaemon(t, "--config", cfg, "--stages=tag", "--http-addr", tagOps)
	persister := startDaemon(t, "--config", cfg, "--stages=persist,api", "--http-addr", persistOps)
	persister.waitReady(t, persistOps)
	tagger.waitReady(t, tagOps)

	if code, body := httpGet("http://" + apiAddr + "/v1/search?q=x"); code == 0 {
		t.Errorf("the api role serves nothing on %s: %s", apiAddr, body)
	}
	log := tagger.stderr.String()
	for _, unwanted := range []string{"api server listening", "vector_mirror", "postgresql", "migrations"} {
		if strings.Contains(log, unwanted) {
			t.Errorf("the tag-only replica logs %q:\n%s", unwanted, log)
		}
	}
	if !strings.Contains(persister.stderr.String(), "api server listening") {
		t.Errorf("the persist,api replica serves no API:\n%s", persister.stderr.String())
	}
}

// TestTagOnlyReplicaWithoutDatabase: a tag-only replica starts and is
// ready with DATABASE_URL naming a database that does not exist.
func TestTagOnlyReplicaWithoutDatabase(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	ops := freeTCPAddr(t)
	cfg := startupConfig(t, prefix, ops, "postgres://postgres@127.0.0.1:5432/no_such_database_deploytest?sslmode=disable", "assistant")
	d := startDaemon(t, "--config", cfg, "--stages=tag")
	d.waitReady(t, ops)
}

// TestAPIOnlyReplicaOpenReadsAreLoud: `run --stages=api` is a replica of
// its own (no pipeline stage); bound beyond loopback without api.token it
// says at start that reads are open.
func TestAPIOnlyReplicaOpenReadsAreLoud(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	ops := freeTCPAddr(t)
	cfg := startupConfig(t, prefix, ops, dbURL, "")
	d := startDaemon(t, "--config", cfg, "--stages=api", "--api-addr", ":0")
	d.waitReady(t, ops)
	testenv.WaitFor(t, "the api server's start", 20*time.Second, func() bool {
		return strings.Contains(d.stderr.String(), "api server listening")
	})
	log := d.stderr.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "api reads are OPEN") {
		t.Errorf("no loud warning about open reads:\n%s", log)
	}
	if strings.Contains(log, "stage started") {
		t.Errorf("an api-only replica started a stage:\n%s", log)
	}
}

// TestAPIRoleNeedsAnAddress: --stages naming api with api.addr empty
// (ASSISTANT_API_ADDR= turns the listener off) is a one-line error.
func TestAPIRoleNeedsAnAddress(t *testing.T) {
	_, prefix := testenv.Redis(t)
	cfg := startupConfig(t, prefix, freeTCPAddr(t), testenv.DatabaseURL(), "assistant")
	t.Setenv("ASSISTANT_API_ADDR", "")
	code, _, stderr := runCLI(t, "run", "--config", cfg, "--stages=persist,api")
	if code == 0 || !strings.Contains(stderr, "--stages names api, but api.addr is empty") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
