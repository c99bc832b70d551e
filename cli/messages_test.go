package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestLogKeysAreUnique: a logger given the same key by two layers (the
// runner's With("stage", ...) and the stage's own) writes it once, the
// last value in the first place, in JSON and text alike; a group's keys
// are its own.
func TestLogKeysAreUnique(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			cfg := config.Default()
			cfg.Log.Format, cfg.Log.Level = format, "info"
			logger := slog.New(newLogHandler(&buf, &cfg))
			logger.With("stage", "cleanup").With(slog.String("stage", "cleanup"), slog.Int("n", 1)).
				Info("swept", "n", 2, "stage", "cleanup")
			logger.With("stage", "x").WithGroup("g").Info("grouped", "stage", "inner")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("lines: %q", buf.String())
			}
			for _, line := range lines {
				if n := strings.Count(line, "stage"); n > 2 || (n == 2 && !strings.Contains(line, "grouped")) {
					t.Errorf("a key written twice: %s", line)
				}
			}
			if format == "json" {
				var m map[string]any
				if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
					t.Fatal(err)
				}
				if m["stage"] != "cleanup" || m["n"] != float64(2) {
					t.Errorf("first line: %v", m)
				}
				if !strings.Contains(lines[1], `"stage":"x","g":{"stage":"inner"}`) {
					t.Errorf("grouped line: %s", lines[1])
				}
			}
		})
	}
}

// TestDLQListWithoutStream names the streams to pick from, not cobra's
// "accepts 1 arg(s), received 0"; replay and purge too.
func TestDLQListWithoutStream(t *testing.T) {
	_, prefix := testenv.Redis(t)
	cfg := testConfig(t, prefix, "", "")
	for _, verb := range []string{"list", "replay", "purge"} {
		code, _, stderr := runCLI(t, "dlq", verb, "--config", cfg)
		if code == 0 || !strings.Contains(stderr, "name the stream whose DLQ to "+verb+": one of posts.parsed, posts.tagged") ||
			!strings.Contains(stderr, "e.g. assistant dlq "+verb+" posts.tagged") || strings.Contains(stderr, "arg(s)") {
			t.Errorf("dlq %s without a stream: exit %d, %q", verb, code, stderr)
		}
	}
}

// TestCrawlBareHost: `crawl example.org` says it is no URL and names the
// one that would work; it does not suggest --force, which could not help.
func TestCrawlBareHost(t *testing.T) {
	for _, args := range [][]string{{"crawl", "example.org"}, {"crawl", "--force", "example.org"}} {
		code, _, stderr := runCLI(t, args...)
		if code == 0 || !strings.Contains(stderr, `did you mean https://example.org ?`) || strings.Contains(stderr, "--force") {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
}

// TestCrawlUnreachableHostNamesTheURL: a host that cannot be resolved
// fails on its robots.txt (read first); the error names the URL asked for
// and says robots.txt once, as the step that failed.
func TestCrawlUnreachableHostNamesTheURL(t *testing.T) {
	code, _, stderr := runCLI(t, "crawl", "--timeout", "5s", "https://no-such-host.invalid/page")
	if code == 0 || !strings.HasPrefix(stderr, "assistant: crawl https://no-such-host.invalid/page: no_such_host: ") ||
		strings.Count(stderr, "robots.txt") != 1 || strings.Contains(stderr, `Get "`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestVersionIsNeverDevel: a build without the linker stamp (go test, go
// run) reports "dev", not the toolchain's "(devel)".
func TestVersionIsNeverDevel(t *testing.T) {
	saved := version
	t.Cleanup(func() { version = saved })
	version = ""
	if s := versionString(); strings.Contains(s, "(devel)") || !strings.HasPrefix(s, "assistant dev") {
		t.Errorf("unstamped version %q", s)
	}
	version = "v1.2.3"
	if s := versionString(); !strings.HasPrefix(s, "assistant v1.2.3") {
		t.Errorf("stamped version %q", s)
	}
}

// TestSearchLogsNoProviderChain: `assistant search` writes results to
// stdout and nothing to stderr when all goes well: the provider set's
// start-up line ("tagger chain") is the daemon's business.
func TestSearchLogsNoProviderChain(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	dbURL := testenv.Postgres(t)
	indexSample(t, dbURL, 10)
	cfg := testConfig(t, prefix, dbURL, "")
	code, out, stderr := runCLI(t, "search", "Китай", "--config", cfg)
	if code != 0 || out == "" {
		t.Fatalf("search: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if strings.Contains(stderr, "tagger chain") || strings.Contains(stderr, "level=INFO") {
		t.Errorf("search logs on stderr:\n%s", stderr)
	}
}
