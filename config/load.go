package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/jackc/pgx/v5/pgconn"
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
	"stores.vector.qdrant.url":        {"QDRANT_URL"},
	"stores.vector.qdrant.api_key":    {"QDRANT_API_KEY"},
	"stores.graph.neo4j.uri":          {"NEO4J_URI"},
	"stores.graph.neo4j.user":         {"NEO4J_USER"},
	"stores.graph.neo4j.password":     {"NEO4J_PASSWORD"},
}

// Load builds the effective configuration from the defaults, the YAML file at
// path (skipped when path is empty and ./config.yaml does not exist) and the
// environment, then validates it. sections are the stage settings blocks of
// the stages built into the binary (from the stage registry): each
// stages.<name> block is decoded into its section's struct, and a stages.X
// block no section claims is an unknown key. Every problem is reported in one
// *ValidationError.
func Load(path string, sections ...Section) (Config, error) {
	rep, err := Inspect(path, sections...)
	if err != nil {
		return Config{}, err
	}
	if err := rep.Err(); err != nil {
		return Config{}, err
	}
	return rep.Config, nil
}

// Report is what Inspect found: the configuration as far as it could be
// read (a value that cannot be decoded keeps its default), every problem
// and the warnings.
type Report struct {
	Config   Config
	Problems []Problem
	// Warnings are not fatal: ASSISTANT_* variables that set no key.
	Warnings []string
	// values reads a key's effective value, for problems added without one.
	values func(key string) (string, bool)
}

// Err returns a *ValidationError of the problems, or nil.
func (r *Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: append([]Problem(nil), r.Problems...)}
}

// Add appends problems found outside the loader (what the selected stages
// need), filling in the values of those recorded without one.
func (r *Report) Add(problems ...Problem) {
	for _, p := range problems {
		if !p.HasValue && r.values != nil {
			p.Value, p.HasValue = r.values(p.Key)
		}
		// A selected stage's section is checked again (Needs.Stages):
		// what the first check found is reported once.
		if !slices.Contains(r.Problems, p) {
			r.Problems = append(r.Problems, p)
		}
	}
}

// Inspect loads the configuration like Load but does not stop at the first
// problem: unknown keys, values that cannot be decoded and invalid settings
// all end up in the report. It fails only when there is nothing to report
// on: the file is missing or is not YAML.
func Inspect(path string, sections ...Section) (Report, error) {
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
		if err := readFile(v, path); err != nil {
			return Report{}, err
		}
	}

	v.SetEnvPrefix(EnvPrefix)
	// stages.bench-noop.workers -> ASSISTANT_STAGES_BENCH_NOOP_WORKERS
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	for key, names := range seedEnv {
		if err := v.BindEnv(append([]string{key}, names...)...); err != nil {
			return Report{}, fmt.Errorf("bind env for %s: %w", key, err)
		}
	}
	// viper ignores a variable set to "" (AllowEmptyEnv is off, so that an
	// empty REDIS_URL does not erase the URL). For a listener's address
	// empty is a value: "off", as in the file.
	for _, key := range emptyMeansOff {
		if val, ok := os.LookupEnv(EnvName(key)); ok && strings.TrimSpace(val) == "" {
			v.Set(key, "")
		}
	}

	known := knownKeys(def)
	for _, sec := range sections {
		for old, repl := range sec.Renamed {
			known[stagesKey+"."+sec.Name+"."+old] = known[repl]
		}
	}
	rep := Report{values: func(key string) (string, bool) {
		secret, ok := known[key]
		if !ok {
			return "", false
		}
		return displayValue(v.Get(key), secret), true
	}}
	p := NewProblems("")
	knownNames := make([]string, 0, len(known))
	for k := range known {
		knownNames = append(knownNames, k)
	}
	sort.Strings(knownNames)
	for _, k := range unknownKeys(v, known) {
		// The same guess as for a misspelt environment variable.
		if near := nearest(k, knownNames); near != "" {
			p.Invalid(k, v.Get(k), "unknown key: no setting reads it (did you mean %s?)", near)
			continue
		}
		p.Invalid(k, v.Get(k), "unknown key: no setting reads it")
	}

	renameWarnings := applyRenamed(v, p, sections)

	// Decode over the defaults, so that a value that cannot be decoded keeps
	// its default and is reported once, as undecodable, not again as out
	// of range.
	all := v.AllSettings()
	cfg := def.Clone()
	addDecodeProblems(p, "", decodeInto(all, &cfg))
	stageValues, _ := all[stagesKey].(map[string]any)
	for _, sec := range sections {
		settings := def.Stages.Get(sec.Name)
		addDecodeProblems(p, stagesKey+"."+sec.Name, decodeInto(stageValues[sec.Name], settings))
		cfg.Stages.Set(sec.Name, settings)
	}
	retentionWarnings := cfg.resolveRetention(p, retentionExplicit(v))
	cfg.validate(p)
	rep.Config = cfg
	rep.Add(p.List()...)
	rep.Warnings = append(unknownEnv(os.Environ(), known), retentionWarnings...)
	rep.Warnings = append(rep.Warnings, renameWarnings...)
	return rep, nil
}

// applyRenamed moves the values of renamed stage keys (Section.Renamed)
// still set in the file or the environment to the keys that replaced them.
// A replacement set to another value as well is a contradiction.
func applyRenamed(v *viper.Viper, p *Problems, sections []Section) (warnings []string) {
	for _, sec := range sections {
		olds := make([]string, 0, len(sec.Renamed))
		for old := range sec.Renamed {
			olds = append(olds, old)
		}
		sort.Strings(olds)
		for _, old := range olds {
			full, repl := stagesKey+"."+sec.Name+"."+old, sec.Renamed[old]
			if !v.InConfig(full) && os.Getenv(EnvName(full)) == "" {
				continue
			}
			val := v.Get(full)
			if explicitKey(v, repl) && fmt.Sprint(v.Get(repl)) != fmt.Sprint(val) {
				p.Invalid(full, val, "deprecated, and contradicts %s %v: set only %s", repl, v.Get(repl), repl)
				continue
			}
			v.Set(repl, val)
			warnings = append(warnings, fmt.Sprintf("%s is deprecated: set %s (%s) instead", full, repl, EnvName(repl)))
		}
	}
	return warnings
}

// explicitKey reports whether key was set in the file or the environment
// (its ASSISTANT_* name or a seed name), not left at its default.
func explicitKey(v *viper.Viper, key string) bool {
	if v.InConfig(key) || os.Getenv(EnvName(key)) != "" {
		return true
	}
	for _, name := range seedEnv[key] {
		if os.Getenv(name) != "" {
			return true
		}
	}
	return false
}

// readFile reads the YAML file into v. yaml.v3 reports a tab either as "found
// a tab character that violates indentation" or, where a token should start
// ("key:\tvalue", a tab before the first key), as "found character that
// cannot start any token", and at the line of the value whose scanning it
// interrupted rather than the tab's own. Both name the tab, with its line and
// column, instead.
func readFile(v *viper.Viper, path string) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file %s: %w", path, err)
	}
	v.SetConfigFile(path)
	if err := v.ReadConfig(bytes.NewReader(body)); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token") {
			if line, col := tabPosition(body, yamlErrorLine(msg)); line > 0 {
				return fmt.Errorf("config file %s, line %d, column %d: a tab character; YAML indents and separates with spaces only", path, line, col)
			}
		}
		return fmt.Errorf("read config file %s: %w", path, err)
	}
	return nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlErrorLine is the line number a yaml error names, or 0.
func yamlErrorLine(msg string) int {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// tabPosition returns the line and column (1-based, in bytes) of the tab the
// parser stumbled on: on the reported line or the one after it (yaml.v3
// reports a tabbed line at its predecessor), else the first tab outside a
// comment anywhere in body; 0, 0 when there is none.
func tabPosition(body []byte, near int) (int, int) {
	lines := strings.Split(string(body), "\n")
	tabAt := func(i int) int {
		if i < 0 || i >= len(lines) {
			return -1
		}
		line := lines[i]
		if c := strings.Index(line, "#"); c >= 0 {
			line = line[:c]
		}
		if strings.TrimSpace(line) == "" {
			return -1
		}
		return strings.IndexByte(line, '\t')
	}
	if near > 0 {
		for _, i := range []int{near - 1, near} {
			if c := tabAt(i); c >= 0 {
				return i + 1, c + 1
			}
		}
	}
	for i := range lines {
		if c := tabAt(i); c >= 0 {
			return i + 1, c + 1
		}
	}
	return 0, 0
}

// addDecodeProblems turns mapstructure's joined errors into one problem per
// setting that could not be decoded.
func addDecodeProblems(p *Problems, prefix string, err error) {
	if err == nil {
		return
	}
	var leaves []*mapstructure.DecodeError
	var walk func(error)
	walk = func(err error) {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		var de *mapstructure.DecodeError
		if errors.As(err, &de) {
			if inner := errors.Unwrap(de); inner != nil {
				if _, ok := inner.(interface{ Unwrap() []error }); ok {
					walk(inner)
					return
				}
			}
			leaves = append(leaves, de)
			return
		}
		// Not tied to a setting by mapstructure: blame the block.
		p.Add(cmp.Or(prefix, "config"), "%v", err)
	}
	walk(err)
	for _, de := range leaves {
		key := de.Name()
		if prefix != "" {
			key = prefix + "." + key
		}
		p.Add(key, "cannot be decoded: %v", errors.Unwrap(de))
	}
}

// displayValue renders a setting's value for a problem, redacted by its
// secret tag ("true" or "url").
func displayValue(v any, secret string) string {
	if secret == "tenant-tokens" {
		var entries []string
		switch v := v.(type) {
		case []string:
			entries = v
		case []any:
			for _, e := range v {
				entries = append(entries, fmt.Sprint(e))
			}
		case string:
			entries = strings.Split(v, ",")
		}
		red := make([]string, len(entries))
		for i, e := range entries {
			red[i] = RedactTenantToken(e)
		}
		return renderValue(red)
	}
	if s, ok := v.(string); ok && s != "" {
		switch secret {
		case "true":
			return redactedMark
		case "url":
			return strconv.Quote(RedactURL(s))
		}
	}
	return renderValue(v)
}

// emptyMeansOff are the keys whose empty value turns something off, so an
// empty environment variable (ASSISTANT_API_ADDR=) sets them.
var emptyMeansOff = []string{"http.addr", "api.addr"}

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
			stringToDurationHook,
			mapstructure.StringToSliceHookFunc(","),
		),
	})
	if err != nil {
		return err
	}
	return dec.Decode(input)
}

// stringToDurationHook decodes a string into a time.Duration, as
// mapstructure's own hook does, but a value Go cannot parse gets a hint:
// days, weeks and years ("30d", "2w", "10y") are what people write for
// retentions, and Go durations stop at hours, so the error says how many.
func stringToDurationHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	d, err := time.ParseDuration(s)
	if err == nil {
		return d, nil
	}
	if hours, ok := longDurationHours(s); ok {
		return nil, fmt.Errorf("%q is not a Go duration (units ns, us, ms, s, m, h; no days or years): write %s", s, hours)
	}
	return nil, fmt.Errorf("%w (Go durations look like 500ms, 30s, 5m, 24h)", err)
}

// longDurationHours converts "N" days, weeks or years (a number and d, w or
// y; a year of 365 days) into the hours Go understands: "10y" -> "87600h".
func longDurationHours(s string) (string, bool) {
	if len(s) < 2 {
		return "", false
	}
	perUnit := map[byte]float64{'d': 24, 'w': 7 * 24, 'y': 365 * 24}[s[len(s)-1]]
	if perUnit == 0 {
		return "", false
	}
	n, err := strconv.ParseFloat(s[:len(s)-1], 64)
	if err != nil || n < 0 {
		return "", false
	}
	return strconv.FormatFloat(n*perUnit, 'f', -1, 64) + "h", true
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

// knownKeys maps every key a setting reads to its secret tag ("" for none).
func knownKeys(def Config) map[string]string {
	known := map[string]string{}
	collectKeys("", reflect.TypeOf(Config{}), known)
	for _, name := range def.Stages.Names() {
		collectKeys(stagesKey+"."+name, reflect.TypeOf(def.Stages.Get(name)).Elem(), known)
	}
	return known
}

// unknownKeys lists the keys of the file that no setting reads, so a typo
// does not silently fall back to a default.
func unknownKeys(v *viper.Viper, known map[string]string) []string {
	var unknown []string
	for _, k := range v.AllKeys() {
		if _, ok := known[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return unknown
}

func collectKeys(prefix string, rt reflect.Type, into map[string]string) {
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
		into[key] = f.Tag.Get("secret")
	}
}

// Validate checks the configuration and names the key of every problem.
func (c *Config) Validate() error {
	p := NewProblems("")
	c.validate(p)
	return p.Err()
}

func (c *Config) validate(p *Problems) {
	p.OneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	p.OneOf("log.format", c.Log.Format, "json", "text")
	p.URL("redis.url", c.Redis.URL, "redis", "rediss", "unix")
	if c.Redis.Cluster {
		if strings.HasPrefix(c.Redis.URL, "unix:") {
			p.Add("redis.url", "a cluster (redis.cluster) is reached over redis:// or rediss://, not a unix socket")
		}
		if !HashTagged(c.Redis.KeyPrefix) {
			// Without a tag the keys of one commit (outputs, DLQ, dedup
			// marks, XACK) hash to different slots: no MULTI/EXEC can hold
			// them, and a crash between two nodes' writes could acknowledge
			// an entry whose output was never written.
			p.Add("redis.key_prefix", "%q has no hash tag; on a Redis Cluster (redis.cluster) every key must be in one slot, e.g. \"{assistant}:\"", c.Redis.KeyPrefix)
		}
	}
	p.URL("database.url", c.Database.URL, "postgres", "postgresql")
	p.AtLeast("database.max_conns", c.Database.MaxConns, 1)

	c.API.validateTokens(p)
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
	if s.UnreadMaxEntries < 0 {
		p.Add("streams.unread_max_entries", "must not be negative (0 = unlimited)")
	}
	if s.Partitions < 1 || s.Partitions > MaxPartitions {
		p.Add("streams.partitions", "must be between 1 and %d (got %d)", MaxPartitions, s.Partitions)
	}
	if s.Partitions > 1 && s.LegacyConsumerEnabled {
		// The old worker's keys are one unpartitioned stream each, read and
		// written in the commit of a partition: that commit would span two
		// slots. Finish the switch-over with one partition first.
		p.Add("streams.partitions", "partitioned streams (%d) cannot run with streams.legacy_consumer_enabled: finish the switch from the old worker with partitions = 1", s.Partitions)
	}
	p.Positive("posts.retention", c.Posts.Retention)
	c.Stores.Validate(p.Section("stores"))
	if c.Posts.ReceiptFloor < 0 {
		p.Add("posts.receipt_floor", "must not be negative (0 = count from posted_at only)")
	}

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
	if r.ProgressInterval < 0 {
		p.Add("runner.progress_interval", "must not be negative (0 turns the progress lines off)")
	}
	p.Positive("runner.shutdown_timeout", r.ShutdownTimeout)
	p.Positive("runner.heartbeat_interval", r.HeartbeatInterval)
	p.AtLeast("runner.max_entry_bytes", r.MaxEntryBytes, 1024)

	for _, name := range c.Stages.Names() {
		c.validateStage(p, name)
	}

	checkProviders := func(key, val string) {
		if val == "auto" {
			return
		}
		for _, name := range strings.Split(val, ",") {
			name = strings.TrimSpace(name)
			if name != "gigachat" && name != "openrouter" && name != "openai" && name != "local" {
				p.Add(key, "unknown provider %q (want auto, gigachat, openrouter, openai, local or a comma-separated chain)", name)
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
	oa := c.AI.OpenAI
	p.URL("ai.openai.base_url", oa.BaseURL, "http", "https")
	p.AtLeast("ai.openai.max_concurrency", oa.MaxConcurrency, 1)
	p.AtLeast("ai.openai.embedding_dim", oa.EmbeddingDim, 1)
	p.AtLeast("ai.openai.embedding_batch", oa.EmbeddingBatch, 1)
	p.Positive("ai.openai.timeout", oa.Timeout)
	p.AtLeast("ai.openai.breaker_failures", oa.BreakerFailures, 1)
	p.Positive("ai.openai.breaker_cooldown", oa.BreakerCooldown)
	if oa.CAFile != "" {
		if _, err := os.Stat(oa.CAFile); err != nil {
			p.Add("ai.openai.ca_file", "%v", err)
		}
	}
	p.AtLeast("ai.local.embedding_dim", c.AI.Local.EmbeddingDim, 8)
}

func (c *Config) validateStage(p *Problems, name string) {
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

// ResolveProviders expands "auto" (docs/llm-providers.md, "The providers"): gigachat when its key is
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

// Needs are what the stages selected to run require of the process (their
// pipeline.Definition Needs, translated by the stage registry): the
// settings serving them must be complete, not just well-formed.
type Needs struct {
	// Stages are the selected stages: their sections are validated again
	// as they will run (a section may check more once its stage is
	// enabled, and --stages enables a stage the file disables).
	Stages []string
	// Postgres: the database URL must be one the driver accepts.
	Postgres bool
	// Tagger and Embedder: the provider chains of ai.tagger and
	// ai.embedder are built, so each named remote provider needs its key.
	Tagger   bool
	Embedder bool
}

// ValidateNeeds checks what the selected stages will use beyond Validate:
// their sections as enabled, a database URL the driver accepts, and a key
// for each remote AI provider named (or chosen by auto) for a chain they
// build. Problems carry no value; Report.Add fills it in
// (redacted).
func (c *Config) ValidateNeeds(n Needs) []Problem {
	p := NewProblems("")
	needKey := func(chainKey, chainVal string, model func(OpenAI) (string, string)) {
		for _, name := range c.ResolveProviders(chainVal) {
			switch name {
			case "openai":
				// No key needed; the model the server is to run is.
				if key, val := model(c.AI.OpenAI); strings.TrimSpace(val) == "" {
					p.Add(key, "is not set, but %s %q uses openai (name the model your server serves, e.g. from `ollama list`)", chainKey, chainVal)
				}
			case "gigachat":
				if strings.TrimSpace(c.AI.GigaChat.APIKey) == "" {
					p.Add("ai.gigachat.api_key", "is not set, but %s %q uses gigachat (set GIGACHAT_API_KEY)", chainKey, chainVal)
				}
			case "openrouter":
				if strings.TrimSpace(c.AI.OpenRouter.APIKey) == "" {
					p.Add("ai.openrouter.api_key", "is not set, but %s %q uses openrouter (set OPENROUTER_API_KEY)", chainKey, chainVal)
				}
			}
		}
	}
	for _, name := range n.Stages {
		if c.Stages.Get(name) != nil {
			c.validateStage(p, name)
		}
	}
	if n.Postgres && checkURL(c.Database.URL, "postgres", "postgresql") == nil {
		if _, err := pgconn.ParseConfig(c.Database.URL); err != nil {
			// The driver's error repeats the URL; its cause alone says
			// what is wrong, and the value is shown redacted anyway.
			var pce *pgconn.ParseConfigError
			if errors.As(err, &pce) && pce.Unwrap() != nil {
				err = pce.Unwrap()
			}
			p.Add("database.url", "is not a connection string the PostgreSQL driver accepts: %v", err)
		}
	}
	if n.Tagger {
		needKey("ai.tagger", c.AI.Tagger, func(o OpenAI) (string, string) { return "ai.openai.chat_model", o.ChatModel })
	}
	if n.Embedder {
		needKey("ai.embedder", c.AI.Embedder, func(o OpenAI) (string, string) { return "ai.openai.embedding_model", o.EmbeddingModel })
	}
	return p.List()
}

// validateTokens checks the api.tokens entries; the values are secrets, so
// the problems name the entry by position and tenant, never the token.
func (a API) validateTokens(p *Problems) {
	seen := map[string]bool{}
	if a.Token != "" {
		seen[a.Token] = true
	}
	for i, e := range a.Tokens {
		tenant, token, ok := strings.Cut(e, ":")
		switch {
		case !ok || strings.TrimSpace(tenant) == "" || token == "":
			p.Add("api.tokens", "entry %d is not \"<tenant>:<token>\" (tenant \"*\" reads every tenant)", i+1)
		case len(token) < 16:
			p.Add("api.tokens", "entry %d (tenant %s): the token is %d characters, want at least 16", i+1, tenant, len(token))
		case seen[token]:
			p.Add("api.tokens", "entry %d (tenant %s): the same token is configured twice", i+1, tenant)
		}
		seen[token] = true
	}
}
