package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SchemaV1 is the only event schema version this daemon reads and writes.
const SchemaV1 = "v1"

// DataField is the single stream field that carries an event as JSON.
const DataField = "data"

// Envelope is carried by every event (spec section 3).
type Envelope struct {
	SchemaVersion  string    `json:"schema_version"`
	TraceID        string    `json:"trace_id"`
	OccurredAt     time.Time `json:"occurred_at"`
	IdempotencyKey string    `json:"idempotency_key"`
}

// Env gives access to the envelope of any event type that embeds it.
func (e *Envelope) Env() *Envelope { return e }

// Event is implemented by every event type: it exposes its envelope and
// checks its own required fields.
type Event interface {
	Env() *Envelope
	Validate() error
}

// PostParsed is an entry of posts.parsed (v1).
type PostParsed struct {
	Envelope
	PostID           string    `json:"post_id"`
	ChannelID        string    `json:"channel_id"`
	Text             string    `json:"text"`
	PostedAt         time.Time `json:"posted_at"`
	TenantID         string    `json:"tenant_id,omitempty"`
	UserID           string    `json:"user_id,omitempty"`
	TGChannelID      int64     `json:"tg_channel_id,omitempty"`
	TGMessageID      int64     `json:"tg_message_id,omitempty"`
	TelegramPostURL  string    `json:"telegram_post_url,omitempty"`
	URLs             []string  `json:"urls,omitempty"`
	ContentHash      string    `json:"content_hash,omitempty"`
	HasMedia         bool      `json:"has_media,omitempty"`
	MediaSHA256List  []string  `json:"media_sha256_list,omitempty"`
	ViewsCount       int64     `json:"views_count,omitempty"`
	ForwardsCount    int64     `json:"forwards_count,omitempty"`
	ReplyToMessageID int64     `json:"reply_to_message_id,omitempty"`
	ChannelTitle     string    `json:"channel_title,omitempty"`
}

// Validate checks the required fields of posts.parsed.
func (p *PostParsed) Validate() error {
	var missing []string
	if p.PostID == "" {
		missing = append(missing, "post_id")
	}
	if p.ChannelID == "" {
		missing = append(missing, "channel_id")
	}
	if p.Text == "" {
		missing = append(missing, "text")
	}
	if p.PostedAt.IsZero() {
		missing = append(missing, "posted_at")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required field %s", strings.Join(missing, ", "))
	}
	if !utf8.ValidString(p.Text) {
		return errors.New("text is not valid UTF-8")
	}
	return nil
}

// ParsedIdempotencyKey is <tenant_id>:<channel_id>:<tg_message_id> when those
// exist, else post_id.
func (p *PostParsed) ParsedIdempotencyKey() string {
	if p.TenantID != "" && p.ChannelID != "" && p.TGMessageID != 0 {
		return p.TenantID + ":" + p.ChannelID + ":" + strconv.FormatInt(p.TGMessageID, 10)
	}
	return p.PostID
}

// PostTagged is an entry of posts.tagged (v1). It carries everything its
// consumers need so that none of them reads another stage's table.
type PostTagged struct {
	Envelope
	PostID        string    `json:"post_id"`
	ChannelID     string    `json:"channel_id"`
	TenantID      string    `json:"tenant_id,omitempty"`
	Text          string    `json:"text"`
	URLs          []string  `json:"urls"`
	PostedAt      time.Time `json:"posted_at"`
	ContentHash   string    `json:"content_hash"`
	Tags          []string  `json:"tags"`
	TagsHash      string    `json:"tags_hash"`
	Provider      string    `json:"provider"`
	Model         string    `json:"model"`
	PromptVersion string    `json:"prompt_version"`
	LatencyMS     int64     `json:"latency_ms"`
	Trigger       string    `json:"trigger"`
}

// Trigger values of posts.tagged.
const (
	TriggerInitial = "initial"
	TriggerRetag   = "retag"
	TriggerManual  = "manual"
)

// Validate checks the required fields of posts.tagged.
func (p *PostTagged) Validate() error {
	var missing []string
	if p.PostID == "" {
		missing = append(missing, "post_id")
	}
	if p.TagsHash == "" {
		missing = append(missing, "tags_hash")
	}
	if p.Tags == nil {
		missing = append(missing, "tags")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required field %s", strings.Join(missing, ", "))
	}
	if want := TagsHash(p.Tags); want != p.TagsHash {
		return fmt.Errorf("tags_hash %s does not match tags (want %s)", p.TagsHash, want)
	}
	return nil
}

// TaggedIdempotencyKey is <post_id>:tagged:<tags_hash>.
func TaggedIdempotencyKey(postID, tagsHash string) string {
	return postID + ":tagged:" + tagsHash
}

// CrawlResult is one crawled URL inside posts.enriched.
type CrawlResult struct {
	URL             string `json:"url"`
	FinalURL        string `json:"final_url"`
	Status          int    `json:"status"`
	Title           string `json:"title"`
	MarkdownExcerpt string `json:"markdown_excerpt"`
	WordCount       int    `json:"word_count"`
	ContentSHA256   string `json:"content_sha256"`
	Error           string `json:"error,omitempty"`
}

// PostEnriched is an entry of posts.enriched (v1).
type PostEnriched struct {
	Envelope
	PostID     string        `json:"post_id"`
	ChannelID  string        `json:"channel_id"`
	TenantID   string        `json:"tenant_id,omitempty"`
	Text       string        `json:"text"`
	Tags       []string      `json:"tags"`
	TagsHash   string        `json:"tags_hash"`
	PostedAt   time.Time     `json:"posted_at"`
	URLs       []string      `json:"urls"`
	Crawl      []CrawlResult `json:"crawl"`
	Skipped    bool          `json:"skipped"`
	SkipReason string        `json:"skip_reason,omitempty"`
}

// Validate checks the required fields of posts.enriched.
func (p *PostEnriched) Validate() error {
	if p.PostID == "" {
		return errors.New("missing required field post_id")
	}
	return nil
}

// PostIndexed is an entry of posts.indexed (v1).
type PostIndexed struct {
	Envelope
	PostID           string         `json:"post_id"`
	VectorID         string         `json:"vector_id"`
	Collection       string         `json:"collection"`
	EmbeddingModel   string         `json:"embedding_model"`
	EmbeddingDim     int            `json:"embedding_dim"`
	Graph            map[string]int `json:"graph"`
	IndexedAt        time.Time      `json:"indexed_at"`
	SkippedUnchanged bool           `json:"skipped_unchanged"`
}

// Validate checks the required fields of posts.indexed.
func (p *PostIndexed) Validate() error {
	if p.PostID == "" {
		return errors.New("missing required field post_id")
	}
	return nil
}

// PostDeleted is an entry of posts.deleted (v1).
type PostDeleted struct {
	Envelope
	PostID    string `json:"post_id"`
	ChannelID string `json:"channel_id"`
	Reason    string `json:"reason"` // telegram | ttl | admin
}

// Validate checks the required fields of posts.deleted.
func (p *PostDeleted) Validate() error {
	if p.PostID == "" {
		return errors.New("missing required field post_id")
	}
	return nil
}

// TagsHash is the lower-case hex SHA-256 of the tags as Python's
// json.dumps(sorted(set(tags)), ensure_ascii=False) prints them, empty tags
// dropped. It keeps hashes equal to those the old system stored.
func TagsHash(tags []string) string {
	clean := make([]string, 0, len(tags))
	for _, t := range tags {
		if t != "" {
			clean = append(clean, t)
		}
	}
	slices.Sort(clean) // Go compares strings bytewise: UTF-8 order is code-point order
	clean = slices.Compact(clean)

	var b strings.Builder
	b.WriteByte('[')
	for i, t := range clean {
		if i > 0 {
			b.WriteString(", ")
		}
		writePythonJSONString(&b, t)
	}
	b.WriteByte(']')
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// writePythonJSONString quotes s as json.dumps(ensure_ascii=False) does:
// only ", \ and control characters are escaped.
func writePythonJSONString(b *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[r>>4])
				b.WriteByte(hexDigits[r&0xf])
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// ContentHash is the SHA-256 hex of the text lower-cased, trimmed and with
// whitespace collapsed (spec section 3). It streams the normalised text
// into the hash instead of building it, since it runs for every post.
func ContentHash(text string) string {
	h := sha256.New()
	var buf [512]byte
	out := buf[:0]
	started, pendingSpace := false, false
	for _, r := range text {
		if unicode.IsSpace(r) {
			pendingSpace = started // leading whitespace is trimmed
			continue
		}
		if pendingSpace {
			out = append(out, ' ')
			pendingSpace = false
		}
		started = true
		out = utf8.AppendRune(out, unicode.ToLower(r))
		if len(out) > len(buf)-2*utf8.UTFMax {
			h.Write(out)
			out = buf[:0]
		}
	}
	h.Write(out)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// EncodeEvent renders an event as the values of one stream entry: a single
// data field with UTF-8 JSON, non-ASCII unescaped.
func EncodeEvent(ev Event) (map[string]any, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encode %T: %w", ev, err)
	}
	return map[string]any{DataField: strings.TrimSuffix(b.String(), "\n")}, nil
}

// DecodeError is a permanent decoding failure; its message names the problem.
type DecodeError struct{ Reason string }

func (e *DecodeError) Error() string { return "undecodable entry: " + e.Reason }

// DecodeEvent fills ev from the values of a stream entry, accepting both the
// data form and the legacy flat-field form, and validates it. Every failure is
// a *DecodeError wrapped as Permanent.
func DecodeEvent(values map[string]any, ev Event) error {
	if err := decodeEvent(values, ev); err != nil {
		return Permanent(err)
	}
	return nil
}

func decodeEvent(values map[string]any, ev Event) error {
	// The data form has a data field and no flat event fields beside it.
	if raw, ok := values[DataField]; ok && (len(values) == 1 || values["post_id"] == nil) {
		s, isString := raw.(string)
		if !isString {
			return &DecodeError{Reason: fmt.Sprintf("field data is %T, not a string", raw)}
		}
		if !utf8.ValidString(s) {
			return &DecodeError{Reason: "data is not valid UTF-8"}
		}
		trimmed := strings.TrimSpace(s)
		if !strings.HasPrefix(trimmed, "{") {
			if json.Valid([]byte(trimmed)) {
				return &DecodeError{Reason: "data is JSON but not an object"}
			}
			return &DecodeError{Reason: "data is not JSON"}
		}
		if err := json.Unmarshal([]byte(trimmed), ev); err != nil {
			return &DecodeError{Reason: "data: " + describeJSONError(err, []byte(trimmed), ev)}
		}
		env := ev.Env()
		if env.SchemaVersion != "" && env.SchemaVersion != SchemaV1 {
			return &DecodeError{Reason: fmt.Sprintf("unknown schema_version %q", env.SchemaVersion)}
		}
	} else if err := decodeFlat(values, ev); err != nil {
		return err
	}
	if err := ev.Validate(); err != nil {
		return &DecodeError{Reason: err.Error()}
	}
	return nil
}

// describeJSONError names the field a decoding error is about. Errors such
// as a bad time carry no field name, so on that (rare, failing) path each
// field is decoded alone to find the culprit.
func describeJSONError(err error, data []byte, ev Event) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s has the wrong type (%s, want %s)", te.Field, te.Value, te.Type)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) == nil {
		probe := reflect.New(reflect.TypeOf(ev).Elem()).Interface()
		for name, raw := range fields {
			one, _ := json.Marshal(map[string]json.RawMessage{name: raw})
			if ferr := json.Unmarshal(one, probe); ferr != nil {
				return fmt.Sprintf("field %s: %v", name, ferr)
			}
		}
	}
	return err.Error()
}

// decodeFlat reads the legacy flat form written by the old telethon-ingest:
// one stream field per event key, lists and objects JSON-encoded as strings,
// booleans as True/False, everything else stringified, no envelope.
func decodeFlat(values map[string]any, ev Event) error {
	obj := make(map[string]json.RawMessage, len(values))
	kinds := jsonFieldKinds(reflect.TypeOf(ev).Elem())
	for k, v := range values {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		if !utf8.ValidString(s) {
			return &DecodeError{Reason: fmt.Sprintf("field %s is not valid UTF-8", k)}
		}
		kind, known := kinds[k]
		if !known {
			continue
		}
		raw, err := flatValue(s, kind)
		if err != nil {
			return &DecodeError{Reason: fmt.Sprintf("field %s: %v", k, err)}
		}
		if raw != nil {
			obj[k] = raw
		}
	}
	if len(obj) == 0 {
		return &DecodeError{Reason: "entry has neither a data field nor event fields"}
	}
	buf, err := json.Marshal(obj)
	if err != nil {
		return &DecodeError{Reason: err.Error()}
	}
	if err := json.Unmarshal(buf, ev); err != nil {
		return &DecodeError{Reason: describeJSONError(err, buf, ev)}
	}
	env := ev.Env()
	if env.SchemaVersion != "" && env.SchemaVersion != SchemaV1 {
		return &DecodeError{Reason: fmt.Sprintf("unknown schema_version %q", env.SchemaVersion)}
	}
	return nil
}

func flatValue(s string, kind reflect.Kind) (json.RawMessage, error) {
	switch kind {
	case reflect.String:
		b, _ := json.Marshal(s)
		return b, nil
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "1":
			return json.RawMessage("true"), nil
		case "false", "0", "", "none":
			return json.RawMessage("false"), nil
		}
		return nil, fmt.Errorf("%q is not a boolean", s)
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64:
		if s == "" || s == "None" {
			return nil, nil
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return json.RawMessage(s), nil
	case reflect.Slice, reflect.Map, reflect.Struct:
		if s == "" || s == "None" {
			return nil, nil
		}
		if !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("%q is not JSON", truncate(s, 40))
		}
		return json.RawMessage(s), nil
	}
	return nil, fmt.Errorf("unsupported kind %s", kind)
}

// jsonFieldKinds maps JSON keys of a struct (embedded structs flattened) to
// their kinds; time.Time counts as a string.
func jsonFieldKinds(t reflect.Type) map[string]reflect.Kind {
	out := map[string]reflect.Kind{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			for k, v := range jsonFieldKinds(f.Type) {
				out[k] = v
			}
			continue
		}
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		kind := f.Type.Kind()
		if f.Type == reflect.TypeOf(time.Time{}) {
			kind = reflect.String
		}
		out[name] = kind
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// EventPostID returns the post the event is about.
func (p *PostParsed) EventPostID() string { return p.PostID }

// EventPostID returns the post the event is about.
func (p *PostTagged) EventPostID() string { return p.PostID }

// EventPostID returns the post the event is about.
func (p *PostEnriched) EventPostID() string { return p.PostID }

// EventPostID returns the post the event is about.
func (p *PostIndexed) EventPostID() string { return p.PostID }

// EventPostID returns the post the event is about.
func (p *PostDeleted) EventPostID() string { return p.PostID }
