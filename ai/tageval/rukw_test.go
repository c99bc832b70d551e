package tageval

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLoadRuKW(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ng.jsonlines")
	lines := `{"url": "http://www.ng.ru/politics/1.html", "title": "Санкции против Ирана", "summary": "Кратко", "content": "Короткий абзац.\nВторой абзац о санкциях США против Ирана, достаточно длинный, чтобы вместе с первым набрать двести символов: Вашингтон вводит новые ограничения, Тегеран отвечает, Европа ищет способ сохранить сделку и торговлю с Ираном.\nТретий абзац.", "keywords": ["иран", "санкции", "Иран", "сша", "политика"]}
{"url": "http://www.ng.ru/politics/2.html", "title": "Без ключевых слов", "summary": "", "content": "Текст.", "keywords": []}

{"url": "https://russian.rt.com/world/3", "title": "Заголовок", "summary": "", "content": "Текст статьи.", "keywords": ["сша"]}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	lead, err := LoadRuKW(path, Lead, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lead) != 2 {
		t.Fatalf("%d items, want 2 (the one without keywords skipped)", len(lead))
	}
	first := lead[0]
	if first.Channel != "ng.ru" || lead[1].Channel != "russian.rt.com" {
		t.Errorf("channels %q, %q; want the outlets' hosts", first.Channel, lead[1].Channel)
	}
	if !slices.Equal(first.Keywords, []string{"иран", "санкции", "сша", "политика"}) {
		t.Errorf("keywords %q, want duplicates dropped", first.Keywords)
	}
	wantLead := "Санкции против Ирана\nКратко\nКороткий абзац.\nВторой абзац о санкциях США против Ирана, достаточно длинный, чтобы вместе с первым набрать двести символов: Вашингтон вводит новые ограничения, Тегеран отвечает, Европа ищет способ сохранить сделку и торговлю с Ираном."
	if first.Text != wantLead {
		t.Errorf("lead %q, want %q", first.Text, wantLead)
	}
	article, err := LoadRuKW(path, Article, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(article) != 1 || article[0].Text != wantLead+"\nТретий абзац." {
		t.Errorf("article view: %d items, %q", len(article), article[0].Text)
	}
	// «иран» (in «Ирана»), «санкции» and «сша» occur in the text, folded;
	// «политика» does not.
	if got := Reachable(lead[:1]); got != 0.75 {
		t.Errorf("reachable %.3f, want 3/4", got)
	}
	if _, err := LoadRuKW(filepath.Join(t.TempDir(), "missing"), Lead, 0); err == nil {
		t.Error("a missing file loaded")
	}
	if _, err := ParseView("summary"); err == nil {
		t.Error(`ParseView("summary") accepted`)
	}
}
