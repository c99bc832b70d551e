package crawl

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	readability "codeberg.org/readeck/go-readability/v2"
	"github.com/JohannesKaufmann/html-to-markdown/v2/converter"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/base"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/commonmark"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/table"
	"github.com/itlightning/dateparse"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// extractor turns a fetched body into Markdown and metadata. One converter
// is shared: it is safe for concurrent use; a readability parser holds
// per-parse state, so each extraction makes its own.
type extractor struct {
	conv *converter.Converter
}

func newExtractor() *extractor {
	return &extractor{conv: converter.NewConverter(converter.WithPlugins(
		base.NewBasePlugin(),
		commonmark.NewCommonmarkPlugin(),
		table.NewTablePlugin(),
	))}
}

// extract fills res from body, a page of content type ctype served at
// final.
func (x *extractor) extract(res *Result, body []byte, ctype string, final *url.URL) error {
	text, err := decodeBody(body, ctype)
	if err != nil {
		return err
	}
	if mediaType(ctype) == "text/plain" {
		x.fromText(res, text)
		return nil
	}
	doc, err := html.Parse(strings.NewReader(text))
	if err != nil {
		return fmt.Errorf("parse HTML: %w", err)
	}
	meta := readMeta(doc, final)
	markEmbeddedPosts(doc)
	dropBoilerplate(doc)
	// The page's own article container, found in a second copy of the
	// document (readability rewrites the first): the alternative the
	// readability pass is compared with below.
	var marked *html.Node
	if doc2, err := html.Parse(strings.NewReader(text)); err == nil {
		markEmbeddedPosts(doc2)
		dropBoilerplate(doc2)
		marked = markedArticle(doc2)
	}

	parser := readability.NewParser()
	art, err := parser.ParseAndMutate(doc, final)
	var content *html.Node
	if err == nil && art.Node != nil {
		content = art.Node
	} else {
		// Readability found no article (a short page, a listing): fall back
		// to the body without its page furniture.
		content = stripChrome(findBody(doc))
	}
	if content != nil {
		setAtoms(content)
		pruneContent(content, final)
	}
	if marked != nil {
		stripChrome(marked)
		pruneContent(marked, final)
		// Readability sometimes settles on a quote box or one section of
		// an article split by galleries and "related" blocks; when the
		// page's marked article container holds much more prose, it is
		// the article. And when readability settled on a wider container
		// (the marked one holds 90 % or more of its text, but not all),
		// what the wider one adds is page furniture: the marked one is
		// the article.
		if content == nil {
			content = marked
		} else if lm, lc := textLen(marked), textLen(content); lm > 2*lc+200 || lm < lc && 10*lm >= 9*lc {
			content = marked
		}
	}
	md := ""
	if content != nil {
		out, err := x.conv.ConvertNode(content, converter.WithDomain(final.String()))
		if err != nil {
			return fmt.Errorf("convert to Markdown: %w", err)
		}
		md = strings.TrimSpace(string(out))
	}

	res.Title = pickTitle(clean(art.Title()), meta)
	excerpt := clean(art.Excerpt())
	if utf8.RuneCountInString(excerpt) < 40 {
		excerpt = "" // a date line or a caption, not a description
	}
	res.Description = firstNonEmpty(meta.description, meta.ogDescription, excerpt)
	res.SiteName = firstNonEmpty(clean(art.SiteName()), meta.siteName)
	res.Language = normLang(firstNonEmpty(art.Language(), meta.lang))
	if t, err := art.PublishedTime(); err == nil && !t.IsZero() {
		res.PublishedAt = t.UTC()
	} else {
		res.PublishedAt = meta.published
	}
	res.Canonical = meta.canonical
	if res.Description == "" {
		res.Description = leadParagraph(md)
	}
	res.Markdown = md
	text = markdownText(md)
	res.WordCount = wordCount(text)
	if res.Language == "" {
		res.Language = guessLanguage(text)
	}
	res.ContentSHA256 = sha256Hex(md)
	return nil
}

// fromText fills res from a plain-text page: the text is the Markdown, the
// first non-empty line the title.
func (x *extractor) fromText(res *Result, text string) {
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	for line := range strings.Lines(text) {
		if line = strings.TrimSpace(line); line != "" {
			res.Title = truncateRunes(line, 200)
			break
		}
	}
	res.Markdown = text
	res.WordCount = wordCount(text)
	res.Language = guessLanguage(text)
	res.ContentSHA256 = sha256Hex(text)
}

// leadParagraph is the first paragraph of md long enough to describe the
// page (headings, date lines and captions are skipped), cut to 300 runes.
func leadParagraph(md string) string {
	for para := range strings.SplitSeq(md, "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" || strings.HasPrefix(para, "#") || strings.HasPrefix(para, "```") {
			continue
		}
		if text := clean(markdownText(para)); utf8.RuneCountInString(text) >= 40 {
			return truncateRunes(text, 300)
		}
	}
	return ""
}

// pageMeta is what the <head> and the document say about the page.
type pageMeta struct {
	title, ogTitle, description, ogDescription, siteName, lang, canonical string
	h1                                                                    string // the text of the only <h1>, if there is one
	h1s                                                                   int
	published                                                             time.Time
}

// pickTitle chooses the page title: readability's (which strips a site
// name joined by | - — / » from <title>), but when the page's single <h1>
// is how the title starts, the <h1> (site names joined by "::" or "·", which
// readability keeps, go too).
func pickTitle(readable string, m pageMeta) string {
	title := firstNonEmpty(readable, m.ogTitle, m.title)
	if m.h1s == 1 && m.h1 != "" && m.h1 != title && strings.HasPrefix(title, m.h1) {
		return m.h1
	}
	return title
}

// boilerplateTokens are class/id words that mark page furniture: ads,
// consent banners, pop-ups, comments, sharing and related-link blocks.
// Readability scores such blocks down but keeps those inside the article
// container; removing them first keeps them out of the Markdown.
var boilerplateTokens = map[string]bool{
	"ad": true, "ads": true, "adv": true, "advert": true, "adverts": true, "advertisement": true,
	"adfox": true, "banner": true, "sponsor": true, "sponsored": true, "promo": true, "direct": true,
	"cookie": true, "cookies": true, "consent": true, "gdpr": true, "popup": true, "modal": true,
	"subscribe": true, "newsletter": true, "comment": true, "comments": true, "disqus": true,
	"discussion": true, "replies": true, "share": true, "sharing": true, "social": true, "related": true, "similar": true, "popular": true,
	"breadcrumb": true, "breadcrumbs": true, "informer": true, "copyright": true, "feedback": true,
	"footer": true, "bottom": true, "gpt": true, "author": true, "trending": true, "taboola": true, "outbrain": true,
}

// boilerplatePhrases are class/id substrings too long to be single tokens.
var boilerplatePhrases = []string{"most-read", "mostread", "read-also", "readalso", "see-also", "byline", "dateline", "timestamp"}

// isBoilerplate reports whether an element's class or id marks furniture.
func isBoilerplate(n *html.Node) bool {
	for _, key := range [...]string{"class", "id"} {
		v := strings.ToLower(attr(n, key))
		if v == "" {
			continue
		}
		for _, p := range boilerplatePhrases {
			if strings.Contains(v, p) {
				return true
			}
		}
		for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '-' || r == '_' || r == '\t' }) {
			if boilerplateTokens[tok] {
				return true
			}
		}
	}
	return false
}

// dropBoilerplate removes furniture elements from the document, in place.
// The page's structure elements (html, body, main, article) are never
// removed, nor an element holding an <h1>: a sloppy class on the article
// container must not cost the article.
func dropBoilerplate(n *html.Node) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode {
			switch c.DataAtom {
			case atom.Html, atom.Body, atom.Main, atom.Article, atom.Head:
				dropBoilerplate(c)
			default:
				if (isBoilerplate(c) || isPaywallPrompt(c) || isAdLabelled(c) || isCaption(c) || c.DataAtom == atom.Figcaption) && !hasH1(c) && !holdsMarkedArticle(c) {
					n.RemoveChild(c)
				} else {
					dropBoilerplate(c)
				}
			}
		}
		c = next
	}
}

// isPaywallPrompt reports whether n is classed as a paywall and is its
// prompt ("Subscribe to keep reading"). Many sites send the whole article
// and wrap the part a subscriber sees in a "paywall" element: several
// paragraphs of prose there are the article's rest, not furniture.
func isPaywallPrompt(n *html.Node) bool {
	if !strings.Contains(strings.ToLower(attr(n, "class")+" "+attr(n, "id")), "paywall") {
		return false
	}
	paras, prose := 0, 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			if c.DataAtom == atom.P {
				if l := textLen(c); l >= 80 {
					paras++
					prose += l
				}
				continue
			}
			walk(c)
		}
	}
	walk(n)
	return paras < 2 || prose < 300
}

// adLabels start the text of a marked advertisement. Russian law requires
// ads to be labelled "Реклама" (with an erid token), so on Russian sites an
// ad block without a telling class still announces itself.
var adLabels = []string{"реклама", "advertisement", "sponsored", "спонсорский материал", "партнёрский материал", "партнерский материал"}

// isAdLabelled reports whether a block element is a short text that starts
// with an ad label standing alone ("Реклама." or "Реклама:", not "Реклама в
// метро подорожала") or carries an erid token.
func isAdLabelled(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Div, atom.P, atom.Aside, atom.Section, atom.Span, atom.A:
	default:
		return false
	}
	first := firstText(n, 4)
	if first == "" {
		return false
	}
	lower := strings.ToLower(first)
	labelled := strings.Contains(lower, "erid:") || strings.Contains(lower, "erid ")
	for _, l := range adLabels {
		if rest, ok := strings.CutPrefix(lower, l); ok && (rest == "" || strings.ContainsRune(".:|", []rune(rest)[0])) {
			labelled = true
		}
	}
	if !labelled {
		return false
	}
	// A long block that merely starts with the word is an article about
	// advertising, not an ad.
	return utf8.RuneCountInString(innerText(n)) <= 400
}

// firstText is the first non-blank text within depth levels below n.
func firstText(n *html.Node, depth int) string {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case html.TextNode:
			if t := strings.TrimSpace(c.Data); t != "" {
				return t
			}
		case html.ElementNode:
			if depth > 0 {
				if t := firstText(c, depth-1); t != "" {
					return t
				}
			}
		}
	}
	return ""
}

// holdsMarkedArticle reports whether n is or contains the element the page
// marks as its article body: a class like "bottom-offset" on a column
// must not cost the article inside it.
func holdsMarkedArticle(n *html.Node) bool {
	if n.Type == html.ElementNode && isArticleMarked(n) {
		return true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if holdsMarkedArticle(c) {
			return true
		}
	}
	return false
}

func hasH1(n *html.Node) bool {
	if n.Type == html.ElementNode && n.DataAtom == atom.H1 {
		return true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if hasH1(c) {
			return true
		}
	}
	return false
}

// innerText is the whitespace-collapsed text of n.
func innerText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return clean(b.String())
}

// readMeta walks the document once for the metadata readability does not
// give: the <title>, meta descriptions, og:*, the declared language, the
// canonical link and a publication time in meta tags.
func readMeta(doc *html.Node, base *url.URL) pageMeta {
	var m pageMeta
	var publishedRaw string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Html:
				m.lang = attr(n, "lang")
			case atom.H1:
				m.h1s++
				if m.h1s == 1 {
					m.h1 = innerText(n)
				}
			case atom.Title:
				if m.title == "" && n.FirstChild != nil {
					m.title = clean(n.FirstChild.Data)
				}
			case atom.Link:
				if strings.EqualFold(attr(n, "rel"), "canonical") && m.canonical == "" {
					if ref, err := url.Parse(strings.TrimSpace(attr(n, "href"))); err == nil && ref.String() != "" {
						m.canonical = base.ResolveReference(ref).String()
					}
				}
			case atom.Meta:
				key := strings.ToLower(firstNonEmpty(attr(n, "property"), attr(n, "name"), attr(n, "itemprop")))
				val := clean(attr(n, "content"))
				switch key {
				case "og:title":
					m.ogTitle = firstNonEmpty(m.ogTitle, val)
				case "description":
					m.description = firstNonEmpty(m.description, val)
				case "og:description":
					m.ogDescription = firstNonEmpty(m.ogDescription, val)
				case "og:site_name":
					m.siteName = firstNonEmpty(m.siteName, val)
				case "article:published_time", "datepublished", "date", "pubdate", "dc.date", "dc.date.issued":
					publishedRaw = firstNonEmpty(publishedRaw, val)
				}
				if strings.EqualFold(attr(n, "http-equiv"), "content-language") && m.lang == "" {
					m.lang = val
				}
			case atom.Time:
				if publishedRaw == "" && attr(n, "pubdate") != "" {
					publishedRaw = attr(n, "datetime")
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if publishedRaw != "" {
		if t, err := dateparse.ParseAny(publishedRaw); err == nil {
			m.published = t.UTC()
		}
	}
	return m
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func findBody(n *html.Node) *html.Node {
	if n.Type == html.ElementNode && n.DataAtom == atom.Body {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if b := findBody(c); b != nil {
			return b
		}
	}
	return nil
}

// chromeAtoms are elements that are never the content of a page.
var chromeAtoms = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Nav: true, atom.Header: true,
	atom.Footer: true, atom.Aside: true, atom.Form: true, atom.Iframe: true, atom.Template: true,
	atom.Svg: true, atom.Button: true,
}

// setAtoms sets the atom of elements that have none: readability creates
// the paragraphs it turns divs into by name only, and the pruning rules
// look elements up by atom.
func setAtoms(n *html.Node) {
	if n.Type == html.ElementNode && n.DataAtom == 0 {
		n.DataAtom = atom.Lookup([]byte(n.Data))
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		setAtoms(c)
	}
}

// stripChrome removes page furniture from n, in place.
func stripChrome(n *html.Node) *html.Node {
	if n == nil {
		return nil
	}
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode && chromeAtoms[c.DataAtom] {
			n.RemoveChild(c)
		} else if c.Type == html.CommentNode {
			n.RemoveChild(c)
		} else {
			stripChrome(c)
		}
		c = next
	}
	return n
}

// clean collapses whitespace.
func clean(s string) string { return strings.Join(strings.Fields(s), " ") }

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// normLang reduces a language tag to its lower-case primary subtag ("ru-RU"
// → "ru"): what search filters on.
func normLang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_,; "); i >= 0 {
		tag = tag[:i]
	}
	if len(tag) < 2 || len(tag) > 3 {
		return ""
	}
	return tag
}

// guessLanguage names the language of a text that declares none, where the
// script makes it safe: Cyrillic text is Russian unless it has letters only
// Ukrainian uses; Latin text is left unnamed (too many languages share it).
func guessLanguage(text string) string {
	var cyr, latin, ukr int
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Cyrillic, r):
			cyr++
			switch r {
			case 'і', 'ї', 'є', 'ґ', 'І', 'Ї', 'Є', 'Ґ':
				ukr++
			}
		case r < utf8.RuneSelf && unicode.IsLetter(r):
			latin++
		}
	}
	if cyr > latin && cyr >= 20 {
		if ukr*100 > cyr { // more than 1% of the letters
			return "uk"
		}
		return "ru"
	}
	return ""
}

var (
	mdLink   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	mdSyntax = strings.NewReplacer("#", " ", "*", " ", "_", " ", "`", " ", ">", " ", "|", " ")
)

// markdownText drops Markdown syntax and link targets, leaving the words a
// reader sees.
func markdownText(md string) string {
	return mdSyntax.Replace(mdLink.ReplaceAllString(md, "$1"))
}

// wordCount counts runs of letters or digits.
func wordCount(text string) int {
	n, in := 0, false
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if !in {
				n++
			}
			in = true
		} else if r != '-' && r != '\'' && r != '’' {
			in = false
		}
	}
	return n
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
