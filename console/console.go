// Package console is the daemon's operator surface on the API listener: the
// admin HTTP API under /v1/admin (streams and groups, stage states, the
// dead-letter queue, pause and resume) and the web console under /ui.
//
// Both read through the same functions the CLI uses (pipeline.StreamsReport,
// pipeline.DLQList …), so the console, `assistant streams` and `assistant
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
	sessions sync.Map // session id -> expiry time.Time
	rates    rateSampler
}

// New returns a console.
func New(o Options) *Console {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Runner == nil {
		o.Runner = func() Runner { return nil }
	}
	return &Console{o: o, log: o.Logger}
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

// mayReadAPI is mayRead for the admin API, where api.token also guards
// reads when no admin token is configured.
func (c *Console) mayReadAPI(token string, session bool) error {
	if c.o.AdminToken == "" && c.o.APIToken != "" && !tokenEqual(token, c.o.APIToken) {
		return errUnauthorized
	}
	return c.mayRead(token, session)
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

func (c *Console) newSession() string {
	id := randomToken()
	c.sessions.Store(id, time.Now().Add(sessionTTL))
	return id
}

func (c *Console) validSession(id string) bool {
	if id == "" {
		return false
	}
	v, ok := c.sessions.Load(id)
	if !ok {
		return false
	}
	if time.Now().After(v.(time.Time)) {
		c.sessions.Delete(id)
		return false
	}
	return true
}
