package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/pipeline/operator"
)

// The admin API. Every answer is JSON; errors are {"error", "message"} like
// the rest of /v1.

func (c *Console) mountAdmin(m Mounter) {
	m.Handle("GET /v1/admin/streams", c.admin(false, c.apiStreams))
	m.Handle("GET /v1/admin/stages", c.admin(false, c.apiStages))
	m.Handle("GET /v1/admin/dlq", c.admin(false, c.apiDLQList))
	m.Handle("GET /v1/admin/dlq/{stream}/{id}", c.admin(false, c.apiDLQShow))
	m.Handle("POST /v1/admin/dlq/{stream}/replay", c.admin(true, c.apiDLQReplay))
	m.Handle("POST /v1/admin/dlq/{stream}/purge", c.admin(true, c.apiDLQPurge))
	m.Handle("POST /v1/admin/stages/{stage}/pause", c.admin(true, c.apiPause(true)))
	m.Handle("POST /v1/admin/stages/{stage}/resume", c.admin(true, c.apiPause(false)))
}

type apiError struct {
	status int
	msg    string
}

func (e apiError) Error() string { return e.msg }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	code := strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}

// admin wraps an admin handler with the token rules.
func (c *Console) admin(changes bool, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// A changing call must also pass the read rule (api.token).
		err := c.mayReadAPI(token, false)
		if err == nil && changes {
			err = c.mayChange(token, false)
		}
		switch {
		case errors.Is(err, errUnauthorized):
			w.Header().Set("WWW-Authenticate", `Bearer realm="assistant-admin"`)
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		case err != nil:
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
		if err := h(w, r); err != nil {
			var ae apiError
			switch {
			case errors.As(err, &ae):
				writeError(w, ae.status, ae.msg)
			case errors.Is(err, operator.ErrDLQEntryNotFound):
				writeError(w, http.StatusNotFound, err.Error())
			case errors.Is(err, pipeline.ErrStageNotRunning):
				writeError(w, http.StatusNotFound, err.Error())
			default:
				c.log.Error("admin request", "path", r.URL.Path, "err", err)
				writeError(w, http.StatusInternalServerError, err.Error())
			}
		}
	})
}

func (c *Console) knownStream(name string) error {
	if !slices.Contains(c.o.Streams, name) {
		return apiError{http.StatusNotFound, fmt.Sprintf("unknown stream %q (known: %s)", name, strings.Join(c.o.Streams, ", "))}
	}
	return nil
}

func (c *Console) apiStreams(w http.ResponseWriter, r *http.Request) error {
	reps, err := operator.StreamsReport(r.Context(), c.o.Redis, c.o.Keys, c.o.Streams)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"streams": reps})
	return nil
}

// StagesAnswer is GET /v1/admin/stages.
type StagesAnswer struct {
	// Stages run by this replica; empty when it runs none.
	Stages []pipeline.StageState `json:"stages"`
	Checks []CheckView           `json:"checks"`
}

// CheckView is one readiness check.
type CheckView struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func (c *Console) stageAnswer(r *http.Request) StagesAnswer {
	ans := StagesAnswer{Stages: []pipeline.StageState{}, Checks: []CheckView{}}
	if run := c.o.Runner(); run != nil {
		ans.Stages = run.StageStates()
		for _, ch := range run.Checks(r.Context()) {
			v := CheckView{Name: ch.Name, OK: ch.Err == nil}
			if ch.Err != nil {
				v.Error = ch.Err.Error()
			}
			ans.Checks = append(ans.Checks, v)
		}
	}
	return ans
}

func (c *Console) apiStages(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, c.stageAnswer(r))
	return nil
}

// EntryView is a DLQ entry as the API shows it.
type EntryView struct {
	ID          string     `json:"id"`
	Stream      string     `json:"stream"`
	Group       string     `json:"group"`
	EntryID     string     `json:"entry_id"`
	Stage       string     `json:"stage"`
	Error       string     `json:"error"`
	ErrorClass  string     `json:"error_class"`
	Attempts    int        `json:"attempts"`
	FirstSeenAt *time.Time `json:"first_seen_at,omitempty"`
	FailedAt    *time.Time `json:"failed_at,omitempty"`
	TraceID     string     `json:"trace_id"`
	// PostID is the original's post id, from its data field or, in the
	// old worker's flat form, its post_id field.
	PostID    string            `json:"post_id,omitempty"`
	Data      map[string]string `json:"data"`
	DataError string            `json:"data_error,omitempty"`
	// DataEscaped: a field name or value held bytes that are not UTF-8,
	// which data shows as \xNN (JSON would turn them into U+FFFD); the
	// DLQ keeps the bytes and replay writes them back unchanged.
	DataEscaped bool `json:"data_escaped,omitempty"`
}

func entryView(e pipeline.DLQEntry, stream string) EntryView {
	v := EntryView{ID: e.ID, Stream: e.Stream, Group: e.Group, EntryID: e.EntryID, Stage: e.Stage, Error: e.Error,
		ErrorClass: e.ErrorClass, Attempts: e.Attempts, TraceID: e.TraceID, PostID: operator.DLQPostID(e),
		Data: pipeline.VisibleFields(e.Data)}
	v.DataEscaped = !maps.Equal(v.Data, e.Data)
	if v.Stream == "" {
		v.Stream = stream
	}
	if !e.FirstSeenAt.IsZero() {
		t := e.FirstSeenAt
		v.FirstSeenAt = &t
	}
	if !e.FailedAt.IsZero() {
		t := e.FailedAt
		v.FailedAt = &t
	}
	if e.DataErr != nil {
		v.DataError = e.DataErr.Error()
	}
	return v
}

// DLQFilter selects DLQ entries.
type DLQFilter struct {
	Stream string // one stream; empty: all
	Stage  string
	Class  string // permanent | exhausted
	Text   string // substring of the error, the post id or the trace id
	Limit  int
}

// DLQListing is GET /v1/admin/dlq.
type DLQListing struct {
	// Totals is the length of each stream's DLQ, filter or not.
	Totals  map[string]int64 `json:"totals"`
	Entries []EntryView      `json:"entries"`
	// Truncated says more entries matched than limit.
	Truncated bool `json:"truncated"`
}

func (c *Console) dlqList(r *http.Request, f DLQFilter) (DLQListing, error) {
	out := DLQListing{Totals: map[string]int64{}, Entries: []EntryView{}}
	streams := c.o.Streams
	if f.Stream != "" {
		if err := c.knownStream(f.Stream); err != nil {
			return out, err
		}
		streams = []string{f.Stream}
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	text := strings.ToLower(f.Text)
	for _, s := range streams {
		// The filters apply to the first 10,000 entries of each DLQ: a DLQ
		// that size needs `assistant dlq` and a purge, not a web page.
		page, err := operator.DLQList(r.Context(), c.o.Redis, c.o.Keys, s, 10000)
		if err != nil {
			return out, err
		}
		out.Totals[s] = page.Total
		for _, e := range page.Entries {
			if f.Stage != "" && e.Stage != f.Stage || f.Class != "" && e.ErrorClass != f.Class {
				continue
			}
			if text != "" && !strings.Contains(strings.ToLower(e.Error+" "+e.TraceID+" "+operator.DLQPostID(e)+" "+e.ID), text) {
				continue
			}
			if len(out.Entries) == f.Limit {
				out.Truncated = true
				continue
			}
			out.Entries = append(out.Entries, entryView(e, s))
		}
	}
	return out, nil
}

func filterFrom(r *http.Request) (DLQFilter, error) {
	q := r.URL.Query()
	f := DLQFilter{Stream: q.Get("stream"), Stage: q.Get("stage"), Class: q.Get("class"), Text: q.Get("q")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return f, apiError{http.StatusBadRequest, "limit must be 1..1000"}
		}
		f.Limit = n
	}
	if f.Class != "" && f.Class != pipeline.ClassPermanent && f.Class != pipeline.ClassExhausted {
		return f, apiError{http.StatusBadRequest, "class must be permanent or exhausted"}
	}
	return f, nil
}

func (c *Console) apiDLQList(w http.ResponseWriter, r *http.Request) error {
	f, err := filterFrom(r)
	if err != nil {
		return err
	}
	out, err := c.dlqList(r, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (c *Console) dlqGet(r *http.Request, stream, id string) (EntryView, error) {
	if err := c.knownStream(stream); err != nil {
		return EntryView{}, err
	}
	e, err := operator.DLQGet(r.Context(), c.o.Redis, c.o.Keys, []string{stream}, id)
	if err != nil {
		if !errors.Is(err, operator.ErrDLQEntryNotFound) {
			return EntryView{}, apiError{http.StatusBadRequest, err.Error()}
		}
		return EntryView{}, err
	}
	return entryView(e, stream), nil
}

func (c *Console) apiDLQShow(w http.ResponseWriter, r *http.Request) error {
	v, err := c.dlqGet(r, r.PathValue("stream"), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// DLQRequest is the body of replay and purge: some ids, or all.
type DLQRequest struct {
	IDs []string `json:"ids"`
	All bool     `json:"all"`
}

// DLQResult is the answer of replay and purge.
type DLQResult struct {
	Done    int      `json:"done"`
	Skipped []string `json:"skipped"`
}

func decodeDLQRequest(r *http.Request) (DLQRequest, error) {
	var req DLQRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, apiError{http.StatusBadRequest, "body: " + err.Error()}
	}
	if req.All == (len(req.IDs) > 0) {
		return req, apiError{http.StatusBadRequest, `give either "ids" or "all": true`}
	}
	return req, nil
}

func (c *Console) dlqAct(w http.ResponseWriter, r *http.Request, replay bool) error {
	stream := r.PathValue("stream")
	if err := c.knownStream(stream); err != nil {
		return err
	}
	req, err := decodeDLQRequest(r)
	if err != nil {
		return err
	}
	res, err := c.doDLQ(r, stream, req.IDs, req.All, replay)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (c *Console) doDLQ(r *http.Request, stream string, ids []string, all, replay bool) (DLQResult, error) {
	act, verb := operator.DLQPurge, "purge"
	if replay {
		act, verb = operator.DLQReplay, "replay"
	}
	res, err := act(r.Context(), c.o.Redis, c.o.Keys, stream, ids, all)
	if err != nil {
		if errors.Is(err, operator.ErrDLQEntryNotFound) {
			return DLQResult{}, err
		}
		if strings.Contains(err.Error(), "entry id") {
			return DLQResult{}, apiError{http.StatusBadRequest, err.Error()}
		}
		return DLQResult{}, err
	}
	c.log.Info("dlq "+verb, "stream", stream, "ids", ids, "all", all, "done", res.Done, "skipped", len(res.Skipped), "remote", r.RemoteAddr)
	out := DLQResult{Done: res.Done, Skipped: res.Skipped}
	if out.Skipped == nil {
		out.Skipped = []string{}
	}
	return out, nil
}

func (c *Console) apiDLQReplay(w http.ResponseWriter, r *http.Request) error {
	return c.dlqAct(w, r, true)
}

func (c *Console) apiDLQPurge(w http.ResponseWriter, r *http.Request) error {
	return c.dlqAct(w, r, false)
}

func (c *Console) setPaused(stage string, paused bool) error {
	run := c.o.Runner()
	if run == nil {
		return fmt.Errorf("%w: %s (no runner in this process)", pipeline.ErrStageNotRunning, stage)
	}
	return run.SetPaused(stage, paused)
}

func (c *Console) apiPause(paused bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		stage := r.PathValue("stage")
		if err := c.setPaused(stage, paused); err != nil {
			return err
		}
		c.log.Info("stage pause set", "stage", stage, "paused", paused, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"stage": stage, "paused": paused})
		return nil
	}
}
