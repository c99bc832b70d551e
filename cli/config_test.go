package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes body to name in a temporary directory.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigValidateReportsEverything: `config validate` lists every
// problem with key, value and reason (secrets redacted) and fails; it checks
// what the selected stages need — the tagger's provider key for a stage that
// tags, not for one that does not.
func TestConfigValidateReportsEverything(t *testing.T) {
	t.Parallel()
	four := writeFile(t, "four.yaml", `log:
  level: loud
runner:
  max_attempts: 0
  block: soon
database:
  url: mysql://app:db-secret@db/app
stages:
  tag:
    workers: 0
`)
	gigachat := writeFile(t, "gigachat.yaml", "ai:\n  tagger: gigachat\n")
	plain := writeFile(t, "plain.yaml", "log:\n  level: info\n")
	badSSL := writeFile(t, "badssl.yaml", "database:\n  url: postgres://app:db-secret@db/app?sslmode=bogus\n")
	backends := writeFile(t, "backends.yaml", `stages:
  enrich:
    crawl:
      backend: crawl4ai
      crawl4ai:
        url: crawl4ai:11235
stores:
  vector:
    backend: qdrant
    qdrant:
      url: https:/qdrant
  graph:
    backend: neo4j
    neo4j:
      uri: http://neo4j:7474
`)
	tests := []struct {
		name     string
		args     []string
		ok       bool
		problems []string
	}{
		{"every problem", []string{"config", "validate", "--config", four}, false, []string{
			`problem: runner.block = "soon": cannot be decoded: time: invalid duration`,
			`problem: log.level = "loud": is not one of debug, info, warn, error`,
			`problem: database.url = "mysql://app:xxxxx@db/app": scheme "mysql" is not one of postgres, postgresql`,
			`problem: runner.max_attempts = 0: must be at least 1`,
			`problem: stages.tag.workers = 0: must be at least 1`,
		}},
		{"tagger key for the enabled stages", []string{"config", "validate", "--config", gigachat}, false, []string{
			`problem: ai.gigachat.api_key = "": is not set, but ai.tagger "gigachat" uses gigachat (set GIGACHAT_API_KEY)`,
		}},
		{"tagger key for --stages=tag", []string{"config", "validate", "--config", gigachat, "--stages=tag"}, false, []string{
			`problem: ai.gigachat.api_key = "": is not set`,
		}},
		{"backends the stages chose", []string{"config", "validate", "--config", backends, "--stages=enrich,index"}, false, []string{
			`problem: stores.vector.qdrant.url = "https:/qdrant": names no host`,
			`problem: stores.graph.neo4j.uri = "http://neo4j:7474": scheme "http" is not one of bolt,`,
			`problem: stages.enrich.crawl.crawl4ai.url = "crawl4ai:11235": scheme "crawl4ai" is not one of http, https`,
		}},
		{"a stage the file disables, named by --stages", []string{"config", "validate", "--config", plain, "--stages=telegram"}, false, []string{
			`problem: stages.telegram.api_id = 0: is not set`,
			`problem: stages.telegram.api_hash = "": must not be empty`,
			`problem: stages.telegram.channels = []: is empty`,
		}},
		{"database url for a stage that stores", []string{"config", "validate", "--config", badSSL, "--stages=persist"}, false, []string{
			`problem: database.url = "postgres://app:xxxxx@db/app?sslmode=bogus": is not a connection string the PostgreSQL driver accepts: sslmode is invalid`,
		}},
		{"no database url for tag alone", []string{"config", "validate", "--config", badSSL, "--stages=tag"}, true, nil},
		{"no tagger key for --stages=persist", []string{"config", "validate", "--config", gigachat, "--stages=persist"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tt.args...)
			if tt.ok {
				if code != 0 || out != "config ok\n" {
					t.Fatalf("exit %d, stdout %q, stderr %q; want config ok", code, out, stderr)
				}
				return
			}
			if code == 0 || strings.Contains(out, "config ok") {
				t.Fatalf("exit %d, stdout %q: want a failure", code, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != len(tt.problems) {
				t.Fatalf("stdout has %d lines, want %d:\n%s", len(lines), len(tt.problems), out)
			}
			for i, want := range tt.problems {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d = %q, want %q", i+1, lines[i], want)
				}
			}
			if strings.Contains(out+stderr, "db-secret") {
				t.Error("output leaks the database password")
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "assistant: invalid config: ") {
				t.Errorf("stderr %q, want one line", stderr)
			}
		})
	}
}

// TestConfigPrintInvalid: `config print` still prints an invalid
// configuration (secrets redacted; a value that cannot be decoded shows
// its default), then the problems, and fails.
func TestConfigPrintInvalid(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "bad.yaml", `runner:
  max_attempts: 0
  block: soon
ai:
  gigachat:
    api_key: giga-secret
api:
  admin_token: admin-secret
`)
	code, out, stderr := runCLI(t, "config", "print", "--config", path)
	if code == 0 {
		t.Fatal("exit status 0")
	}
	for _, want := range []string{"max_attempts: 0", "block: 2s", "api_key: <redacted>", "admin_token: <redacted>"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		`problem: runner.block = "soon": cannot be decoded`,
		`problem: runner.max_attempts = 0: must be at least 1`,
		"assistant: invalid config: 2 problems",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, secret := range []string{"giga-secret", "admin-secret"} {
		if strings.Contains(out+stderr, secret) {
			t.Errorf("output leaks %s", secret)
		}
	}
}

// TestRunRefusesMissingTaggerKeyBeforeBinding: `run` checks what its stages
// need before the operations server binds — with the ops port taken, the
// failure is the missing key, not the busy port.
func TestRunRefusesMissingTaggerKeyBeforeBinding(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	path := writeFile(t, "run.yaml", "http:\n  addr: "+busy.Addr().String()+"\nai:\n  tagger: gigachat\n")
	code, _, stderr := runCLI(t, "run", "--config", path, "--stages=tag")
	if code == 0 || !strings.Contains(stderr, "ai.gigachat.api_key") || strings.Contains(stderr, "listen") {
		t.Fatalf("exit %d, stderr %q: want the missing key reported before binding", code, stderr)
	}
}

// TestConfigValidateWarnsUnknownEnv: a misspelt ASSISTANT_* variable is a
// warning with a suggestion, and the configuration is still ok. (Not
// parallel: it sets the process environment.)
func TestConfigValidateWarnsUnknownEnv(t *testing.T) {
	t.Setenv("ASSISTANT_RUNER_BLOCK", "1s")
	path := testConfig(t, "w:", "", "")
	code, out, stderr := runCLI(t, "config", "validate", "--config", path)
	want := "warning: environment variable ASSISTANT_RUNER_BLOCK sets no configuration key and is ignored (did you mean ASSISTANT_RUNNER_BLOCK?)\nconfig ok\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, out, stderr, want)
	}
}
