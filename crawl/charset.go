package crawl

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/gogs/chardet"
	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
)

// How a page's encoding was determined, in the order they are tried.
const (
	EncodingFromBOM       = "bom"
	EncodingFromHeader    = "header"
	EncodingFromPrescan   = "prescan"    // <meta> in the first 1024 bytes
	EncodingFromLaterMeta = "head-meta"  // <meta> later in <head>
	EncodingFromValidUTF8 = "valid-utf8" // the bytes are valid UTF-8
	EncodingFromDetector  = "detector"   // statistical guess
	EncodingFromDefault   = "default"    // nothing to go on: windows-1252
	prescanBytes          = 1024
	detectorMinConfidence = 10
	headScanLimit         = 512 << 10 // a <head> longer than this is not read for <meta>
)

// sniffEncoding determines the character encoding of an HTML body as
// browsers do: the WHATWG encoding-sniffing order (a byte order mark, the
// HTTP Content-Type charset, a <meta> found by the 1024-byte prescan), and
// then, where the standard lets a browser use its own knowledge, a
// <meta charset> or http-equiv later in <head> (news sites put long script
// blocks first), UTF-8 when the bytes are valid UTF-8, and a statistical
// detector (which tells windows-1251 from KOI8-R, GBK from Big5) before the
// windows-1252 default. It returns the encoding, its canonical name and the
// step that decided.
func sniffEncoding(body []byte, contentType string) (encoding.Encoding, string, string) {
	for _, bom := range []struct {
		prefix []byte
		name   string
	}{{[]byte{0xEF, 0xBB, 0xBF}, "utf-8"}, {[]byte{0xFE, 0xFF}, "utf-16be"}, {[]byte{0xFF, 0xFE}, "utf-16le"}} {
		if bytes.HasPrefix(body, bom.prefix) {
			e, name := charset.Lookup(bom.name)
			return e, name, EncodingFromBOM
		}
	}
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		if e, name := lookupMetaLabel(params["charset"]); e != nil {
			return e, name, EncodingFromHeader
		}
	}
	if label, end := headMetaCharset(body); label != "" {
		if e, name := lookupMetaLabel(label); e != nil {
			if end <= prescanBytes {
				return e, name, EncodingFromPrescan
			}
			// A late declaration of UTF-8 that the bytes contradict is a
			// template's boilerplate, not the truth: let the detector decide.
			if name != "utf-8" || utf8.Valid(body) {
				return e, name, EncodingFromLaterMeta
			}
		}
	}
	if utf8.Valid(body) {
		return encoding.Nop, "utf-8", EncodingFromValidUTF8
	}
	if e, name := detectCharset(body); e != nil {
		return e, name, EncodingFromDetector
	}
	e, name := charset.Lookup("windows-1252")
	return e, name, EncodingFromDefault
}

// decodeBody decodes a page to UTF-8 with the encoding sniffEncoding
// chooses; bytes invalid in it become U+FFFD.
func decodeBody(body []byte, contentType string) (string, error) {
	e, name, _ := sniffEncoding(body, contentType)
	out := body
	if e != encoding.Nop {
		var err error
		if out, err = e.NewDecoder().Bytes(body); err != nil {
			return "", fmt.Errorf("decode %s: %w", name, err)
		}
	}
	return strings.TrimPrefix(strings.ToValidUTF8(string(out), "\uFFFD"), "\uFEFF"), nil
}

// lookupMetaLabel resolves an encoding label as a <meta> declaration is
// resolved: UTF-16 labels mean UTF-8 (the page was read as ASCII to find
// them), x-user-defined means windows-1252.
func lookupMetaLabel(label string) (encoding.Encoding, string) {
	label = strings.TrimSpace(strings.Trim(strings.TrimSpace(label), `"'`))
	if label == "" {
		return nil, ""
	}
	e, name := charset.Lookup(label)
	if e == nil {
		return nil, ""
	}
	switch {
	case strings.HasPrefix(name, "utf-16"):
		return encoding.Nop, "utf-8"
	case name == "x-user-defined":
		return charset.Lookup("windows-1252")
	case e == unicode.UTF8:
		return encoding.Nop, "utf-8"
	}
	return e, name
}

// headMetaCharset finds the first <meta charset> or
// <meta http-equiv="Content-Type" content="…charset=…"> before the body
// starts, and the byte offset where that tag ends.
func headMetaCharset(body []byte) (string, int) {
	limit := body
	if len(limit) > headScanLimit {
		limit = limit[:headScanLimit]
	}
	z := html.NewTokenizer(bytes.NewReader(limit))
	offset := 0
	for {
		tt := z.Next()
		offset += len(z.Raw())
		switch tt {
		case html.ErrorToken:
			return "", 0
		case html.EndTagToken:
			name, _ := z.TagName()
			if string(name) == "head" {
				return "", 0
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch string(name) {
			case "body", "p", "div", "article", "main", "section", "h1", "table":
				return "", 0
			case "meta":
				var cs, equiv, content string
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					switch strings.ToLower(string(k)) {
					case "charset":
						cs = string(v)
					case "http-equiv":
						equiv = strings.ToLower(string(v))
					case "content":
						content = string(v)
					}
				}
				if cs != "" {
					return cs, offset
				}
				if equiv == "content-type" {
					if _, params, err := mime.ParseMediaType(content); err == nil && params["charset"] != "" {
						return params["charset"], offset
					}
					if i := strings.Index(strings.ToLower(content), "charset="); i >= 0 {
						return strings.Fields(strings.Trim(content[i+len("charset="):], `"';`) + " ")[0], offset
					}
				}
			}
		}
	}
}

// detectCharset guesses a legacy encoding from the bytes, markup stripped.
// Only encodings the guess is reliable for and that browsers meet in the
// wild are taken.
func detectCharset(body []byte) (encoding.Encoding, string) {
	// The body's text is what tells the language; a long <head> of
	// scripts only dilutes the statistics.
	sample := body
	if i := bytes.Index(bytes.ToLower(body[:min(len(body), headScanLimit)]), []byte("<body")); i >= 0 {
		sample = body[i:]
	}
	if len(sample) > 64<<10 {
		sample = sample[:64<<10]
	}
	best, err := chardet.NewHtmlDetector().DetectBest(sample)
	if err != nil || best.Confidence < detectorMinConfidence {
		return nil, ""
	}
	e, name := charset.Lookup(best.Charset)
	if e == nil {
		return nil, ""
	}
	if name == "iso-8859-1" { // browsers read Latin-1 labels as windows-1252
		return charset.Lookup("windows-1252")
	}
	return e, name
}
