package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestProcessErrorsAreOneLine runs the binary as a process, where go-redis'
// global logger and slog's default apply: a failing command prints its
// error, one line, and nothing else — no log line, no summary, no go-redis
// pool.go lines ahead of it.
func TestProcessErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"ingest missing file", nil, []string{"ingest", "--dry-run", "nope.jsonl"},
			"assistant: ingest: open nope.jsonl: no such file or directory\n"},
		// Port 1 refuses connections: go-redis retries the dial and, by
		// default, logs each failure to stderr itself.
		{"redis down", []string{"REDIS_URL=redis://127.0.0.1:1/0"}, []string{"streams"},
			"assistant: connect to redis at redis://127.0.0.1:1/0: dial tcp 127.0.0.1:1: connect: connection refused\n"},
		{"ingest bad format", nil, []string{"ingest", "--format", "xml", "f.jsonl"},
			"assistant: ingest: unknown --format \"xml\" (want auto, jsonl or telegram)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runProcess(t, "", tt.env, tt.args...)
			if code != 1 || stdout != "" || stderr != tt.want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and only:\n%s", code, stdout, stderr, tt.want)
			}
		})
	}
}

// TestIngestExitStatus: a file with rejected lines makes ingest fail (after
// publishing the valid posts) unless --allow-malformed says that is fine; a
// clean file exits 0.
func TestIngestExitStatus(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "ingest-exit:", "", "")
	dir := t.TempDir()
	good, err := os.ReadFile(testenv.SamplePath())
	if err != nil {
		t.Fatal(err)
	}
	firstLine, _, _ := strings.Cut(string(good), "\n")
	mixed := filepath.Join(dir, "mixed.jsonl")
	if err := os.WriteFile(mixed, []byte(firstLine+"\nnot json\n{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	allBad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(allBad, []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clean := filepath.Join(dir, "clean.jsonl")
	if err := os.WriteFile(clean, []byte(firstLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		lastLine string
		events   int
	}{
		{"mixed", []string{mixed}, 1, "assistant: ingest: 2 malformed records rejected (logged above), 1 post written; --allow-malformed accepts that", 1},
		{"no valid post", []string{allBad}, 1, "assistant: ingest: 1 malformed record rejected (logged above), 0 posts written; --allow-malformed accepts that", 0},
		{"mixed allowed", []string{"--allow-malformed", mixed}, 0, "ingested 1 posts", 1},
		{"clean", []string{clean}, 0, "ingested 1 posts", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"ingest", "--dry-run", "--config", cfg}, tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != tt.code || !strings.HasPrefix(lines[len(lines)-1], tt.lastLine) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d, last line %q", code, stderr, tt.code, tt.lastLine)
			}
			if n := strings.Count(stdout, "\n"); n != tt.events {
				t.Errorf("%d events written, want %d", n, tt.events)
			}
		})
	}
}
