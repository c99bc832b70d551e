package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// clearEnv removes every variable Load reads, so the developer's or CI's
// environment cannot leak into a test. t.Setenv first, so the test framework
// restores the original values afterwards.
func clearEnv(t *testing.T) {
	t.Helper()
	names := map[string]bool{}
	for _, list := range seedEnv {
		for _, n := range list {
			names[n] = true
		}
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix+"_") {
			names[name] = true
		}
	}
	for name := range names {
		t.Setenv(name, "")
		if err := os.Unsetenv(name); err != nil {
			t.Fatalf("unset %s: %v", name, err)
		}
	}
}

// demoSettings is a stage section as a stage package would define it: the
// config package knows no stage, so its tests bring their own.
type demoSettings struct {
	Pool      `mapstructure:",squash" yaml:",inline"`
	MinChars  int           `mapstructure:"min_chars" yaml:"min_chars"`
	Retention time.Duration `mapstructure:"retention" yaml:"retention"`
	Token     string        `mapstructure:"token" yaml:"token" secret:"true"`
	Hosts     []string      `mapstructure:"hosts" yaml:"hosts"`
}

func (d *demoSettings) Validate(p *Problems) {
	p.AtLeast("min_chars", d.MinChars, 0)
	p.Positive("retention", d.Retention)
}

// serviceSettings is the section of a service-only stage.
type serviceSettings struct {
	Switch   `mapstructure:",squash" yaml:",inline"`
	Interval time.Duration `mapstructure:"interval" yaml:"interval"`
}

var testSections = []Section{
	{Name: "demo", New: func() any {
		return &demoSettings{
			Pool:     Pool{Enabled: true, Workers: 4, BatchSize: 32, MaxInflight: 256},
			MinChars: 80, Retention: 90 * 24 * time.Hour, Hosts: []string{"a", "b"},
		}
	}},
	{Name: "sweep-x", New: func() any {
		return &serviceSettings{Switch: Switch{Enabled: true}, Interval: time.Hour}
	}},
}

func demo(c Config) *demoSettings { return c.Stage("demo").(*demoSettings) }

// writeConfig writes a YAML file into a temporary directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

func TestLoadWithoutFileGivesDefaults(t *testing.T) {
	clearEnv(t)
	t.Chdir(t.TempDir()) // no ./config.yaml to pick up
	got, err := Load("", testSections...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := Default(testSections...); !reflect.DeepEqual(got, want) {
		t.Errorf("defaults differ:\n got: %+v\nwant: %+v", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	clearEnv(t)
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	const file = `
redis:
  url: redis://file:6379/1
database:
  url: postgres://file@db:5432/file
streams:
  legacy_consumer_enabled: false
runner:
  max_attempts: 7
  block: 3s
stages:
  demo:
    workers: 3
ai:
  gigachat:
    api_key: from-file
    scope: GIGACHAT_API_B2B
`
	tests := []struct {
		name string
		env  map[string]string
		got  func(Config) any
		want any
	}{
		{"file value without env", nil, func(c Config) any { return c.Redis.URL }, "redis://file:6379/1"},
		{"ASSISTANT_API_ADMIN_TOKEN", map[string]string{"ASSISTANT_API_ADMIN_TOKEN": "admin-env"},
			func(c Config) any { return c.API.AdminToken }, "admin-env"},
		{"REDIS_URL", map[string]string{"REDIS_URL": "redis://env:6380/2"},
			func(c Config) any { return c.Redis.URL }, "redis://env:6380/2"},
		{"DATABASE_URL", map[string]string{"DATABASE_URL": "postgres://env@db:5432/env"},
			func(c Config) any { return c.Database.URL }, "postgres://env@db:5432/env"},
		{"LEGACY_REDIS_CONSUMER_ENABLED", map[string]string{"LEGACY_REDIS_CONSUMER_ENABLED": "true"},
			func(c Config) any { return c.Streams.LegacyConsumerEnabled }, true},
		{"GIGACHAT_API_KEY", map[string]string{"GIGACHAT_API_KEY": "k1"},
			func(c Config) any { return c.AI.GigaChat.APIKey }, "k1"},
		{"GIGACHAT_CREDENTIALS", map[string]string{"GIGACHAT_CREDENTIALS": "k2"},
			func(c Config) any { return c.AI.GigaChat.APIKey }, "k2"},
		{"GIGACHAT_API_KEY wins over GIGACHAT_CREDENTIALS",
			map[string]string{"GIGACHAT_API_KEY": "k1", "GIGACHAT_CREDENTIALS": "k2"},
			func(c Config) any { return c.AI.GigaChat.APIKey }, "k1"},
		{"GIGACHAT_SCOPE", map[string]string{"GIGACHAT_SCOPE": "GIGACHAT_API_CORP"},
			func(c Config) any { return c.AI.GigaChat.Scope }, "GIGACHAT_API_CORP"},
		{"OPENROUTER_API_KEY", map[string]string{"OPENROUTER_API_KEY": "or"},
			func(c Config) any { return c.AI.OpenRouter.APIKey }, "or"},
		{"stage key from the file", nil, func(c Config) any { return demo(c).Workers }, 3},
		{"ASSISTANT_STAGES_DEMO_WORKERS", map[string]string{"ASSISTANT_STAGES_DEMO_WORKERS": "8"},
			func(c Config) any { return demo(c).Workers }, 8},
		{"ASSISTANT_STAGES_DEMO_BATCH_SIZE (key absent from the file)",
			map[string]string{"ASSISTANT_STAGES_DEMO_BATCH_SIZE": "100"},
			func(c Config) any { return demo(c).BatchSize }, 100},
		{"ASSISTANT_STAGES_DEMO_MIN_CHARS (the stage's own key)",
			map[string]string{"ASSISTANT_STAGES_DEMO_MIN_CHARS": "12"},
			func(c Config) any { return demo(c).MinChars }, 12},
		{"ASSISTANT_STAGES_DEMO_HOSTS (a list)",
			map[string]string{"ASSISTANT_STAGES_DEMO_HOSTS": "x,y,z"},
			func(c Config) any { return demo(c).Hosts }, []string{"x", "y", "z"}},
		{"ASSISTANT_STAGES_SWEEP_X_INTERVAL (dash in the stage name)",
			map[string]string{"ASSISTANT_STAGES_SWEEP_X_INTERVAL": "5m"},
			func(c Config) any { return c.Stage("sweep-x").(*serviceSettings).Interval }, 5 * time.Minute},
		{"ASSISTANT_STAGES_SWEEP_X_ENABLED",
			map[string]string{"ASSISTANT_STAGES_SWEEP_X_ENABLED": "false"},
			func(c Config) any { return c.StageEnabled("sweep-x") }, false},
		{"ASSISTANT_DATABASE_SCHEMA", map[string]string{"ASSISTANT_DATABASE_SCHEMA": "ours"},
			func(c Config) any { return c.Database.Schema }, "ours"},
		{"ASSISTANT_RUNNER_MAX_ATTEMPTS", map[string]string{"ASSISTANT_RUNNER_MAX_ATTEMPTS": "3"},
			func(c Config) any { return c.Runner.MaxAttempts }, 3},
		{"ASSISTANT_RUNNER_BLOCK", map[string]string{"ASSISTANT_RUNNER_BLOCK": "750ms"},
			func(c Config) any { return c.Runner.Block }, 750 * time.Millisecond},
		{"ASSISTANT_REDIS_KEY_PREFIX", map[string]string{"ASSISTANT_REDIS_KEY_PREFIX": "dev:"},
			func(c Config) any { return c.Redis.KeyPrefix }, "dev:"},
		{"ASSISTANT_LOG_FORMAT", map[string]string{"ASSISTANT_LOG_FORMAT": "text"},
			func(c Config) any { return c.Log.Format }, "text"},
		{"ASSISTANT_AI_TAGGER", map[string]string{"ASSISTANT_AI_TAGGER": "gigachat,openrouter"},
			func(c Config) any { return c.AI.Tagger }, "gigachat,openrouter"},
		{"empty variable does not override", map[string]string{"REDIS_URL": ""},
			func(c Config) any { return c.Redis.URL }, "redis://file:6379/1"},
	}
	path := writeConfig(t, file)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := Load(path, testSections...)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.got(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v (%T), want %v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestValidationErrorNamesKey(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		key  string
	}{
		{"log level", "log:\n  level: loud\n", nil, "log.level"},
		{"log format", "log:\n  format: xml\n", nil, "log.format"},
		{"redis scheme", "redis:\n  url: http://x\n", nil, "redis.url"},
		{"redis from env", "", map[string]string{"REDIS_URL": "mysql://x"}, "redis.url"},
		{"cluster without hash tag", "redis:\n  cluster: true\n  key_prefix: \"assistant:\"\n", nil, "redis.key_prefix"},
		{"cluster with empty tag", "redis:\n  cluster: true\n  key_prefix: \"{}assistant:\"\n", nil, "redis.key_prefix"},
		{"cluster from env without prefix", "", map[string]string{"ASSISTANT_REDIS_CLUSTER": "true"}, "redis.key_prefix"},
		{"cluster over a unix socket", "redis:\n  cluster: true\n  url: unix:///run/redis.sock\n  key_prefix: \"{a}:\"\n", nil, "redis.url"},
		{"database scheme", "database:\n  url: mysql://x/db\n", nil, "database.url"},
		{"database max conns", "database:\n  max_conns: 0\n", nil, "database.max_conns"},
		{"database schema too long", "database:\n  schema: " + strings.Repeat("s", 64) + "\n", nil, "database.schema"},
		{"empty stream", "streams:\n  tagged: \" \"\n", nil, "streams.tagged"},
		{"empty dlq suffix", "streams:\n  dlq_suffix: \"\"\n", nil, "streams.dlq_suffix"},
		{"no partitions", "streams:\n  partitions: 0\n", nil, "streams.partitions"},
		{"too many partitions", "streams:\n  partitions: 257\n", nil, "streams.partitions"},
		{"partitions from env", "", map[string]string{"ASSISTANT_STREAMS_PARTITIONS": "-3"}, "streams.partitions"},
		{"partitions with the legacy consumer", "streams:\n  partitions: 3\n  legacy_consumer_enabled: true\n", nil, "streams.partitions"},
		{"max attempts", "runner:\n  max_attempts: 0\n", nil, "runner.max_attempts"},
		{"negative block", "runner:\n  block: -1s\n", nil, "runner.block"},
		{"backoff order", "runner:\n  retry_initial_backoff: 10s\n  retry_max_backoff: 1s\n", nil, "runner.retry_max_backoff"},
		{"shutdown timeout", "runner:\n  shutdown_timeout: 0s\n", nil, "runner.shutdown_timeout"},
		{"max entry bytes", "runner:\n  max_entry_bytes: 10\n", nil, "runner.max_entry_bytes"},
		{"negative progress interval", "runner:\n  progress_interval: -1s\n", nil, "runner.progress_interval"},
		{"stage workers", "stages:\n  demo:\n    workers: 0\n", nil, "stages.demo.workers"},
		{"stage workers from env", "", map[string]string{"ASSISTANT_STAGES_DEMO_WORKERS": "0"}, "stages.demo.workers"},
		{"stage batch", "stages:\n  demo:\n    batch_size: 0\n", nil, "stages.demo.batch_size"},
		{"stage inflight", "stages:\n  demo:\n    max_inflight: 0\n", nil, "stages.demo.max_inflight"},
		{"stage's own rule", "stages:\n  demo:\n    retention: 0s\n", nil, "stages.demo.retention"},
		{"stage's own rule from env", "", map[string]string{"ASSISTANT_STAGES_DEMO_MIN_CHARS": "-1"}, "stages.demo.min_chars"},
		{"tagger provider", "ai:\n  tagger: gigachat,magic\n", nil, "ai.tagger"},
		{"embedder provider", "ai:\n  embedder: nope\n", nil, "ai.embedder"},
		{"gigachat scope", "ai:\n  gigachat:\n    scope: ALL\n", nil, "ai.gigachat.scope"},
		{"gigachat ca file", "ai:\n  gigachat:\n    ca_file: /does/not/exist.pem\n", nil, "ai.gigachat.ca_file"},
		{"openrouter base url", "ai:\n  openrouter:\n    base_url: ftp://x\n", nil, "ai.openrouter.base_url"},
		{"local dim", "ai:\n  local:\n    embedding_dim: 2\n", nil, "ai.local.embedding_dim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := Load(writeConfig(t, tt.file), testSections...)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("want a *ValidationError, got %v", err)
			}
			found := false
			for _, p := range verr.Problems {
				if p.Key == tt.key && strings.HasPrefix(p.String(), tt.key+" = ") {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem names %s: %v", tt.key, verr.Problems)
			}
		})
	}
}

func TestUndecodableValueIsRejected(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
	}{
		{"duration in file", "runner:\n  block: soon\n", nil},
		{"integer from env", "", map[string]string{"ASSISTANT_RUNNER_MAX_ATTEMPTS": "many"}},
		{"boolean from env", "", map[string]string{"LEGACY_REDIS_CONSUMER_ENABLED": "perhaps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if _, err := Load(writeConfig(t, tt.file)); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	tests := []struct {
		name string
		file string
		key  string
	}{
		{"typo in a section", "runner:\n  max_atempts: 3\n", "runner.max_atempts"},
		{"unknown section", "enrich:\n  enabled: true\n", "enrich.enabled"},
		{"unknown stage key", "stages:\n  demo:\n    worker: 3\n", "stages.demo.worker"},
		{"stage not built in", "stages:\n  enrich:\n    enabled: true\n", "stages.enrich.enabled"},
		{"pool key in a service-only stage", "stages:\n  sweep-x:\n    workers: 2\n", "stages.sweep-x.workers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			_, err := Load(writeConfig(t, tt.file), testSections...)
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("want an error naming %s, got %v", tt.key, err)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	cfg := Default(testSections...)
	demo(cfg).Token = "stage-secret"
	cfg.AI.GigaChat.APIKey = "giga-secret"
	cfg.AI.OpenRouter.APIKey = "or-secret"
	cfg.Redis.URL = "redis://:redis-secret@cache:6379/0"
	cfg.Database.URL = "postgres://app:db-secret@db:5432/app?sslmode=disable"
	cfg.API.AdminToken = "admin-secret"

	red := cfg.Redacted()
	if red.AI.GigaChat.APIKey != redactedMark || red.AI.OpenRouter.APIKey != redactedMark {
		t.Errorf("api keys not redacted: %q %q", red.AI.GigaChat.APIKey, red.AI.OpenRouter.APIKey)
	}
	if !strings.Contains(red.Database.URL, "app:xxxxx@db:5432") {
		t.Errorf("database url: %s", red.Database.URL)
	}
	if got := demo(red).Token; got != redactedMark {
		t.Errorf("stage secret not redacted: %q", got)
	}
	if cfg.AI.GigaChat.APIKey != "giga-secret" || demo(cfg).Token != "stage-secret" {
		t.Error("Redacted changed the original")
	}

	out, err := cfg.YAML()
	if err != nil {
		t.Fatalf("YAML: %v", err)
	}
	for _, secret := range []string{"giga-secret", "or-secret", "redis-secret", "db-secret", "stage-secret", "admin-secret"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("YAML output leaks %s:\n%s", secret, out)
		}
	}

	empty := Default().Redacted()
	if empty.AI.GigaChat.APIKey != "" {
		t.Error("an unset key must stay empty, not look set")
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:pw@h:6379/0", "redis://:xxxxx@h:6379/0"},
		{"postgres://u:pw@h/db?sslmode=disable", "postgres://u:xxxxx@h/db?sslmode=disable"},
		{"postgres://u@h/db?password=pw", "postgres://u@h/db?password=xxxxx"},
		{"postgres://u@h/db", "postgres://u@h/db"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestYAMLRoundTrip checks that `config print` output renders durations as
// people write them and loads back to the same configuration.
func TestYAMLRoundTrip(t *testing.T) {
	clearEnv(t)
	cfg := Default(testSections...)
	cfg.Runner.Block = 1500 * time.Millisecond
	demo(cfg).Workers = 9
	out, err := cfg.YAML()
	if err != nil {
		t.Fatalf("YAML: %v", err)
	}
	for _, want := range []string{"block: 1.5s", "shutdown_timeout: 30s", "retention: 2160h", "claim_min_idle: 1m", "workers: 9", "addr: :8000"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	back, err := Load(writeConfig(t, string(out)), testSections...)
	if err != nil {
		t.Fatalf("load rendered YAML: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip differs:\n got: %+v\nwant: %+v", back, cfg)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{2 * time.Second, "2s"},
		{500 * time.Millisecond, "500ms"},
		{time.Minute, "1m"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
		{90 * 24 * time.Hour, "2160h"},
		{0, "0s"},
	}
	for _, tt := range tests {
		got := FormatDuration(tt.in)
		if got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != tt.in {
			t.Errorf("ParseDuration(%q) = %v, %v", got, back, err)
		}
	}
}

func TestResolveProviders(t *testing.T) {
	tests := []struct {
		name       string
		setting    string
		gigachat   string
		openrouter string
		want       []string
	}{
		{"auto without keys is local", "auto", "", "", []string{"local"}},
		{"auto with gigachat key", "auto", "g", "", []string{"gigachat"}},
		{"auto with openrouter key", "auto", "", "o", []string{"openrouter"}},
		{"auto with both keys prefers gigachat", "auto", "g", "o", []string{"gigachat"}},
		{"explicit provider ignores keys", "local", "g", "o", []string{"local"}},
		{"chain", "gigachat, openrouter", "", "", []string{"gigachat", "openrouter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.AI.GigaChat.APIKey = tt.gigachat
			cfg.AI.OpenRouter.APIKey = tt.openrouter
			if got := cfg.ResolveProviders(tt.setting); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStageHelpers(t *testing.T) {
	cfg := Default(testSections...)
	if !cfg.SetStageEnabled("demo", false) || cfg.StageEnabled("demo") {
		t.Error("demo not disabled")
	}
	if pool, ok := cfg.StagePool("demo"); !ok || pool.Enabled || pool.Workers != 4 {
		t.Errorf("StagePool(demo) = %+v, %v", pool, ok)
	}
	if !cfg.SetStageEnabled("sweep-x", false) || cfg.StageEnabled("sweep-x") {
		t.Error("sweep-x not disabled")
	}
	if _, ok := cfg.StagePool("sweep-x"); ok {
		t.Error("a service-only stage has no pool")
	}
	if cfg.SetStageEnabled("enrich", true) || cfg.StageEnabled("enrich") {
		t.Error("an unknown stage must report false")
	}
	clone := cfg.Clone()
	demo(clone).Workers = 99
	if demo(cfg).Workers == 99 {
		t.Error("Clone shares the stage sections with the original")
	}
}

func TestHashTagged(t *testing.T) {
	for prefix, want := range map[string]bool{
		"":               false,
		"assistant:":     false,
		"{}assistant:":   false,
		"{assistant:":    false,
		"assistant}:{":   false,
		"{assistant}:":   true,
		"prod:{a}:":      true,
		"{a}{b}:":        true,
		"x}{assistant}:": true,
	} {
		if got := HashTagged(prefix); got != want {
			t.Errorf("HashTagged(%q) = %v, want %v", prefix, got, want)
		}
	}
}

// A cluster with a hash-tagged prefix is valid: the keys are in one slot.
func TestClusterWithHashTaggedPrefixIsValid(t *testing.T) {
	clearEnv(t)
	cfg, err := Load(writeConfig(t, "redis:\n  cluster: true\n  url: redis://10.0.0.1:7000?addr=10.0.0.2:7000\n  key_prefix: \"{assistant}:\"\n"), testSections...)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Redis.Cluster || cfg.Redis.KeyPrefix != "{assistant}:" {
		t.Fatalf("redis section %+v", cfg.Redis)
	}
}
