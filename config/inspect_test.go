package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// problemStrings renders problems the way `config validate` prints them.
func problemStrings(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// TestInspectReportsEveryProblem: a file with an unknown key, a value that
// cannot be decoded and three out-of-range values yields all five problems
// at once, each with its key, the value as written and the reason; an
// undecodable value keeps its default, so it is not reported twice.
func TestInspectReportsEveryProblem(t *testing.T) {
	clearEnv(t)
	t.Setenv("ASSISTANT_STAGES_DEMO_MIN_CHARS", "-3")
	path := writeConfig(t, `log:
  level: loud
runner:
  max_attempts: 0
  block: soon
database:
  url: mysql://app:db-secret@db/app
stages:
  demo:
    workers: 0
  nope: 1
`)
	rep, err := Inspect(path, testSections...)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	got := problemStrings(rep.Problems)
	want := []string{
		`stages.nope = 1: unknown key: no setting reads it`,
		`runner.block = "soon": cannot be decoded: time: invalid duration "soon" (Go durations look like 500ms, 30s, 5m, 24h)`,
		`log.level = "loud": is not one of debug, info, warn, error`,
		`database.url = "mysql://app:xxxxx@db/app": scheme "mysql" is not one of postgres, postgresql`,
		`runner.max_attempts = 0: must be at least 1`,
		`stages.demo.workers = 0: must be at least 1`,
		`stages.demo.min_chars = -3: must be at least 0`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Config.Runner.Block != Default().Runner.Block {
		t.Errorf("undecodable runner.block = %s, want the default kept", rep.Config.Runner.Block)
	}
	var verr *ValidationError
	if _, err := Load(path, testSections...); !errors.As(err, &verr) || len(verr.Problems) != len(want) {
		t.Errorf("Load: %v, want a *ValidationError of %d problems", err, len(want))
	}
	if err := rep.Err(); err == nil || strings.Contains(err.Error(), "db-secret") {
		t.Errorf("Err() = %v: want the problems, without the password", err)
	}
}

// TestProblemValuesOfSecretsAreRedacted: a problem added without a value
// gets the setting's effective value, a secret one redacted.
func TestProblemValuesOfSecretsAreRedacted(t *testing.T) {
	clearEnv(t)
	t.Setenv("GIGACHAT_API_KEY", "giga-secret")
	rep, err := Inspect(writeConfig(t, "stages:\n  demo:\n    token: stage-secret\n"), testSections...)
	if err != nil {
		t.Fatal(err)
	}
	rep.Add(Problem{Key: "ai.gigachat.api_key", Reason: "refused"}, Problem{Key: "stages.demo.token", Reason: "refused"},
		Problem{Key: "ai.gigachat.scope", Reason: "refused"})
	got := problemStrings(rep.Problems)
	want := []string{
		`ai.gigachat.api_key = <redacted>: refused`,
		`stages.demo.token = <redacted>: refused`,
		`ai.gigachat.scope = "GIGACHAT_API_PERS": refused`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

// TestYAMLTabReportsItsLine: yaml.v3 blames the line before a tab that
// breaks the indentation; the loader names the tab's own line.
func TestYAMLTabReportsItsLine(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name, file, want string
	}{
		{"tab on line 3", "log:\n  level: info\n\tformat: json\n", "line 3, column 1:"},
		{"tab on line 5", "# c\nlog:\n  level: info\nrunner:\n\tblock: 1s\n", "line 5, column 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Inspect(writeConfig(t, tt.file), testSections...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "tab") {
				t.Fatalf("got %v, want an error about a tab naming %s", err, tt.want)
			}
		})
	}
}

// TestUnknownEnvironmentVariablesWarn: an ASSISTANT_* variable that sets no
// key is a warning (not a problem) suggesting the nearest known name; the
// env forms of every key, stage sections included, are known.
func TestUnknownEnvironmentVariablesWarn(t *testing.T) {
	clearEnv(t)
	t.Setenv("ASSISTANT_NOPE_KEY", "1")
	t.Setenv("ASSISTANT_RUNER_BLOCK", "1s")
	t.Setenv("ASSISTANT_STAGES_DEMO_MIN_CHARS", "5")
	t.Setenv("ASSISTANT_STAGES_SWEEP_X_INTERVAL", "1m")
	t.Setenv("ASSISTANT_API_ADMIN_TOKEN", "t")
	rep, err := Inspect("", testSections...)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("problems %v, want none", rep.Problems)
	}
	want := []string{
		"environment variable ASSISTANT_NOPE_KEY sets no configuration key and is ignored",
		"environment variable ASSISTANT_RUNER_BLOCK sets no configuration key and is ignored (did you mean ASSISTANT_RUNNER_BLOCK?)",
	}
	if !slices.Equal(rep.Warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(rep.Warnings, "\n"), strings.Join(want, "\n"))
	}
}

// TestValidateNeeds: a remote provider's key is required only when a
// selected stage builds the chain that uses it.
func TestValidateNeeds(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*Config)
		needs Needs
		want  []string
	}{
		{"gigachat tagger without key", func(c *Config) { c.AI.Tagger = "gigachat" }, Needs{Tagger: true},
			[]string{"ai.gigachat.api_key"}},
		{"gigachat tagger not needed", func(c *Config) { c.AI.Tagger = "gigachat" }, Needs{Embedder: true}, nil},
		{"gigachat tagger with key", func(c *Config) { c.AI.Tagger, c.AI.GigaChat.APIKey = "gigachat", "k" }, Needs{Tagger: true}, nil},
		{"openrouter in an embedder chain", func(c *Config) { c.AI.Embedder = "openrouter,local" }, Needs{Embedder: true},
			[]string{"ai.openrouter.api_key"}},
		{"both chains, both missing", func(c *Config) { c.AI.Tagger, c.AI.Embedder = "gigachat", "openrouter" },
			Needs{Tagger: true, Embedder: true}, []string{"ai.gigachat.api_key", "ai.openrouter.api_key"}},
		{"auto needs no key", func(*Config) {}, Needs{Tagger: true, Embedder: true}, nil},
		{"database url the driver refuses", func(c *Config) { c.Database.URL = "postgres://u:pw@db/app?sslmode=bogus" },
			Needs{Postgres: true}, []string{"database.url"}},
		{"database url not needed", func(c *Config) { c.Database.URL = "postgres://u:pw@db/app?sslmode=bogus" }, Needs{}, nil},
		{"database url with a bad port", func(c *Config) { c.Database.URL = "postgres://db:99999/app" },
			Needs{Postgres: true}, []string{"database.url"}},
		{"local needs no key", func(c *Config) { c.AI.Tagger = "local" }, Needs{Tagger: true}, nil},
		{"openai tagger needs a chat model, no key", func(c *Config) { c.AI.Tagger = "openai,local" }, Needs{Tagger: true},
			[]string{"ai.openai.chat_model"}},
		{"openai embedder has its default model", func(c *Config) { c.AI.Embedder = "openai" }, Needs{Embedder: true}, nil},
		{"openai with both models", func(c *Config) { c.AI.Tagger, c.AI.OpenAI.ChatModel = "openai", "qwen2.5:7b" }, Needs{Tagger: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.tweak(&cfg)
			var keys []string
			for _, p := range cfg.ValidateNeeds(tt.needs) {
				keys = append(keys, p.Key)
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("problems of %v, want %v", keys, tt.want)
			}
		})
	}
}

// TestMalformedURLs: a URL that parses but names no host is refused where
// a host is required.
func TestMalformedURLs(t *testing.T) {
	clearEnv(t)
	_, err := Load(writeConfig(t, "ai:\n  gigachat:\n    base_url: \"https:/gigachat\"\n"), testSections...)
	if err == nil || !strings.Contains(err.Error(), `ai.gigachat.base_url = "https:/gigachat": names no host`) {
		t.Errorf("got %v", err)
	}
}
