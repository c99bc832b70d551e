package api

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
)

// AllTenants is the tenant of an api.tokens entry that reads every tenant.
const AllTenants = "*"

// Reader is what a bearer token may read: every tenant, or one.
type Reader struct {
	// Tenant is the only tenant the token sees; empty: every tenant.
	Tenant string
}

// Scoped reports whether the reader sees one tenant only.
func (r Reader) Scoped() bool { return r.Tenant != "" }

// Tokens resolves the bearer tokens of api.token and api.tokens. The zero
// value requires no token.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	token string
	r     Reader
}

// ParseTokens builds Tokens from api.token (reads every tenant) and the
// api.tokens entries, each "<tenant>:<token>" with "*" for every tenant.
// The token itself may contain ':'; the tenant may not.
func ParseTokens(token string, scoped []string) (*Tokens, error) {
	t := &Tokens{}
	if token != "" {
		t.entries = append(t.entries, tokenEntry{token: token})
	}
	for i, s := range scoped {
		tenant, tok, ok := strings.Cut(s, ":")
		tenant = strings.TrimSpace(tenant)
		switch {
		case !ok || tenant == "" || tok == "":
			return nil, fmt.Errorf("api.tokens[%d]: want \"<tenant>:<token>\" (tenant \"*\" reads every tenant)", i)
		case len(tok) < 16:
			return nil, fmt.Errorf("api.tokens[%d] (tenant %s): the token is %d characters, want at least 16", i, tenant, len(tok))
		}
		for _, e := range t.entries {
			if subtle.ConstantTimeCompare([]byte(e.token), []byte(tok)) == 1 {
				return nil, fmt.Errorf("api.tokens[%d] (tenant %s): the same token is configured twice", i, tenant)
			}
		}
		r := Reader{Tenant: tenant}
		if tenant == AllTenants {
			r.Tenant = ""
		}
		t.entries = append(t.entries, tokenEntry{token: tok, r: r})
	}
	return t, nil
}

// Required reports whether any token is configured: then every /v1 read
// needs one.
func (t *Tokens) Required() bool { return t != nil && len(t.entries) > 0 }

// Lookup returns what token may read. Every entry is compared, in constant
// time each, so the answer's timing does not say which one matched.
func (t *Tokens) Lookup(token string) (Reader, bool) {
	var (
		found Reader
		ok    bool
	)
	if t == nil || token == "" {
		return found, false
	}
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare([]byte(e.token), []byte(token)) == 1 {
			found, ok = e.r, true
		}
	}
	return found, ok
}

type readerKey struct{}

// WithReader returns ctx carrying the reader of the request.
func WithReader(ctx context.Context, r Reader) context.Context {
	return context.WithValue(ctx, readerKey{}, r)
}

// ReaderFrom returns the request's reader; without one (no token
// configured) it reads every tenant.
func ReaderFrom(ctx context.Context) Reader {
	r, _ := ctx.Value(readerKey{}).(Reader)
	return r
}

// tenantFilter combines the reader's tenant with the tenant a request asked
// for: a scoped reader asking for another tenant gets nothing (ok false),
// answered as an empty page or not_found, never as forbidden, so that the
// answer does not say whether the other tenant exists.
func tenantFilter(r Reader, asked string) (tenant string, ok bool) {
	if !r.Scoped() {
		return asked, true
	}
	if asked != "" && asked != r.Tenant {
		return "", false
	}
	return r.Tenant, true
}
