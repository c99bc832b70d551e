package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/assistant-dev/assistant/search"
)

// params reads query parameters, refusing unknown ones so that a typo
// (?chanel=) is an error rather than a silently ignored filter.
type params struct {
	v       url.Values
	allowed []string
}

func newParams(r *http.Request, allowed ...string) (*params, error) {
	v := r.URL.Query()
	for k := range v {
		if !slices.Contains(allowed, k) {
			return nil, badRequest("unknown query parameter %q (accepted: %s)", k, strings.Join(allowed, ", "))
		}
	}
	return &params{v: v, allowed: allowed}, nil
}

func (p *params) list(name string) []string { return search.SplitList(p.v[name]...) }

func (p *params) int(name string, def, lo, hi int) (int, error) {
	s := p.v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badRequest("%s must be an integer, got %q", name, truncate(s))
	}
	if n < lo || n > hi {
		return 0, badRequest("%s must be between %d and %d, got %d", name, lo, hi, n)
	}
	return n, nil
}

// ParseTime accepts RFC 3339 or a date (YYYY-MM-DD, UTC); a date as an
// upper bound means the end of that day.
func ParseTime(name, s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if endOfDay {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s must be a date (2024-11-30) or an RFC 3339 time (2024-11-30T12:00:00Z), got %q", name, truncate(s))
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// errOtherTenant: a scoped token asked for another tenant; the handlers
// answer it as they would a tenant without posts.
var errOtherTenant = errors.New("another tenant")

// filters reads the filter parameters shared by search and similar. The
// tenant is the reader's when its token is scoped to one.
func (s *Server) filters(r *http.Request, p *params, q *search.Query) error {
	var err error
	q.Channels = p.list("channel")
	q.Tags = p.list("tag")
	tenant, ok := tenantFilter(ReaderFrom(r.Context()), p.v.Get("tenant"))
	if !ok {
		return errOtherTenant
	}
	q.TenantID = tenant
	if q.Since, err = ParseTime("since", p.v.Get("since"), false); err != nil {
		return badRequest("%v", err)
	}
	if q.Until, err = ParseTime("until", p.v.Get("until"), true); err != nil {
		return badRequest("%v", err)
	}
	max := s.svc.Options().MaxLimit
	if q.Limit, err = p.int("limit", 10, 1, max); err != nil {
		return err
	}
	if q.Offset, err = p.int("offset", 0, 0, 10000); err != nil {
		return err
	}
	q.Cursor = p.v.Get("cursor")
	return nil
}

var filterParams = []string{"channel", "tag", "tenant", "since", "until", "limit", "offset", "cursor"}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r, append([]string{"q", "mode", "prefix"}, filterParams...)...)
	if err != nil {
		return err
	}
	var q search.Query
	q.Text = p.v.Get("q")
	if len(q.Text) > s.opts.MaxQueryBytes {
		return badRequest("q is %d bytes, longer than the maximum %d", len(q.Text), s.opts.MaxQueryBytes)
	}
	if strings.TrimSpace(q.Text) == "" {
		return badRequest("q is required")
	}
	if q.Mode, err = search.ParseMode(p.v.Get("mode")); err != nil {
		return badRequest("%v", err)
	}
	if v := p.v.Get("prefix"); v != "" {
		if q.Prefix, err = strconv.ParseBool(v); err != nil {
			return badRequest("prefix must be true or false, got %q", truncate(v))
		}
	}
	err = s.filters(r, p, &q)
	if errors.Is(err, errOtherTenant) {
		writeJSON(w, http.StatusOK, search.Page{Query: strings.TrimSpace(q.Text), Mode: q.Mode, Results: []search.Result{}})
		return nil
	}
	if err != nil {
		return err
	}
	page, err := s.svc.Search(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) handlePost(w http.ResponseWriter, r *http.Request) error {
	if _, err := newParams(r); err != nil {
		return err
	}
	post, err := s.svc.GetPostOfTenant(r.Context(), r.PathValue("id"), ReaderFrom(r.Context()).Tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, post)
	return nil
}

func (s *Server) handleSimilar(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r, filterParams...)
	if err != nil {
		return err
	}
	var q search.Query
	err = s.filters(r, p, &q)
	if errors.Is(err, errOtherTenant) {
		// The post is not visible under the tenant asked for.
		return fmt.Errorf("post %s: %w", r.PathValue("id"), search.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if rd := ReaderFrom(r.Context()); rd.Scoped() {
		// The post itself must be the reader's: another tenant's is
		// not_found, like a post that does not exist.
		if _, err := s.svc.GetPostOfTenant(r.Context(), r.PathValue("id"), rd.Tenant); err != nil {
			return err
		}
	}
	page, err := s.svc.Similar(r.Context(), r.PathValue("id"), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// RelatedTags is the answer of /v1/tags/{tag}/related.
type RelatedTags struct {
	Tag     string            `json:"tag"`
	Related []search.TagCount `json:"related"`
}

func (s *Server) handleRelated(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r, "limit")
	if err != nil {
		return err
	}
	limit, err := p.int("limit", 20, 1, s.svc.Options().MaxLimit)
	if err != nil {
		return err
	}
	tag := r.PathValue("tag")
	rel, err := s.svc.RelatedTagsOfTenant(r.Context(), tag, ReaderFrom(r.Context()).Tenant, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RelatedTags{Tag: tag, Related: rel})
	return nil
}
