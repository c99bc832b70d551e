package links

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// Normalize puts an http(s) URL in the normal form of spec section 5
// (enrich, step 1): scheme and host lower-cased, fragment dropped, utm_*,
// gclid and fbclid dropped, the remaining query pairs sorted, a trailing "/"
// dropped from a non-root path. Two spellings of one page thus share one
// cache entry and one stored row.
//
// Beyond the spec's list it only does what makes the form unique and
// fetchable: an internationalised host name is written in its ASCII
// (punycode) form, and the path is percent-encoded the way net/url does
// (so "/новости" and "/%D0%BD%D0%BE…" are one URL).
func Normalize(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("normalise %q: %w", raw, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("normalise %q: scheme %q is not http or https", raw, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", fmt.Errorf("normalise %q: no host", raw)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("normalise %q: no host", raw)
	}
	if !strings.HasPrefix(host, "[") && strings.IndexFunc(host, func(r rune) bool { return r >= 0x80 }) >= 0 {
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", fmt.Errorf("normalise %q: host: %w", raw, err)
		}
		host = ascii
	}
	if strings.Contains(host, ":") { // an IPv6 literal
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" {
		host += ":" + port
	}
	u.Host = host
	u.User = nil // credentials in a post's link are never sent anywhere
	u.Fragment, u.RawFragment = "", ""
	u.RawQuery = normalizeQuery(u.RawQuery)
	u.ForceQuery = false
	if p := u.EscapedPath(); len(p) > 1 && strings.HasSuffix(p, "/") {
		trimmed := strings.TrimRight(p, "/")
		if trimmed == "" {
			trimmed = "/"
		}
		if err := setEscapedPath(u, trimmed); err != nil {
			return "", fmt.Errorf("normalise %q: %w", raw, err)
		}
	}
	return u.String(), nil
}

func setEscapedPath(u *url.URL, escaped string) error {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return errors.New("bad path escape")
	}
	u.Path, u.RawPath = p, escaped
	if u.EscapedPath() != escaped {
		u.RawPath = ""
	}
	return nil
}

// normalizeQuery drops tracking parameters and empty pairs from a raw query
// and sorts the rest. Pairs are compared and kept as written: re-encoding
// them could change what the server sees.
func normalizeQuery(raw string) string {
	if raw == "" {
		return ""
	}
	pairs := strings.Split(raw, "&")
	kept := pairs[:0]
	for _, p := range pairs {
		if p == "" {
			continue
		}
		key, _, _ := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		key = strings.ToLower(key)
		if strings.HasPrefix(key, "utm_") || key == "gclid" || key == "fbclid" {
			continue
		}
		kept = append(kept, p)
	}
	slices.Sort(kept)
	return strings.Join(kept, "&")
}

// Hash is the key of a normalised URL in caches: lower-case hex SHA-256.
func Hash(normalized string) string {
	sum := sha256.Sum256([]byte(normalized))
	return hex.EncodeToString(sum[:])
}

// Host returns the lower-cased host name of u (no port), "" when u does not
// parse.
func Host(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.ToLower(p.Hostname())
}

// NormalizeAll normalises urls, dropping those that do not normalise and
// repeats of an earlier one (by normal form), in order.
func NormalizeAll(urls []string) []string {
	out := make([]string, 0, len(urls))
	for _, raw := range urls {
		n, err := Normalize(raw)
		if err != nil || slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
	}
	return out
}
