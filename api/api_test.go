package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/search/searchtest"
)

type env struct {
	base string
	fx   *searchtest.Fixture
	reg  *prometheus.Registry
}

// start serves the API over the indexed sample on a real loopback listener
// with the daemon's http.Server settings.
func start(t *testing.T, token string) *env {
	t.Helper()
	return startWith(t, searchtest.New(t), api.Options{Token: token})
}

// startWith serves the API over fx with o (registry, timeout and logger
// filled in).
func startWith(t *testing.T, fx *searchtest.Fixture, o api.Options) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer, o.RequestTimeout, o.Logger = reg, 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := api.New(fx.Service, o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln, srv, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &env{base: "http://" + ln.Addr().String(), fx: fx, reg: reg}
}

func (e *env) get(t *testing.T, path string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestRejectsBadRequestsWithJSON400(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	huge := strings.Repeat("abcd ", 2<<20/5) // 2 MB
	cases := []struct {
		name, path, want string
	}{
		{"2 MB query", "/v1/search?q=" + url.QueryEscape(huge), "longer than the maximum 2048"},
		{"limit 10000", "/v1/search?q=test&limit=10000", "limit must be between 1 and 100"},
		{"bad date", "/v1/search?q=test&since=30.11.2024", "since must be a date"},
		{"bad until", "/v1/search?q=test&until=tomorrow", "until must be a date"},
		{"until before since", "/v1/search?q=test&since=2024-11-02&until=2024-11-01", "until is before since"},
		{"missing q", "/v1/search", "q is required"},
		{"unknown parameter", "/v1/search?q=x&chanel=1", `unknown query parameter "chanel"`},
		{"bad mode", "/v1/search?q=x&mode=fuzzy", "unknown search mode"},
		{"bad cursor", "/v1/search?q=x&cursor=garbage!", "invalid cursor"},
		{"limit not a number", "/v1/search?q=x&limit=ten", "limit must be an integer"},
		{"bad prefix", "/v1/search?q=x&prefix=maybe", "prefix must be true or false"},
		{"related limit", "/v1/tags/go/related?limit=0", "limit must be between 1 and 100"},
		{"similar limit", "/v1/posts/x/similar?limit=10000", "limit must be between"},
	}
	for _, c := range cases {
		code, body := e.get(t, c.path)
		if code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (%s)", c.name, code, body)
			continue
		}
		var eb api.ErrorBody
		if err := json.Unmarshal(body, &eb); err != nil {
			t.Errorf("%s: body is not JSON: %s", c.name, body)
			continue
		}
		if eb.Error != "bad_request" || !strings.Contains(eb.Message, c.want) {
			t.Errorf("%s: error %+v, want a message containing %q", c.name, eb, c.want)
		}
	}
	code, body := e.get(t, "/v1/posts/no-such-post")
	if code != http.StatusNotFound || !strings.Contains(string(body), `"error":"not_found"`) {
		t.Errorf("unknown post: %d %s", code, body)
	}
	code, body = e.get(t, "/v1/nothing-here")
	if code != http.StatusNotFound || !strings.Contains(string(body), "no such endpoint") {
		t.Errorf("unknown route: %d %s", code, body)
	}
	// The 400s were counted under their route.
	if v := testenv.MetricValue(t, e.reg, "api_requests_total", map[string]string{"route": "GET /v1/search", "code": "400"}); v < 9 {
		t.Errorf("api_requests_total{GET /v1/search,400} = %v", v)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	e := start(t, "s3cret")
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}} {
		if code, body := e.get(t, "/v1/search?q=Путин", h...); code != http.StatusUnauthorized || !strings.Contains(string(body), "bearer token") {
			t.Errorf("auth %v: %d %s", h, code, body)
		}
	}
	if code, body := e.get(t, "/v1/search?q=Путин", "Authorization", "Bearer s3cret"); code != http.StatusOK {
		t.Errorf("right token: %d %s", code, body)
	}
	if code, _ := e.get(t, "/v1/openapi.json"); code != http.StatusOK {
		t.Errorf("openapi.json needs no token, got %d", code)
	}
}

// TestOpenAPIMatches keeps the document true: each documented operation is
// called with every documented query parameter and must answer its
// documented success schema, field for field (no missing required field, no
// undocumented one); every route the server has is documented.
func TestOpenAPIMatches(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	code, body := e.get(t, "/v1/openapi.json")
	if code != 200 {
		t.Fatalf("openapi.json: %d", code)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	paths := doc["paths"].(map[string]any)

	// Every route the mux serves is documented.
	var documented []string
	for p := range paths {
		documented = append(documented, "GET "+p)
	}
	sort.Strings(documented)
	served := api.Routes()
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("documented routes %v, served %v", documented, served)
	}

	fx := e.fx
	postID := fx.IDs[73]
	var tag string
	if err := fx.Pool.QueryRow(context.Background(), `SELECT data->'tags'->>0 FROM post_enrichment WHERE post_id = $1 AND kind = 'tags'`, postID).Scan(&tag); err != nil {
		t.Fatal(err)
	}
	// A crawled page, so that Link.title and Enrichment fields are exercised.
	if _, err := fx.Pool.Exec(context.Background(), `INSERT INTO post_enrichment (post_id, kind, provider, status, error, data) VALUES ($1, 'crawl', 'builtin', 'partial', 'one page failed', '{"pages":[{"url":"https://bbc.com/x","final_url":"https://www.bbc.com/x","title":"BBC"}]}')`, postID); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"q": "Израиль прекращение огня", "mode": "hybrid", "channel": "-1001003921752", "tag": "",
		"tenant": "", "since": "2024-01-01", "until": "2024-12-31", "limit": "5", "offset": "0", "cursor": "", "prefix": "false",
	}
	for p, item := range paths {
		op := item.(map[string]any)["get"].(map[string]any)
		u := strings.NewReplacer("{id}", url.PathEscape(postID), "{tag}", url.PathEscape(tag)).Replace(p)
		q := url.Values{}
		params, _ := op["parameters"].([]any)
		for _, prm := range params {
			pm := prm.(map[string]any)
			if pm["in"] != "query" {
				continue
			}
			name := pm["name"].(string)
			v, ok := values[name]
			if !ok {
				t.Fatalf("%s: documented parameter %q has no test value", p, name)
			}
			q.Set(name, v)
		}
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		code, body := e.get(t, u)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", u, code, body)
		}
		schema := op["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
		var got any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		checkSchema(t, p, schemas, schema, got)
	}
	// The search above must have had results to check.
	code, body = e.get(t, "/v1/search?q="+url.QueryEscape("Израиль прекращение огня")+"&channel=-1001003921752&limit=5")
	if code != 200 || !strings.Contains(string(body), fx.IDs[73]) || !strings.Contains(string(body), `"title":"BBC"`) {
		t.Fatalf("search did not return the crawled post: %s", body)
	}
}

// checkSchema checks value against a (referenced) schema of the document.
func checkSchema(t *testing.T, at string, schemas map[string]any, schema map[string]any, value any) {
	t.Helper()
	if r, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(r, "#/components/schemas/")
		s, ok := schemas[name].(map[string]any)
		if !ok {
			t.Fatalf("%s: dangling $ref %s", at, r)
		}
		checkSchema(t, at+"<"+name+">", schemas, s, value)
		return
	}
	switch schema["type"] {
	case "object":
		m, ok := value.(map[string]any)
		if !ok {
			t.Fatalf("%s: %T, want an object", at, value)
		}
		props, _ := schema["properties"].(map[string]any)
		if props == nil {
			return
		}
		for k := range m {
			if _, ok := props[k]; !ok {
				t.Errorf("%s: field %q is not documented", at, k)
			}
		}
		req, _ := schema["required"].([]any)
		for _, r := range req {
			if _, ok := m[r.(string)]; !ok {
				t.Errorf("%s: required field %q missing", at, r)
			}
		}
		for k, v := range m {
			if ps, ok := props[k].(map[string]any); ok {
				checkSchema(t, at+"."+k, schemas, ps, v)
			}
		}
	case "array":
		a, ok := value.([]any)
		if !ok {
			t.Fatalf("%s: %T, want an array", at, value)
		}
		items, _ := schema["items"].(map[string]any)
		for i, v := range a {
			checkSchema(t, fmt.Sprintf("%s[%d]", at, i), schemas, items, v)
		}
	case "string":
		s, ok := value.(string)
		if !ok {
			t.Fatalf("%s: %T, want a string", at, value)
		}
		if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, any(s)) {
			t.Errorf("%s: %q is not one of %v", at, s, enum)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				t.Errorf("%s: %q is not a date-time", at, s)
			}
		}
	case "integer", "number":
		if _, ok := value.(float64); !ok {
			t.Fatalf("%s: %T, want a number", at, value)
		}
	}
}
