package crawl

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

func encode(t *testing.T, e encoding.Encoding, s string) []byte {
	t.Helper()
	out, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSniffEncoding covers every step of the browser-like sniffing order
// with Russian and Chinese pages, titles included: the decoded title and
// body must be the original text, not mojibake.
func TestSniffEncoding(t *testing.T) {
	longHead := "<script>var config = {" + strings.Repeat(`"key": "value", `, 80) + "};</script>\n"
	ruTitle := "Новости культуры: выставка в Эрмитаже"
	ruBody := "<p>В Государственном Эрмитаже открылась выставка, посвящённая истории русского авангарда. " +
		"Посетители увидят более двухсот работ из собраний музеев страны, многие из которых показываются впервые.</p>" +
		"<p>Кураторы рассказали, что подготовка экспозиции заняла почти три года и потребовала реставрации десятков картин.</p>"
	zhTitle := "海外留学生的新年"
	zhBody := "<p>海外留学生在异国他乡庆祝新年，他们组织了各种文化活动，与当地居民分享中国传统节日的习俗和美食。</p>" +
		"<p>许多学生表示，虽然远离家乡，但通过这些活动感受到了浓浓的年味，也让更多外国朋友了解了中国文化。</p>"
	page := func(head, title, body string) string {
		return "<!DOCTYPE html><html><head>" + head + "<title>" + title + "</title></head><body><article><h1>" + title + "</h1>" + body + "</article></body></html>"
	}
	tests := []struct {
		name, ctype string
		body        []byte
		wantEnc     string
		wantBy      string
		title, text string
	}{
		{"BOM beats the header", "text/html; charset=windows-1251",
			append([]byte{0xEF, 0xBB, 0xBF}, page("", ruTitle, ruBody)...), "utf-8", EncodingFromBOM, ruTitle, "русского авангарда"},
		{"header charset, windows-1251", "text/html; charset=windows-1251",
			encode(t, charmap.Windows1251, page("", ruTitle, ruBody)), "windows-1251", EncodingFromHeader, ruTitle, "двухсот работ"},
		{"prescan meta, koi8-r", "text/html",
			encode(t, charmap.KOI8R, page(`<meta charset="koi8-r">`, ruTitle, ruBody)), "koi8-r", EncodingFromPrescan, ruTitle, "реставрации"},
		{"utf-8 meta after 1024 bytes of scripts, Chinese", "text/html",
			[]byte(page(longHead+`<meta charset="utf-8">`, zhTitle, zhBody)), "utf-8", EncodingFromLaterMeta, zhTitle, "海外留学生在异国他乡"},
		{"gbk http-equiv after 1024 bytes, Chinese", "text/html",
			encode(t, simplifiedchinese.GBK, page(longHead+`<meta http-equiv="Content-Type" content="text/html; charset=gb2312">`, zhTitle, zhBody)),
			"gbk", EncodingFromLaterMeta, zhTitle, "中国传统节日"},
		{"windows-1251 meta after 1024 bytes", "text/html",
			encode(t, charmap.Windows1251, page(longHead+`<meta http-equiv="content-type" content="text/html; charset=windows-1251">`, ruTitle, ruBody)),
			"windows-1251", EncodingFromLaterMeta, ruTitle, "Эрмитаже"},
		{"no declaration, valid UTF-8 (Russian)", "text/html",
			[]byte(page(longHead, ruTitle, ruBody)), "utf-8", EncodingFromValidUTF8, ruTitle, "Кураторы рассказали"},
		{"no declaration, valid UTF-8 (Chinese)", "",
			[]byte(page("", zhTitle, zhBody)), "utf-8", EncodingFromValidUTF8, zhTitle, "浓浓的年味"},
		{"no declaration, windows-1251 guessed", "text/html",
			encode(t, charmap.Windows1251, page("", ruTitle, ruBody)), "windows-1251", EncodingFromDetector, ruTitle, "Государственном Эрмитаже"},
		{"no declaration, koi8-r guessed", "text/html",
			encode(t, charmap.KOI8R, page("", ruTitle, ruBody)), "koi8-r", EncodingFromDetector, ruTitle, "подготовка экспозиции"},
		{"late utf-8 meta the bytes contradict", "text/html",
			encode(t, charmap.Windows1251, page(longHead+`<meta charset="utf-8">`, ruTitle, ruBody)), "windows-1251", EncodingFromDetector, ruTitle, "выставка"},
	}
	u, _ := url.Parse("https://example.org/news/1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, name, by := sniffEncoding(tt.body, tt.ctype)
			if name != tt.wantEnc || by != tt.wantBy {
				t.Errorf("sniffEncoding = %s by %s, want %s by %s", name, by, tt.wantEnc, tt.wantBy)
			}
			res, err := Extract(tt.body, firstNonEmpty(tt.ctype, "text/html"), u)
			if err != nil {
				t.Fatal(err)
			}
			if res.Title != tt.title {
				t.Errorf("title %q, want %q", res.Title, tt.title)
			}
			if !strings.Contains(res.Markdown, tt.text) {
				t.Errorf("markdown lacks %q:\n%s", tt.text, res.Markdown)
			}
		})
	}
}
