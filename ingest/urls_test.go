package ingest

import (
	"slices"
	"testing"
)

func TestExtractURLs(t *testing.T) {
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
			got := ExtractURLs(tt.text)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ExtractURLs(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestEntityURLs(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		entities []entity
		want     []string
	}{
		{
			name: "entities first, then the text",
			text: "Обновили разбор: https://example.org/blog/a. Чат: https://t.me/chat.",
			entities: []entity{
				{Type: "text_link", Text: "https://example.org/blog/a", Href: "https://example.org/r?id=1"},
				{Type: "link", Text: "https://t.me/chat"},
			},
			want: []string{"https://example.org/r?id=1", "https://t.me/chat", "https://example.org/blog/a"},
		},
		{
			name:     "link without scheme gets https",
			text:     "Что нового: docs.python.org/3.13/",
			entities: []entity{{Type: "link", Text: "docs.python.org/3.13/"}},
			want:     []string{"https://docs.python.org/3.13/"},
		},
		{
			name: "non-web hrefs and other entities are ignored",
			text: "напишите на mail@example.org или @someone #тег",
			entities: []entity{
				{Type: "text_link", Text: "бот", Href: "tg://resolve?domain=bot"},
				{Type: "text_link", Text: "почта", Href: "mailto:mail@example.org"},
				{Type: "email", Text: "mail@example.org"},
				{Type: "mention", Text: "@someone"},
				{Type: "hashtag", Text: "#тег"},
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := post{text: tt.text, entities: tt.entities}
			if got := p.urls(); !slices.Equal(got, tt.want) {
				t.Errorf("urls\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTelegramPostURL(t *testing.T) {
	tests := []struct {
		chatID   int64
		username string
		msgID    int64
		want     string
	}{
		{-1001000724666, "", 11877, "https://t.me/c/1000724666/11877"},
		{-1001000724666, "@naukaikod", 5, "https://t.me/naukaikod/5"},
		{-123456, "", 5, ""},    // a basic group
		{5234567890, "", 5, ""}, // a personal chat
	}
	for _, tt := range tests {
		if got := TelegramPostURL(tt.chatID, tt.username, tt.msgID); got != tt.want {
			t.Errorf("TelegramPostURL(%d, %q, %d) = %q, want %q", tt.chatID, tt.username, tt.msgID, got, tt.want)
		}
	}
}
