package ingest

import (
	"slices"
	"testing"
)

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
