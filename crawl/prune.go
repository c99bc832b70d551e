package crawl

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// pruneContent removes, from the article readability chose, the furniture
// it keeps: image captions and photo credits, and blocks that are mostly
// links (menus, "more news" lists, tag clouds, share rows). Trafilatura
// gets much of its precision the same way: a block whose text is mostly
// link text is navigation, not prose.
func pruneContent(n *html.Node, page *url.URL) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode && isPrunable(c, page) {
			n.RemoveChild(c)
		} else if c.Type == html.ElementNode && c.DataAtom != atom.Blockquote {
			// (A quote is kept whole: an embedded post with its dated
			// signature line, a letter with its date.)
			pruneContent(c, page)
			if isLinkRun(c) {
				n.RemoveChild(c)
			}
		}
		c = next
	}
}

// isPrunable reports whether an element inside the article is furniture.
func isPrunable(n *html.Node, page *url.URL) bool {
	switch n.DataAtom {
	case atom.Figcaption, atom.Nav, atom.Button, atom.Form, atom.Select, atom.Noscript:
		return true
	case atom.Pre, atom.Code, atom.Table, atom.Blockquote:
		return false // code examples and tables are content whatever their links
	}
	if isCaption(n) {
		return true
	}
	switch n.DataAtom {
	case atom.Ul, atom.Ol, atom.Div, atom.Section, atom.Aside, atom.P, atom.Span, atom.Dl, atom.Li, atom.Header:
	default:
		return false
	}
	if n.DataAtom == atom.Span && !standsAlone(n) {
		return false // a part of a sentence: "in <span>2019</span>", a linked name
	}
	text, linkText := textAndLinkText(n)
	chars := utf8.RuneCountInString(text)
	if chars == 0 {
		return false
	}
	nonLink := chars - utf8.RuneCountInString(linkText)
	if n.DataAtom != atom.Li && n.DataAtom != atom.Ul && n.DataAtom != atom.Ol && n.DataAtom != atom.Dl &&
		(isStrayLine(text) || isOwnAddress(text, page)) {
		return true
	}
	density := float64(utf8.RuneCountInString(linkText)) / float64(chars)
	switch n.DataAtom {
	case atom.P, atom.Span:
		// A paragraph that is (almost) only links ("More Business News",
		// a Twitter handle, a "Don't miss" list of headlines) points
		// elsewhere; a sentence with a link in it is prose.
		return density > 0.85 && chars < 400
	case atom.Li:
		// A list item that is a linked headline followed by a sentence of
		// its own ("10 things in tech": headline, then the story in one
		// line) is content; a "more news" item is a headline and a date.
		return density > 0.5 && nonLink < 40
	case atom.Ul, atom.Ol:
		// The same for a whole list: its items must be, on average, links
		// with little else.
		items := countChildren(n, atom.Li)
		return density > 0.5 && chars < 2000 && nonLink < 40*max(1, items)
	default:
		return density > 0.5 && chars < 2000
	}
}

// isCaption reports whether an element's class or id names a caption or
// photo credit.
func isCaption(n *html.Node) bool {
	for _, key := range [...]string{"class", "id"} {
		v := strings.ToLower(attr(n, key))
		if v == "" {
			continue
		}
		for _, w := range [...]string{"caption", "credit", "photo-credit", "image-credit"} {
			if strings.Contains(v, w) {
				return true
			}
		}
	}
	return false
}

// textAndLinkText returns n's whitespace-collapsed text and the part of it
// inside links.
func textAndLinkText(n *html.Node) (string, string) {
	var all, links strings.Builder
	var walk func(*html.Node, bool)
	walk = func(n *html.Node, inLink bool) {
		switch n.Type {
		case html.TextNode:
			all.WriteString(n.Data)
			all.WriteByte(' ')
			if inLink {
				links.WriteString(n.Data)
				links.WriteByte(' ')
			}
		case html.ElementNode:
			if n.DataAtom == atom.Script || n.DataAtom == atom.Style {
				return
			}
			inLink = inLink || n.DataAtom == atom.A
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inLink)
		}
	}
	walk(n, false)
	return clean(all.String()), clean(links.String())
}

// articleMarkers are class/id words and itemprop values sites use for the
// element that holds an article's body.
var articleMarkers = []string{
	"articlebody", "article-body", "article_body", "articlebody", "article-content", "article_content",
	"articlecontent", "article-text", "article__body", "article__content", "story-body", "storybody",
	"story-content", "entry-content", "post-content", "post-body", "postbody", "post-entry",
	"news-text", "news-body", "content-body", "body-text", "main-text", "text-content",
}

// markedArticle finds the element the page marks as its article body:
// itemprop=articleBody, a class or id from articleMarkers, or else the
// largest <article>. It returns the marked element with the most text.
func markedArticle(doc *html.Node) *html.Node {
	var best, bestArticle *html.Node
	bestLen, bestArticleLen := 0, 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if isArticleMarked(n) {
				if l := textLen(n); l > bestLen {
					best, bestLen = n, l
				}
			} else if n.DataAtom == atom.Article {
				if l := textLen(n); l > bestArticleLen {
					bestArticle, bestArticleLen = n, l
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if best != nil {
		return best
	}
	return bestArticle
}

func isArticleMarked(n *html.Node) bool {
	if strings.EqualFold(attr(n, "itemprop"), "articleBody") {
		return true
	}
	for _, key := range [...]string{"class", "id"} {
		v := strings.ToLower(attr(n, key))
		if v == "" {
			continue
		}
		for _, m := range articleMarkers {
			if strings.Contains(v, m) {
				return true
			}
		}
	}
	return false
}

// textLen is the length in runes of n's text outside links.
func textLen(n *html.Node) int {
	all, links := textAndLinkText(n)
	return utf8.RuneCountInString(all) - utf8.RuneCountInString(links)
}

// embeddedPostMarkers are blockquote classes of posts embedded from social
// networks (a tweet, an Instagram post): quotes the article makes.
var embeddedPostMarkers = []string{"twitter-tweet", "instagram-media", "tiktok-embed", "reddit-embed"}

// embeddedPostClass replaces the class of an embedded post's wrappers. The
// wrappers are often classed "social-embed", which the class pre-pass and
// readability read as a share row, and a tweet's links (its t.co link and
// date) make readability's link-density check drop it; "post" is a word
// readability weighs as content.
const embeddedPostClass = "embedded-post"

// markEmbeddedPosts gives every embedded post, and each element that wraps
// nothing but it, the class embeddedPostClass, in place.
func markEmbeddedPosts(n *html.Node) {
	if n.Type == html.ElementNode && n.DataAtom == atom.Blockquote && isEmbeddedPost(n) {
		text := innerText(n)
		setClass(n, embeddedPostClass)
		for p := n.Parent; p != nil && p.Type == html.ElementNode; p = p.Parent {
			switch p.DataAtom {
			case atom.Div, atom.Figure, atom.Span, atom.Section, atom.Aside:
			default:
				return
			}
			if innerText(p) != text || isArticleMarked(p) {
				return
			}
			setClass(p, embeddedPostClass)
		}
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		markEmbeddedPosts(c)
	}
}

func isEmbeddedPost(n *html.Node) bool {
	v := strings.ToLower(attr(n, "class"))
	for _, m := range embeddedPostMarkers {
		if strings.Contains(v, m) {
			return true
		}
	}
	return false
}

// setClass sets n's class attribute to v.
func setClass(n *html.Node, v string) {
	for i := range n.Attr {
		if n.Attr[i].Key == "class" {
			n.Attr[i].Val = v
			return
		}
	}
	n.Attr = append(n.Attr, html.Attribute{Key: "class", Val: v})
}

var (
	// yearOrTime is a year of this or the last century, a clock time, or
	// "N units ago".
	yearOrTime = regexp.MustCompile(`(?i)\b(?:19|20)\d\d\b|\b\d{1,2}[:.h]\d\d\b|\bago\b`)
	// galleryCounter is a slideshow's position line ("Image 1 of / 13").
	galleryCounter = regexp.MustCompile(`(?i)^(?:image|photo|picture|slide)s?\s+\d+\s+(?:of|/)`)
	bareURL        = regexp.MustCompile(`^(?:https?://|www\.)\S+$`)
)

// dateWords are the words a dateline may hold besides its numbers: month
// and weekday names (English, German, French, Spanish, Portuguese, Italian,
// Russian; whole or abbreviated) and the labels sites put before a date.
var dateWords = func() map[string]bool {
	m := map[string]bool{}
	for _, list := range []string{
		// English
		"january february march april may june july august september october november december " +
			"jan feb mar apr jun jul aug sep sept oct nov dec " +
			"monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun " +
			"posted updated published modified last date time hour hours minute minutes day days week weeks ago today yesterday",
		// German
		"januar februar märz juni juli oktober dezember montag dienstag mittwoch donnerstag freitag samstag sonntag " +
			"veröffentlicht aktualisiert uhr stand",
		// French
		"janvier février mars avril mai juin juillet août septembre octobre novembre décembre " +
			"lundi mardi mercredi jeudi vendredi samedi dimanche publié publiée",
		// Spanish, Portuguese, Italian
		"enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre " +
			"lunes martes miércoles jueves viernes sábado domingo publicado actualizado " +
			"janeiro fevereiro março maio junho julho setembro outubro novembro dezembro " +
			"segunda terça quarta quinta sexta feira atualizado " +
			"gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre " +
			"lunedì martedì mercoledì giovedì venerdì sabato domenica pubblicato aggiornato",
		// Russian
		"января февраля марта апреля мая июня июля августа сентября октября ноября декабря " +
			"январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь " +
			"понедельник вторник среда четверг пятница суббота воскресенье опубликовано обновлено",
	} {
		for _, w := range strings.Fields(list) {
			m[w] = true
		}
	}
	return m
}()

// isStrayLine reports whether a short block's text is page furniture that
// no class names: a dateline ("Posted: Fri 6:45 PM, Feb 16, 2018",
// "Updated at 1:23 p.m.", "sexta-feira, 22 de outubro de 2010 às 20:13")
// or a gallery counter.
func isStrayLine(text string) bool {
	if utf8.RuneCountInString(text) > 100 {
		return false
	}
	if galleryCounter.MatchString(text) {
		return true
	}
	if !yearOrTime.MatchString(text) {
		return false
	}
	// A sentence ends with a full stop; a dateline does not (save "p.m.").
	lower := strings.ToLower(text)
	if strings.HasSuffix(lower, ".") && !strings.HasSuffix(lower, "a.m.") && !strings.HasSuffix(lower, "p.m.") ||
		strings.HasSuffix(lower, "!") || strings.HasSuffix(lower, "?") {
		return false
	}
	words, other, byline := 0, 0, false
	for _, w := range strings.FieldsFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) }) {
		words++
		switch w {
		case "by", "von", "par", "por", "di", "автор":
			byline = true
		}
		// Short words (by, at, de, às, pm, est) and date words are what a
		// dateline is made of; at most a name (a byline's) besides.
		if utf8.RuneCountInString(w) > 3 && !dateWords[w] {
			other++
		}
	}
	// A byline ("By Justine Coleman - 11/18/19 11:04 PM EST", "Posted
	// by Jane Roe on …") has a full name besides.
	if byline {
		return words <= 10 && other <= 3
	}
	return words <= 10 && other <= 1
}

// isLinkRun reports whether a paragraph or an inline element is three or
// more headline links with next to nothing between them ("A [VIDEO] | B [INSIGHT] |
// C", a name's hover card of its latest stories): a list of links whatever
// its length. It is checked after n's children were pruned, so that a hover
// card inside a sentence goes, not the sentence.
func isLinkRun(n *html.Node) bool {
	if n.DataAtom != atom.P && n.DataAtom != atom.Span {
		return false
	}
	links := countLinks(n)
	if links < 3 {
		return false
	}
	text, linkText := textAndLinkText(n)
	linkChars := utf8.RuneCountInString(linkText)
	// The links are headlines (25 characters and more on average), not
	// words of a sentence ("visit us on Facebook, Twitter and
	// Instagram").
	return utf8.RuneCountInString(text)-linkChars < 20*links && linkChars >= 25*links
}

// countLinks counts the links with text within n.
func countLinks(n *html.Node) int {
	count := 0
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode {
			continue
		}
		if c.DataAtom == atom.A && strings.TrimSpace(innerText(c)) != "" {
			count++
			continue
		}
		count += countLinks(c)
	}
	return count
}

// standsAlone reports whether n is the only thing with text in its parent:
// an inline element that is a block's whole content, not a part of a
// sentence.
func standsAlone(n *html.Node) bool {
	for _, sibs := range [...]func(*html.Node) *html.Node{
		func(c *html.Node) *html.Node { return c.PrevSibling },
		func(c *html.Node) *html.Node { return c.NextSibling },
	} {
		for c := sibs(n); c != nil; c = sibs(c) {
			if hasText(c) {
				return false
			}
		}
	}
	return true
}

// hasText reports whether n holds any non-blank text.
func hasText(n *html.Node) bool {
	if n.Type == html.TextNode {
		return strings.TrimSpace(n.Data) != ""
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if hasText(c) {
			return true
		}
	}
	return false
}

// countChildren counts n's children that are a elements.
func countChildren(n *html.Node, a atom.Atom) int {
	count := 0
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.DataAtom == a {
			count++
		}
	}
	return count
}

// isOwnAddress reports whether a block's text is the page's own address
// alone (a print header's or a share widget's copy of it). Other bare URLs
// are kept: an article may list its sources that way.
func isOwnAddress(text string, page *url.URL) bool {
	if page == nil || !bareURL.MatchString(text) {
		return false
	}
	if !strings.Contains(text, "://") {
		text = "https://" + text
	}
	u, err := url.Parse(text)
	if err != nil {
		return false
	}
	norm := func(u *url.URL) string {
		return strings.TrimPrefix(strings.ToLower(u.Host), "www.") + strings.TrimSuffix(u.EscapedPath(), "/")
	}
	return norm(u) == norm(page)
}
