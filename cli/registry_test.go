package cli

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// echoSettings is the settings block of a stage that exists only in this
// test: it embeds the pool and adds a key of its own, with its own rule.
type echoSettings struct {
	config.Pool `mapstructure:",squash" yaml:",inline"`
	Label       string `mapstructure:"label" yaml:"label"`
}

func (s *echoSettings) Validate(p *config.Problems) { p.NotEmpty("label", s.Label) }

// echoStage forwards every entry of echo.in to echo.out.
type echoStage struct{}

func (echoStage) Handle(_ context.Context, batch []*pipeline.Message) error {
	for _, m := range batch {
		m.Forward("echo.out")
	}
	return nil
}

// tickerSettings is the block of a service-only stage (no pool).
type tickerSettings struct {
	config.Switch `mapstructure:",squash" yaml:",inline"`
	Interval      time.Duration `mapstructure:"interval" yaml:"interval"`
	Label         string        `mapstructure:"label" yaml:"label"`
}

func (s *tickerSettings) Validate(p *config.Problems) { p.Positive("interval", s.Interval) }

// tickerService counts its ticks in Redis, under its configured label, and
// is ready once it has ticked.
type tickerService struct {
	rdb   redis.UniversalClient
	key   string
	every time.Duration
	label string
}

func (s *tickerService) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			s.rdb.HIncrBy(ctx, s.key, s.label, 1)
		}
	}
}

func (s *tickerService) Check(ctx context.Context) error {
	n, err := s.rdb.HGet(ctx, s.key, s.label).Int()
	if err != nil || n == 0 {
		return errors.New("has not ticked yet")
	}
	return nil
}

// pluginRegistry is an isolated registry of two stages that config/, cli/
// and the runner have never heard of.
func pluginRegistry() *pipeline.Registry {
	return pipeline.MustRegistry(
		pipeline.Definition{
			Name:    "echo",
			Input:   func(config.Streams) string { return "echo.in" },
			Outputs: func(config.Streams) []string { return []string{"echo.out"} },
			Config: func() any {
				return &echoSettings{Pool: config.Pool{Enabled: true, Workers: 2, BatchSize: 10, MaxInflight: 50}, Label: "e"}
			},
			New: func(_ context.Context, deps pipeline.Deps) (pipeline.Stage, error) {
				if _, err := pipeline.StageSettings[*echoSettings](deps); err != nil {
					return nil, err
				}
				return echoStage{}, nil
			},
		},
		pipeline.Definition{
			Name: "ticker",
			Config: func() any {
				return &tickerSettings{Switch: config.Switch{Enabled: true}, Interval: time.Hour, Label: "default"}
			},
			Service: func(_ context.Context, deps pipeline.Deps) (pipeline.Service, error) {
				set, err := pipeline.StageSettings[*tickerSettings](deps)
				if err != nil {
					return nil, err
				}
				return &tickerService{rdb: deps.Redis, key: deps.Keys.Key("ticks"), every: set.Interval, label: set.Label}, nil
			},
		},
	)
}

// TestNewStageAndServicePlugIn is the acceptance test of the stage registry:
// a stage with its own settings block and output stream and a service-only
// stage with its own loop are added in this test alone, and `config
// validate`, `config print`, `run --stages`, `streams` and /readyz show them.
func TestNewStageAndServicePlugIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	reg := pluginRegistry()
	run := func(args ...string) (int, string, string) {
		var stdout, stderr syncBuffer
		a := &app{stages: reg, stdout: &stdout, stderr: &stderr}
		code := a.execute(ctx, args)
		return code, stdout.String(), stderr.String()
	}

	// config validate: the stages' own keys and rules, named in full.
	for _, tt := range []struct{ extra, want string }{
		{"stages:\n  echo:\n    label: \"\"\n", `problem: stages.echo.label = "": must not be empty`},
		{"stages:\n  echo:\n    workers: 0\n", "problem: stages.echo.workers = 0: must be at least 1"},
		{"stages:\n  ticker:\n    interval: 0s\n", "problem: stages.ticker.interval = 0s: must be a positive duration"},
		{"stages:\n  ticker:\n    workers: 2\n", "problem: stages.ticker.workers = 2: unknown key"},
		{"stages:\n  tag:\n    workers: 2\n", "problem: stages.tag.workers = 2: unknown key"},
	} {
		code, stdout, _ := run("config", "validate", "--config", testConfig(t, prefix, "", tt.extra))
		if code == 0 || !strings.Contains(stdout, tt.want) {
			t.Errorf("config validate with %q: exit %d, stdout %q, want %q", tt.extra, code, stdout, tt.want)
		}
	}
	// The plugged-in stages use no database, so neither does the API.
	cfgPath := testConfig(t, prefix, "", `api:
  addr: ""
stages:
  echo:
    label: from-file
  ticker:
    interval: 20ms
    label: plugged
`)
	if code, out, stderr := run("config", "validate", "--config", cfgPath); code != 0 || out != "config ok\n" {
		t.Fatalf("config validate: %d %q %s", code, out, stderr)
	}
	code, out, _ := run("config", "print", "--config", cfgPath)
	if code != 0 || !regexp.MustCompile(`(?s)stages:\n  echo:\n    enabled: true\n    workers: 2\n.*label: from-file\n  ticker:\n    enabled: true\n    interval: 20ms\n    label: plugged`).MatchString(out) {
		t.Errorf("config print does not show the stages' blocks:\n%s", out)
	}
	if code, out, _ := run("run", "--help"); code != 0 || !strings.Contains(out, "built in: echo, ticker") {
		t.Errorf("run --help does not list the stages:\n%s", out)
	}

	// run --stages: the stage moves an entry, the service ticks, /readyz
	// lists both.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "echo.in", Values: map[string]any{"data": `{"n":1}`}}).Err(); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stdout, stderr syncBuffer
	a := &app{stages: reg, stdout: &stdout, stderr: &stderr}
	done := make(chan int, 1)
	go func() { done <- a.execute(runCtx, []string{"run", "--stages=echo,ticker", "--config", cfgPath}) }()
	addrRE := regexp.MustCompile(`msg="ops server listening" addr=(\S+)`)
	var addr string
	testenv.WaitFor(t, "ops address", 20*time.Second, func() bool {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	testenv.WaitFor(t, "the entry on echo.out", 20*time.Second, func() bool { return rdb.XLen(ctx, prefix+"echo.out").Val() == 1 })
	testenv.WaitFor(t, "the ticker's ticks under its configured label", 20*time.Second, func() bool {
		n, _ := rdb.HGet(ctx, prefix+"ticks", "plugged").Int()
		return n >= 2
	})
	var body string
	testenv.WaitFor(t, "/readyz 200", 20*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz?verbose")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	for _, want := range []string{"ready", "[+]stage echo ok", "[+]service ticker ok", "[+]group echo on echo.in ok"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz?verbose lacks %q:\n%s", want, body)
		}
	}

	// streams: the stage's input (with its group) and output.
	code, out, serr := run("streams", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("streams: %d %s", code, serr)
	}
	if !regexp.MustCompile(`echo\.in\s+\d+\s+0\s+echo\s+0\s+0`).MatchString(out) || !regexp.MustCompile(`echo\.out\s+1\s+0`).MatchString(out) {
		t.Errorf("streams does not show echo.in/echo.out:\n%s", out)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
	if !strings.Contains(stderr.String(), "services=[ticker]") {
		t.Errorf("runner start log does not list the service:\n%s", stderr.String())
	}
}
