package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/console"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
)

// addDLQ writes a DLQ entry the way the runner does.
func addDLQ(t *testing.T, rdb redis.UniversalClient, keys pipeline.Keys, stream string, data map[string]any, errMsg string) string {
	t.Helper()
	raw, _ := json.Marshal(data)
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: keys.DLQ(stream), Values: map[string]any{
		"data": string(raw), "stream": stream, "group": "tag", "entry_id": "1-1", "stage": "tag",
		"error": errMsg, "error_class": "exhausted", "attempts": "5",
		"first_seen_at": time.Now().UTC().Format(time.RFC3339Nano), "failed_at": time.Now().UTC().Format(time.RFC3339Nano),
		"trace_id": "trace-x",
	}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestAdminAuthRules: changing calls need the admin token when one is
// configured (none or a wrong one is 401); with none configured they are
// refused (403) unless the listener is loopback-only. Reads follow the token
// when one is set.
func TestAdminAuthRules(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	keys := pipeline.NewKeys(cfg)
	stream := cfg.Streams.Parsed
	cases := []struct {
		name       string
		adminToken string
		apiToken   string
		loopback   bool
		sent       string
		wantRead   int
		wantChange int
		readers    []string // api.tokens
	}{
		{"no token configured, public listener", "", "", false, "", 200, 403, nil},
		{"no token configured, public listener, a token sent", "", "", false, "anything", 200, 403, nil},
		{"no token configured, loopback-only", "", "", true, "", 200, 200, nil},
		{"token configured, none sent", "s3cret", "", false, "", 401, 401, nil},
		{"token configured, wrong one", "s3cret", "", true, "wrong", 401, 401, nil},
		{"token configured, right one", "s3cret", "", false, "s3cret", 200, 200, nil},
		{"only api.token, none sent", "", "api", true, "", 401, 401, nil},
		{"only api.token, sent, loopback-only", "", "api", true, "api", 200, 200, nil},
		{"only api.token, sent", "", "api", false, "api", 200, 403, nil},
		{"both tokens, api.token is not the admin token", "s3cret", "api", false, "api", 401, 401, nil},
		{"a tenant's read token reads no operator data", "", "", true, "acme-token-0123456789", 401, 401, []string{"acme:acme-token-0123456789"}},
		{"a read token of every tenant, loopback-only", "", "", true, "every-tenant-0123456789", 200, 200, []string{"*:every-tenant-0123456789"}},
		{"read tokens configured, none sent", "", "", true, "", 401, 401, []string{"*:every-tenant-0123456789"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			readers, err := api.ParseTokens("", tc.readers)
			if err != nil {
				t.Fatal(err)
			}
			console.New(console.Options{Redis: rdb, Keys: keys, Streams: []string{stream}, AdminToken: tc.adminToken, APIToken: tc.apiToken,
				Readers: readers, Loopback: tc.loopback, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Mount(mux)
			do := func(method, path, body string) int {
				req := httptest.NewRequest(method, path, strings.NewReader(body))
				if tc.sent != "" {
					req.Header.Set("Authorization", "Bearer "+tc.sent)
				}
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("%s %s: content type %q", method, path, ct)
				}
				return rec.Code
			}
			if got := do("GET", "/v1/admin/streams", ""); got != tc.wantRead {
				t.Errorf("GET streams = %d, want %d", got, tc.wantRead)
			}
			id := addDLQ(t, rdb, keys, stream, map[string]any{"post_id": "p1"}, "boom")
			if got := do("POST", "/v1/admin/dlq/"+stream+"/purge", `{"ids":["`+id+`"]}`); got != tc.wantChange {
				t.Errorf("POST purge = %d, want %d", got, tc.wantChange)
			}
			n, _ := rdb.XLen(context.Background(), keys.DLQ(stream)).Result()
			if tc.wantChange == 200 && n != 0 || tc.wantChange != 200 && n != 1 {
				t.Errorf("DLQ length after purge %d (status %d)", n, tc.wantChange)
			}
			rdb.Del(context.Background(), keys.DLQ(stream))
		})
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{"127.0.0.1:0": true, "[::1]:0": true, "0.0.0.0:0": false, ":0": false} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if strings.Contains(addr, "::1") {
				continue // no IPv6 here
			}
			t.Fatal(err)
		}
		if got := console.IsLoopback(ln.Addr()); got != want {
			t.Errorf("IsLoopback(%s) = %v, want %v", addr, got, want)
		}
		ln.Close()
	}
}

// TestAdminShowsBytesThatAreNotUTF8: GET /v1/admin/dlq/{stream}/{id} of an
// entry whose original held bytes that are not UTF-8 shows them as \xNN with
// data_escaped set, where JSON would have printed U+FFFD.
func TestAdminShowsBytesThatAreNotUTF8(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	keys := pipeline.NewKeys(cfg)
	stream := cfg.Streams.Parsed
	m := &pipeline.Message{Stream: stream, ID: "1-1", Attempt: 1, Values: map[string]any{"data": "{\"post_id\":\"p1\",\"text\":\"\xff\"}"}}
	e := pipeline.NewDLQEntry(m, "tag", pipeline.ClassPermanent, errors.New("undecodable"), time.Now())
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: keys.DLQ(stream), Values: e.Encode()}).Result()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	console.New(console.Options{Redis: rdb, Keys: keys, Streams: []string{stream}, Loopback: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/admin/dlq/"+stream+"/"+id, nil))
	var v console.EntryView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || rec.Code != 200 {
		t.Fatalf("GET entry: %d %v\n%s", rec.Code, err, rec.Body)
	}
	if want := `{"post_id":"p1","text":"\xff"}`; v.Data["data"] != want || !v.DataEscaped {
		t.Errorf("data %q escaped %v, want %q and true", v.Data["data"], v.DataEscaped, want)
	}
}

// TestAdminDLQListNamesThePostOfEitherForm: the DLQ list shows and filters
// by the post id of an original in the data form (every stage writes it) as
// well as of one in the old worker's flat form.
func TestAdminDLQListNamesThePostOfEitherForm(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	keys := pipeline.NewKeys(cfg)
	stream := cfg.Streams.Parsed
	addDLQ(t, rdb, keys, stream, map[string]any{"data": `{"schema_version":"v1","post_id":"data-form-post","text":"x"}`}, "boom")
	addDLQ(t, rdb, keys, stream, map[string]any{"post_id": "flat-form-post", "text": "x"}, "boom")
	mux := http.NewServeMux()
	console.New(console.Options{Redis: rdb, Keys: keys, Streams: []string{stream}, Loopback: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Mount(mux)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"data-form-post", "flat-form-post"}},
		{"?q=data-form", []string{"data-form-post"}},
		{"?q=flat-form", []string{"flat-form-post"}},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/admin/dlq"+tt.query, nil))
		var list console.DLQListing
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != 200 {
			t.Fatalf("GET dlq%s: %d %v\n%s", tt.query, rec.Code, err, rec.Body)
		}
		var got []string
		for _, e := range list.Entries {
			got = append(got, e.PostID)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("GET dlq%s: posts %v, want %v", tt.query, got, tt.want)
		}
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/dlq", nil))
	if body := rec.Body.String(); !strings.Contains(body, "<td>data-form-post</td>") {
		t.Errorf("the DLQ page shows no post for the data-form entry (status %d)", rec.Code)
	}
}

// TestConsolePartitionedStreams: with partitioned streams the overview
// shows each stream summed and a row per partition, and the DLQ listing
// holds the entries of every partition's DLQ, their ids naming the
// partition.
func TestConsolePartitionedStreams(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	cfg.Streams.Partitions = 3
	keys := pipeline.NewKeys(cfg)
	stream := cfg.Streams.Parsed
	ctx := context.Background()
	for p := range 3 {
		for range p + 1 {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.PartStream(p, stream), Values: []any{"data", "{}"}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	id := addDLQ(t, rdb, pipeline.Keys{Prefix: keys.PartitionPrefix(1), DLQSuffix: keys.DLQSuffix}, stream, map[string]any{"post_id": "in-partition-1"}, "boom")
	mux := http.NewServeMux()
	console.New(console.Options{Redis: rdb, Keys: keys, Streams: []string{stream}, Loopback: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Mount(mux)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/", nil))
	body := rec.Body.String()
	for _, want := range []string{">6</td>", "partition 0</td>", "partition 2</td><td class=\"num\">3</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview (status %d) lacks %q", rec.Code, want)
		}
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/admin/dlq", nil))
	var list console.DLQListing
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != 200 {
		t.Fatalf("GET dlq: %d %v\n%s", rec.Code, err, rec.Body)
	}
	if len(list.Entries) != 1 || list.Entries[0].ID != id+"@p1" || list.Entries[0].PostID != "in-partition-1" {
		t.Fatalf("DLQ listing: %+v", list.Entries)
	}
}
