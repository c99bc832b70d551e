package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/pipeline/operator"
	"github.com/assistant-dev/assistant/search"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

const (
	csrfCookie    = "assistant_csrf"
	sessionCookie = "assistant_session"
	csrfField     = "csrf"
)

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"ptime": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"dur": func(d time.Duration) string {
		if d <= 0 {
			return "—"
		}
		return d.Round(time.Second).String()
	},
	"rate": func(f float64) string { return fmt.Sprintf("%.2f/s", f) },
	// durAgo writes a time span that ended now: "5s ago", "just now".
	"durAgo": func(d time.Duration) string {
		if d < time.Second {
			return "just now"
		}
		return d.Round(time.Second).String() + " ago"
	},
	// ago writes how long before now t was: "3m 20s ago".
	"ago": ago,
	// idtime writes the time in a stream entry id (1733540000000-0) the
	// way people read it, with how long ago; the id stays in the title.
	"idtime": func(id string) string {
		sid, err := pipeline.ParseStreamID(id)
		if err != nil || id == "" {
			return "—"
		}
		t := sid.Time()
		return t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + ago(t) + ")"
	},
	// chname is the channel's title, or its id when none is known.
	"chname": func(names map[string]string, id string) string {
		if t := names[id]; t != "" {
			return t
		}
		return id
	},
	"bytes": bytesHuman,
	// count writes "1 result", "2 results": n and a noun with its plural.
	"count": func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	},
	"pretty": func(s string) string {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return s
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return s
		}
		return string(b)
	},
	"pathesc": url.PathEscape,
	"prettyAny": func(v any) string {
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b)
	},
	// snippet trusts search.Result.SnippetHTML: the search package escapes
	// the post text and adds only <mark> elements.
	"snippet": func(s string) template.HTML { return template.HTML(s) },
	"sortedKeys": func(m map[string]string) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys
	},
}

var pages = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))

// page is what every template gets.
type page struct {
	Title    string
	Nav      string
	CSRF     string
	LoggedIn bool
	// NeedLogin: an admin token is configured and there is no session.
	NeedLogin bool
	// CanChange: this visitor may replay, purge, pause.
	CanChange bool
	Flash     string
	Error     string
	Refresh   int
	// Tenant: the visitor logged in with a read token of this tenant, and
	// sees its posts only and no operator page.
	Tenant string
	// Operator: the visitor may see the operator pages (overview, groups,
	// DLQ).
	Operator bool
	// Channels maps channel ids to titles for the page.
	Channels map[string]string
	Data     any
}

// ago writes the time since t, to the second: "3m20s ago".
func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t)
	if d < 0 {
		return "in " + (-d).Round(time.Second).String()
	}
	if d < time.Second {
		return "just now"
	}
	if d > 48*time.Hour {
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
	return d.Round(time.Second).String() + " ago"
}

func (c *Console) mountUI(m Mounter) {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(sub)))
	op := func(h uiHandler) http.HandlerFunc { return c.ui(operatorOnly(h)) }
	mux.HandleFunc("GET /ui/{$}", op(c.pageOverview))
	mux.HandleFunc("GET /ui/groups", op(c.pageGroups))
	mux.HandleFunc("GET /ui/dlq", op(c.pageDLQ))
	mux.HandleFunc("GET /ui/dlq/{stream}/{id}", op(c.pageEntry))
	mux.HandleFunc("GET /ui/dlq/{stream}/{id}/confirm", op(c.pageConfirm))
	mux.HandleFunc("POST /ui/dlq/{stream}/{id}/{action}", op(c.postDLQ))
	mux.HandleFunc("GET /ui/bulk/dlq/confirm", op(c.pageBulkConfirm))
	mux.HandleFunc("POST /ui/bulk/dlq/{action}", op(c.postBulk))
	mux.HandleFunc("POST /ui/stages/{stage}/{action}", op(c.postStage))
	mux.HandleFunc("GET /ui/search", c.ui(c.pageSearch))
	mux.HandleFunc("GET /ui/posts/{id}", c.ui(c.pagePost))
	mux.HandleFunc("GET /ui/login", c.ui(c.pageLogin))
	mux.HandleFunc("POST /ui/login", c.ui(c.postLogin))
	mux.HandleFunc("POST /ui/logout", c.ui(c.postLogout))
	// Cross-origin browser requests that change something are refused
	// (Sec-Fetch-Site / Origin), and every form also carries the
	// double-submit token checked in ui.
	h := http.NewCrossOriginProtection().Handler(securityHeaders(mux))
	m.Handle("/ui/", h)
	m.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusFound))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		// Scripts only from our own embedded files: an injected inline
		// <script> would not run even if escaping failed.
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// uiHandler renders into p and returns the template name, or writes itself
// and returns "".
type uiHandler func(w http.ResponseWriter, r *http.Request, p *page) (string, error)

// errCSRF is a changing form without the right token.
var errCSRF = errors.New("the form's CSRF token is missing or wrong; reload the page and try again")

func (c *Console) ui(h uiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := &page{}
		csrf := ""
		if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 64 {
			csrf = ck.Value
		} else {
			csrf = randomToken()
			http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: csrf, Path: "/ui", HttpOnly: true,
				Secure: c.o.SecureCookies, SameSite: http.SameSiteStrictMode})
		}
		p.CSRF = csrf
		var sess session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			sess, p.LoggedIn = c.validSession(ck.Value)
		}
		admin := p.LoggedIn && sess.admin
		p.Tenant = sess.reader.Tenant
		// With an admin token, operator pages are the admin's; without
		// one, any reader of every tenant's (as the admin API's reads).
		p.Operator = admin || c.o.AdminToken == "" && !sess.reader.Scoped()
		p.CanChange = p.Operator && c.mayChange("", admin) == nil
		// An admin token guards everything; read tokens guard reading.
		p.NeedLogin = !p.LoggedIn && (c.o.AdminToken != "" || c.readersRequired())
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				c.fail(w, p, http.StatusBadRequest, err)
				return
			}
			got := r.PostForm.Get(csrfField)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1 {
				c.fail(w, p, http.StatusForbidden, errCSRF)
				return
			}
		}
		isLogin := strings.HasPrefix(r.URL.Path, "/ui/login") || strings.HasPrefix(r.URL.Path, "/ui/logout")
		if p.NeedLogin && !isLogin {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, p, http.StatusUnauthorized, errUnauthorized)
			return
		}
		p.Flash = r.URL.Query().Get("flash")
		name, err := h(w, r, p)
		if err != nil {
			status := http.StatusInternalServerError
			var ae apiError
			switch {
			case errors.As(err, &ae):
				status = ae.status
			case errors.Is(err, operator.ErrDLQEntryNotFound), errors.Is(err, search.ErrNotFound), errors.Is(err, pipeline.ErrStageNotRunning):
				status = http.StatusNotFound
			case errors.Is(err, search.ErrBadQuery), errors.Is(err, search.ErrNoVectors):
				status = http.StatusBadRequest
			case errors.Is(err, errNoAdmin), errors.Is(err, errTenantOnly):
				status = http.StatusForbidden
			case errors.Is(err, errUnauthorized):
				status = http.StatusUnauthorized
			default:
				c.log.Error("console", "path", r.URL.Path, "err", err)
			}
			c.fail(w, p, status, err)
			return
		}
		if name != "" {
			c.render(w, http.StatusOK, name, p)
		}
	}
}

// errTenantOnly: a reader of one tenant asked for an operator page.
var errTenantOnly = errors.New("this login reads posts only (the search and post pages); the operator pages need the admin token")

// operatorOnly refuses h to readers of one tenant: streams, groups and the
// DLQ hold every tenant's posts.
func operatorOnly(h uiHandler) uiHandler {
	return func(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
		if !p.Operator {
			return "", errTenantOnly
		}
		return h(w, r, p)
	}
}

// pageMayChange says why a visitor may not replay, purge or pause, or nil.
func (c *Console) pageMayChange(p *page) error {
	switch {
	case p.CanChange:
		return nil
	case !p.Operator:
		return errTenantOnly
	}
	if err := c.mayChange("", false); err != nil {
		return err
	}
	return errUnauthorized
}

func (c *Console) fail(w http.ResponseWriter, p *page, status int, err error) {
	p.Title = http.StatusText(status)
	p.Error = err.Error()
	c.render(w, status, "error.html", p)
}

func (c *Console) render(w http.ResponseWriter, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, p); err != nil {
		c.log.Error("render console page", "template", name, "err", err)
		http.Error(w, "render error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// --- overview -------------------------------------------------------------

// StageRow is one line of the overview.
type StageRow struct {
	Stage, Stream   string
	Rate            float64 // successes per second over the rate window; -1 unknown
	Success, Retry  float64
	DLQTotal        float64 // dead-lettered by this stage (this replica's counter)
	Lag, Pending    int64
	OldestAge       time.Duration
	Consumers       int
	DLQSize         int64 // entries in the input stream's DLQ
	Health, Detail  string
	Paused, Running bool
	Local           bool // run by this replica
}

type overview struct {
	Stages  []StageRow
	Streams []operator.StreamReport
	Checks  []CheckView
	// Window is the span the rates cover (0: not yet two samples).
	Window time.Duration
	Charts []Chart
	Redis  *RedisMemory
}

func (c *Console) pageOverview(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	reps, err := operator.StreamsReport(r.Context(), c.o.Redis, c.o.Keys, c.o.Streams)
	if err != nil {
		return "", err
	}
	byStream := map[string]operator.StreamReport{}
	for _, rep := range reps {
		byStream[rep.Stream] = rep
	}
	states := c.stageAnswer(r)
	local := map[string]pipeline.StageState{}
	for _, s := range states.Stages {
		local[s.Name] = s
	}
	checkErr := map[string]string{}
	for _, ch := range states.Checks {
		if !ch.OK {
			checkErr[ch.Name] = ch.Error
		}
	}
	c.sampleIfStale(r.Context())
	samples := c.hist.snapshot()
	stageRates, window := rates(samples, rateWindow)
	var counts map[string]stageCounts
	if len(samples) > 0 {
		counts = samples[len(samples)-1].counts
	}
	var ov overview
	ov.Window = window.Round(time.Second)
	for _, name := range c.stageNames() {
		stream := c.o.Groups[name]
		row := StageRow{Stage: name, Stream: stream, Rate: -1}
		if st, ok := counts[name]; ok {
			row.Success, row.Retry, row.DLQTotal = st.success, st.retry, st.dlq
		}
		if rate, ok := stageRates[name]; ok {
			row.Rate = rate
		}
		rep := byStream[stream]
		row.DLQSize = rep.DLQLength
		found := false
		for _, g := range rep.Groups {
			if g.Name == name {
				found = true
				row.Lag, row.Pending, row.OldestAge, row.Consumers = g.Lag, g.Pending, g.OldestPendingAge, len(g.Consumers)
			}
		}
		st, isLocal := local[name]
		row.Local, row.Paused, row.Running = isLocal, st.Paused, st.Running
		switch {
		case checkErr["stage "+name] != "":
			row.Health, row.Detail = "failing", checkErr["stage "+name]
		case isLocal && st.Paused:
			row.Health = "paused"
		case isLocal && st.Running:
			row.Health = "ok"
		case !found:
			row.Health, row.Detail = "no group", "no consumer group on "+stream+" yet"
		case row.Consumers == 0:
			row.Health, row.Detail = "idle", "no consumer"
		default:
			row.Health, row.Detail = "ok", "run by another replica"
		}
		if row.Health == "ok" && row.DLQSize > 0 {
			row.Health, row.Detail = "dlq", fmt.Sprintf("%d entries in the DLQ of %s", row.DLQSize, stream)
		}
		ov.Stages = append(ov.Stages, row)
	}
	ov.Streams, ov.Checks = reps, states.Checks
	ov.Charts = charts(samples)
	if mem, err := redisMemory(r.Context(), c.o.Redis); err == nil {
		ov.Redis = &mem
	} else {
		c.log.Warn("console: redis memory", "err", err)
	}
	p.Title, p.Nav, p.Refresh, p.Data = "Overview", "overview", 5, ov
	return "overview.html", nil
}

// stageNames lists the stages that read a stream in pipeline order: by the
// position of the input stream, then name.
func (c *Console) stageNames() []string {
	names := make([]string, 0, len(c.o.Groups))
	for n := range c.o.Groups {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		ia, ib := slices.Index(c.o.Streams, c.o.Groups[a]), slices.Index(c.o.Streams, c.o.Groups[b])
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	return names
}

// --- groups ------------------------------------------------------------------

// GroupView is one consumer group on the groups page.
type GroupView struct {
	Stage, Stream string
	Report        *operator.GroupReport
	Consumers     []ConsumerView
	// Pending are the oldest pending entries (up to pendingShown);
	// Retrying counts those delivered more than once.
	Pending  []operator.PendingEntry
	Retrying int
}

// ConsumerView is a consumer with its heartbeat.
type ConsumerView struct {
	operator.ConsumerReport
	Heartbeat pipeline.HeartbeatReport
}

const pendingShown = 50

func (c *Console) pageGroups(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	reps, err := operator.StreamsReport(r.Context(), c.o.Redis, c.o.Keys, c.o.Streams)
	if err != nil {
		return "", err
	}
	var out []GroupView
	for _, name := range c.stageNames() {
		gv := GroupView{Stage: name, Stream: c.o.Groups[name]}
		for _, rep := range reps {
			for i, g := range rep.Groups {
				if rep.Stream == gv.Stream && g.Name == name {
					gv.Report = &rep.Groups[i]
				}
			}
		}
		if gv.Report != nil {
			names := make([]string, len(gv.Report.Consumers))
			for i, cr := range gv.Report.Consumers {
				names[i] = cr.Name
			}
			beats, err := pipeline.ConsumerHeartbeats(r.Context(), c.o.Redis, c.o.Keys, name, names)
			if err != nil {
				return "", err
			}
			for _, cr := range gv.Report.Consumers {
				gv.Consumers = append(gv.Consumers, ConsumerView{ConsumerReport: cr, Heartbeat: beats[cr.Name]})
			}
			if gv.Report.Pending > 0 {
				if gv.Pending, err = operator.PendingEntries(r.Context(), c.o.Redis, c.o.Keys, gv.Stream, name, pendingShown); err != nil {
					return "", err
				}
			}
			for _, pe := range gv.Pending {
				if pe.Deliveries > 1 {
					gv.Retrying++
				}
			}
		}
		out = append(out, gv)
	}
	p.Title, p.Nav, p.Refresh, p.Data = "Consumer groups", "groups", 5, out
	return "groups.html", nil
}

// --- DLQ -----------------------------------------------------------------

type dlqPage struct {
	Filter  DLQFilter
	Streams []string
	Stages  []string
	List    DLQListing
}

func (c *Console) pageDLQ(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	f, err := filterFrom(r)
	if err != nil {
		return "", err
	}
	list, err := c.dlqList(r, f)
	if err != nil {
		return "", err
	}
	stages := make([]string, 0, len(c.o.Groups))
	for s := range c.o.Groups {
		stages = append(stages, s)
	}
	sort.Strings(stages)
	p.Title, p.Nav = "Dead-letter queue", "dlq"
	p.Data = dlqPage{Filter: f, Streams: c.o.Streams, Stages: stages, List: list}
	return "dlq.html", nil
}

func (c *Console) pageEntry(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	v, err := c.dlqGet(r, r.PathValue("stream"), r.PathValue("id"))
	if err != nil {
		return "", err
	}
	p.Title, p.Nav, p.Data = "DLQ entry "+v.ID, "dlq", v
	return "entry.html", nil
}

type confirmPage struct {
	Action string
	Entry  EntryView
}

func (c *Console) pageConfirm(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	action := r.URL.Query().Get("action")
	if action != "replay" && action != "purge" {
		return "", apiError{http.StatusBadRequest, "action must be replay or purge"}
	}
	if err := c.pageMayChange(p); err != nil {
		return "", err
	}
	v, err := c.dlqGet(r, r.PathValue("stream"), r.PathValue("id"))
	if err != nil {
		return "", err
	}
	p.Title, p.Nav, p.Data = "Confirm "+action, "dlq", confirmPage{Action: action, Entry: v}
	return "confirm.html", nil
}

// confirmedAction is the DLQ action a confirmed POST asks for (replay or
// purge), once the session may change things and the form says "yes".
func (c *Console) confirmedAction(r *http.Request, p *page) (string, error) {
	action := r.PathValue("action")
	if action != "replay" && action != "purge" {
		return "", apiError{http.StatusNotFound, "no such action"}
	}
	if err := c.pageMayChange(p); err != nil {
		return "", err
	}
	if r.PostForm.Get("confirm") != "yes" {
		return "", apiError{http.StatusBadRequest, "not confirmed"}
	}
	return action, nil
}

func (c *Console) postDLQ(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	action, err := c.confirmedAction(r, p)
	if err != nil {
		return "", err
	}
	stream, id := r.PathValue("stream"), r.PathValue("id")
	if err := c.knownStream(stream); err != nil {
		return "", err
	}
	res, err := c.doDLQ(r, stream, []string{id}, false, action == "replay")
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%s of %s: %d done", action, id, res.Done)
	if len(res.Skipped) > 0 {
		msg += "; skipped: " + strings.Join(res.Skipped, "; ")
	}
	http.Redirect(w, r, "/ui/dlq?stream="+url.QueryEscape(stream)+"&flash="+url.QueryEscape(msg), http.StatusSeeOther)
	return "", nil
}

// bulkPage confirms a replay or purge of every entry a DLQ filter matches.
type bulkPage struct {
	Action  string
	Filter  DLQFilter
	Query   string // the filter as a query string, to go back to the list
	Entries []EntryView
	// Streams counts the entries by stream.
	Streams   map[string]int
	Truncated bool
}

// bulkLimit bounds one bulk action: the confirmation lists what will be
// done, and a larger DLQ is for `assistant dlq`.
const bulkLimit = 1000

func (c *Console) pageBulkConfirm(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	action := r.URL.Query().Get("action")
	if action != "replay" && action != "purge" {
		return "", apiError{http.StatusBadRequest, "action must be replay or purge"}
	}
	if err := c.pageMayChange(p); err != nil {
		return "", err
	}
	f, err := filterFrom(r)
	if err != nil {
		return "", err
	}
	f.Limit = bulkLimit
	list, err := c.dlqList(r, f)
	if err != nil {
		return "", err
	}
	bp := bulkPage{Action: action, Filter: f, Entries: list.Entries, Streams: map[string]int{}, Truncated: list.Truncated}
	for _, e := range list.Entries {
		bp.Streams[e.Stream]++
	}
	q := r.URL.Query()
	q.Del("action")
	bp.Query = q.Encode()
	p.Title, p.Nav, p.Data = fmt.Sprintf("Confirm %s of %d entries", action, len(list.Entries)), "dlq", bp
	return "bulk.html", nil
}

// postBulk acts on exactly the entries the confirmation page listed (its
// "entry" fields, stream/id), not on whatever the filter matches now: an
// entry that arrived since is not touched without being seen.
func (c *Console) postBulk(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	action, err := c.confirmedAction(r, p)
	if err != nil {
		return "", err
	}
	byStream := map[string][]string{}
	var order []string
	entries := r.PostForm["entry"]
	if len(entries) == 0 || len(entries) > bulkLimit {
		return "", apiError{http.StatusBadRequest, fmt.Sprintf("give 1 to %d entries", bulkLimit)}
	}
	for _, e := range entries {
		stream, id, ok := strings.Cut(e, "/")
		if !ok {
			return "", apiError{http.StatusBadRequest, fmt.Sprintf("entry %q is not stream/id", e)}
		}
		if err := c.knownStream(stream); err != nil {
			return "", err
		}
		if _, seen := byStream[stream]; !seen {
			order = append(order, stream)
		}
		byStream[stream] = append(byStream[stream], id)
	}
	var done int
	var skipped []string
	for _, stream := range order {
		res, err := c.doDLQ(r, stream, byStream[stream], false, action == "replay")
		if errors.Is(err, operator.ErrDLQEntryNotFound) {
			skipped = append(skipped, fmt.Sprintf("%s: %v", stream, err))
			continue
		}
		if err != nil {
			return "", err
		}
		done += res.Done
		skipped = append(skipped, res.Skipped...)
	}
	msg := fmt.Sprintf("%s of %d entries: %d done", action, len(entries), done)
	if len(skipped) > 0 {
		msg += "; skipped: " + strings.Join(skipped, "; ")
	}
	http.Redirect(w, r, "/ui/dlq?"+r.PostForm.Get("back")+"&flash="+url.QueryEscape(msg), http.StatusSeeOther)
	return "", nil
}

func (c *Console) postStage(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	action := r.PathValue("action")
	if action != "pause" && action != "resume" {
		return "", apiError{http.StatusNotFound, "no such action"}
	}
	if err := c.pageMayChange(p); err != nil {
		return "", err
	}
	stage := r.PathValue("stage")
	if err := c.setPaused(stage, action == "pause"); err != nil {
		return "", err
	}
	c.log.Info("stage pause set from the console", "stage", stage, "action", action, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/ui/?flash="+url.QueryEscape(stage+": "+action+"d"), http.StatusSeeOther)
	return "", nil
}

// --- search and posts -------------------------------------------------------

type searchPage struct {
	Q, Mode, Channel, Tag, Since, Until string
	Semantic                            bool
	Page                                *search.Page
	Searched                            bool
	// Channels are the channels with a known title, for the filter.
	Channels []ChannelOption
}

func (c *Console) pageSearch(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	if c.o.Search == nil {
		return "", apiError{http.StatusNotImplemented, "search is not configured in this process"}
	}
	v := r.URL.Query()
	sp := searchPage{Q: v.Get("q"), Mode: v.Get("mode"), Channel: v.Get("channel"), Tag: v.Get("tag"),
		Since: v.Get("since"), Until: v.Get("until"), Semantic: c.o.Search.Semantic()}
	p.Channels = c.channelTitles(r.Context())
	if p.Tenant == "" {
		// A tenant's reader sees no list of every tenant's channels.
		sp.Channels = channelOptions(p.Channels)
	}
	p.Title, p.Nav = "Search", "search"
	p.Data = &sp
	if strings.TrimSpace(sp.Q) == "" {
		return "search.html", nil
	}
	q := search.Query{Text: sp.Q, Mode: search.Mode(sp.Mode), Channels: search.SplitList(sp.Channel),
		Tags: search.SplitList(sp.Tag), Limit: 20, Cursor: v.Get("cursor"), TenantID: p.Tenant}
	var err error
	if sp.Since != "" {
		if q.Since, err = api.ParseTime("since", sp.Since, false); err != nil {
			return "", apiError{http.StatusBadRequest, err.Error()}
		}
	}
	if sp.Until != "" {
		if q.Until, err = api.ParseTime("until", sp.Until, true); err != nil {
			return "", apiError{http.StatusBadRequest, err.Error()}
		}
	}
	res, err := c.o.Search.Search(r.Context(), q)
	if err != nil {
		return "", err
	}
	sp.Page, sp.Searched = res, true
	return "search.html", nil
}

// IndexStatus is a post's row of indexing_status.
type IndexStatus struct {
	Embedding, Graph, Error string
	Attempts                int
	UpdatedAt               time.Time
}

type postPage struct {
	Post  *search.Post
	Index *IndexStatus
}

func (c *Console) pagePost(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	if c.o.Search == nil {
		return "", apiError{http.StatusNotImplemented, "search is not configured in this process"}
	}
	// A post of another tenant is not found, as in the API.
	post, err := c.o.Search.GetPostOfTenant(r.Context(), r.PathValue("id"), p.Tenant)
	if err != nil {
		return "", err
	}
	pp := postPage{Post: post}
	if c.o.Pool != nil {
		pp.Index, err = indexStatus(r.Context(), c.o.Pool, post.PostID)
		if err != nil {
			return "", err
		}
	}
	p.Channels = c.channelTitles(r.Context())
	p.Title, p.Nav, p.Data = "Post "+post.PostID, "search", pp
	return "post.html", nil
}

func indexStatus(ctx context.Context, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, postID string) (*IndexStatus, error) {
	var st IndexStatus
	err := pool.QueryRow(ctx, `SELECT embedding_status, graph_status, coalesce(error, ''), attempts, updated_at
FROM indexing_status WHERE post_id = $1`, postID).Scan(&st.Embedding, &st.Graph, &st.Error, &st.Attempts, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read indexing status of %s: %w", postID, err)
	}
	return &st, nil
}

// --- login -------------------------------------------------------------------

func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/ui/"
	}
	return next
}

func (c *Console) pageLogin(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	p.Title, p.Data = "Log in", safeNext(r.URL.Query().Get("next"))
	return "login.html", nil
}

func (c *Console) postLogin(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	if c.o.AdminToken == "" && !c.readersRequired() {
		return "", apiError{http.StatusBadRequest, "no api.admin_token or read token is configured: there is nothing to log in to"}
	}
	token := r.PostForm.Get("token")
	var s session
	if tokenEqual(token, c.o.AdminToken) {
		s.admin = true
	} else if rd, ok := c.lookupReader(token); ok {
		s.reader = rd
	} else {
		c.log.Warn("console login refused", "remote", r.RemoteAddr)
		return "", errUnauthorized
	}
	next := safeNext(r.PostForm.Get("next"))
	if !s.admin && (s.reader.Scoped() || c.o.AdminToken != "") && !strings.HasPrefix(next, "/ui/search") && !strings.HasPrefix(next, "/ui/posts/") {
		next = "/ui/search" // a reader's pages
	}
	// The token itself is never stored in the browser: the cookie holds a
	// random session id, HttpOnly and SameSite=Strict.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: c.newSession(s), Path: "/ui", HttpOnly: true,
		Secure: c.o.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	http.Redirect(w, r, next, http.StatusSeeOther)
	return "", nil
}

func (c *Console) postLogout(w http.ResponseWriter, r *http.Request, p *page) (string, error) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.Delete(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui", HttpOnly: true, MaxAge: -1, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return "", nil
}
