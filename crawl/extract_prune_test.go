package crawl

import (
	"net/url"
	"strings"
	"testing"
)

// TestExtractFurnitureAndKeepers covers the rules that took the benchmark
// from F1 0.966 to 0.973 (docs/extraction.md): each case is an article
// with one kind of furniture that must go and one look-alike that must
// stay.
func TestExtractFurnitureAndKeepers(t *testing.T) {
	u, _ := url.Parse("https://example.org/news/story")
	prose := func(topic string) string {
		return "<p>The council debated the " + topic + " for three hours on Monday evening, and residents who came to the meeting " +
			"spoke for and against the plan before the members voted on the amended proposal late at night.</p>"
	}
	page := func(body string) string {
		return `<html><head><title>Story | Site</title></head><body><header><nav><a href="/">Home</a></nav></header>
<main><article><h1>Story</h1><div class="article-body">` + prose("budget") + body + prose("bridge") + prose("library") +
			`</div></article></main><footer>© Site</footer></body></html>`
	}
	tests := []struct {
		name      string
		body      string
		want, not []string
	}{
		{
			name: "embedded tweet in a social wrapper",
			body: `<div class="social-media-embed"><blockquote class="twitter-tweet"><p lang="en">Yes this is real and the state paid for it: <a href="https://t.co/x">https://t.co/x</a></p>` +
				`<p>— Some Reader (@reader) <a href="https://twitter.com/reader/status/1">November 18, 2019</a></p></blockquote></div>` +
				`<div class="social-share"><a href="https://facebook.com/share">Share on Facebook</a></div>`,
			want: []string{"Yes this is real and the state paid for it", "Some Reader (@reader)"},
			not:  []string{"Share on Facebook"},
		},
		{
			name: "headline and sentence list items, headline-only items",
			body: `<ul><li><strong><a href="/a">Google has bought a startup that was once key to a rival's cloud plans</a>.</strong> The startup was launched to help customers move their machines.</li>` +
				`<li><strong><a href="/b">Teens love wireless earbuds and put them on their wish lists</a>.</strong> That is according to a new survey of ten thousand students.</li></ul>` +
				`<div class="more-news"><ul><li><a href="/c">Storm closes schools across the county</a> 2h</li><li><a href="/d">Mayor opens the new fire station on Elm Street</a> 5h</li></ul></div>`,
			want: []string{"The startup was launched", "according to a new survey"},
			not:  []string{"Storm closes schools", "new fire station"},
		},
		{
			name: "datelines, gallery counter, the page's own address",
			body: `<div class="meta-line"><span>Posted: Fri 6:45 PM, Feb 16, 2018</span></div><p>Updated at 1:23 p.m.</p>` +
				`<div>sexta-feira, 22 de outubro de 2010 às 20:13</div><div class="gallery"><span>Image 1 of / 13</span></div>` +
				`<p>https://example.org/news/story</p><p>The vote passed in 2018.</p><p>Council elections 2019</p>`,
			want: []string{"The vote passed in 2018.", "Council elections 2019"},
			not:  []string{"Posted:", "1:23", "outubro", "Image 1 of", "https://example.org/news/story"},
		},
		{
			name: "a name's hover card inside a sentence",
			body: `<p>The charges were brought against a man who threatened Rep. <span class="rollover-people"><a href="/people/jane-roe">Jane Roe</a>` +
				`<span class="rollover-block"><a href="/p/1">Progressives oppose the spending bill over surveillance authority</a> ` +
				`<a href="/p/2">Senators call for a security coordinator for the new networks</a> <a href="/p/3">Roe asks the court to apply compassion in sentencing</a> <a href="/people/jane-roe">MORE</a></span></span> (D-Minn.), the office announced.</p>`,
			want: []string{"The charges were brought against a man who threatened Rep.", "Jane Roe", "(D-Minn.), the office announced."},
			not:  []string{"Progressives oppose", "Senators call", "MORE"},
		},
		{
			name: "a run of headline links, a sentence of short links",
			body: `<p><strong>DON'T MISS</strong></p><p><a href="/x">China furious at the president for the protest jibe</a> [INSIGHT]|<br>` +
				`<a href="/y">Lakers vs Nets: league makes a final decision on the game</a> [VIDEO]<br><a href="/z">City threatened with military intervention, says paper</a> [REACTION]</p>` +
				`<p>Be sure to visit <a href="/f">Arrowhead</a> on <a href="/g">Facebook</a>, <a href="/h">Twitter</a>, and <a href="/i">Instagram</a>.</p>`,
			want: []string{"Be sure to visit Arrowhead on Facebook, Twitter, and Instagram."},
			not:  []string{"China furious", "Lakers vs Nets", "military intervention"},
		},
		{
			name: "the article's rest in a paywall element, a paywall prompt",
			body: `<div class="paywall">` + prose("harbour") + prose("school") + `</div>` +
				`<div class="paywall-prompt"><p>Subscribe to keep reading this story.</p><a href="/subscribe">Subscribe</a></div>`,
			want: []string{"debated the harbour", "debated the school"},
			not:  []string{"Subscribe to keep reading"},
		},
		{
			name: "author box",
			body: `<div class="author-bio"><p>Regan is a native of the coast now living inland with her husband, two sons and two cats, and writes about hiking.</p></div>`,
			not:  []string{"two sons and two cats"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Extract([]byte(page(tt.body)), "text/html; charset=utf-8", u)
			if err != nil {
				t.Fatal(err)
			}
			text := PlainText(res.Markdown)
			for _, w := range append(tt.want, "debated the budget", "debated the bridge", "debated the library") {
				if !strings.Contains(text, w) {
					t.Errorf("lost %q:\n%s", w, text)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(text, w) {
					t.Errorf("kept %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestIsOwnAddress(t *testing.T) {
	page, _ := url.Parse("https://www.example.com/news/world/article/A-headline-long-enough-to-make-the-address-longer-than-a-hundred-characters-14848382.php")
	tests := []struct {
		text string
		want bool
	}{
		{"https://www.example.com/news/world/article/A-headline-long-enough-to-make-the-address-longer-than-a-hundred-characters-14848382.php", true},
		{"http://example.com/news/world/article/A-headline-long-enough-to-make-the-address-longer-than-a-hundred-characters-14848382.php/", true},
		{"https://www.example.com/news/world/article/another-story-14848383.php", false},           // another article
		{"http://www.source.example/2013/02/ahmadinejad.html#ixzz2PpyAj3AN", false},                // a cited source
		{"See https://www.example.com/news/world/article/A-headline-14848382.php for more", false}, // not alone
	}
	for _, tt := range tests {
		if got := isOwnAddress(tt.text, page); got != tt.want {
			t.Errorf("isOwnAddress(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestIsStrayLine(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"Posted: Fri 6:45 PM, Feb 16, 2018", true},
		{"Updated: Sat 8:31 PM, Feb 17, 2018", true},
		{"PUBLISHED: 10:48, Tue, Nov 19, 2019 UPDATED: 11:05, Tue, Nov 19, 2019", true},
		{"Updated at 1:23 p.m.", true},
		{"Published 1 day ago", true},
		{"by Regan September 15, 2014", true},
		{"2018-08-16", true},
		{"sexta-feira, 22 de outubro de 2010 às 20:13", true},
		{"Image 1 of / 13", true},
		{"Photo 3 of 20", true},
		{"The vote passed in 2018.", false},
		{"Council elections 2019", false},
		{"Who won in 2016?", false},
		{"Council members agreed on Tuesday that the budget for 2020 needs another reading", false},
		{"Breaking News", false},
		{"A long paragraph that mentions 2019 but runs on past the hundred characters a dateline could ever need to hold", false},
	}
	for _, tt := range tests {
		if got := isStrayLine(tt.text); got != tt.want {
			t.Errorf("isStrayLine(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// TestExtractPrefersMarkedArticleInsideReadabilitys covers the comparison
// of readability's choice with the page's marked article container: when
// readability takes a wider block (it appends sibling paragraphs that look
// like prose) and the marked container holds 90 % or more of its text, the
// marked container is the article.
func TestExtractPrefersMarkedArticleInsideReadabilitys(t *testing.T) {
	u, _ := url.Parse("https://example.org/news/story")
	var paras strings.Builder
	for _, topic := range []string{"budget", "bridge", "library", "harbour", "school", "park"} {
		paras.WriteString("<p>The council debated the " + topic + " for three hours on Monday evening, and residents who came to the meeting " +
			"spoke for and against the plan before the members voted on the amended proposal late at night.</p>")
	}
	promo := "Get our morning newsletter and never miss a story from the city desk again: it is free, sign up today."
	page := `<html><head><title>Story</title></head><body><div class="layout"><h1>Story</h1><div class="story-body">` + paras.String() +
		`</div><p>` + promo + `</p></div></body></html>`
	res, err := Extract([]byte(page), "text/html", u)
	if err != nil {
		t.Fatal(err)
	}
	text := PlainText(res.Markdown)
	for _, want := range []string{"debated the budget", "debated the park"} {
		if !strings.Contains(text, want) {
			t.Errorf("lost %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "newsletter") {
		t.Errorf("kept the promo after the marked article:\n%s", text)
	}
}
