// Package config is the typed configuration of the assistant daemon.
//
// Values come from three layers, later ones winning: the defaults in Default
// (mirrored, with comments, in the repository's config.yaml), a YAML file, and
// the environment. The seed's variable names (REDIS_URL, DATABASE_URL,
// GIGACHAT_API_KEY, ...) are honoured as they are; every other key can be set
// as ASSISTANT_<SECTION>_<KEY>, for example ASSISTANT_STAGES_TAG_WORKERS.
//
// The package names no stage: each stage package defines the struct of its
// own block stages.<name> and hands it to Load as a Section (through the
// stage registry), which decodes, overrides from the environment and
// validates it like every other setting.
package config

import (
	"strings"
	"time"

	"github.com/assistant-dev/assistant/store"
)

// Config is the whole effective configuration of one daemon process.
type Config struct {
	Log      Log      `mapstructure:"log" yaml:"log"`
	HTTP     HTTP     `mapstructure:"http" yaml:"http"`
	Redis    Redis    `mapstructure:"redis" yaml:"redis"`
	Database Database `mapstructure:"database" yaml:"database"`
	Streams  Streams  `mapstructure:"streams" yaml:"streams"`
	// Posts is what applies to a post in every store: its retention.
	Posts  Posts  `mapstructure:"posts" yaml:"posts"`
	Runner Runner `mapstructure:"runner" yaml:"runner"`
	AI     AI     `mapstructure:"ai" yaml:"ai"`
	API    API    `mapstructure:"api" yaml:"api"`
	Search Search `mapstructure:"search" yaml:"search"`
	// Stores selects and locates the vector and graph stores (package
	// store owns the section); every reader and writer opens them from here.
	Stores store.Config `mapstructure:"stores" yaml:"stores"`
	// Stages are the stages' own settings blocks (stages.<name>), decoded
	// into the structs the stage packages define; see Section.
	Stages StageSections `mapstructure:"-" yaml:"stages"`
}

// API configures the HTTP API listener (search, later admin and the
// console), separate from the operations port.
type API struct {
	// Addr is where the api role of `run` serves the API and the console;
	// empty disables it. The default is loopback: reads without a token
	// are served to this host only unless the operator opens it.
	Addr string `mapstructure:"addr" yaml:"addr"`
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every /v1 request.
	Token string `mapstructure:"token" yaml:"token" secret:"true"`
	// Tokens are read tokens scoped to a tenant, each "<tenant>:<token>"
	// (tenant "*": every tenant, like Token). A scoped token sees only its
	// tenant's posts in search, post pages, similar posts, related tags and
	// the console's search; another tenant's post is not_found to it.
	// In the environment: ASSISTANT_API_TOKENS="acme:…,globex:…".
	Tokens []string `mapstructure:"tokens" yaml:"tokens" secret:"tenant-tokens"`
	// AdminToken, when set, is required on /v1/admin requests and to log in
	// to the console's changing pages (replay, purge, pause). Unset, those
	// are refused unless the listener is loopback-only.
	AdminToken string `mapstructure:"admin_token" yaml:"admin_token" secret:"true"`
	// MaxQueryBytes bounds the q parameter; a longer one is a 400.
	MaxQueryBytes int `mapstructure:"max_query_bytes" yaml:"max_query_bytes"`
	// RequestTimeout bounds the work of one request.
	RequestTimeout time.Duration `mapstructure:"request_timeout" yaml:"request_timeout"`
}

// Search tunes the search service (assistant search and the API).
type Search struct {
	// RRFK is the k of reciprocal-rank fusion: score = Σ weight/(k + rank).
	RRFK           float64 `mapstructure:"rrf_k" yaml:"rrf_k"`
	KeywordWeight  float64 `mapstructure:"keyword_weight" yaml:"keyword_weight"`
	SemanticWeight float64 `mapstructure:"semantic_weight" yaml:"semantic_weight"`
	// CrawlWeight scales a match in a crawled page against one in the post.
	CrawlWeight float64 `mapstructure:"crawl_weight" yaml:"crawl_weight"`
	// Candidates is how many posts each ranking contributes to the fusion.
	Candidates int `mapstructure:"candidates" yaml:"candidates"`
	// MaxLimit caps the results of one page.
	MaxLimit int `mapstructure:"max_limit" yaml:"max_limit"`
	// MirrorRefresh is how often the daemon's in-memory copy of the
	// PostgreSQL vector backend applies the table's changes.
	MirrorRefresh time.Duration `mapstructure:"mirror_refresh" yaml:"mirror_refresh"`
	// MirrorKeepExact keeps float32 vectors in memory for an exact re-rank
	// (5x the memory); without it candidates are re-ranked by the float
	// query against their int8 codes.
	MirrorKeepExact bool `mapstructure:"mirror_keep_exact" yaml:"mirror_keep_exact"`
	// VectorFile is the snapshot of the PostgreSQL vector backend's codes
	// that a one-shot `assistant search` maps instead of reading every
	// vector (kept current from the table's changes, rewritten by any
	// process that finds it stale): "" = the user's cache directory,
	// "off" = scan the vectors in SQL instead (slow past a few thousand).
	VectorFile string `mapstructure:"vector_file" yaml:"vector_file"`
	// RUM ranks keyword matches through a RUM index of posts (Debian's
	// postgresql-15-rum; created by `migrate up` and run's auto-migration,
	// dropped when false): the keyword p99 of common words falls, and the
	// persist stage's writes get several times slower. Without the
	// extension a warning says so and search ranks through GIN.
	RUM bool `mapstructure:"rum" yaml:"rum"`
	// MinSemanticScore is the relevance floor: a post found only by meaning
	// (or by some of the words) under this cosine is a weaker match, shown
	// apart. Negative: no floor.
	MinSemanticScore float64 `mapstructure:"min_semantic_score" yaml:"min_semantic_score"`
	// Rerank is how many of the nearest posts the embedder re-ranks by
	// matching their texts (the local embedder with word vectors); negative:
	// none. RerankWeight weighs the match score against the cosine.
	Rerank       int     `mapstructure:"rerank" yaml:"rerank"`
	RerankWeight float64 `mapstructure:"rerank_weight" yaml:"rerank_weight"`
	// PartialWeight scales, in hybrid mode, the keyword weight of posts
	// matching only some of the query's words: 0 = auto (none with the
	// local embedder's word vectors, 1 otherwise), negative = none.
	PartialWeight float64 `mapstructure:"partial_weight" yaml:"partial_weight"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `mapstructure:"level" yaml:"level"`   // debug | info | warn | error
	Format string `mapstructure:"format" yaml:"format"` // json | text
}

// HTTP configures the operations endpoint (/metrics, /healthz, /readyz).
type HTTP struct {
	// Addr is where `run` serves them; empty turns the listener off.
	Addr string `mapstructure:"addr" yaml:"addr"`
}

// Redis locates the Redis server that carries the streams.
type Redis struct {
	URL string `mapstructure:"url" yaml:"url" secret:"url"`
	// KeyPrefix is prepended to every key the daemon touches (streams, DLQs,
	// dedup marks, leases). Empty in production; tests use it for isolation.
	KeyPrefix string `mapstructure:"key_prefix" yaml:"key_prefix"`
	// Cluster makes URL a Redis Cluster seed (more seeds as addr=host:port
	// query parameters) and the client a cluster client. The runner commits
	// an entry's outputs and acknowledgement in one MULTI/EXEC, which a
	// cluster runs only within one slot, so KeyPrefix must then carry a hash
	// tag (HashTagged); Validate says so.
	Cluster bool `mapstructure:"cluster" yaml:"cluster"`
}

// HashTagged reports whether every key under prefix hashes to one Redis
// Cluster slot: the prefix holds a hash tag, a non-empty "{...}" (Redis
// hashes only the part between the first "{" and the next "}" after it).
func HashTagged(prefix string) bool {
	open := strings.IndexByte(prefix, '{')
	if open < 0 {
		return false
	}
	return strings.IndexByte(prefix[open+1:], '}') > 0
}

// Database locates PostgreSQL.
type Database struct {
	URL string `mapstructure:"url" yaml:"url" secret:"url"`
	// Schema holds the daemon's tables (and goose_db_version): a schema of
	// its own, so that a database shared with another application (the old
	// system's posts) never collides. It is the search_path of every
	// connection; a search_path set in URL takes precedence (tests and
	// benchmarks give each run a schema that way). Empty leaves the
	// server's search_path alone.
	Schema      string `mapstructure:"schema" yaml:"schema"`
	AutoMigrate bool   `mapstructure:"auto_migrate" yaml:"auto_migrate"`
	MaxConns    int    `mapstructure:"max_conns" yaml:"max_conns"`
}

// Streams names the Redis streams between stages (docs/delivery.md).
type Streams struct {
	Parsed    string `mapstructure:"parsed" yaml:"parsed"`
	Tagged    string `mapstructure:"tagged" yaml:"tagged"`
	Enriched  string `mapstructure:"enriched" yaml:"enriched"`
	Indexed   string `mapstructure:"indexed" yaml:"indexed"`
	Deleted   string `mapstructure:"deleted" yaml:"deleted"`
	DLQSuffix string `mapstructure:"dlq_suffix" yaml:"dlq_suffix"`
	// LegacyConsumerEnabled also consumes the old worker's stream:posts:*
	// keys and their flat-field entries (LEGACY_REDIS_CONSUMER_ENABLED).
	LegacyConsumerEnabled bool `mapstructure:"legacy_consumer_enabled" yaml:"legacy_consumer_enabled"`
	// Legacy maps a stream role to the old worker's key.
	LegacyParsed   string `mapstructure:"legacy_parsed" yaml:"legacy_parsed"`
	LegacyTagged   string `mapstructure:"legacy_tagged" yaml:"legacy_tagged"`
	LegacyEnriched string `mapstructure:"legacy_enriched" yaml:"legacy_enriched"`
	LegacyDeleted  string `mapstructure:"legacy_deleted" yaml:"legacy_deleted"`
	// LegacyStart is where the consumer groups on the old keys start when
	// they are created: "$" (only entries added from now on; the old
	// worker's retained backlog is not processed again) or "0" (everything
	// the key holds).
	LegacyStart string `mapstructure:"legacy_start" yaml:"legacy_start"`
	// LegacyPublishTagged and LegacyPublishEnriched also publish each
	// posts.tagged / posts.enriched event to the old key (legacy_tagged,
	// legacy_enriched), in the same MULTI/EXEC, while the legacy consumer
	// is enabled: the old downstream tasks keep working during a switch.
	LegacyPublishTagged   bool `mapstructure:"legacy_publish_tagged" yaml:"legacy_publish_tagged"`
	LegacyPublishEnriched bool `mapstructure:"legacy_publish_enriched" yaml:"legacy_publish_enriched"`
	// UnreadMaxEntries bounds a stream no consumer group reads
	// (posts.indexed, the legacy output keys): the trim job cuts it to this
	// many newest entries. Streams that groups read keep the lossless MINID
	// rule. 0 = unlimited.
	UnreadMaxEntries int64 `mapstructure:"unread_max_entries" yaml:"unread_max_entries"`
	// Partitions splits every stream into this many partitions, each in a
	// hash slot of its own, so a Redis Cluster spreads the pipeline over its
	// masters (docs/operations.md, "Partitioned streams"). A post's
	// partition is FNV-1a(post_id) mod Partitions; a stage reading
	// partition p writes partition p. 1 (the default) is the unpartitioned
	// layout with today's key names. Changing it is a procedure: drain,
	// then switch.
	Partitions int `mapstructure:"partitions" yaml:"partitions"`
}

// MaxPartitions bounds streams.partitions: each partition is one more
// XREADGROUP per stage and poll.
const MaxPartitions = 256

// LegacyOutputs maps our output streams to the old keys they are also
// published to; empty unless the legacy consumer is enabled.
func (s Streams) LegacyOutputs() map[string]string {
	out := map[string]string{}
	if !s.LegacyConsumerEnabled {
		return out
	}
	if s.LegacyPublishTagged && s.LegacyTagged != "" {
		out[s.Tagged] = s.LegacyTagged
	}
	if s.LegacyPublishEnriched && s.LegacyEnriched != "" {
		out[s.Enriched] = s.LegacyEnriched
	}
	return out
}

// LegacyKeys lists the old worker's keys.
func (s Streams) LegacyKeys() []string {
	return []string{s.LegacyParsed, s.LegacyTagged, s.LegacyEnriched, s.LegacyDeleted}
}

// Runner holds the delivery settings shared by every stage (docs/delivery.md).
type Runner struct {
	Block               time.Duration `mapstructure:"block" yaml:"block"`
	MaxAttempts         int           `mapstructure:"max_attempts" yaml:"max_attempts"`
	RetryInitialBackoff time.Duration `mapstructure:"retry_initial_backoff" yaml:"retry_initial_backoff"`
	RetryMaxBackoff     time.Duration `mapstructure:"retry_max_backoff" yaml:"retry_max_backoff"`
	ClaimMinIdle        time.Duration `mapstructure:"claim_min_idle" yaml:"claim_min_idle"`
	ClaimInterval       time.Duration `mapstructure:"claim_interval" yaml:"claim_interval"`
	TrimInterval        time.Duration `mapstructure:"trim_interval" yaml:"trim_interval"`
	ConsumerIdleTimeout time.Duration `mapstructure:"consumer_idle_timeout" yaml:"consumer_idle_timeout"`
	MetricsInterval     time.Duration `mapstructure:"metrics_interval" yaml:"metrics_interval"`
	// ProgressInterval is how often each stage logs a "stage progress"
	// line while it has work; 0 turns the lines off.
	ProgressInterval time.Duration `mapstructure:"progress_interval" yaml:"progress_interval"`
	ShutdownTimeout  time.Duration `mapstructure:"shutdown_timeout" yaml:"shutdown_timeout"`
	// HeartbeatInterval is how often each stage consumer renews its
	// heartbeat key. Other replicas take over the pending entries of a
	// consumer not renewed within three intervals (or stopped) at once,
	// instead of after claim_min_idle.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval" yaml:"heartbeat_interval"`
	// MaxEntryBytes bounds the size of one stream entry; a larger one is a
	// permanent failure (DLQ) rather than a memory hazard.
	MaxEntryBytes int `mapstructure:"max_entry_bytes" yaml:"max_entry_bytes"`
}

// Pool is the goroutine-pool shape of one stage that reads a stream. Stage
// settings structs embed it (`mapstructure:",squash" yaml:",inline"`).
type Pool struct {
	Enabled     bool `mapstructure:"enabled" yaml:"enabled"`
	Workers     int  `mapstructure:"workers" yaml:"workers"`
	BatchSize   int  `mapstructure:"batch_size" yaml:"batch_size"`
	MaxInflight int  `mapstructure:"max_inflight" yaml:"max_inflight"`
}

// AI selects and configures the model providers.
type AI struct {
	// Tagger is "auto", one provider, or a comma-separated chain tried in
	// order ("gigachat,openrouter"). auto = gigachat if its key is set, else
	// openrouter if its key is set, else local; "openai" (a local or
	// self-hosted OpenAI-compatible server) is used only when named.
	Tagger     string     `mapstructure:"tagger" yaml:"tagger"`
	Embedder   string     `mapstructure:"embedder" yaml:"embedder"`
	GigaChat   GigaChat   `mapstructure:"gigachat" yaml:"gigachat"`
	OpenRouter OpenRouter `mapstructure:"openrouter" yaml:"openrouter"`
	OpenAI     OpenAI     `mapstructure:"openai" yaml:"openai"`
	Local      Local      `mapstructure:"local" yaml:"local"`
}

// GigaChat configures the Sber GigaChat REST client.
type GigaChat struct {
	APIKey             string        `mapstructure:"api_key" yaml:"api_key" secret:"true"`
	Scope              string        `mapstructure:"scope" yaml:"scope"`
	BaseURL            string        `mapstructure:"base_url" yaml:"base_url"`
	AuthURL            string        `mapstructure:"auth_url" yaml:"auth_url"`
	ChatModel          string        `mapstructure:"chat_model" yaml:"chat_model"`
	EmbeddingModel     string        `mapstructure:"embedding_model" yaml:"embedding_model"`
	EmbeddingDim       int           `mapstructure:"embedding_dim" yaml:"embedding_dim"`
	CAFile             string        `mapstructure:"ca_file" yaml:"ca_file"`
	InsecureSkipVerify bool          `mapstructure:"insecure_skip_verify" yaml:"insecure_skip_verify"`
	MaxConcurrency     int           `mapstructure:"max_concurrency" yaml:"max_concurrency"`
	Timeout            time.Duration `mapstructure:"timeout" yaml:"timeout"`
	BreakerFailures    int           `mapstructure:"breaker_failures" yaml:"breaker_failures"`
	BreakerCooldown    time.Duration `mapstructure:"breaker_cooldown" yaml:"breaker_cooldown"`
}

// OpenRouter configures the OpenAI-compatible OpenRouter client.
type OpenRouter struct {
	APIKey          string        `mapstructure:"api_key" yaml:"api_key" secret:"true"`
	BaseURL         string        `mapstructure:"base_url" yaml:"base_url"`
	ChatModel       string        `mapstructure:"chat_model" yaml:"chat_model"`
	EmbeddingModel  string        `mapstructure:"embedding_model" yaml:"embedding_model"`
	EmbeddingDim    int           `mapstructure:"embedding_dim" yaml:"embedding_dim"`
	MaxConcurrency  int           `mapstructure:"max_concurrency" yaml:"max_concurrency"`
	Timeout         time.Duration `mapstructure:"timeout" yaml:"timeout"`
	BreakerFailures int           `mapstructure:"breaker_failures" yaml:"breaker_failures"`
	BreakerCooldown time.Duration `mapstructure:"breaker_cooldown" yaml:"breaker_cooldown"`
}

// OpenAI configures the client of an OpenAI-compatible server: Ollama,
// llama.cpp's server, vLLM, Hugging Face TEI, LocalAI (or OpenAI itself).
type OpenAI struct {
	// BaseURL is the API root, ending in /v1 for all the servers above.
	BaseURL string `mapstructure:"base_url" yaml:"base_url"`
	// APIKey is optional: sent as a Bearer token only when set.
	APIKey         string `mapstructure:"api_key" yaml:"api_key" secret:"true"`
	ChatModel      string `mapstructure:"chat_model" yaml:"chat_model"`
	EmbeddingModel string `mapstructure:"embedding_model" yaml:"embedding_model"`
	EmbeddingDim   int    `mapstructure:"embedding_dim" yaml:"embedding_dim"`
	// EmbeddingBatch is the most texts per embeddings request; a server
	// that refuses a batch as too large (413) gets it in halves.
	EmbeddingBatch  int           `mapstructure:"embedding_batch" yaml:"embedding_batch"`
	CAFile          string        `mapstructure:"ca_file" yaml:"ca_file"`
	MaxConcurrency  int           `mapstructure:"max_concurrency" yaml:"max_concurrency"`
	Timeout         time.Duration `mapstructure:"timeout" yaml:"timeout"`
	BreakerFailures int           `mapstructure:"breaker_failures" yaml:"breaker_failures"`
	BreakerCooldown time.Duration `mapstructure:"breaker_cooldown" yaml:"breaker_cooldown"`
}

// Local configures the offline providers.
type Local struct {
	EmbeddingDim int `mapstructure:"embedding_dim" yaml:"embedding_dim"`
	// ChannelStats weights down words that recur across a channel's posts
	// (its signature, recurring subheads), from per-channel document
	// frequencies kept in Redis. Tags then depend on the channel's history
	// and on the order posts arrive in (a crash or a retry changes them), so
	// it is off by default: a post's tags depend on its text alone. On the
	// editors'-keyword sets it bought at most +0.007 F1@5 (docs/tags.md).
	ChannelStats bool `mapstructure:"channel_stats" yaml:"channel_stats"`
	// SemanticModel is the file of the latent semantic model trained over the
	// stored posts (`assistant search train`); "" or a missing file: the
	// embedder uses hashed word features only.
	SemanticModel string `mapstructure:"semantic_model" yaml:"semantic_model"`
	// SemanticShare is the trained model's share of the cosine similarity.
	SemanticShare float64 `mapstructure:"semantic_share" yaml:"semantic_share"`
	// WordVectorShare is the share of the embedded word vectors in the
	// cosine similarity (with or without a trained model); the hashed words
	// have the rest.
	WordVectorShare float64 `mapstructure:"word_vector_share" yaml:"word_vector_share"`
}

// Default returns the built-in defaults, with the default settings of each
// given stage section. config.yaml repeats them with comments; a test of the
// production registry (stages/all) keeps the two in step.
func Default(sections ...Section) Config {
	cfg := Config{
		Log:  Log{Level: "info", Format: "json"},
		HTTP: HTTP{Addr: ":8000"},
		Redis: Redis{
			URL: "redis://127.0.0.1:6379/0",
		},
		Database: Database{
			URL:         "postgres://postgres@127.0.0.1:5432/assistant?sslmode=disable", // created by scripts/services.sh
			Schema:      "assistant",
			AutoMigrate: true,
			MaxConns:    10,
		},
		Streams: Streams{
			Parsed:         "posts.parsed",
			Tagged:         "posts.tagged",
			Enriched:       "posts.enriched",
			Indexed:        "posts.indexed",
			Deleted:        "posts.deleted",
			DLQSuffix:      ".dlq",
			LegacyParsed:   "stream:posts:parsed",
			LegacyTagged:   "stream:posts:tagged",
			LegacyEnriched: "stream:posts:enriched",
			LegacyDeleted:  "stream:posts:deleted",
			LegacyStart:    "$",

			LegacyPublishTagged:   true,
			LegacyPublishEnriched: true,
			UnreadMaxEntries:      100000,
			Partitions:            1,
		},
		Posts: Posts{
			Retention:    90 * 24 * time.Hour,
			ReceiptFloor: 90 * 24 * time.Hour,
		},
		Runner: Runner{
			Block:               2 * time.Second,
			MaxAttempts:         5,
			RetryInitialBackoff: 500 * time.Millisecond,
			RetryMaxBackoff:     20 * time.Second,
			ClaimMinIdle:        60 * time.Second,
			ClaimInterval:       10 * time.Second,
			TrimInterval:        time.Minute,
			ConsumerIdleTimeout: time.Hour,
			MetricsInterval:     5 * time.Second,
			ProgressInterval:    30 * time.Second,
			ShutdownTimeout:     30 * time.Second,
			HeartbeatInterval:   5 * time.Second,
			MaxEntryBytes:       1 << 20,
		},
		AI: AI{
			Tagger:   "auto",
			Embedder: "auto",
			GigaChat: GigaChat{
				Scope:           "GIGACHAT_API_PERS",
				BaseURL:         "https://gigachat.devices.sberbank.ru/api/v1",
				AuthURL:         "https://ngw.devices.sberbank.ru:9443/api/v2/oauth",
				ChatModel:       "GigaChat",
				EmbeddingModel:  "Embeddings",
				EmbeddingDim:    1024,
				MaxConcurrency:  1,
				Timeout:         30 * time.Second,
				BreakerFailures: 5,
				BreakerCooldown: 30 * time.Second,
			},
			OpenRouter: OpenRouter{
				BaseURL:         "https://openrouter.ai/api/v1",
				ChatModel:       "openai/gpt-4o-mini",
				EmbeddingModel:  "openai/text-embedding-3-small",
				EmbeddingDim:    1536,
				MaxConcurrency:  4,
				Timeout:         30 * time.Second,
				BreakerFailures: 5,
				BreakerCooldown: 30 * time.Second,
			},
			OpenAI: OpenAI{
				BaseURL:         "http://127.0.0.1:11434/v1", // Ollama
				EmbeddingModel:  "bge-m3",
				EmbeddingDim:    1024,
				EmbeddingBatch:  16,
				MaxConcurrency:  2,
				Timeout:         60 * time.Second,
				BreakerFailures: 5,
				BreakerCooldown: 30 * time.Second,
			},
			Local: Local{EmbeddingDim: 384, SemanticShare: 0.1, WordVectorShare: 0.7},
		},
		API: API{
			Addr:           "127.0.0.1:8080",
			Tokens:         []string{},
			MaxQueryBytes:  2048,
			RequestTimeout: 10 * time.Second,
		},
		Search: Search{
			RRFK:             60,
			KeywordWeight:    1,
			SemanticWeight:   1,
			CrawlWeight:      0.5,
			Candidates:       100,
			MaxLimit:         100,
			MirrorRefresh:    time.Second,
			MinSemanticScore: 0.35,
			Rerank:           50,
			RerankWeight:     1,
		},
		Stores: store.DefaultConfig(),
	}
	for _, sec := range sections {
		cfg.Stages.Set(sec.Name, sec.New())
	}
	return cfg
}
