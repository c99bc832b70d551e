package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A Telegram Desktop export is one JSON document (tdesktop's
// export_output_json.cpp): a chat object {name, type, id, messages[]} for a
// single-chat export, or an account object whose chats.list[] (and
// left_chats.list[]) hold such chat objects.
//
// It is read as a stream: json.Decoder.Token walks the structure and each
// message is decoded on its own with Decoder.Decode. A channel export runs to
// hundreds of megabytes and a full-account export further, so decoding it
// whole would hold all of it (several times over, as Go values) in memory;
// streaming holds one message at a time. It also isolates failures: Decode
// reads a complete value before converting it, so a message of the wrong
// shape is reported and skipped while the stream stays in step. Broken JSON
// syntax cannot be skipped over and ends the file (reported, with the
// offset).

// exportMessage holds the message fields ingest uses.
type exportMessage struct {
	ID               int64           `json:"id"`
	Type             string          `json:"type"`
	Date             string          `json:"date"`
	DateUnixtime     flexInt         `json:"date_unixtime"`
	From             string          `json:"from"`
	FromID           json.RawMessage `json:"from_id"`
	ReplyToMessageID int64           `json:"reply_to_message_id"`
	Photo            string          `json:"photo"`
	File             string          `json:"file"`
	MediaType        string          `json:"media_type"`
	Text             exportText      `json:"text"`
	TextEntities     []entity        `json:"text_entities"`
}

// exportText is a message's text: a plain string, or an array mixing
// strings and entity objects {type, text, href?}.
type exportText struct {
	plain    string
	entities []entity // the objects of the array form
	set      bool
}

// valueError is a JSON value of an unexpected shape inside a message; it
// makes the message malformed, not the file.
type valueError struct{ reason string }

func (e *valueError) Error() string { return e.reason }

func (t *exportText) UnmarshalJSON(data []byte) error {
	*t = exportText{}
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || bytes.Equal(data, []byte("null")):
		return nil
	case data[0] == '"':
		t.set = true
		return json.Unmarshal(data, &t.plain)
	case data[0] != '[':
		return &valueError{reason: "field text is neither a string nor an array"}
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return err
	}
	t.set = true
	var b strings.Builder
	for i, part := range parts {
		if len(part) > 0 && part[0] == '"' {
			var s string
			if err := json.Unmarshal(part, &s); err != nil {
				return err
			}
			b.WriteString(s)
			continue
		}
		var e entity
		if err := json.Unmarshal(part, &e); err != nil || len(part) == 0 || part[0] != '{' {
			return &valueError{reason: fmt.Sprintf("field text[%d] is neither a string nor an entity object", i)}
		}
		b.WriteString(e.Text)
		t.entities = append(t.entities, e)
	}
	t.plain = b.String()
	return nil
}

// flexInt is an integer written as a JSON number or as a string of digits
// (tdesktop writes date_unixtime as a string).
type flexInt int64

func (n *flexInt) UnmarshalJSON(data []byte) error {
	s := string(bytes.Trim(bytes.TrimSpace(data), `"`))
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return &valueError{reason: fmt.Sprintf("%s is not an integer", data)}
	}
	*n = flexInt(v)
	return nil
}

// exportChat is the chat whose fields are being read.
type exportChat struct {
	name, typ string
	id        int64 // as exported: the bare peer id
	hasID     bool
	// listed chats come from a full-account export, where only channels
	// are taken; a single-chat export was chosen by hand and is taken
	// whatever its type.
	listed bool
	// pending holds messages met before the chat's type and id (tdesktop
	// writes those first; a hand-made file may not).
	pending     []json.RawMessage
	sawMessages bool
}

func (c *exportChat) ready() bool { return c.hasID && c.typ != "" }

// wanted reports whether the chat's messages are channel posts to ingest.
func (c *exportChat) wanted() bool {
	if !c.listed {
		return true
	}
	return c.typ == "public_channel" || c.typ == "private_channel"
}

// exportReader walks one export document.
type exportReader struct {
	*source
	dec *json.Decoder
}

func (s *source) readExport(br *bufio.Reader) error {
	x := exportReader{source: s, dec: json.NewDecoder(br)}
	return x.readRoot()
}

// fatal reports a problem that ends the file and returns it as an error.
func (x *exportReader) fatal(index int, chat string, err error) error {
	reason := fmt.Sprintf("export unreadable at byte %d: %s", x.dec.InputOffset(), describeJSONError(err))
	x.problem(Problem{Index: index, Chat: chat, Fatal: true, Reason: reason})
	return fmt.Errorf("read export %s: %s", x.name, reason)
}

func (x *exportReader) readRoot() error {
	tok, err := x.dec.Token()
	if err != nil {
		return x.fatal(-1, "", err)
	}
	if tok != json.Delim('{') {
		return x.fatal(-1, "", errors.New("the export is not a JSON object"))
	}
	root := &exportChat{}
	sawChats := false
	for x.dec.More() {
		key, err := x.key()
		if err != nil {
			return err
		}
		switch key {
		case "chats", "left_chats":
			sawChats = true
			if err := x.readChatSection(key); err != nil {
				return err
			}
		default:
			if err := x.chatField(root, key); err != nil {
				return err
			}
		}
	}
	if _, err := x.dec.Token(); err != nil {
		return x.fatal(-1, "", err)
	}
	if !root.sawMessages && !sawChats {
		return x.fatal(-1, "", errors.New("the export has neither messages nor chats"))
	}
	return x.flushPending(root)
}

// key reads an object key.
func (x *exportReader) key() (string, error) {
	tok, err := x.dec.Token()
	if err != nil {
		return "", x.fatal(-1, "", err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", x.fatal(-1, "", fmt.Errorf("expected an object key, found %v", tok))
	}
	return key, nil
}

// readChatSection reads {about, list: [chat...]} of a full-account export.
func (x *exportReader) readChatSection(section string) error {
	tok, err := x.dec.Token()
	if err != nil {
		return x.fatal(-1, "", err)
	}
	if tok != json.Delim('{') {
		x.problem(Problem{Index: -1, Reason: section + " is not an object"})
		return x.skipRest(tok)
	}
	for x.dec.More() {
		key, err := x.key()
		if err != nil {
			return err
		}
		if key != "list" {
			if err := x.skipValue(); err != nil {
				return err
			}
			continue
		}
		tok, err := x.dec.Token()
		if err != nil {
			return x.fatal(-1, "", err)
		}
		if tok != json.Delim('[') {
			x.problem(Problem{Index: -1, Reason: section + ".list is not an array"})
			if err := x.skipRest(tok); err != nil {
				return err
			}
			continue
		}
		for i := 0; x.dec.More(); i++ {
			if err := x.readChat(section, i); err != nil {
				return err
			}
		}
		if _, err := x.dec.Token(); err != nil {
			return x.fatal(-1, "", err)
		}
	}
	if _, err := x.dec.Token(); err != nil {
		return x.fatal(-1, "", err)
	}
	return nil
}

// readChat reads one chat object of a chats list.
func (x *exportReader) readChat(section string, index int) error {
	tok, err := x.dec.Token()
	if err != nil {
		return x.fatal(-1, "", err)
	}
	if tok != json.Delim('{') {
		x.problem(Problem{Index: -1, Reason: fmt.Sprintf("%s.list[%d] is not an object", section, index)})
		return x.skipRest(tok)
	}
	chat := &exportChat{listed: true}
	for x.dec.More() {
		key, err := x.key()
		if err != nil {
			return err
		}
		if err := x.chatField(chat, key); err != nil {
			return err
		}
	}
	if _, err := x.dec.Token(); err != nil {
		return x.fatal(-1, chat.name, err)
	}
	return x.flushPending(chat)
}

// chatField reads the value of one key of a chat object.
func (x *exportReader) chatField(chat *exportChat, key string) error {
	var err error
	switch key {
	case "name":
		var name *string
		if err = x.dec.Decode(&name); err == nil && name != nil {
			chat.name = *name
		}
	case "type":
		err = x.dec.Decode(&chat.typ)
	case "id":
		var id flexInt
		if err = x.dec.Decode(&id); err == nil {
			chat.id, chat.hasID = int64(id), id != 0
		}
	case "messages":
		chat.sawMessages = true
		return x.readMessages(chat)
	default:
		return x.skipValue()
	}
	if err != nil {
		if !isValueError(err) {
			return x.fatal(-1, chat.name, err)
		}
		// The chat's messages fall back on their from_id.
		x.problem(Problem{Index: -1, Chat: chat.name, Reason: "chat " + key + ": " + describeJSONError(err)})
	}
	return nil
}

// readMessages streams a messages array.
func (x *exportReader) readMessages(chat *exportChat) error {
	if chat.ready() && !chat.wanted() {
		x.counts.SkippedChats++
		return x.skipValue()
	}
	tok, err := x.dec.Token()
	if err != nil {
		return x.fatal(-1, chat.name, err)
	}
	if tok != json.Delim('[') {
		x.problem(Problem{Index: -1, Chat: chat.name, Reason: "messages is not an array"})
		return x.skipRest(tok)
	}
	for index := 0; x.dec.More(); index++ {
		if !chat.ready() {
			var raw json.RawMessage
			if err := x.dec.Decode(&raw); err != nil {
				return x.fatal(index, chat.name, err)
			}
			chat.pending = append(chat.pending, raw)
			continue
		}
		var m exportMessage
		if err := x.dec.Decode(&m); err != nil {
			if !isValueError(err) {
				return x.fatal(index, chat.name, err)
			}
			x.problem(Problem{Chat: chat.name, Index: index, MessageID: m.ID, Reason: describeJSONError(err)})
			continue
		}
		if err := x.message(chat, index, &m); err != nil {
			return err
		}
	}
	if _, err := x.dec.Token(); err != nil {
		return x.fatal(-1, chat.name, err)
	}
	return nil
}

// flushPending handles the messages buffered before the chat's type and id
// were known, now that the whole chat object has been read.
func (x *exportReader) flushPending(chat *exportChat) error {
	if len(chat.pending) == 0 {
		return nil
	}
	pending := chat.pending
	chat.pending = nil
	if chat.typ != "" && !chat.wanted() {
		x.counts.SkippedChats++
		return nil
	}
	for index, raw := range pending {
		var m exportMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			x.problem(Problem{Chat: chat.name, Index: index, MessageID: m.ID, Reason: describeJSONError(err)})
			continue
		}
		if err := x.message(chat, index, &m); err != nil {
			return err
		}
	}
	return nil
}

// message turns one exported message into a post, or skips it.
func (x *exportReader) message(chat *exportChat, index int, m *exportMessage) error {
	switch m.Type {
	case "message", "":
	default: // service, unsupported, and whatever a newer tdesktop adds
		x.counts.SkippedService++
		return nil
	}
	bad := func(reason string) error {
		x.problem(Problem{Chat: chat.name, Index: index, MessageID: m.ID, Reason: reason})
		return nil
	}
	if m.ID <= 0 {
		return bad("missing field id")
	}
	var postedAt time.Time
	switch {
	case m.DateUnixtime > 0:
		postedAt = time.Unix(int64(m.DateUnixtime), 0).UTC()
	case m.Date != "":
		// Exports older than date_unixtime only have the exporting
		// machine's local time, zone unknown; UTC is the least wrong guess.
		t, err := time.Parse("2006-01-02T15:04:05", m.Date)
		if err != nil {
			return bad(fmt.Sprintf("date %q is not a date", m.Date))
		}
		postedAt = t
	default:
		return bad("missing field date_unixtime")
	}
	chatID, ok := chatPeerID(chat, m.FromID)
	if !ok {
		return bad("the chat has no id and the message no from_id")
	}
	p := post{
		chatID:       chatID,
		chatTitle:    chat.name,
		messageID:    m.ID,
		postedAt:     postedAt,
		text:         m.Text.plain,
		entities:     m.TextEntities,
		hasMedia:     m.Photo != "" || m.File != "" || m.MediaType != "",
		replyToMsgID: m.ReplyToMessageID,
	}
	if p.chatTitle == "" {
		p.chatTitle = m.From
	}
	if len(p.entities) == 0 {
		p.entities = m.Text.entities
	}
	if !m.Text.set {
		// Some producers keep only text_entities, whose texts add up to
		// the text.
		var b strings.Builder
		for _, e := range m.TextEntities {
			b.WriteString(e.Text)
		}
		p.text = b.String()
	}
	return x.handle(&p)
}

// chatPeerID returns the marked peer id of the chat, the form the corpus
// uses: -100<id> for channels and supergroups, -<id> for basic groups, the
// bare id for users. Exports give the bare id and the chat type; without
// them, the message's from_id ("channel123", "chat123", "user123") says.
func chatPeerID(chat *exportChat, fromID json.RawMessage) (int64, bool) {
	kind := chat.typ
	id := chat.id
	if !chat.hasID || kind == "" {
		var from string
		if json.Unmarshal(fromID, &from) == nil {
			for _, prefix := range []string{"channel", "chat", "user"} {
				if rest, ok := strings.CutPrefix(from, prefix); ok {
					if v, err := strconv.ParseInt(rest, 10, 64); err == nil && v > 0 {
						if !chat.hasID {
							id = v
						}
						if kind == "" {
							kind = chatTypeOfPeer(prefix)
						}
					}
					break
				}
			}
		}
	}
	if id == 0 {
		return 0, false
	}
	if id < 0 {
		return id, true // already marked
	}
	switch kind {
	case "public_channel", "private_channel", "public_supergroup", "private_supergroup":
		return MarkedChannelID(id), true
	case "private_group":
		return -id, true
	}
	return id, true
}

// chatTypeOfPeer maps a from_id prefix to a chat type with the same id
// form (public or private does not matter for the id).
func chatTypeOfPeer(prefix string) string {
	switch prefix {
	case "channel":
		return "private_channel"
	case "chat":
		return "private_group"
	}
	return "personal_chat"
}

// skipValue reads past the next value without keeping it.
func (x *exportReader) skipValue() error {
	tok, err := x.dec.Token()
	if err != nil {
		return x.fatal(-1, "", err)
	}
	return x.skipRest(tok)
}

// skipRest reads past the rest of a value whose first token was tok.
// Token by token, so a skipped chat of any size costs no memory.
func (x *exportReader) skipRest(tok json.Token) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := x.dec.Token()
		if err != nil {
			return x.fatal(-1, "", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// isValueError reports whether err is about a value's shape (the value was
// read whole, the stream is still in step) rather than broken syntax or I/O.
func isValueError(err error) bool {
	var te *json.UnmarshalTypeError
	var ve *valueError
	return errors.As(err, &te) || errors.As(err, &ve)
}
