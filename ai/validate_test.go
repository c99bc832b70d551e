package ai

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidateTags(t *testing.T) {
	const text = "Сбер представил GigaChat 2 и новые функции ИИ.\nЁлка  в Москве зажглась в 19:00 🎄 #праздник @sberbank"
	tests := []struct {
		name     string
		raw      string
		text     string
		maxTags  int
		want     []string
		rejected map[string]int
	}{
		{
			name: "plain JSON",
			raw:  `["Сбер", "GigaChat 2", "ИИ"]`,
			want: []string{"Сбер", "GigaChat 2", "ИИ"},
		},
		{
			name: "markdown fence",
			raw:  "```json\n[\"Сбер\", \"ИИ\"]\n```",
			want: []string{"Сбер", "ИИ"},
		},
		{
			name: "prose around the array",
			raw:  "Вот теги [по тексту]: [\"Сбер\", \"ИИ\"] — надеюсь, подходят.",
			want: []string{"Сбер", "ИИ"},
		},
		{
			name: "guillemets",
			raw:  `[«Сбер», «ИИ»]`,
			want: []string{"Сбер", "ИИ"},
		},
		{
			name: "object wrapper",
			raw:  `{"tags": ["Сбер"]}`,
			want: []string{"Сбер"},
		},
		{
			name:     "non-string elements dropped",
			raw:      `[1, "Сбер", null, {"a":"ИИ"}, ["ИИ"], true, "ИИ"]`,
			want:     []string{"Сбер", "ИИ"},
			rejected: map[string]int{RejectNotString: 5},
		},
		{
			name:     "duplicates by case",
			raw:      `["сбер", "СБЕР", "Сбер"]`,
			want:     []string{"Сбер"},
			rejected: map[string]int{RejectDuplicate: 2},
		},
		{
			name: "ё folded to е, spelled as in text",
			raw:  `["елка в москве"]`,
			want: []string{"Ёлка в Москве"}, // the text has two spaces: collapsed
		},
		{
			name:     "е in tag vs ё in text and back",
			raw:      `["ЁЛКА", "елка"]`,
			want:     []string{"Ёлка"},
			rejected: map[string]int{RejectDuplicate: 1},
		},
		{
			name:     "not in text",
			raw:      `["Яндекс", "Сбер", "искусственный интеллект"]`,
			want:     []string{"Сбер"},
			rejected: map[string]int{RejectNotInText: 2},
		},
		{
			name:     "too long: more than 3 words",
			raw:      `["Сбер представил GigaChat 2", "GigaChat 2"]`,
			want:     []string{"GigaChat 2"},
			rejected: map[string]int{RejectTooLong: 1},
		},
		{
			name:     "too long: more than 64 characters",
			raw:      `["` + strings.Repeat("а", 65) + `"]`,
			text:     strings.Repeat("а", 70),
			rejected: map[string]int{RejectTooLong: 1},
		},
		{
			name:     "more than max tags",
			raw:      `["Сбер", "GigaChat", "ИИ", "Москве", "функции", "праздник"]`,
			maxTags:  3,
			want:     []string{"Сбер", "GigaChat", "ИИ"},
			rejected: map[string]int{RejectOverLimit: 3},
		},
		{
			name: "empty array",
			raw:  `[]`,
		},
		{
			name:     "not JSON at all",
			raw:      `Сбер, ИИ, GigaChat`,
			rejected: map[string]int{RejectNotJSON: 1},
		},
		{
			name:     "broken JSON",
			raw:      `["Сбер", "ИИ"`,
			rejected: map[string]int{RejectNotJSON: 1},
		},
		{
			name: "trim whitespace, punctuation and quotes; collapse inner space",
			raw:  `["  «Сбер»  ", "\"GigaChat   2\".", "#праздник", "@sberbank"]`,
			want: []string{"Сбер", "GigaChat 2", "праздник", "sberbank"},
		},
		{
			name:     "empty after trim",
			raw:      `["", "  ", "..."]`,
			rejected: map[string]int{RejectNotString: 3},
		},
		{
			name: "spelled as in text",
			raw:  `["gigachat 2", "сбер", "ии"]`,
			want: []string{"GigaChat 2", "Сбер", "ИИ"},
		},
		{
			name: "whole word preferred over inner substring",
			raw:  `["ии"]`,
			text: "В России развивают ИИ",
			want: []string{"ИИ"},
		},
		{
			name: "inner substring accepted (substring rule)",
			raw:  `["сбер"]`,
			text: "Сбербанк вырос",
			want: []string{"Сбер"},
		},
		{
			name:     "across a line break",
			raw:      `["ИИ Ёлка"]`,
			rejected: map[string]int{RejectNotInText: 1},
		},
		{
			name: "tag across newline in text",
			raw:  `["новые функции ии"]`,
			text: "новые\nфункции   ИИ",
			want: []string{"новые функции ИИ"},
		},
		{
			name: "time and emoji",
			raw:  `["19:00", "🎄"]`,
			want: []string{"19:00", "🎄"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txt := tt.text
			if txt == "" {
				txt = text
			}
			got := ValidateTags(tt.raw, txt, tt.maxTags)
			if len(got.Tags) != 0 || len(tt.want) != 0 {
				if !reflect.DeepEqual(got.Tags, tt.want) {
					t.Errorf("tags = %q, want %q", got.Tags, tt.want)
				}
			}
			if len(got.Rejected) != 0 || len(tt.rejected) != 0 {
				if !reflect.DeepEqual(got.Rejected, tt.rejected) {
					t.Errorf("rejected = %v, want %v", got.Rejected, tt.rejected)
				}
			}
		})
	}
}

func TestValidateTagsNeverReturnsTagsNotInText(t *testing.T) {
	text := "Центробанк сохранил ключевую ставку 21%."
	got := ValidateTags(`["ключевая ставка", "ключевую ставку", "ЦБ", "21%"]`, text, 5)
	want := []string{"ключевую ставку", "21"} // "%" is punctuation, trimmed
	if !reflect.DeepEqual(got.Tags, want) {
		t.Fatalf("tags = %q, want %q", got.Tags, want)
	}
}

func checkValidated(t *testing.T, res ValidationResult, text string, maxTags int) {
	t.Helper()
	if maxTags <= 0 {
		maxTags = DefaultMaxTags
	}
	if len(res.Tags) > maxTags {
		t.Fatalf("%d tags > max %d", len(res.Tags), maxTags)
	}
	foldedText := FoldTag(text)
	seen := map[string]bool{}
	for _, tag := range res.Tags {
		f := FoldTag(tag)
		if f == "" {
			t.Fatalf("empty tag in %q", res.Tags)
		}
		if !strings.Contains(foldedText, f) {
			t.Fatalf("tag %q is not in text %q", tag, text)
		}
		if seen[f] {
			t.Fatalf("duplicate tag %q in %q", tag, res.Tags)
		}
		seen[f] = true
		if utf8.RuneCountInString(tag) > MaxTagChars || len(strings.Fields(tag)) > MaxTagWords {
			t.Fatalf("tag %q too long", tag)
		}
	}
}

func FuzzValidateTags(f *testing.F) {
	seeds := []struct {
		raw, text string
		max       int
	}{
		{`["Сбер", "ИИ"]`, "Сбер и ИИ", 5},
		{"```json\n[\"ёлка\"]\n```", "Ёлка в Москве", 5},
		{`[«Сбер», «ИИ»]`, "Сбер ИИ Сбер", 1},
		{`[1, null, "a", "A", "а"]`, "a A а", 3},
		{`not json`, "text", 5},
		{`["` + strings.Repeat("x ", 40) + `"]`, strings.Repeat("x ", 40), 5},
		{"[\"\xff\"]", "\xff\xfe", 2},
		{`["İ", "K"]`, "İstanbul K", 5},
		{`["  a\n\tb  "]`, "a \n b", 0},
	}
	for _, s := range seeds {
		f.Add(s.raw, s.text, s.max)
	}
	f.Fuzz(func(t *testing.T, raw, text string, maxTags int) {
		if maxTags > 100 || maxTags < -1 {
			maxTags %= 100
		}
		res := ValidateTags(raw, text, maxTags)
		checkValidated(t, res, text, maxTags)
	})
}

func BenchmarkValidateTags(b *testing.B) {
	text := strings.Repeat("Сбер представил GigaChat 2 и новые функции ИИ. Ёлка в Москве зажглась в 19:00. ", 12)
	raw := "```json\n[\"сбер\", \"GigaChat 2\", \"елка в москве\", \"Яндекс\", \"новые функции\", \"ИИ\"]\n```"
	b.ReportAllocs()
	for b.Loop() {
		ValidateTags(raw, text, 5)
	}
}

// foldAppendRef is foldAppend as it was before its fast paths: the
// reference they must agree with.
func foldAppendRef(dst []byte, s string, offs *[]int32) []byte {
	inSpace := false
	for i, r := range s {
		if unicode.IsSpace(r) {
			if inSpace {
				continue
			}
			inSpace = true
			r = ' '
		} else {
			inSpace = false
			r = FoldRune(r)
		}
		before := len(dst)
		dst = utf8.AppendRune(dst, r)
		if offs != nil {
			for range len(dst) - before {
				*offs = append(*offs, int32(i))
			}
		}
	}
	return dst
}

func TestFoldAppendFastPathsChangeNothing(t *testing.T) {
	t.Parallel()
	var all []rune // every rune class: each space, every rune up to U+3100, a few beyond
	for r := rune(0); r < 0x3100; r++ {
		all = append(all, r)
	}
	all = append(all, 0x10400, 0x1F384, utf8.MaxRune)
	texts := []string{
		"", " ", "  a\t\n\vb\f\r ", "Ёлка  в Москве\u00a0\u0085зажглась\u2028\u3000🎄",
		string(all), "\xff\xfe a\xc3", "İSTANBUL K \u212a", "\u1680x\u167fy\u2000z\u200a",
	}
	for _, text := range texts {
		var got, want []int32
		if g, w := foldAppend(nil, text, &got), foldAppendRef(nil, text, &want); string(g) != string(w) || !reflect.DeepEqual(got, want) {
			t.Fatalf("foldAppend(%q) = %q %v, reference %q %v", text, g, got, w, want)
		}
	}
}

func FuzzFoldAppendFastPathsChangeNothing(f *testing.F) {
	f.Add("Ёлка  в Москве\u00a0зажглась\u2028 🎄 \xff")
	f.Fuzz(func(t *testing.T, text string) {
		var got, want []int32
		if g, w := foldAppend(nil, text, &got), foldAppendRef(nil, text, &want); string(g) != string(w) || !reflect.DeepEqual(got, want) {
			t.Fatalf("foldAppend(%q) = %q %v, reference %q %v", text, g, got, w, want)
		}
	})
}

// slowElements is arrayElements without its fast path.
func slowElements(raw string) ([]element, bool) {
	raws, ok := findJSONArray(raw)
	if !ok {
		return nil, false
	}
	elems := make([]element, len(raws))
	for i, el := range raws {
		elems[i].s, elems[i].ok = elementString(el)
	}
	return elems, true
}

func TestPlainStringArrayAgreesWithTheDecoder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		fast bool
	}{
		{`["Сбер", "GigaChat 2", "ИИ"]`, true},
		{"```json\n[\"Сбер\",\n\t\"ИИ\"\r\n]\n```", true},
		{`prose [] more`, true},
		{`[ ]`, true},
		{`["a" "b"]`, false},
		{`["a",]`, false},
		{`["a\"b"]`, false},
		{`["a\u0431"]`, false},
		{"[\"a\tb\"]", false},
		{"[\"\xff\"]", false},
		{`[1, "a"]`, false},
		{`[["a"]]`, false},
		{`["a"`, false},
		{`[x] ["a"]`, false},
		{`no array`, false},
	}
	for _, tc := range tests {
		got, ok := plainStringArray(tc.raw)
		if ok != tc.fast {
			t.Errorf("plainStringArray(%q) ok = %v, want %v", tc.raw, ok, tc.fast)
		}
		if !ok {
			continue
		}
		want, wantOK := slowElements(tc.raw)
		if !wantOK || len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Errorf("plainStringArray(%q) = %v, the decoder %v %v", tc.raw, got, want, wantOK)
		}
	}
}

func FuzzPlainStringArrayAgreesWithTheDecoder(f *testing.F) {
	f.Add(`["Сбер", "GigaChat 2", "ИИ"]`)
	f.Add("```json\n[\"ёлка\"]\n```")
	f.Add(`[«Сбер», «ИИ»]`)
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := plainStringArray(raw)
		if !ok {
			return
		}
		want, wantOK := slowElements(raw)
		if !wantOK || len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("plainStringArray(%q) = %v, the decoder %v %v", raw, got, want, wantOK)
		}
	})
}
