package crawl

import "testing"

func TestPlainText(t *testing.T) {
	tests := []struct{ name, md, want string }{
		{"numbered heading keeps its number", "### 1. Define early retirement\n\nText.", "1. Define early retirement\n\nText."},
		{"list markers go", "- one\n- two\n\n1. first\n2) second", "one\ntwo\n\nfirst\nsecond"},
		{"list in a quote", "> - quoted item\n> plain", "quoted item\nplain"},
		{"links, images, emphasis", "See [the **docs**](https://x.org) ![logo](/l.png) and *this*.", "See the docs  and this."},
		{"escapes", `A \*starred\* word and a \_ mark`, "A *starred* word and a _ mark"},
		{"image with a quoted title", `![Astronauts](https://x.org/a.jpg "Films such as <i>Alien</i> (pictured). Credit: Fox") Text.`, "Text."},
		{"link with a title", `[the docs](https://x.org "Read (all) of it") here`, "the docs here"},
		{"escaped rule is text", "Before\n\n\\_\\__\n\nAfter\n\n---", "Before\n\n___\n\nAfter"},
		{"entities", "Watch &lt;The Palace&gt; &amp; more", "Watch <The Palace> & more"},
	}
	for _, tt := range tests {
		if got := PlainText(tt.md); got != tt.want {
			t.Errorf("%s: PlainText(%q) = %q, want %q", tt.name, tt.md, got, tt.want)
		}
	}
}
