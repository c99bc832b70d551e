package events_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/events"
)

func TestTagsHashMatchesSpecVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tags []string
		want string
	}{
		{[]string{}, "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},
		{nil, "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},
		{[]string{"Python", "релиз", "производительность"}, "cb69c9ed575b8a569dbd5d9f8ee3200ee4aac0268b7b23f4cfe190bb86108a6e"},
		{[]string{"производительность", "Python", "релиз", "Python"}, "cb69c9ed575b8a569dbd5d9f8ee3200ee4aac0268b7b23f4cfe190bb86108a6e"},
		{[]string{"ИИ", "Сбер", "GigaChat 2"}, "0cf9b561544d3299fbf16786409f542a3d0f603ae99fab6255fe8a3d2f38d140"},
		{[]string{"", "ИИ", "Сбер", "GigaChat 2", ""}, "0cf9b561544d3299fbf16786409f542a3d0f603ae99fab6255fe8a3d2f38d140"},
		// Escaping as json.dumps(ensure_ascii=False) does, computed with
		// Python 3: control characters as \uXXXX (or \n, \t), quote and
		// backslash escaped, DEL (0x7f) left as it is.
		{[]string{"a\u0001b", "x"}, "74606c825244dcf4a4af593f31fe96ee097db2c5888dc9e77c392304a5864fd3"},
		{[]string{"tab\there", "line\nbreak", "q\"uote", "back\\slash", "\u001f\u007f"}, "4f90877e6060f92567bfcbd45cf5519bec95d3131837f53faca146b227d60de8"},
		{[]string{"\u0000"}, "e8d092a2abe0afaefae429a5cf3715c71efa25daf1ecb041d8926e5a75e1c12c"},
		{[]string{"bell\u0007", "esc\u001b[0m"}, "c01f27763063e0c189027103a7d0fb80c00aab484d526fff50227f259fd0be7f"},
	}
	for _, tc := range tests {
		if got := events.TagsHash(tc.tags); got != tc.want {
			t.Errorf("TagsHash(%q) = %s, want %s", tc.tags, got, tc.want)
		}
	}
}

// TestTagsHashQuotesEachEscapeLikePython has one vector per escape
// json.dumps(ensure_ascii=False) writes — the short forms \b \f \n \r \t
// \" \\, \u00XX for the other control characters — and for characters it
// leaves alone (DEL, the line and paragraph separators), each computed with
// Python 3, so a quoting slip in any one of them (\b written as \u0008,
// say) changes a hash that was stored by the old system.
func TestTagsHashQuotesEachEscapeLikePython(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tags []string
		want string // sha256 of json.dumps(sorted(set(tags)), ensure_ascii=False)
	}{
		{"backspace is \\b", []string{"a\bb"}, "5f6132aacc0ff17c9aa6339e441e9131eb2dc14c32aff673243f5dbc6da4a5bb"},
		{"form feed is \\f", []string{"a\fb"}, "948a7fc2b93e6adea32b5e7f24f095803cc7bd5b7ed5994d39f19535a1676f37"},
		{"0x01 is \\u0001", []string{"a\u0001b"}, "7b9b5a13fae0232c4106488235e60313c48f7bc30e107bb3482484ebe0dab42f"},
		{"0x1f is \\u001f", []string{"a\u001fb"}, "7208d370e8fd7a5d25a7a11bfb30ddb9aab00e43a9daf0f80c101479ce1f29cf"},
		{"quote", []string{"q\"uote"}, "e83d2b4a8bf84e273c01bf9245da86b00dd50c854895abc873d34546162c6986"},
		{"backslash", []string{"back\\slash"}, "53a69a9e9a2425e1ab036ce43b307be611283eed5985665ffe7f3986bce1024f"},
		{"\\n \\r \\t", []string{"nl\ncr\rtab\t"}, "6c340b9e7615a42a5c872b1fdcf8fb006de716111051d4b199b411ea8edef8a8"},
		{"DEL is not escaped", []string{"del\u007f"}, "71e9655b71ffe1f3b07bcce51013b03b15a4ad30d202375e2caf7ddf079806ec"},
		{"U+2028, U+2029 are not escaped", []string{"ls\u2028ps\u2029"}, "7af2829e2378382254507c15169a2acfb07ffd2a89d7268c517e4856e386b208"},
		{"sorted and deduplicated with a backspace", []string{"tag\b", "Tag", "tag"}, "b354aadd65f57057e79ede13e73814c2249dceab75ab7a99b38ebb69bffe79bc"},
	}
	for _, tc := range tests {
		if got := events.TagsHash(tc.tags); got != tc.want {
			t.Errorf("%s: TagsHash(%q) = %s, want %s", tc.name, tc.tags, got, tc.want)
		}
	}
}

func TestContentHashNormalisesCaseAndWhitespace(t *testing.T) {
	t.Parallel()
	a := events.ContentHash("  Привет,\n\n  МИР  ")
	b := events.ContentHash("привет, мир")
	if a != b {
		t.Fatalf("content hashes differ: %s vs %s", a, b)
	}
	if a == events.ContentHash("привет мир") {
		t.Fatal("different texts share a content hash")
	}
}

func TestEncodeEventKeepsNonASCIIUnescaped(t *testing.T) {
	t.Parallel()
	values, err := events.Encode(&events.PostTagged{PostID: "p", Tags: []string{"Сбер <ИИ>"}})
	if err != nil {
		t.Fatal(err)
	}
	data := values["data"].(string)
	if !strings.Contains(data, `"Сбер <ИИ>"`) {
		t.Fatalf("data %s escapes non-ASCII or HTML characters", data)
	}
}

func TestLegacyFlatEntryDecodesLikeDataForm(t *testing.T) {
	t.Parallel()
	posted := time.Date(2024, 12, 4, 9, 0, 28, 0, time.UTC)
	want := events.PostParsed{
		PostID: "11111111-2222-3333-4444-555555555555", ChannelID: "-1001000724666",
		Text: "В Китае нашли ударный кратер https://naked-science.ru/a", PostedAt: posted,
		TenantID: "t1", TGChannelID: -1001000724666, TGMessageID: 11877,
		URLs: []string{"https://naked-science.ru/a"}, HasMedia: true,
		MediaSHA256List: []string{"abc"}, ViewsCount: 10, ChannelTitle: "Naked Science",
	}
	data, err := events.Encode(&want)
	if err != nil {
		t.Fatal(err)
	}
	// The old telethon-ingest wrote one field per key, lists as JSON strings,
	// booleans as True/False, numbers stringified, no envelope.
	flat := map[string]any{
		"post_id": want.PostID, "channel_id": "-1001000724666", "text": want.Text,
		"posted_at": "2024-12-04T09:00:28Z", "tenant_id": "t1",
		"tg_channel_id": "-1001000724666", "tg_message_id": "11877",
		"urls": `["https://naked-science.ru/a"]`, "has_media": "True",
		"media_sha256_list": `["abc"]`, "views_count": "10", "channel_title": "Naked Science",
		"forwards_count": "None", "unknown_extra": "ignored",
	}
	var fromData, fromFlat events.PostParsed
	if err := events.Decode(data, &fromData); err != nil {
		t.Fatalf("data form: %v", err)
	}
	if err := events.Decode(flat, &fromFlat); err != nil {
		t.Fatalf("flat form: %v", err)
	}
	if !reflect.DeepEqual(fromData, fromFlat) {
		t.Fatalf("flat form decoded differently:\n data %+v\n flat %+v", fromData, fromFlat)
	}
	if !reflect.DeepEqual(fromFlat, want) {
		t.Fatalf("decoded %+v, want %+v", fromFlat, want)
	}
}

func TestDecodeEventRejectsMalformedEntriesWithAReason(t *testing.T) {
	t.Parallel()
	good := map[string]any{
		"schema_version": "v1", "post_id": "p1", "channel_id": "c1",
		"text": "hello", "posted_at": "2024-12-04T09:00:28Z",
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return map[string]any{"data": string(b)}
	}
	tests := []struct {
		name   string
		values map[string]any
		reason string
	}{
		{"not JSON", map[string]any{"data": "{not json"}, "data:"},
		{"plain text", map[string]any{"data": "hello"}, "not JSON"},
		{"JSON but not an object", map[string]any{"data": `[1,2]`}, "not an object"},
		{"missing post_id", with("post_id", nil), "missing required field post_id"},
		{"missing channel_id", with("channel_id", nil), "missing required field channel_id"},
		{"missing posted_at", with("posted_at", nil), "posted_at"},
		{"wrong type", with("text", 42), "wrong type"},
		{"bad time", with("posted_at", "yesterday"), "posted_at"},
		{"unknown schema", with("schema_version", "v9"), `unknown schema_version "v9"`},
		{"invalid UTF-8", map[string]any{"data": "{\"post_id\":\"\xff\xfe\"}"}, "not valid UTF-8"},
		{"empty entry", map[string]any{}, "neither a data field"},
		{"flat wrong number", map[string]any{"post_id": "p", "channel_id": "c", "text": "t", "posted_at": "2024-12-04T09:00:28Z", "tg_message_id": "abc"}, "not a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev events.PostParsed
			err := events.Decode(tc.values, &ev)
			if err == nil {
				t.Fatal("decoded without error")
			}
			var de *events.DecodeError
			if !errors.As(err, &de) {
				t.Errorf("error %v is not a *DecodeError", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not name the problem (%q)", err, tc.reason)
			}
		})
	}
}

func TestPostDeletedRoundTrip(t *testing.T) {
	t.Parallel()
	values, _ := events.Encode(&events.PostDeleted{PostID: "p", Reason: "ttl"})
	var ev events.PostDeleted
	if err := events.Decode(values, &ev); err != nil || ev.Reason != "ttl" {
		t.Fatalf("round trip: %v %+v", err, ev)
	}
}

func TestContentHashEqualsTheSpecDefinition(t *testing.T) {
	t.Parallel()
	reference := func(text string) string {
		norm := strings.Join(strings.Fields(strings.ToLower(text)), " ")
		sum := sha256.Sum256([]byte(norm))
		return hex.EncodeToString(sum[:])
	}
	long := strings.Repeat("Длинный  ТЕКСТ\tс пробелами ", 200)
	for _, text := range []string{"", "  ", "a", " A  b\n\nC ", "Привет,\u00a0МИР", long, "ÀÉ\u2003ǅ x"} {
		if got, want := events.ContentHash(text), reference(text); got != want {
			t.Errorf("ContentHash(%.40q…) = %s, want %s", text, got, want)
		}
	}
}

func BenchmarkContentHash(b *testing.B) {
	text := strings.Repeat("В Китае нашли ударный кратер необычной формы https://naked-science.ru ", 10)
	b.ReportAllocs()
	for b.Loop() {
		events.ContentHash(text)
	}
}

// TestDecodeDataWinsOverFlatFields: a data field makes the entry the data
// form even when flat event fields sit beside it (a producer copying
// post_id next to data); the event in data is what counts. Only an entry
// without data is read as the legacy flat form.
func TestDecodeDataWinsOverFlatFields(t *testing.T) {
	t.Parallel()
	data := `{"schema_version":"v1","trace_id":"tr-1","post_id":"p-data","channel_id":"c-data","text":"from data","posted_at":"2024-12-04T09:00:28Z"}`
	tests := []struct {
		name       string
		values     map[string]any
		wantPostID string
		wantText   string
	}{
		{"data alone", map[string]any{"data": data}, "p-data", "from data"},
		{"data with flat post_id", map[string]any{"data": data, "post_id": "p-data"}, "p-data", "from data"},
		{"data with a different flat post_id", map[string]any{"data": data, "post_id": "p-flat"}, "p-data", "from data"},
		{"data with a full flat copy", map[string]any{
			"data": data, "post_id": "p-flat", "channel_id": "c-flat", "text": "from flat", "posted_at": "2024-12-04T09:00:28Z",
		}, "p-data", "from data"},
		{"flat, no data", map[string]any{
			"post_id": "p-flat", "channel_id": "c-flat", "text": "from flat", "posted_at": "2024-12-04T09:00:28Z",
		}, "p-flat", "from flat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ev events.PostParsed
			if err := events.Decode(tc.values, &ev); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.PostID != tc.wantPostID || ev.Text != tc.wantText {
				t.Errorf("decoded post_id %q text %q, want %q %q", ev.PostID, ev.Text, tc.wantPostID, tc.wantText)
			}
		})
	}
	// A broken data field is not rescued by flat fields beside it: it is
	// the producer's event, and it is undecodable.
	var ev events.PostParsed
	err := events.Decode(map[string]any{"data": "{not json", "post_id": "p", "channel_id": "c", "text": "t", "posted_at": "2024-12-04T09:00:28Z"}, &ev)
	var de *events.DecodeError
	if !errors.As(err, &de) {
		t.Errorf("broken data beside flat fields: got %v, want a *DecodeError", err)
	}
}

// TestDecodeRefusesInvalidUTF8TextOnEveryPath backs Decode's leaving the
// text's UTF-8 check out of PostParsed.Validate: whichever way an entry is
// decoded (the fast path, encoding/json after the fast path gives up, the
// legacy flat form), invalid UTF-8 in the text is refused, and what decodes
// passes the full Validate.
func TestDecodeRefusesInvalidUTF8TextOnEveryPath(t *testing.T) {
	t.Parallel()
	const fields = `"post_id":"p","channel_id":"c","posted_at":"2024-12-04T09:00:28Z"`
	flat := func(text string) map[string]any {
		return map[string]any{"post_id": "p", "channel_id": "c", "posted_at": "2024-12-04T09:00:28Z", "text": text}
	}
	tests := []struct {
		name   string
		values map[string]any
		ok     bool
	}{
		{"fast path", map[string]any{"data": `{` + fields + `,"text":"привет"}`}, true},
		{"fast path, invalid", map[string]any{"data": "{" + fields + ",\"text\":\"пр\xd0\"}"}, false},
		{"encoding/json (a null)", map[string]any{"data": `{` + fields + `,"user_id":null,"text":"привет"}`}, true},
		{"encoding/json, invalid", map[string]any{"data": "{" + fields + ",\"user_id\":null,\"text\":\"\xff\"}"}, false},
		{"escaped lone surrogate", map[string]any{"data": `{` + fields + `,"text":"\ud800"}`}, true},
		{"flat form", flat("привет"), true},
		{"flat form, invalid", flat("\xed\xa0\x80"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev events.PostParsed
			err := events.Decode(tc.values, &ev)
			if (err == nil) != tc.ok {
				t.Fatalf("Decode: %v, want ok %v", err, tc.ok)
			}
			if err == nil {
				if verr := ev.Validate(); verr != nil {
					t.Fatalf("decoded event fails Validate: %v", verr)
				}
			} else if !strings.Contains(err.Error(), "UTF-8") {
				t.Fatalf("Decode refused for another reason: %v", err)
			}
		})
	}
	// Validate itself still checks the text of an event built in code.
	if err := (&events.PostParsed{PostID: "p", ChannelID: "c", PostedAt: time.Now(), Text: "\xff"}).Validate(); err == nil {
		t.Fatal("Validate took invalid UTF-8 text")
	}
}
