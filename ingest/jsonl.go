package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// corpusLine is one line of a JSONL dump in the telegram-news-ru format:
//
//	{"channel_id": -1001000724666, "channel": "Naked Science", "message_id": 11877,
//	 "date": "2024-12-04T09:00:28+00:00", "text": "…"}
//
// channel_id is the marked peer id (-100<id> for channels). username,
// has_media and reply_to_message_id are optional extensions that the corpus
// does not use.
type corpusLine struct {
	ChannelID        int64  `json:"channel_id"`
	Channel          string `json:"channel"`
	Username         string `json:"username"`
	MessageID        int64  `json:"message_id"`
	Date             string `json:"date"`
	Text             string `json:"text"`
	HasMedia         bool   `json:"has_media"`
	ReplyToMessageID int64  `json:"reply_to_message_id"`
}

// readJSONL reads one record per line. Lines are read with ReadSlice into a
// reused buffer, so memory stays at the longest line (capped at
// MaxLineBytes) whatever the file size.
func (s *source) readJSONL(br *bufio.Reader) error {
	lines := lineReader{br: br}
	for {
		line, tooLong, err := lines.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			s.problem(Problem{Line: lines.n, Index: -1, Fatal: true, Reason: "read: " + err.Error()})
			return fmt.Errorf("read %s line %d: %w", s.name, lines.n, err)
		}
		if tooLong {
			s.problem(Problem{Line: lines.n, Index: -1, Reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)})
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		p, reason := parseCorpusLine(line)
		if reason != "" {
			s.problem(Problem{Line: lines.n, Index: -1, MessageID: p.messageID, Reason: reason})
			continue
		}
		if err := s.handle(&p); err != nil {
			return err
		}
	}
}

// parseCorpusLine decodes a line; a non-empty reason says why it is not a
// post.
func parseCorpusLine(line []byte) (post, string) {
	if line[0] != '{' {
		if json.Valid(line) {
			return post{}, "JSON but not an object"
		}
		return post{}, "invalid JSON"
	}
	var rec corpusLine
	if err := json.Unmarshal(line, &rec); err != nil {
		return post{}, describeJSONError(err)
	}
	// Zero is no valid peer or message id, so zero means missing.
	p := post{messageID: rec.MessageID}
	var missing []string
	if rec.ChannelID == 0 {
		missing = append(missing, "channel_id")
	}
	if p.messageID == 0 {
		missing = append(missing, "message_id")
	}
	if rec.Date == "" {
		missing = append(missing, "date")
	}
	if len(missing) > 0 {
		return p, "missing field " + strings.Join(missing, ", ")
	}
	postedAt, err := time.Parse(time.RFC3339, rec.Date)
	if err != nil {
		return p, fmt.Sprintf("date %q is not RFC 3339", rec.Date)
	}
	p.chatID = rec.ChannelID
	p.chatTitle = rec.Channel
	p.username = rec.Username
	p.postedAt = postedAt
	p.text = rec.Text
	p.hasMedia = rec.HasMedia
	p.replyToMsgID = rec.ReplyToMessageID
	return p, ""
}

// describeJSONError names the field of a type mismatch; other errors are
// syntax errors.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %s has the wrong type (%s, want %s)", te.Field, te.Value, te.Type)
		}
		return fmt.Sprintf("wrong type (%s, want %s)", te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "invalid JSON: " + se.Error()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "invalid JSON: unexpected end of input"
	}
	return err.Error()
}

// lineReader splits input into lines of at most MaxLineBytes without ever
// holding more than that.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
	n   int // number of the line last returned, 1-based
}

// next returns the next line without its end of line. The slice is valid
// until the following call. tooLong reports a line over MaxLineBytes, which
// is consumed and not returned.
func (r *lineReader) next() (line []byte, tooLong bool, err error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !tooLong && len(r.buf)+len(chunk) <= MaxLineBytes {
				r.buf = append(r.buf, chunk...)
			} else {
				tooLong = true
				r.buf = r.buf[:0]
			}
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return nil, false, err
		case errors.Is(err, io.EOF) && len(chunk) == 0 && len(r.buf) == 0 && !tooLong:
			return nil, false, io.EOF
		}
		r.n++
		if tooLong || len(r.buf)+len(chunk) > MaxLineBytes+2 {
			return nil, true, nil
		}
		// The common case, a line shorter than the reader's buffer, is
		// returned without a copy.
		if len(r.buf) == 0 {
			line = chunk
		} else {
			r.buf = append(r.buf, chunk...)
			line = r.buf
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		return line, false, nil
	}
}
