package crawl

import (
	"net/url"
	"strings"
	"testing"
)

// TestExtractHardCases covers furniture that no class name gives away: an
// ad block labelled only by its text (Russian law requires "Реклама" and
// an erid token), comments under an id other than "comments", and a page
// that is rendered by JavaScript (nothing to extract: zero words, no error).
func TestExtractHardCases(t *testing.T) {
	x := newExtractor()
	u, _ := url.Parse("https://example.org/a")
	long := "Первый длинный абзац статьи, в котором рассказывается о важном событии в городе и его последствиях для жителей района. "
	tests := []struct {
		name, page string
		want, not  []string
		words      int
	}{
		{
			name: "unlabelled ad block",
			page: `<html lang="ru"><head><title>Статья</title></head><body><div><h1>Статья</h1><p>` + long + `</p>
<div>Реклама. Купите квартиру в новостройке со скидкой! Ипотека от 0,1%. erid: 2SDnjcVm7Md</div>
<p>Второй длинный абзац статьи, продолжающий рассказ о событии и приводящий мнения экспертов и чиновников города.</p>
<p>Реклама в метро подорожала на треть: так считают аналитики рынка, опросившие сотню рекламодателей по всей стране, и это заметно по ценам.</p></div></body></html>`,
			want: []string{"Первый длинный абзац", "Второй длинный абзац", "Реклама в метро подорожала"},
			not:  []string{"Купите квартиру", "erid"},
		},
		{
			name: "comments under a discussion id",
			page: `<html lang="ru"><head><title>Заметка</title></head><body><article><p>` + long + long + `</p></article><div id="discussion">` +
				`<p>Комментарий номер один, очень длинный, с рассуждениями о политике и экономике, который пишет активный читатель сайта каждый день.</p>` +
				`<p>Комментарий номер два, ещё длиннее, с ответом первому читателю и длинным списком аргументов против его позиции по всем вопросам.</p></div></body></html>`,
			want: []string{"Первый длинный абзац"},
			not:  []string{"Комментарий номер"},
		},
		{
			name: "page rendered by JavaScript",
			page: `<html lang="ru"><head><title>Новость дня</title></head><body><div id="root"></div><script>render()</script></body></html>`,
		},
	}
	for _, tt := range tests {
		var res Result
		if err := x.extract(&res, []byte(tt.page), "text/html; charset=utf-8", u); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(res.Markdown, w) {
				t.Errorf("%s: Markdown lacks %q:\n%s", tt.name, w, res.Markdown)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(res.Markdown, w) {
				t.Errorf("%s: Markdown holds %q:\n%s", tt.name, w, res.Markdown)
			}
		}
		if tt.want == nil && (res.WordCount != 0 || res.Markdown != "") {
			t.Errorf("%s: %d words from an empty page: %q", tt.name, res.WordCount, res.Markdown)
		}
	}
}
