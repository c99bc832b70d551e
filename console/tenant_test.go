package console_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/console"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/search/searchtest"
)

// TestConsoleTenantLogin: a reader logged in to the console with a token
// scoped to a tenant finds only that tenant's posts, gets not found (404,
// the page of a missing post) for another tenant's post id, and no operator
// page; the admin sees everything.
func TestConsoleTenantLogin(t *testing.T) {
	t.Parallel()
	fx := searchtest.New(t)
	tenantOf := func(i int) string {
		if fx.Posts[i].ChannelID%2 == 0 {
			return "acme"
		}
		return "globex"
	}
	fx.SetTenants(t, tenantOf)
	var acmePost, globexPost string
	for i, id := range fx.IDs {
		if tenantOf(i) == "acme" && acmePost == "" {
			acmePost = id
		}
		if tenantOf(i) == "globex" && globexPost == "" {
			globexPost = id
		}
	}
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	const acme, admin = "acme-token-0123456789", "admin-token-0123456789"
	readers, err := api.ParseTokens("", []string{"acme:" + acme})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	console.New(console.Options{Redis: rdb, Keys: pipeline.NewKeys(cfg), Streams: []string{cfg.Streams.Parsed},
		Search: fx.Service, Pool: fx.Pool, AdminToken: admin, Readers: readers,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	login := func(t *testing.T, token string) *http.Client {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		cl := &http.Client{Jar: jar}
		// The login form's CSRF token comes with its cookie.
		resp, err := cl.Get(srv.URL + "/ui/login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("login page without a CSRF field:\n%s", body)
		}
		resp, err = cl.PostForm(srv.URL+"/ui/login", url.Values{"csrf": {string(m[1])}, "token": {token}, "next": {"/ui/"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		return cl
	}
	get := func(t *testing.T, cl *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := cl.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	postLinks := regexp.MustCompile(`href="/ui/posts/([^"]+)"`)

	reader := login(t, acme)
	code, body := get(t, reader, "/ui/search?mode=keyword&q="+url.QueryEscape("Россия"))
	if code != 200 || !strings.Contains(body, "tenant acme") {
		t.Fatalf("reader search: %d\n%s", code, body)
	}
	found := postLinks.FindAllStringSubmatch(body, -1)
	if len(found) == 0 {
		t.Error("the acme reader found nothing")
	}
	tenant := map[string]string{}
	for i, id := range fx.IDs {
		tenant[id] = tenantOf(i)
	}
	for _, m := range found {
		id, _ := url.PathUnescape(m[1])
		if tenant[id] != "acme" {
			t.Errorf("the acme reader's search shows %s of tenant %q", id, tenant[id])
		}
	}
	if code, _ := get(t, reader, "/ui/posts/"+url.PathEscape(acmePost)); code != 200 {
		t.Errorf("the reader's own post: %d", code)
	}
	guessed, gbody := get(t, reader, "/ui/posts/"+url.PathEscape(globexPost))
	missing, mbody := get(t, reader, "/ui/posts/no-such-post")
	if guessed != 404 || missing != 404 || strings.ReplaceAll(gbody, globexPost, "ID") != strings.ReplaceAll(mbody, "no-such-post", "ID") {
		t.Errorf("another tenant's post: %d, a missing one: %d; the pages differ:\n%s\n---\n%s", guessed, missing, gbody, mbody)
	}
	for _, path := range []string{"/ui/", "/ui/groups", "/ui/dlq"} {
		if code, _ := get(t, reader, path); code != http.StatusForbidden {
			t.Errorf("reader GET %s: %d, want 403", path, code)
		}
	}

	// A word of a globex post: the admin finds the post, the acme reader
	// does not.
	var globexText string
	for i, id := range fx.IDs {
		if id == globexPost {
			globexText = fx.Posts[i].Text
		}
	}
	word := url.QueryEscape(longestWord(globexText))
	op := login(t, admin)
	if _, body := get(t, op, "/ui/search?mode=keyword&q="+word); !strings.Contains(body, url.PathEscape(globexPost)) {
		t.Errorf("the admin's search for %s lacks the globex post %s", word, globexPost)
	}
	if _, body := get(t, reader, "/ui/search?mode=keyword&q="+word); strings.Contains(body, url.PathEscape(globexPost)) {
		t.Errorf("the acme reader's search for %s shows the globex post %s", word, globexPost)
	}
	if code, _ := get(t, op, "/ui/posts/"+url.PathEscape(globexPost)); code != 200 {
		t.Errorf("admin, a globex post: %d", code)
	}
	if code, _ := get(t, op, "/ui/"); code != 200 {
		t.Errorf("admin overview: %d", code)
	}

	// Without a login, the search page redirects to it.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if code, _ := get(t, noRedirect, "/ui/search?q=x"); code != http.StatusSeeOther {
		t.Errorf("anonymous search: %d, want a redirect to the login", code)
	}
}
