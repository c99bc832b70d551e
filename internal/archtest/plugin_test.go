package archtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/internal/testenv"
)

// extraStage is a stage package written by someone outside the project: its
// settings block, a command of its own, a stream in and a stream out, and a
// readiness check that passes once it handled an entry.
const extraStage = `package extra

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
)

type Config struct {
	config.Pool ` + "`mapstructure:\",squash\" yaml:\",inline\"`" + `
	Greeting    string ` + "`mapstructure:\"greeting\" yaml:\"greeting\"`" + `
}

func (c *Config) Validate(p *config.Problems) { p.NotEmpty("greeting", c.Greeting) }

type stage struct{ handled atomic.Bool }

func (s *stage) Handle(_ context.Context, batch []*pipeline.Message) error {
	for _, m := range batch {
		m.Forward("extra.out")
	}
	s.handled.Store(true)
	return nil
}

func (s *stage) Check(context.Context) error {
	if !s.handled.Load() {
		return errors.New("extra has handled nothing yet")
	}
	return nil
}

func Definition() pipeline.Definition {
	return pipeline.Definition{
		Name:    "extra",
		Input:   func(config.Streams) string { return "extra.in" },
		Outputs: func(config.Streams) []string { return []string{"extra.out"} },
		Config: func() any {
			return &Config{Pool: config.Pool{Enabled: true, Workers: 1, BatchSize: 10, MaxInflight: 10}, Greeting: "hello"}
		},
		New: func(context.Context, pipeline.Deps) (pipeline.Stage, error) { return &stage{}, nil },
		Commands: func(env pipeline.CommandEnv) []*cobra.Command {
			return []*cobra.Command{{
				Use:   "extra-greet",
				Short: "Print the extra stage's greeting",
				Args:  cobra.NoArgs,
				RunE: func(*cobra.Command, []string) error {
					cfg, err := env.Config()
					if err != nil {
						return err
					}
					_, err = fmt.Fprintln(env.Stdout, cfg.Stage("extra").(*Config).Greeting)
					return err
				},
			}}
		},
	}
}
`

// extraMain is the whole program: the production stages and the extra one.
const extraMain = `package main

import (
	"os"

	"example.com/extra"

	"github.com/assistant-dev/assistant/cli"
	"github.com/assistant-dev/assistant/stages/all"
)

func main() {
	reg := all.Registry()
	if err := reg.Add(extra.Definition()); err != nil {
		panic(err)
	}
	os.Exit(cli.Execute(reg))
}
`

// buildWithExtraStage writes the extra stage and a main into a module of
// their own that uses this one (a replace directive) and builds it: nothing
// of this module is changed.
func buildWithExtraStage(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := ""
	for _, line := range strings.Split(string(goMod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			goVersion = strings.TrimSpace(v)
		}
	}
	goSum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod":            fmt.Sprintf("module example.com/extra\n\ngo %s\n\nrequire github.com/assistant-dev/assistant v0.0.0\n\nreplace github.com/assistant-dev/assistant => %s\n", goVersion, root),
		"go.sum":            string(goSum),
		"extra.go":          extraStage,
		"cmd/extra/main.go": extraMain,
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "assistant-extra")
	build := exec.Command("go", "build", "-mod=mod", "-o", bin, "./cmd/extra")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the binary with the extra stage: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestExtraStagePlugsIn is the acceptance test of stages as plug-ins: a
// binary built with one more stage, in a package of its own, gets the
// stage's config section (decoded, overridden from the environment,
// validated), its command, `run --stages=extra`, its streams in `streams`
// and its check in /readyz.
func TestExtraStagePlugsIn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildWithExtraStage(t)
	rdb, prefix := testenv.Redis(t)
	opsAddr := freeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	cfgBody := fmt.Sprintf("log:\n  format: text\nhttp:\n  addr: %q\napi:\n  addr: \"\"\nredis:\n  url: %s\n  key_prefix: %q\nrunner:\n  block: 100ms\n  metrics_interval: 200ms\nstages:\n  extra:\n    greeting: from the file\n",
		opsAddr, testenv.RedisURL(), prefix)
	if err := os.WriteFile(cfgPath, []byte(cfgBody), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, append(args, "--config", cfgPath)...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	// Its config section: printed, from the file, and from the environment.
	out, errOut, err := run(nil, "config", "print")
	if err != nil || !strings.Contains(out, "  extra:\n") || !strings.Contains(out, "greeting: from the file") {
		t.Errorf("config print: %v\n%s%s", err, out, errOut)
	}
	// Its validation: an empty greeting is a problem named by its key.
	if out, errOut, err := run([]string{"ASSISTANT_STAGES_EXTRA_GREETING= "}, "config", "validate"); err == nil || !strings.Contains(out+errOut, "stages.extra.greeting") {
		t.Errorf("config validate with an empty greeting: %v\n%s%s", err, out, errOut)
	}
	// Its command, with help, reading the section.
	if out, errOut, err := run(nil, "extra-greet", "--help"); err != nil || !strings.Contains(out, "Print the extra stage's greeting") {
		t.Errorf("extra-greet --help: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := run([]string{"ASSISTANT_STAGES_EXTRA_GREETING=from the environment"}, "extra-greet"); err != nil || out != "from the environment\n" {
		t.Errorf("extra-greet: %v %q %s", err, out, errOut)
	}

	// run --stages=extra: not ready until it handled an entry, then ready;
	// the entry is forwarded to its output.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	daemon := exec.CommandContext(ctx, bin, "run", "--stages=extra", "--config", cfgPath)
	daemon.Env = os.Environ()
	stderr, err := daemon.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		logs <- b.String()
	}()
	stopped := false
	stop := func() string {
		if stopped {
			return ""
		}
		stopped = true
		_ = daemon.Process.Signal(syscall.SIGTERM)
		l := <-logs
		if err := daemon.Wait(); err != nil {
			t.Errorf("run --stages=extra: %v\n%s", err, l)
		}
		return l
	}
	defer stop()

	readyz := func() (int, string) {
		resp, err := http.Get("http://" + opsAddr + "/readyz?verbose")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s\n%s", what, stop())
			case <-tick.C:
			}
		}
	}
	var body string
	waitFor("the ops listener", func() bool { code, b := readyz(); body = b; return code != 0 })
	if code, b := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(b, "extra has handled nothing yet") {
		t.Errorf("/readyz before any entry: %d %q (want 503 naming the extra stage's check)", code, b)
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "extra.in", Values: map[string]any{"k": "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor("the entry in extra.out", func() bool {
		n, err := rdb.XLen(ctx, prefix+"extra.out").Result()
		return err == nil && n == 1
	})
	waitFor("/readyz to pass", func() bool { code, b := readyz(); body = b; return code == http.StatusOK })
	if !strings.Contains(body, "extra") {
		t.Errorf("/readyz?verbose does not list the extra stage:\n%s", body)
	}

	// streams: the stage's input (with its group) and output.
	out, errOut, err = run(nil, "streams")
	if err != nil || !strings.Contains(out, "extra.in") || !strings.Contains(out, "extra.out") {
		t.Errorf("streams: %v\n%s%s", err, out, errOut)
	}
	stop()
}
