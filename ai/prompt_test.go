package ai

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBuildTagPromptKeepsTextVerbatimAndStatesEveryRule(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"plain", "Сбер представил GigaChat 2 на конференции в Москве."},
		{"time emoji hashtags mentions percent", "Встреча в 19:00 🚀 #ИИ #новости @sberbank: скидка 50% и %s %d %v %!"},
		{"markdown and newlines", "**Жирный** __курсив__ [ссылка](https://example.com/a?b=1)\n\nвторая строка\tтаб"},
		{"empty", ""},
	}
	rules := []string{
		"3–5",                 // how many tags
		"от 1 до 3 слов",      // tag length
		"дословно",            // taken from the text
		"общие категории",     // no generic categories
		"JSON-массивом строк", // output format
		"Без Markdown",        // no Markdown
		"[]",                  // empty answer
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			system, user := BuildTagPrompt(tt.text, 5)
			if !strings.Contains(user, tt.text) {
				t.Errorf("user message does not contain the text verbatim:\n%q", user)
			}
			if !strings.HasSuffix(user, tt.text) {
				t.Errorf("user message should end with the text: %q", user)
			}
			for _, rule := range rules {
				if !strings.Contains(system, rule) {
					t.Errorf("system message lacks rule %q:\n%s", rule, system)
				}
			}
			if strings.Contains(system+user, "%!") && !strings.Contains(tt.text, "%!") {
				t.Errorf("a format verb mangled the prompt: %q", system+user)
			}
		})
	}
}

func TestBuildTagPromptCount(t *testing.T) {
	tests := []struct {
		maxTags int
		want    string
	}{
		{5, "3–5"}, {0, "3–5"}, {7, "3–7"}, {3, "Найди в тексте поста 3 ключевых"}, {2, "Найди в тексте поста 2 ключевых"},
	}
	for _, tt := range tests {
		system, _ := BuildTagPrompt("x", tt.maxTags)
		if !strings.Contains(system, tt.want) {
			t.Errorf("maxTags %d: system lacks %q", tt.maxTags, tt.want)
		}
	}
}

func TestCutInput(t *testing.T) {
	long := strings.Repeat("слово ", 50) // 300 runes
	tests := []struct {
		name string
		text string
		max  int
		want string
	}{
		{"short text unchanged", "привет", 10, "привет"},
		{"exact length unchanged", "привет", 6, "привет"},
		{"no limit", "привет", 0, "привет"},
		{"cut at space", "один два три", 8, "один два"},
		{"cut before space", "один два три", 9, "один два"},
		{"mid-word backs off", "abcdefghij klmnopqrstuvwxyz", 15, "abcdefghij klmn"},
		{"mid-word backs off within a tenth", long, 100, strings.TrimSpace(long[:len(strings.Repeat("слово ", 16))])},
		{"single long word cut at runes", "ёёёёёёёёёё", 4, "ёёёё"},
		{"emoji not split", "🚀🚀🚀🚀", 2, "🚀🚀"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CutInput(tt.text, tt.max)
			if got != tt.want {
				t.Errorf("CutInput(%q, %d) = %q, want %q", tt.text, tt.max, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("invalid UTF-8: %q", got)
			}
			if tt.max > 0 && utf8.RuneCountInString(got) > tt.max {
				t.Errorf("%d runes > %d", utf8.RuneCountInString(got), tt.max)
			}
		})
	}
}
