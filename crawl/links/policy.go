package links

import "strings"

// DefaultSkipDomains are the domains not worth crawling by default: links
// to Telegram itself (channels, chats, invites, bots) lead to pages that are
// either login walls or a copy of what the post already says.
var DefaultSkipDomains = []string{"t.me", "telegram.me", "telegram.dog", "telegra.ph", "telegram.org"}

// Policy decides which of a post's URLs are crawled (spec section 5,
// enrich, step 2). A domain in a list matches the host itself and every
// subdomain of it ("example.org" matches "news.example.org").
type Policy struct {
	// MaxURLs is how many URLs of one post are crawled at most; 0 or less
	// means no limit.
	MaxURLs int
	// Allow, when not empty, is the only set of domains crawled.
	Allow []string
	// Deny lists domains never crawled.
	Deny []string
	// Skip lists domains not worth crawling (DefaultSkipDomains by default).
	Skip []string
}

// Reasons a URL is not crawled.
const (
	ReasonInvalid  = "invalid_url"
	ReasonNotAllow = "not_allowed"
	ReasonDenied   = "denied"
	ReasonSkipped  = "skipped_domain"
	ReasonOverMax  = "over_max_urls"
)

// Dropped is a URL the policy keeps from being crawled, and why.
type Dropped struct {
	URL    string
	Reason string
}

// Select normalises and de-duplicates urls and splits them into those to
// crawl (in order, at most MaxURLs) and those dropped with a reason.
func (p Policy) Select(urls []string) (crawl []string, dropped []Dropped) {
	var seen []string
	for _, raw := range urls {
		n, err := Normalize(raw)
		if err != nil {
			dropped = append(dropped, Dropped{URL: raw, Reason: ReasonInvalid})
			continue
		}
		if contains(seen, n) {
			continue
		}
		seen = append(seen, n)
		host := Host(n)
		switch {
		case matchDomain(p.Deny, host):
			dropped = append(dropped, Dropped{URL: n, Reason: ReasonDenied})
		case len(p.Allow) > 0 && !matchDomain(p.Allow, host):
			dropped = append(dropped, Dropped{URL: n, Reason: ReasonNotAllow})
		case matchDomain(p.Skip, host):
			dropped = append(dropped, Dropped{URL: n, Reason: ReasonSkipped})
		case p.MaxURLs > 0 && len(crawl) >= p.MaxURLs:
			dropped = append(dropped, Dropped{URL: n, Reason: ReasonOverMax})
		default:
			crawl = append(crawl, n)
		}
	}
	return crawl, dropped
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// matchDomain reports whether host is one of domains or a subdomain of one.
func matchDomain(domains []string, host string) bool {
	for _, d := range domains {
		d = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d == "" {
			continue
		}
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}
