package search

import (
	"regexp"
	"strings"
	"testing"
)

func TestPlanKeyword(t *testing.T) {
	cases := []struct {
		query    string
		typing   bool
		prefixes string
		guards   int
	}{
		// «резко» stems to резк, as «резке» does: only its own form matches.
		{"криптовалюта резко подорожала", false, "", 1},
		// Names keep prefix matching of the stem («Ливан» → лива).
		{"Ливан", false, "лива", 0},
		// A plain word: neither prefix nor guard.
		{"подорожала", false, "", 0},
		// Being typed: only the last word is a prefix.
		{"биткоин подорож", true, "подорож", 0},
		// Quoted phrases match as written by the user's syntax.
		{`"резко подорожала"`, false, "", 0},
	}
	for _, c := range cases {
		p := planKeyword(c.query, c.typing)
		if p.prefixes != c.prefixes || len(p.guards) != c.guards {
			t.Errorf("%q (typing %v): prefixes %q guards %v, want %q and %d guards", c.query, c.typing, p.prefixes, p.guards, c.prefixes, c.guards)
		}
	}
	// The guard of «резко» matches its own form, not «резке».
	g := planKeyword("резко", false).guards[0]
	re := regexp.MustCompile("(?i)" + strings.NewReplacer("[:alnum:]", `\p{L}\p{N}`).Replace(g))
	for text, want := range map[string]bool{"Биткоин резко подорожал": true, "о лазерной резке металла": false, "Резко.": true} {
		if got := re.MatchString(text); got != want {
			t.Errorf("guard %s on %q = %v, want %v", g, text, got, want)
		}
	}
}
