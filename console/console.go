// Package console is the daemon's operator surface on the API listener: the
// admin HTTP API under /v1/admin (streams and groups, stage states, the
// dead-letter queue, pause and resume) and the web console under /ui.
//
// Both read through the same functions the CLI uses (admin.StreamsReport,
// admin.DLQList …), so the console, `assistant streams` and `assistant
// dlq` cannot disagree. Changing calls are guarded by api.admin_token; with
// no token configured they are allowed only when the listener is bound to a
// loopback address, where only local users can reach it.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/search"
)

// Runner is what the console needs of the runner of this replica; nil
// while it is being built (the API listener starts first).
type Runner interface {
	StageStates() []pipeline.StageState
	SetPaused(stage string, paused bool) error
	Checks(ctx context.Context) []pipeline.CheckResult
}

// Options configures a Console.
type Options struct {
	Redis redis.UniversalClient
	Keys  pipeline.Keys
	// Streams are the deployment's streams (unprefixed), in pipeline order.
	Streams []string
	// Groups maps each stage that reads a stream to that stream (the
	// stage's consumer group is named after it).
	Groups map[string]string
	// Runner returns this replica's runner, or nil when there is none yet.
	Runner func() Runner
	// Search and Pool serve the search and post pages; nil disables them.
	Search *search.Service
	Pool   *pgxpool.Pool
	// Gatherer gives the stage counters the overview turns into rates.
	Gatherer prometheus.Gatherer
	// AdminToken guards changing calls; see the package comment.
	AdminToken string
	// APIToken (api.token), when set and AdminToken is not, is what admin
	// API reads need, like the rest of /v1.
	APIToken string
	// Readers are the API's read tokens (api.Server.Tokens): a reader logs
	// in to the console's search and post pages with one, and a token
	// scoped to a tenant sees that tenant's posts only and no operator
	// page. Any read token configured makes the console need a login.
	Readers *api.Tokens
	// SampleEvery is how often Run samples counters, groups and Redis
	// memory for rates and charts (default 5s).
	SampleEvery time.Duration
	// Loopback says the listener accepts loopback connections only.
	Loopback bool
	// SecureCookies marks cookies Secure (the listener is behind TLS).
	SecureCookies bool
	Logger        *slog.Logger
}

// Console serves /v1/admin and /ui.
type Console struct {
	o        Options
	log      *slog.Logger
	sessions sync.Map // session id -> session
	hist     history
	every    time.Duration
	channels channelNames
}

// session is a console login: the admin's, or a reader's (api.token,
// api.tokens) that sees the search and post pages of its tenant(s).
type session struct {
	expires time.Time
	admin   bool
	reader  api.Reader
}

// New returns a console.
func New(o Options) *Console {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Runner == nil {
		o.Runner = func() Runner { return nil }
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = defaultSampleEvery
	}
	return &Console{o: o, log: o.Logger, every: o.SampleEvery}
}

// Mounter is where the console mounts (api.Server.Handle).
type Mounter interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers the admin API and the console on m.
func (c *Console) Mount(m Mounter) {
	c.mountAdmin(m)
	c.mountUI(m)
}

// IsLoopback reports whether a listener address accepts loopback
// connections only (127.0.0.0/8, ::1); ":8080" and "0.0.0.0:8080" do not.
func IsLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP != nil && tcp.IP.IsLoopback()
}

// errForbidden and errUnauthorized are the outcomes of the admin rules.
var (
	errUnauthorized = errors.New("missing or wrong admin token")
	errNoAdmin      = errors.New("changing calls are disabled: set api.admin_token, or bind api.addr to a loopback address")
)

// mayChange applies the rules for a changing call given the token the
// caller presented (or a valid console session).
func (c *Console) mayChange(token string, session bool) error {
	if c.o.AdminToken == "" {
		if c.o.Loopback {
			return nil
		}
		return errNoAdmin
	}
	if session || tokenEqual(token, c.o.AdminToken) {
		return nil
	}
	return errUnauthorized
}

// mayRead applies the rules for reading: with an admin token configured,
// reads need it too (stream and DLQ contents are operator data).
func (c *Console) mayRead(token string, session bool) error {
	if c.o.AdminToken == "" || session || tokenEqual(token, c.o.AdminToken) {
		return nil
	}
	return errUnauthorized
}

// mayReadAPI is mayRead for the admin API, where a read token of every
// tenant (api.token, or api.tokens with "*") also guards reads when no
// admin token is configured; a token scoped to a tenant reads no operator
// data.
func (c *Console) mayReadAPI(token string, session bool) error {
	if c.o.AdminToken == "" && c.readersRequired() {
		if r, ok := c.lookupReader(token); !ok || r.Scoped() {
			return errUnauthorized
		}
	}
	return c.mayRead(token, session)
}

func (c *Console) readersRequired() bool { return c.o.APIToken != "" || c.o.Readers.Required() }

// lookupReader resolves a read token.
func (c *Console) lookupReader(token string) (api.Reader, bool) {
	if r, ok := c.o.Readers.Lookup(token); ok {
		return r, true
	}
	return api.Reader{}, tokenEqual(token, c.o.APIToken)
}

func tokenEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const sessionTTL = 12 * time.Hour

func (c *Console) newSession(s session) string {
	id := randomToken()
	s.expires = time.Now().Add(sessionTTL)
	c.sessions.Store(id, s)
	return id
}

// validSession returns the live session of id.
func (c *Console) validSession(id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	v, ok := c.sessions.Load(id)
	if !ok {
		return session{}, false
	}
	s := v.(session)
	if time.Now().After(s.expires) {
		c.sessions.Delete(id)
		return session{}, false
	}
	return s, true
}
