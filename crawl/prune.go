package crawl

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// pruneContent removes, from the article readability chose, the furniture
// it keeps: image captions and photo credits, and blocks that are mostly
// links (menus, "more news" lists, tag clouds, share rows). Trafilatura
// gets much of its precision the same way: a block whose text is mostly
// link text is navigation, not prose.
func pruneContent(n *html.Node) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode && isPrunable(c) {
			n.RemoveChild(c)
		} else if c.Type == html.ElementNode {
			pruneContent(c)
		}
		c = next
	}
}

// isPrunable reports whether an element inside the article is furniture.
func isPrunable(n *html.Node) bool {
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
	text, linkText := textAndLinkText(n)
	chars := utf8.RuneCountInString(text)
	if chars == 0 {
		return false
	}
	density := float64(utf8.RuneCountInString(linkText)) / float64(chars)
	switch {
	case n.DataAtom == atom.P || n.DataAtom == atom.Span:
		// A paragraph that is (almost) only links ("More Business News",
		// a Twitter handle, a "Don't miss" list of headlines) points
		// elsewhere; a sentence with a link in it is prose.
		return density > 0.85 && chars < 400
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
