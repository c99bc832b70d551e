package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// EnvPrefix is the prefix of the generic environment overrides.
const EnvPrefix = "ASSISTANT"

// seedEnv maps the seed's environment variable names to config keys. Where a
// key has several names, the first one set wins.
var seedEnv = map[string][]string{
	"redis.url":                       {"REDIS_URL"},
	"database.url":                    {"DATABASE_URL"},
	"streams.legacy_consumer_enabled": {"LEGACY_REDIS_CONSUMER_ENABLED"},
	"ai.gigachat.api_key":             {"GIGACHAT_API_KEY", "GIGACHAT_CREDENTIALS"},
	"ai.gigachat.scope":               {"GIGACHAT_SCOPE"},
	"ai.gigachat.base_url":            {"GIGACHAT_BASE_URL"},
	"ai.gigachat.auth_url":            {"GIGACHAT_AUTH_URL"},
	"ai.gigachat.ca_file":             {"GIGACHAT_CA_BUNDLE_FILE"},
	"ai.openrouter.api_key":           {"OPENROUTER_API_KEY"},
}

// Load builds the effective configuration from the defaults, the YAML file at
// path (skipped when path is empty and ./config.yaml does not exist) and the
// environment, then validates it. sections are the stage settings blocks of
// the stages built into the binary (from the stage registry): each
// stages.<name> block is decoded into its section's struct, and a stages.X
// block no section claims is an unknown key.
func Load(path string, sections ...Section) (Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	def := Default(sections...)
	setDefaults(v, "", reflect.ValueOf(def))
	for _, name := range def.Stages.Names() {
		setDefaults(v, stagesKey+"."+name, reflect.ValueOf(def.Stages.Get(name)).Elem())
	}

	if path == "" {
		if _, err := os.Stat("config.yaml"); err == nil {
			path = "config.yaml"
		}
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config file %s: %w", path, err)
		}
	}

	v.SetEnvPrefix(EnvPrefix)
	// stages.bench-noop.workers -> ASSISTANT_STAGES_BENCH_NOOP_WORKERS
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	for key, names := range seedEnv {
		if err := v.BindEnv(append([]string{key}, names...)...); err != nil {
			return Config{}, fmt.Errorf("bind env for %s: %w", key, err)
		}
	}

	all := v.AllSettings()
	var cfg Config
	if err := decodeInto(all, &cfg); err != nil {
		return Config{}, fmt.Errorf("decode config: %w", err)
	}
	stageValues, _ := all[stagesKey].(map[string]any)
	for _, sec := range sections {
		settings := sec.New()
		if err := decodeInto(stageValues[sec.Name], settings); err != nil {
			return Config{}, fmt.Errorf("decode config %s.%s: %w", stagesKey, sec.Name, err)
		}
		cfg.Stages.Set(sec.Name, settings)
	}
	if err := checkUnknownKeys(v, def); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// stagesKey is the section of the file that holds the stages' own blocks.
const stagesKey = "stages"

// decodeInto decodes viper's settings map into a struct: durations from
// strings, lists from comma-separated environment values, strings to
// numbers and booleans where the struct asks for them.
func decodeInto(input, result any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           result,
		WeaklyTypedInput: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
	})
	if err != nil {
		return err
	}
	return dec.Decode(input)
}

// setDefaults registers every leaf of the default struct with viper, so that
// AutomaticEnv can override keys that the YAML file does not mention.
func setDefaults(v *viper.Viper, prefix string, rv reflect.Value) {
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")
		if tag[0] == "-" || !f.IsExported() {
			continue
		}
		fv := rv.Field(i)
		if len(tag) > 1 && tag[1] == "squash" {
			setDefaults(v, prefix, fv)
			continue
		}
		key := tag[0]
		if prefix != "" {
			key = prefix + "." + key
		}
		if fv.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			setDefaults(v, key, fv)
			continue
		}
		v.SetDefault(key, fv.Interface())
	}
}

// checkUnknownKeys rejects keys in the file that no setting reads, so a typo
// does not silently fall back to a default.
func checkUnknownKeys(v *viper.Viper, def Config) error {
	known := map[string]bool{}
	collectKeys("", reflect.TypeOf(Config{}), known)
	for _, name := range def.Stages.Names() {
		collectKeys(stagesKey+"."+name, reflect.TypeOf(def.Stages.Get(name)).Elem(), known)
	}
	var unknown []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config: unknown key %s", strings.Join(unknown, ", "))
	}
	return nil
}

func collectKeys(prefix string, rt reflect.Type, into map[string]bool) {
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")
		if tag[0] == "-" || !f.IsExported() {
			continue
		}
		if len(tag) > 1 && tag[1] == "squash" {
			collectKeys(prefix, f.Type, into)
			continue
		}
		key := tag[0]
		if prefix != "" {
			key = prefix + "." + key
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			collectKeys(key, f.Type, into)
			continue
		}
		into[key] = true
	}
}

// Validate checks the configuration and names the key of every problem.
func (c *Config) Validate() error {
	p := NewProblems("")
	p.OneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	p.OneOf("log.format", c.Log.Format, "json", "text")
	p.NotEmpty("http.addr", c.HTTP.Addr)
	p.URL("redis.url", c.Redis.URL, "redis", "rediss", "unix")
	p.URL("database.url", c.Database.URL, "postgres", "postgresql")
	p.AtLeast("database.max_conns", c.Database.MaxConns, 1)

	p.AtLeast("api.max_query_bytes", c.API.MaxQueryBytes, 16)
	p.Positive("api.request_timeout", c.API.RequestTimeout)
	if c.Search.RRFK <= 0 {
		p.Add("search.rrf_k", "must be positive")
	}
	if c.Search.KeywordWeight < 0 || c.Search.SemanticWeight < 0 || c.Search.KeywordWeight+c.Search.SemanticWeight == 0 {
		p.Add("search.keyword_weight", "weights must not be negative and not both zero")
	}
	if c.Search.CrawlWeight <= 0 {
		p.Add("search.crawl_weight", "must be positive")
	}
	p.AtLeast("search.candidates", c.Search.Candidates, 10)
	p.AtLeast("search.max_limit", c.Search.MaxLimit, 1)
	p.Positive("search.mirror_refresh", c.Search.MirrorRefresh)
	if len(c.Database.Schema) > 63 {
		// PostgreSQL truncates longer identifiers silently: two long names
		// could end up the same schema.
		p.Add("database.schema", "%q is longer than 63 bytes", c.Database.Schema)
	}

	s := c.Streams
	p.NotEmpty("streams.parsed", s.Parsed)
	p.NotEmpty("streams.tagged", s.Tagged)
	p.NotEmpty("streams.enriched", s.Enriched)
	p.NotEmpty("streams.indexed", s.Indexed)
	p.NotEmpty("streams.deleted", s.Deleted)
	p.NotEmpty("streams.dlq_suffix", s.DLQSuffix)
	p.OneOf("streams.legacy_start", s.LegacyStart, "$", "0")

	r := c.Runner
	p.Positive("runner.block", r.Block)
	p.AtLeast("runner.max_attempts", r.MaxAttempts, 1)
	p.Positive("runner.retry_initial_backoff", r.RetryInitialBackoff)
	p.Positive("runner.retry_max_backoff", r.RetryMaxBackoff)
	if r.RetryMaxBackoff < r.RetryInitialBackoff {
		p.Add("runner.retry_max_backoff", "must not be below runner.retry_initial_backoff")
	}
	p.Positive("runner.claim_min_idle", r.ClaimMinIdle)
	p.Positive("runner.claim_interval", r.ClaimInterval)
	p.Positive("runner.trim_interval", r.TrimInterval)
	p.Positive("runner.consumer_idle_timeout", r.ConsumerIdleTimeout)
	p.Positive("runner.metrics_interval", r.MetricsInterval)
	p.Positive("runner.shutdown_timeout", r.ShutdownTimeout)
	p.Positive("runner.heartbeat_interval", r.HeartbeatInterval)
	p.AtLeast("runner.max_entry_bytes", r.MaxEntryBytes, 1024)

	for _, name := range c.Stages.Names() {
		sp := p.Section(stagesKey + "." + name)
		settings := c.Stages.Get(name)
		if pooled, ok := settings.(Pooled); ok {
			pool := pooled.PoolSettings()
			sp.AtLeast("workers", pool.Workers, 1)
			sp.AtLeast("batch_size", pool.BatchSize, 1)
			sp.AtLeast("max_inflight", pool.MaxInflight, 1)
		}
		if v, ok := settings.(SectionValidator); ok {
			v.Validate(sp)
		}
	}

	checkProviders := func(key, val string) {
		if val == "auto" {
			return
		}
		for _, name := range strings.Split(val, ",") {
			name = strings.TrimSpace(name)
			if name != "gigachat" && name != "openrouter" && name != "local" {
				p.Add(key, "unknown provider %q (want auto, gigachat, openrouter, local or a comma-separated chain)", name)
			}
		}
	}
	checkProviders("ai.tagger", c.AI.Tagger)
	checkProviders("ai.embedder", c.AI.Embedder)
	g := c.AI.GigaChat
	p.URL("ai.gigachat.base_url", g.BaseURL, "http", "https")
	p.URL("ai.gigachat.auth_url", g.AuthURL, "http", "https")
	p.OneOf("ai.gigachat.scope", g.Scope, "GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP")
	p.AtLeast("ai.gigachat.max_concurrency", g.MaxConcurrency, 1)
	p.AtLeast("ai.gigachat.embedding_dim", g.EmbeddingDim, 1)
	p.Positive("ai.gigachat.timeout", g.Timeout)
	p.AtLeast("ai.gigachat.breaker_failures", g.BreakerFailures, 1)
	p.Positive("ai.gigachat.breaker_cooldown", g.BreakerCooldown)
	if g.CAFile != "" {
		if _, err := os.Stat(g.CAFile); err != nil {
			p.Add("ai.gigachat.ca_file", "%v", err)
		}
	}
	o := c.AI.OpenRouter
	p.URL("ai.openrouter.base_url", o.BaseURL, "http", "https")
	p.AtLeast("ai.openrouter.max_concurrency", o.MaxConcurrency, 1)
	p.AtLeast("ai.openrouter.embedding_dim", o.EmbeddingDim, 1)
	p.Positive("ai.openrouter.timeout", o.Timeout)
	p.AtLeast("ai.openrouter.breaker_failures", o.BreakerFailures, 1)
	p.Positive("ai.openrouter.breaker_cooldown", o.BreakerCooldown)
	p.AtLeast("ai.local.embedding_dim", c.AI.Local.EmbeddingDim, 8)
	return p.Err()
}

// ResolveProviders expands "auto" (README.md, "Configuration"): gigachat when its key is
// set, else openrouter when its key is set, else local. Other values are split
// into a chain.
func (c *Config) ResolveProviders(setting string) []string {
	if setting == "auto" {
		switch {
		case c.AI.GigaChat.APIKey != "":
			return []string{"gigachat"}
		case c.AI.OpenRouter.APIKey != "":
			return []string{"openrouter"}
		default:
			return []string{"local"}
		}
	}
	var chain []string
	for _, name := range strings.Split(setting, ",") {
		if name = strings.TrimSpace(name); name != "" {
			chain = append(chain, name)
		}
	}
	return chain
}

var errEmptyURL = errors.New("must not be empty")

// EnvNames lists the environment variables Load reads besides the
// ASSISTANT_* ones (the seed's names), so tests can clear them.
func EnvNames() []string {
	var names []string
	for _, list := range seedEnv {
		names = append(names, list...)
	}
	sort.Strings(names)
	return names
}
