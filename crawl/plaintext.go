package crawl

import (
	"html"
	"net/url"
	"regexp"
	"strings"
)

// shared is the extractor behind Extract; it is safe for concurrent use.
var shared = newExtractor()

// Extract runs the crawler's extraction (charset decoding, furniture
// removal, article detection, Markdown) on a page already fetched: body
// served with content type ctype from pageURL. It is the code path the
// builtin backend uses after a fetch, exported for evaluation.
func Extract(body []byte, ctype string, pageURL *url.URL) (Result, error) {
	res := Result{URL: pageURL.String(), FinalURL: pageURL.String(), Status: 200, ContentType: ctype, Bytes: int64(len(body))}
	err := shared.extract(&res, body, ctype, pageURL)
	return res, err
}

var (
	mdImage    = regexp.MustCompile(`!\[[^\]]*\]\([^)\s]*(?:\s+"(?:[^"\\]|\\.)*")?\)`)
	mdLinkText = regexp.MustCompile(`\[([^\]]*)\]\([^)\s]*(?:\s+"(?:[^"\\]|\\.)*")?\)`)
	// mdEscapedRule is a line of escaped marks ("\_\__"): text, which the
	// converter escaped so that it is not a thematic break.
	mdEscapedRule = regexp.MustCompile(`(?m)^[ \t]*(?:\\?[_*]){3,}[ \t]*$`)
	mdRefDef      = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s*\S+.*$`)
	mdListMark    = regexp.MustCompile(`(?m)^(\s*)(?:[-*+]|\d+[.)])\s+`)
	mdHeading     = regexp.MustCompile(`(?m)^\s{0,3}#{1,6}\s*`)
	mdQuote       = regexp.MustCompile(`(?m)^(\s*>)+\s?`)
	mdFence       = regexp.MustCompile("(?m)^\\s*(```|~~~).*$")
	mdTableRule   = regexp.MustCompile(`(?m)^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$`)
	mdRule        = regexp.MustCompile(`(?m)^\s*([-*_]\s*){3,}$`)
	mdEmphasis    = regexp.MustCompile(`(^|[^\p{L}\p{N}\\*_])[*_]+|[*_]+([^\p{L}\p{N}*_]|$)`)
	mdEscape      = regexp.MustCompile(`\\([\\` + "`" + `*_{}\[\]()#+\-.!|<>~])`)
)

// escapedMarks and restoredMarks swap escaped emphasis marks for private-use
// runes and back.
var (
	escapedMarks  = strings.NewReplacer(`\*`, "\uE000", `\_`, "\uE001")
	restoredMarks = strings.NewReplacer("\uE000", "*", "\uE001", "_")
)

// PlainText turns the crawler's Markdown into the text a reader sees:
// images dropped, links reduced to their text, and headings, list markers,
// quotes, emphasis, code fences and table rules removed. It is what the
// extraction benchmark compares with its ground truth.
func PlainText(md string) string {
	s := mdImage.ReplaceAllString(md, "")
	s = mdLinkText.ReplaceAllString(s, "$1")
	s = mdRefDef.ReplaceAllString(s, "")
	s = mdFence.ReplaceAllString(s, "")
	s = mdTableRule.ReplaceAllString(s, "")
	s = mdRule.ReplaceAllString(s, "")
	s = mdQuote.ReplaceAllString(s, "")
	// List markers before heading marks: "### 1. Define early retirement"
	// is a numbered heading, not a list item.
	s = mdListMark.ReplaceAllString(s, "$1")
	s = mdHeading.ReplaceAllString(s, "")
	// Escaped marks are text, not emphasis: hide them from mdEmphasis.
	s = mdEscapedRule.ReplaceAllStringFunc(s, func(line string) string {
		return strings.NewReplacer(`\`, "", "_", "\uE001", "*", "\uE000").Replace(line)
	})
	s = escapedMarks.Replace(s)
	s = mdEmphasis.ReplaceAllString(s, "$1$2")
	s = restoredMarks.Replace(s)
	s = strings.ReplaceAll(s, "`", "")
	s = strings.ReplaceAll(s, "|", " ")
	s = mdEscape.ReplaceAllString(s, "$1")
	// The converter writes "<" in text as "&lt;": entities are characters.
	s = html.UnescapeString(s)
	return strings.TrimSpace(s)
}
