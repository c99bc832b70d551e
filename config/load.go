package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
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
// environment, then validates it.
func Load(path string) (Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	setDefaults(v, "", reflect.ValueOf(Default()))

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
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for key, names := range seedEnv {
		if err := v.BindEnv(append([]string{key}, names...)...); err != nil {
			return Config{}, fmt.Errorf("bind env for %s: %w", key, err)
		}
	}

	var cfg Config
	decode := func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = false
		dc.WeaklyTypedInput = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
	}
	if err := v.Unmarshal(&cfg, decode); err != nil {
		return Config{}, fmt.Errorf("decode config: %w", err)
	}
	if err := checkUnknownKeys(v); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// setDefaults registers every leaf of the default struct with viper, so that
// AutomaticEnv can override keys that the YAML file does not mention.
func setDefaults(v *viper.Viper, prefix string, rv reflect.Value) {
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")
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
func checkUnknownKeys(v *viper.Viper) error {
	known := map[string]bool{}
	collectKeys("", reflect.TypeOf(Config{}), known)
	var unknown []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("config: unknown key %s", strings.Join(unknown, ", "))
	}
	return nil
}

func collectKeys(prefix string, rt reflect.Type, into map[string]bool) {
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")
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

// ValidationError lists every invalid setting, each naming its key.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "invalid config: " + strings.Join(e.Problems, "; ")
}

// Validate checks the configuration and names the key of every problem.
func (c *Config) Validate() error {
	var p []string
	add := func(key, format string, args ...any) {
		p = append(p, key+": "+fmt.Sprintf(format, args...))
	}
	oneOf := func(key, val string, allowed ...string) {
		for _, a := range allowed {
			if val == a {
				return
			}
		}
		add(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, "must be a positive duration, got %s", d)
		}
	}
	atLeast := func(key string, n, min int) {
		if n < min {
			add(key, "must be at least %d, got %d", min, n)
		}
	}
	urlScheme := func(key, raw string, schemes ...string) {
		if err := checkURL(raw, schemes...); err != nil {
			add(key, "%v", err)
		}
	}

	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "json", "text")
	if c.HTTP.Addr == "" {
		add("http.addr", "must not be empty")
	}
	atLeast("api.max_query_bytes", c.API.MaxQueryBytes, 16)
	positive("api.request_timeout", c.API.RequestTimeout)
	if c.Search.RRFK <= 0 {
		add("search.rrf_k", "must be positive")
	}
	if c.Search.KeywordWeight < 0 || c.Search.SemanticWeight < 0 || c.Search.KeywordWeight+c.Search.SemanticWeight == 0 {
		add("search.keyword_weight", "weights must not be negative and not both zero")
	}
	if c.Search.CrawlWeight <= 0 {
		add("search.crawl_weight", "must be positive")
	}
	atLeast("search.candidates", c.Search.Candidates, 10)
	atLeast("search.max_limit", c.Search.MaxLimit, 1)
	if strings.TrimSpace(c.Search.Collection) == "" {
		add("search.collection", "must not be empty")
	}
	positive("search.mirror_refresh", c.Search.MirrorRefresh)
	urlScheme("redis.url", c.Redis.URL, "redis", "rediss", "unix")
	urlScheme("database.url", c.Database.URL, "postgres", "postgresql")
	atLeast("database.max_conns", c.Database.MaxConns, 1)

	for key, name := range map[string]string{
		"streams.parsed": c.Streams.Parsed, "streams.tagged": c.Streams.Tagged,
		"streams.enriched": c.Streams.Enriched, "streams.indexed": c.Streams.Indexed,
		"streams.deleted": c.Streams.Deleted, "streams.dlq_suffix": c.Streams.DLQSuffix,
	} {
		if strings.TrimSpace(name) == "" {
			add(key, "must not be empty")
		}
	}

	r := c.Runner
	positive("runner.block", r.Block)
	atLeast("runner.max_attempts", r.MaxAttempts, 1)
	positive("runner.retry_initial_backoff", r.RetryInitialBackoff)
	positive("runner.retry_max_backoff", r.RetryMaxBackoff)
	if r.RetryMaxBackoff < r.RetryInitialBackoff {
		add("runner.retry_max_backoff", "must not be below runner.retry_initial_backoff")
	}
	positive("runner.claim_min_idle", r.ClaimMinIdle)
	positive("runner.claim_interval", r.ClaimInterval)
	positive("runner.trim_interval", r.TrimInterval)
	positive("runner.consumer_idle_timeout", r.ConsumerIdleTimeout)
	positive("runner.metrics_interval", r.MetricsInterval)
	positive("runner.shutdown_timeout", r.ShutdownTimeout)
	atLeast("runner.max_entry_bytes", r.MaxEntryBytes, 1024)

	for name, pool := range c.StagePools() {
		atLeast("stages."+name+".workers", pool.Workers, 1)
		atLeast("stages."+name+".batch_size", pool.BatchSize, 1)
		atLeast("stages."+name+".max_inflight", pool.MaxInflight, 1)
	}
	t := c.Stages.Tag
	atLeast("stages.tag.min_chars", t.MinChars, 0)
	atLeast("stages.tag.max_input_chars", t.MaxInputChars, 1)
	atLeast("stages.tag.max_tags", t.MaxTags, 1)
	atLeast("stages.tag.cache_size", t.CacheSize, 1)
	positive("stages.tag.cache_ttl", t.CacheTTL)
	positive("stages.tag.dedup_ttl", t.DedupTTL)
	positive("stages.tag.call_timeout", t.CallTimeout)
	positive("stages.persist.retention", c.Stages.Persist.Retention)

	checkProviders := func(key, val string) {
		if val == "auto" {
			return
		}
		for _, name := range strings.Split(val, ",") {
			name = strings.TrimSpace(name)
			if name != "gigachat" && name != "openrouter" && name != "local" {
				add(key, "unknown provider %q (want auto, gigachat, openrouter, local or a comma-separated chain)", name)
			}
		}
	}
	checkProviders("ai.tagger", c.AI.Tagger)
	checkProviders("ai.embedder", c.AI.Embedder)
	g := c.AI.GigaChat
	urlScheme("ai.gigachat.base_url", g.BaseURL, "http", "https")
	urlScheme("ai.gigachat.auth_url", g.AuthURL, "http", "https")
	oneOf("ai.gigachat.scope", g.Scope, "GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP")
	atLeast("ai.gigachat.max_concurrency", g.MaxConcurrency, 1)
	atLeast("ai.gigachat.embedding_dim", g.EmbeddingDim, 1)
	positive("ai.gigachat.timeout", g.Timeout)
	atLeast("ai.gigachat.breaker_failures", g.BreakerFailures, 1)
	positive("ai.gigachat.breaker_cooldown", g.BreakerCooldown)
	if g.CAFile != "" {
		if _, err := os.Stat(g.CAFile); err != nil {
			add("ai.gigachat.ca_file", "%v", err)
		}
	}
	o := c.AI.OpenRouter
	urlScheme("ai.openrouter.base_url", o.BaseURL, "http", "https")
	atLeast("ai.openrouter.max_concurrency", o.MaxConcurrency, 1)
	atLeast("ai.openrouter.embedding_dim", o.EmbeddingDim, 1)
	positive("ai.openrouter.timeout", o.Timeout)
	atLeast("ai.openrouter.breaker_failures", o.BreakerFailures, 1)
	positive("ai.openrouter.breaker_cooldown", o.BreakerCooldown)
	atLeast("ai.local.embedding_dim", c.AI.Local.EmbeddingDim, 8)

	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

// ResolveProviders expands "auto" per spec section 8: gigachat when its key is
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
