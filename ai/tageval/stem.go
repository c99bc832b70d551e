package tageval

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Stem reduces a folded word (lower case, ё as е) to a matching stem by
// stripping one inflectional ending. It is deliberately light — one longest
// ending from a fixed list, never leaving fewer than three letters — so it
// groups the case and number forms of a keyword (Иран/Ирана/Ираном,
// Украина/Украины/Украине, нейроны/нейронов, database/databases) without
// conflating different words the way an aggressive stemmer would:
//   - Cyrillic words: noun, adjective and participle case endings
//     (-иями, -ами, -ого, -ых, -ой, -ов, -ам, -ия, -а, -ы, -ь …);
//   - Latin words: -'s, -ies (→ y), -es after s/x/z/ch/sh, -s (not -ss),
//     -ing and -ed.
//
// Other words (digits, mixed scripts) are returned as they are.
func Stem(w string) string {
	if w == "" {
		return w
	}
	r, _ := utf8.DecodeRuneInString(w)
	switch {
	case unicode.Is(unicode.Cyrillic, r):
		return stripLongest(w, russianEndings, 3)
	case r < utf8.RuneSelf && unicode.IsLetter(r):
		return stemEnglish(w)
	}
	return w
}

// russianEndings, longest first within each length, so the first match of
// a longer ending wins.
var russianEndings = sortedByLength([]string{
	"иями", "ями", "ами", "иях", "ией", "ием", "ого", "его", "ому", "ему", "ыми", "ими",
	"ах", "ях", "ов", "ев", "ей", "ам", "ям", "ом", "ем", "ой", "ый", "ий", "ая", "яя",
	"ое", "ее", "ые", "ие", "ую", "юю", "ым", "им", "ых", "их", "ия", "ии", "ию", "ья", "ье", "ью",
	"а", "я", "о", "е", "ы", "и", "у", "ю", "ь", "й",
})

func sortedByLength(list []string) []string {
	out := make([]string, 0, len(list))
	for n := 4; n >= 1; n-- {
		for _, e := range list {
			if utf8.RuneCountInString(e) == n {
				out = append(out, e)
			}
		}
	}
	return out
}

func stripLongest(w string, endings []string, minStem int) string {
	n := utf8.RuneCountInString(w)
	for _, e := range endings {
		if strings.HasSuffix(w, e) && n-utf8.RuneCountInString(e) >= minStem {
			return w[:len(w)-len(e)]
		}
	}
	return w
}

func stemEnglish(w string) string {
	if len(w) <= 3 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "'s"):
		return w[:len(w)-2]
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "zes"),
		strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"):
		return w[:len(w)-2]
	case strings.HasSuffix(w, "ss"):
		return w
	case strings.HasSuffix(w, "s"):
		return w[:len(w)-1]
	case strings.HasSuffix(w, "ing") && len(w) > 5:
		return w[:len(w)-3]
	case strings.HasSuffix(w, "ed") && len(w) > 4:
		return w[:len(w)-2]
	}
	return w
}

func isLetter(r rune) bool { return unicode.IsLetter(r) }
