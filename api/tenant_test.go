package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/search/searchtest"
)

// TestParseTokens: the api.tokens entries and their mistakes.
func TestParseTokens(t *testing.T) {
	t.Parallel()
	tok, err := api.ParseTokens("all-reader", []string{"acme:acme-token-0123456789", "*:every-tenant-0123456789", "globex:with:colon-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		token, tenant string
		ok            bool
	}{
		{"all-reader", "", true},
		{"acme-token-0123456789", "acme", true},
		{"every-tenant-0123456789", "", true},
		{"with:colon-0123456789", "globex", true},
		{"acme", "", false},
		{"", "", false},
	} {
		r, ok := tok.Lookup(c.token)
		if ok != c.ok || r.Tenant != c.tenant {
			t.Errorf("Lookup(%q) = %+v, %v; want tenant %q, %v", c.token, r, ok, c.tenant, c.ok)
		}
	}
	for _, bad := range [][]string{{"no-colon-0123456789"}, {":empty-tenant-0123456789"}, {"acme:"}, {"acme:short"},
		{"a:same-token-0123456789", "b:same-token-0123456789"}} {
		if _, err := api.ParseTokens("", bad); err == nil {
			t.Errorf("ParseTokens(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "0123456789") {
			t.Errorf("the error shows the token: %v", err)
		}
	}
	if (&api.Tokens{}).Required() {
		t.Error("no token configured, yet one is required")
	}
}

// TestTenantScopedTokens: the sample is split between two tenants, with a
// token scoped to each and one for every tenant. A scoped token finds only
// its tenant's posts in every search mode, in similar posts and related
// tags; another tenant's post, asked for by its id, is not_found exactly
// like a post that does not exist (not forbidden, which would say it
// exists); asking for the other tenant by name gives an empty page.
func TestTenantScopedTokens(t *testing.T) {
	t.Parallel()
	fx := searchtest.New(t)
	tenantOf := func(i int) string {
		if fx.Posts[i].ChannelID%2 == 0 {
			return "acme"
		}
		return "globex"
	}
	fx.SetTenants(t, tenantOf)
	tenant := map[string]string{}
	var acmePost, globexPost string
	for i, id := range fx.IDs {
		tenant[id] = tenantOf(i)
		if tenantOf(i) == "acme" && acmePost == "" {
			acmePost = id
		}
		if tenantOf(i) == "globex" && globexPost == "" {
			globexPost = id
		}
	}
	if acmePost == "" || globexPost == "" {
		t.Fatal("the sample has posts of one tenant only")
	}
	const acme, globex, all = "acme-token-0123456789", "globex-token-0123456789", "reads-all-0123456789"
	e := startWith(t, fx, api.Options{Token: all, Tokens: []string{"acme:" + acme, "globex:" + globex}})
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	getJSON := func(t *testing.T, path, tok string, want int, into any) []byte {
		t.Helper()
		code, body := e.get(t, path, bearer(tok)...)
		if code != want {
			t.Fatalf("GET %s: %d %s, want %d", path, code, body, want)
		}
		if into != nil {
			if err := json.Unmarshal(body, into); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
		return body
	}
	type page struct {
		Results []struct {
			PostID   string `json:"post_id"`
			TenantID string `json:"tenant_id"`
		} `json:"results"`
	}

	for _, mode := range []string{"keyword", "semantic", "hybrid"} {
		seen := map[string]int{}
		for _, c := range []struct{ token, tenant string }{{acme, "acme"}, {globex, "globex"}, {all, ""}} {
			var p page
			getJSON(t, "/v1/search?limit=50&mode="+mode+"&q="+url.QueryEscape("Россия"), c.token, 200, &p)
			if len(p.Results) == 0 {
				t.Errorf("%s, tenant %q: no results", mode, c.tenant)
			}
			for _, r := range p.Results {
				if c.tenant != "" && (tenant[r.PostID] != c.tenant || r.TenantID != c.tenant) {
					t.Errorf("%s: the %s token got %s of tenant %q", mode, c.tenant, r.PostID, tenant[r.PostID])
				}
				seen[tenant[r.PostID]]++
			}
		}
		if seen["acme"] == 0 || seen["globex"] == 0 {
			t.Errorf("%s: results by tenant %v", mode, seen)
		}
		// Asking for the other tenant by name: an empty page, not an error.
		var p page
		getJSON(t, "/v1/search?tenant=globex&mode="+mode+"&q="+url.QueryEscape("Россия"), acme, 200, &p)
		if len(p.Results) != 0 {
			t.Errorf("%s: acme asking for tenant=globex got %d results", mode, len(p.Results))
		}
	}

	// Post pages: the other tenant's id answers exactly like an unknown one.
	getJSON(t, "/v1/posts/"+url.PathEscape(acmePost), acme, 200, nil)
	getJSON(t, "/v1/posts/"+url.PathEscape(globexPost), all, 200, nil)
	for _, path := range []string{"/v1/posts/%s", "/v1/posts/%s/similar"} {
		guessed := getJSON(t, strings.Replace(path, "%s", url.PathEscape(globexPost), 1), acme, 404, nil)
		missing := getJSON(t, strings.Replace(path, "%s", "no-such-post", 1), acme, 404, nil)
		norm := func(b []byte) string {
			return strings.NewReplacer(globexPost, "ID", "no-such-post", "ID").Replace(string(b))
		}
		if norm(guessed) != norm(missing) {
			t.Errorf("%s: another tenant's post answers %s, a missing one %s", path, guessed, missing)
		}
		if !strings.Contains(string(guessed), `"not_found"`) {
			t.Errorf("%s: %s, want not_found", path, guessed)
		}
	}

	// Similar posts of the reader's own post are the reader's tenant's.
	var sim page
	getJSON(t, "/v1/posts/"+url.PathEscape(acmePost)+"/similar?limit=30", acme, 200, &sim)
	if len(sim.Results) == 0 {
		t.Error("no similar posts for acme's own post")
	}
	for _, r := range sim.Results {
		if tenant[r.PostID] != "acme" {
			t.Errorf("similar to an acme post, the acme token got %s of %q", r.PostID, tenant[r.PostID])
		}
	}
	getJSON(t, "/v1/posts/"+url.PathEscape(acmePost)+"/similar?tenant=globex", acme, 404, nil)

	// Related tags count only the reader's posts.
	type related struct {
		Related []struct {
			Posts int `json:"posts"`
		} `json:"related"`
	}
	// A tag both tenants' posts carry, on few posts: its related tags must
	// fit in one page (limit 100) for the sums to add up.
	var shared string
	if err := fx.Pool.QueryRow(context.Background(), `SELECT g FROM post_enrichment e JOIN posts p USING (post_id),
  jsonb_array_elements_text(e.data->'tags') g WHERE e.kind = 'tags'
GROUP BY g HAVING count(DISTINCT p.tenant_id) = 2 ORDER BY count(*), g LIMIT 1`).Scan(&shared); err != nil {
		t.Fatalf("a tag of both tenants: %v", err)
	}
	sum := func(tok string) int {
		var rel related
		getJSON(t, "/v1/tags/"+url.PathEscape(shared)+"/related?limit=100", tok, 200, &rel)
		n := 0
		for _, r := range rel.Related {
			n += r.Posts
		}
		return n
	}
	a, g, everyone := sum(acme), sum(globex), sum(all)
	if a == 0 || g == 0 || a+g != everyone {
		t.Errorf("tags related to %q: acme %d, globex %d, all %d; want both above 0, adding up to all", shared, a, g, everyone)
	}

	// Without a token, or with a wrong one: 401 as before.
	if code, _ := e.get(t, "/v1/search?q=x"); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
}
