package links

import (
	"slices"
	"testing"
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"none", "Просто текст без ссылок.", nil},
		{"bare with trailing period", "Читайте: https://example.org/a/b.", []string{"https://example.org/a/b"}},
		{"trailing punctuation run", "Смотри https://example.org/x?!… и https://example.org/y»", []string{"https://example.org/x", "https://example.org/y"}},
		{"comma and semicolon", "https://a.example/1, https://b.example/2; https://c.example/3:", []string{"https://a.example/1", "https://b.example/2", "https://c.example/3"}},
		{"quotes", `см. "https://example.org/q" и 'https://example.org/r'`, []string{"https://example.org/q", "https://example.org/r"}},
		{"guillemets", "«https://example.org/ru»", []string{"https://example.org/ru"}},
		{"markdown link", "[Подробнее](https://example.org/more) в статье", []string{"https://example.org/more"}},
		{"markdown link with parentheses in target", "[Go](https://en.wikipedia.org/wiki/Go_(programming_language)) — язык",
			[]string{"https://en.wikipedia.org/wiki/Go_(programming_language)"}},
		{"markdown label that is a URL", "[https://proglib.io/w/6c870a16](https://vk.com/away.php?to=x)",
			[]string{"https://proglib.io/w/6c870a16", "https://vk.com/away.php?to=x"}},
		{"bare wikipedia URL keeps balanced parentheses", "https://en.wikipedia.org/wiki/Mercury_(planet).",
			[]string{"https://en.wikipedia.org/wiki/Mercury_(planet)"}},
		{"URL inside parentheses", "(см. https://example.org/page)", []string{"https://example.org/page"}},
		{"wikipedia URL inside parentheses", "(см. https://en.wikipedia.org/wiki/Qubit_(disambiguation))",
			[]string{"https://en.wikipedia.org/wiki/Qubit_(disambiguation)"}},
		{"duplicates keep first position", "https://a.example/ https://b.example/ https://a.example/ [a](https://b.example/)",
			[]string{"https://a.example/", "https://b.example/"}},
		{"t.me links are kept", "Подписывайтесь: https://t.me/naukaikod и [чат](https://t.me/+AbCdEf)",
			[]string{"https://t.me/naukaikod", "https://t.me/+AbCdEf"}},
		{"bold around URL", "**https://example.org/bold**", []string{"https://example.org/bold"}},
		{"http and upper-case scheme", "http://old.example/ HTTPS://Upper.Example/Path", []string{"http://old.example/", "HTTPS://Upper.Example/Path"}},
		{"cyrillic host and path", "https://президент.рф/новости/1 и https://ru.wikipedia.org/wiki/Кубит",
			[]string{"https://президент.рф/новости/1", "https://ru.wikipedia.org/wiki/Кубит"}},
		{"emoji ends URL", "https://example.org/fire🔥 огонь", []string{"https://example.org/fire"}},
		{"query and fragment kept", "https://example.org/p?utm_source=tg&id=1#top.", []string{"https://example.org/p?utm_source=tg&id=1#top"}},
		{"no host", "https:// и https://. и ftp://example.org", nil},
		{"glued to a word", "ссылка:https://example.org/glued", []string{"https://example.org/glued"}},
		{"newline ends URL", "https://example.org/a\nhttps://example.org/b", []string{"https://example.org/a", "https://example.org/b"}},
		{"unclosed markdown target falls back to bare", "[x](https://example.org/open нет скобки", []string{"https://example.org/open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Extract(tt.text)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Extract(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"HTTPS://Example.ORG/Path/", "https://example.org/Path"},
		{"https://example.org/", "https://example.org/"},
		{"https://example.org", "https://example.org"},
		{"https://example.org/a/b/#section", "https://example.org/a/b"},
		{"https://example.org/p?utm_source=tg&id=1&utm_medium=x#top", "https://example.org/p?id=1"},
		{"https://example.org/p?z=1&gclid=abc&a=2&fbclid=q&UTM_Campaign=c", "https://example.org/p?a=2&z=1"},
		{"https://example.org/p?utm_source=tg", "https://example.org/p"},
		{"https://example.org/p?b=2&&a=1&", "https://example.org/p?a=1&b=2"},
		{"https://example.org/p?q=%D0%B8%D0%B8&a=1", "https://example.org/p?a=1&q=%D0%B8%D0%B8"},
		{"http://EXAMPLE.org:8080/x/", "http://example.org:8080/x"},
		{"https://президент.рф/новости/1", "https://xn--d1abbgf6aiiy.xn--p1ai/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/1"},
		{"https://ru.wikipedia.org/wiki/%D0%9A%D1%83%D0%B1%D0%B8%D1%82", "https://ru.wikipedia.org/wiki/%D0%9A%D1%83%D0%B1%D0%B8%D1%82"},
		{"https://ru.wikipedia.org/wiki/Кубит", "https://ru.wikipedia.org/wiki/%D0%9A%D1%83%D0%B1%D0%B8%D1%82"},
		{"https://user:pw@example.org/a", "https://example.org/a"},
		{"https://en.wikipedia.org/wiki/Go_(programming_language)", "https://en.wikipedia.org/wiki/Go_(programming_language)"},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"ftp://example.org/x", "mailto:a@example.org", "https:///path", "not a url", "tg://resolve?domain=x"} {
		if got, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", bad, got)
		}
	}
}

func TestPolicySelect(t *testing.T) {
	urls := []string{
		"https://t.me/naukaikod",
		"https://habr.com/ru/articles/1/?utm_source=tg",
		"https://habr.com/ru/articles/1",
		"https://ads.spam.example/x",
		"https://news.example.org/a",
		"ftp://old.example/file",
		"https://c.example/3",
		"https://d.example/4",
	}
	p := Policy{MaxURLs: 3, Deny: []string{"spam.example"}, Skip: DefaultSkipDomains}
	crawl, dropped := p.Select(urls)
	wantCrawl := []string{"https://habr.com/ru/articles/1", "https://news.example.org/a", "https://c.example/3"}
	if !slices.Equal(crawl, wantCrawl) {
		t.Errorf("crawl = %q, want %q", crawl, wantCrawl)
	}
	wantDropped := []Dropped{
		{"https://t.me/naukaikod", ReasonSkipped},
		{"https://ads.spam.example/x", ReasonDenied},
		{"ftp://old.example/file", ReasonInvalid},
		{"https://d.example/4", ReasonOverMax},
	}
	if !slices.Equal(dropped, wantDropped) {
		t.Errorf("dropped = %q, want %q", dropped, wantDropped)
	}

	allow := Policy{Allow: []string{"example.org"}}
	crawl, dropped = allow.Select([]string{"https://example.org/", "https://www.example.org/b", "https://example.com/c", "https://notexample.org/"})
	if want := []string{"https://example.org/", "https://www.example.org/b"}; !slices.Equal(crawl, want) {
		t.Errorf("allow list: crawl = %q, want %q", crawl, want)
	}
	if len(dropped) != 2 || dropped[0].Reason != ReasonNotAllow || dropped[1].Reason != ReasonNotAllow {
		t.Errorf("allow list: dropped = %q", dropped)
	}
}
