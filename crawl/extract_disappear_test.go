package crawl

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestExtractKeepsSplitArticles covers content that used to disappear: a
// review whose article is split into pieces by galleries and "related"
// blocks (it came out as 31 words: byline, share counts and "From around
// the web"), and a documentation page whose shell examples must survive as
// code blocks.
func TestExtractKeepsSplitArticles(t *testing.T) {
	para := func(i int) string {
		return fmt.Sprintf("<p>Paragraph %d of the review: the camera's sensor handles low light far better than last year's model, "+
			"and the battery lasted through a full day of shooting video in the cold, which is more than its rivals managed in our tests.</p>", i)
	}
	gallery := `<div class="gallery-embed"><div class="slides"><figure><img src="/a.jpg" alt="front"><figcaption>The front of the camera. Photo: Staff</figcaption></figure>
<figure><img src="/b.jpg" alt="back"><figcaption>The back, with its tilting screen</figcaption></figure></div><div class="counter">Image 1 of 12</div></div>`
	related := `<div class="related-stories"><h3>Related</h3><ul><li><a href="/r1">Best cameras of the year</a></li><li><a href="/r2">Lens buying guide for beginners</a></li></ul></div>`
	review := `<html><head><title>Camera X review | Gadget Site</title></head><body>
<header><nav><a href="/">Home</a> <a href="/reviews">Reviews</a> <a href="/deals">Deals</a></nav></header>
<main><div class="story-layout"><h1>Camera X review</h1><div class="byline">By Jane Doe · <span class="shares">1.2k shares</span></div>
<div class="story-section">` + para(1) + para(2) + `</div>` + gallery + `<div class="story-section">` + para(3) + para(4) + `</div>` + related +
		`<div class="story-section">` + para(5) + gallery + para(6) + `</div>
<div class="recirc"><h3>From around the web</h3><ul><li><a href="https://ads.example/1">You won't believe these deals</a></li><li><a href="https://ads.example/2">Doctors hate this trick</a></li></ul></div>
</div></main><footer>© Gadget Site</footer></body></html>`

	shell := []string{"curl -sSL https://example.org/install.sh | sh", "tool init --dir ./data", "tool serve --port 8080 &", "tool status --json | jq .ready"}
	docs := `<html><head><title>Getting started — Tool docs</title></head><body>
<nav class="sidebar"><ul><li><a href="/install">Install</a></li><li><a href="/config">Configure</a></li><li><a href="/api">API</a></li></ul></nav>
<div class="document"><h1>Getting started</h1>
<p>This guide installs the tool, creates a data directory and starts the server. Each step shows the exact command to run in a shell.</p>
<h2>Install</h2><p>Download and run the installer script; it puts a single binary into your path.</p>
<div class="highlight-shell"><div class="highlight"><pre><span class="gp">$ </span>` + shell[0] + `</pre></div></div>
<h2>Initialise</h2><p>Create the data directory before the first start:</p>
<pre><code class="language-bash">` + shell[1] + `</code></pre>
<h2>Run</h2><p>Start the server in the background and check that it is ready to answer requests:</p>
<div class="example"><pre><code>` + shell[2] + "\n" + shell[3] + `</code></pre></div>
<p>See <a href="/config">the configuration reference</a> for every option.</p></div>
<footer><a href="/privacy">Privacy</a></footer></body></html>`

	u, _ := url.Parse("https://example.org/page")
	t.Run("review split by galleries", func(t *testing.T) {
		res, err := Extract([]byte(review), "text/html", u)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 6; i++ {
			if !strings.Contains(res.Markdown, fmt.Sprintf("Paragraph %d of the review", i)) {
				t.Errorf("paragraph %d lost:\n%s", i, res.Markdown)
			}
		}
		for _, junk := range []string{"From around the web", "Doctors hate", "Best cameras of the year"} {
			if strings.Contains(res.Markdown, junk) {
				t.Errorf("furniture %q kept:\n%s", junk, res.Markdown)
			}
		}
		if res.WordCount < 200 {
			t.Errorf("word count %d", res.WordCount)
		}
	})
	t.Run("documentation with shell examples", func(t *testing.T) {
		res, err := Extract([]byte(docs), "text/html", u)
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range shell {
			if !strings.Contains(res.Markdown, cmd) {
				t.Errorf("shell example %q lost:\n%s", cmd, res.Markdown)
			}
		}
		if got := strings.Count(res.Markdown, "```"); got < 6 {
			t.Errorf("%d code fences, want 3 code blocks:\n%s", got, res.Markdown)
		}
	})
}
