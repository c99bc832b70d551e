package local

import (
	"strings"
	"testing"
)

func TestBackgroundDFRoundTrip(t *testing.T) {
	text := formatBackgroundDF(10, map[string]int{"год": 9, "кратер": 3, "редк": 2})
	b, err := parseBackgroundDF(text)
	if err != nil {
		t.Fatal(err)
	}
	if b.docs != 10 || len(b.df) != 2 || b.df["год"] != 9 || b.df["кратер"] != 3 {
		t.Fatalf("parsed %d docs, %v; want 10 docs, год 9, кратер 3 (редк below the minimum)", b.docs, b.df)
	}
	if got, want := b.idf("редк"), b.maxIDF; got != want {
		t.Errorf("idf of a stem left out = %.3f, want the unseen-word IDF %.3f", got, want)
	}
	for _, bad := range []string{"", "год\t9\n", "docs x\n", "docs 3\nгод 9\n", "docs 3\nгод\tx\n"} {
		if _, err := parseBackgroundDF(bad); err == nil {
			t.Errorf("parseBackgroundDF(%q) accepted", bad)
		}
	}
}

// TestEmbeddedBackground checks the committed table: it parses, it is
// built from a corpus of some size, and common news words weigh less than
// topic words.
func TestEmbeddedBackground(t *testing.T) {
	b := loadBackground()
	if b.docs < 10000 || len(b.df) < 10000 {
		t.Fatalf("embedded table: %d posts, %d stems; want ≥ 10,000 of each", b.docs, len(b.df))
	}
	tg := NewTagger()
	idf := func(w string) float64 { return b.idf(tg.newToken(w, 0, len(w), false).stem) }
	for _, pair := range [][2]string{{"год", "кратер"}, {"время", "вулкан"}, {"новости", "электромобиль"}} {
		if idf(pair[0]) >= idf(pair[1]) {
			t.Errorf("idf(%s) = %.2f ≥ idf(%s) = %.2f", pair[0], idf(pair[0]), pair[1], idf(pair[1]))
		}
	}
	if !strings.Contains(backgroundData, "CC BY 4.0") {
		t.Error("the table lost its attribution header")
	}
}
