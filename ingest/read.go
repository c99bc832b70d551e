package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/assistant-dev/assistant/events"
)

// Format names an input format.
type Format string

// Input formats. FormatAuto (also "") detects the format from the content.
const (
	FormatAuto   Format = "auto"
	FormatJSONL  Format = "jsonl"
	FormatExport Format = "telegram-export"
)

// ParseFormat accepts the names a --format flag takes: auto (or empty),
// jsonl, and telegram-export (also telegram, export, tdesktop, json).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return FormatAuto, nil
	case "jsonl", "ndjson":
		return FormatJSONL, nil
	case "telegram-export", "telegram", "export", "tdesktop", "json":
		return FormatExport, nil
	}
	return "", fmt.Errorf("unknown input format %q (want auto, jsonl or telegram-export)", s)
}

// MaxLineBytes caps a JSONL line. A longer line is reported and skipped
// (never buffered whole): no real post comes near it, so it is garbage.
const MaxLineBytes = 16 << 20

// sniffBytes is how much of a file format detection may look at. The
// reader's buffer has this size, so detection reads nothing twice.
const sniffBytes = 1 << 20

// Problem is a record that could not be read, or a file that could not be
// read to its end.
type Problem struct {
	File string
	// Line is the 1-based line of a JSONL record; 0 for exports.
	Line int
	// Chat is the export chat's name and Index the 0-based position of the
	// message in its messages array; Index is -1 when it does not apply.
	Chat  string
	Index int
	// MessageID is the Telegram message id, when it could be read.
	MessageID int64
	// Fatal marks a problem that ended the reading of the file (broken JSON
	// syntax in an export, an I/O error).
	Fatal  bool
	Reason string
}

// String renders the problem for a log line or a terminal.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	switch {
	case p.Line > 0:
		b.WriteString(":" + strconv.Itoa(p.Line))
	case p.Index >= 0:
		fmt.Fprintf(&b, ": chat %q messages[%d]", p.Chat, p.Index)
	case p.Chat != "":
		fmt.Fprintf(&b, ": chat %q", p.Chat)
	}
	if p.MessageID != 0 {
		fmt.Fprintf(&b, " (message %d)", p.MessageID)
	}
	b.WriteString(": " + p.Reason)
	return b.String()
}

// Counts says what happened to the records of one or more files.
type Counts struct {
	// Posts is the number of events handed on (published, or written in a
	// dry run).
	Posts int `json:"posts"`
	// SkippedService counts service messages ("channel created", "message
	// pinned"), unsupported ones and any other non-message type.
	SkippedService int `json:"skipped_service"`
	// MediaOnly counts the posts (included in Posts) with media but no
	// text: a photo or video without a caption is still a post, carried
	// with an empty text and has_media (the tag stage gives it empty tags;
	// its channel, date and link are still stored and indexed).
	MediaOnly int `json:"media_only"`
	// SkippedEmpty counts posts with neither text nor media.
	SkippedEmpty int `json:"skipped_empty"`
	// SkippedChats counts chats of a full-account export that are not
	// channels (personal chats, groups): they are not channel posts.
	SkippedChats int `json:"skipped_chats"`
	// Malformed counts records reported as Problems and skipped.
	Malformed int `json:"malformed"`
}

// Skipped is the number of records left out on purpose.
func (c Counts) Skipped() int { return c.SkippedService + c.SkippedEmpty }

func (c *Counts) add(o Counts) {
	c.Posts += o.Posts
	c.SkippedService += o.SkippedService
	c.SkippedEmpty += o.SkippedEmpty
	c.MediaOnly += o.MediaOnly
	c.SkippedChats += o.SkippedChats
	c.Malformed += o.Malformed
}

// EmitFunc receives each post as an event. It owns the event. An error it
// returns stops the reading, and Read returns that error as it is.
type EmitFunc func(ev *events.PostParsed) error

// ReportFunc receives each Problem; nil ignores them (they are still
// counted).
type ReportFunc func(Problem)

// ReadFile reads the posts of the file at path; see Read.
func ReadFile(ctx context.Context, path string, format Format, emit EmitFunc, report ReportFunc) (Counts, error) {
	f, err := os.Open(path)
	if err != nil {
		return Counts{}, fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	return Read(ctx, f, path, format, emit, report)
}

// Read streams the posts of r, named name in problems, in the given format
// (FormatAuto detects it: a JSON object whose top-level keys include
// "messages", "chats" or "left_chats" is an export, anything else JSONL),
// calling emit for each post. Malformed records are reported and skipped.
// Read returns an error when the input cannot be read on, when ctx ends, or
// when emit fails; the counts cover what was read until then.
func Read(ctx context.Context, r io.Reader, name string, format Format, emit EmitFunc, report ReportFunc) (Counts, error) {
	if report == nil {
		report = func(Problem) {}
	}
	format, err := ParseFormat(string(format))
	if err != nil {
		return Counts{}, err
	}
	br := bufio.NewReaderSize(r, sniffBytes)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	if format == FormatAuto {
		format = detectFormat(br)
	}
	src := source{ctx: ctx, name: name, emit: emit, report: report, now: func() time.Time { return time.Now().UTC() }}
	switch format {
	case FormatExport:
		err = src.readExport(br)
	default:
		err = src.readJSONL(br)
	}
	return src.counts, err
}

// source holds the state of one file being read.
type source struct {
	ctx    context.Context
	name   string
	emit   EmitFunc
	report ReportFunc
	now    func() time.Time
	counts Counts
	seen   int // records looked at, for cancellation checks
}

// problem counts and reports a malformed record.
func (s *source) problem(p Problem) {
	p.File = s.name
	if !p.Fatal {
		s.counts.Malformed++
	}
	s.report(p)
}

// handle skips what is not a post and emits the rest.
func (s *source) handle(p *post) error {
	if s.seen++; s.seen%256 == 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
	if strings.TrimSpace(p.text) == "" {
		if !p.hasMedia {
			s.counts.SkippedEmpty++
			return nil
		}
		// A caption of blanks is no text: the post is its media.
		p.text = ""
		s.counts.MediaOnly++
	}
	s.counts.Posts++
	return s.emit(p.event(s.now()))
}

// detectFormat looks at the first bytes of br without consuming them.
// JSONL records are objects too, so the decision rests on the top-level
// keys of the first object: an export names "messages" (one chat) or
// "chats"/"left_chats" (a whole account); a corpus line names neither and
// closes within its line. If the window ends before either is seen, the
// first value spans more than a megabyte, which no JSONL post does, so it is
// taken for an export (a full-account export can hold a long contact list
// before "chats"). --format overrides all this.
func detectFormat(br *bufio.Reader) Format {
	window, _ := br.Peek(sniffBytes)
	window = bytes.TrimLeft(window, " \t\r\n")
	if len(window) == 0 || window[0] != '{' {
		return FormatJSONL
	}
	dec := json.NewDecoder(bytes.NewReader(window))
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				if len(window) < sniffBytes {
					return FormatJSONL // the whole file is one broken line
				}
				return FormatExport
			}
			return FormatJSONL // broken JSON: let the line reader report it
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				depth++
			default:
				depth--
			}
			if depth == 0 {
				return FormatJSONL
			}
			// Back at the top level (the root just opened, or a nested
			// value just closed), a key comes next.
			expectKey = depth == 1
			continue
		case string:
			if depth == 1 && expectKey {
				switch t {
				case "messages", "chats", "left_chats":
					return FormatExport
				}
				expectKey = false
				continue
			}
		}
		if depth == 1 {
			expectKey = true // a scalar value at the top level: a key comes next
		}
	}
}
