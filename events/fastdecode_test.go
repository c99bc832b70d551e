package events

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// corpusEvents encodes the first n posts of the Telegram news sample (data
// nobody here wrote) as posts.parsed and posts.tagged data fields, the way
// the stages write them.
func corpusEvents(tb testing.TB, n int) (parsed, tagged []string) {
	tb.Helper()
	f, err := os.Open("../testdata/telegram-news-ru/sample.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan() && i < n; i++ {
		var line struct {
			ChannelID int64  `json:"channel_id"`
			Channel   string `json:"channel"`
			MessageID int64  `json:"message_id"`
			Date      string `json:"date"`
			Text      string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			tb.Fatal(err)
		}
		posted, err := time.Parse(time.RFC3339, line.Date)
		if err != nil {
			tb.Fatal(err)
		}
		id := fmt.Sprintf("tg:%d:%d", line.ChannelID, line.MessageID)
		env := Envelope{SchemaVersion: SchemaV1, TraceID: fmt.Sprintf("trace-%d", i),
			OccurredAt: time.Date(2026, 12, 7, 6, 0, 0, 123456789, time.UTC), IdempotencyKey: id}
		p := &PostParsed{Envelope: env, PostID: id, ChannelID: fmt.Sprint(line.ChannelID), Text: line.Text,
			PostedAt: posted, TGChannelID: line.ChannelID, TGMessageID: line.MessageID, ChannelTitle: line.Channel,
			URLs: []string{"https://example.org/a?b=1"}, ViewsCount: int64(i) * 7, HasMedia: i%3 == 0}
		tags := []string{"Китай", "кратер"}[:i%3]
		t := &PostTagged{Envelope: env, PostID: id, ChannelID: p.ChannelID, Text: line.Text, URLs: []string{},
			PostedAt: posted, ContentHash: ContentHash(line.Text), Tags: tags, TagsHash: TagsHash(tags),
			Provider: "local", Model: "keyphrase", PromptVersion: "v1", LatencyMS: int64(i), Trigger: TriggerInitial,
			ReceivedAt: env.OccurredAt, Metadata: map[string]string{"model": "keyphrase", "prompt_version": "v1"},
			ChannelTitle: line.Channel}
		for _, ev := range []Event{p, t} {
			values, err := Encode(ev)
			if err != nil {
				tb.Fatal(err)
			}
			if ev == Event(p) {
				parsed = append(parsed, values[DataField].(string))
			} else {
				tagged = append(tagged, values[DataField].(string))
			}
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return parsed, tagged
}

// agree decodes data with the fast decoder and with encoding/json into
// fresh events of type T and reports a disagreement: the fast decoder may
// give up, but what it accepts encoding/json must accept with the same
// result.
func agree[T any, PT interface {
	*T
	fastDecoder
}](data string) (fastOK bool, problem string) {
	var fast, std T
	fastOK = PT(&fast).decodeFast(data)
	stdErr := json.Unmarshal([]byte(data), &std)
	if !fastOK {
		if !reflect.DeepEqual(fast, *new(T)) {
			return false, "gave up but changed the event"
		}
		return false, ""
	}
	if stdErr != nil {
		return true, fmt.Sprintf("fast decoder accepted what encoding/json refuses (%v)", stdErr)
	}
	if !reflect.DeepEqual(fast, std) {
		return true, fmt.Sprintf("results differ:\nfast %+v\nstd  %+v", fast, std)
	}
	return true, ""
}

func TestFastDecodeTakesTheStagesOwnEntries(t *testing.T) {
	t.Parallel()
	parsed, tagged := corpusEvents(t, 300)
	for i := range parsed {
		if ok, problem := agree[PostParsed](parsed[i]); !ok || problem != "" {
			t.Fatalf("posts.parsed %d: fast path taken %v, %s\n%s", i, ok, problem, parsed[i])
		}
		if ok, problem := agree[PostTagged](tagged[i]); !ok || problem != "" {
			t.Fatalf("posts.tagged %d: fast path taken %v, %s\n%s", i, ok, problem, tagged[i])
		}
	}
}

// TestFastDecodeAgreesOnEdgeCases covers each place where encoding/json's
// behaviour is easy to get wrong: what the fast decoder takes must come out
// the same, and what it must leave to encoding/json it must give up on.
func TestFastDecodeAgreesOnEdgeCases(t *testing.T) {
	t.Parallel()
	base := `"post_id":"p","tags":["a"],"tags_hash":"h"`
	tests := []struct {
		name   string
		data   string
		fastOK bool
	}{
		{"plain", `{` + base + `}`, true},
		{"whitespace everywhere", " {\n\t\"post_id\" : \"p\" ,\r\n \"tags\" : [ \"a\" , \"b\" ] } \n", true},
		{"empty tags are a non-nil slice", `{"post_id":"p","tags":[]}`, true},
		{"escapes", `{"text":"a\nb\t\"c\"\\d\/e\b\f\r"}`, true},
		{"unicode escape", `{"text":"\u043f\u0440\u0438\u0432\u0435\u0442 \u00e9"}`, true},
		{"surrogate pair", `{"text":"\ud83d\ude00!"}`, true},
		{"lone surrogate", `{"text":"\ud83d!"}`, false},
		{"reversed surrogates", `{"text":"\ude00\ud83d"}`, false},
		{"bad escape", `{"text":"\x"}`, false},
		{"short unicode escape", `{"text":"\u12"}`, false},
		{"raw control character", "{\"text\":\"a\x01b\"}", false},
		{"raw newline in a string", "{\"text\":\"a\nb\"}", false},
		{"unterminated string", `{"text":"abc`, false},
		{"key by case folding", `{"Post_ID":"p"}`, false},
		{"key by unicode folding (long s)", "{\"po\u017ft_id\":\"p\"}", false},
		{"escaped key", `{"post\u005fid":"p"}`, true},
		{"unknown fields skipped", `{"x":{"a":[1,-2.5e+3,true,false,null,"s"]},"post_id":"p","y":[],"z":{}}`, true},
		{"unknown null", `{"x":null,"post_id":"p"}`, true},
		{"unknown bad number", `{"x":01}`, false},
		{"unknown bad literal", `{"x":nul}`, false},
		{"unknown bad fraction", `{"x":1.}`, false},
		{"null string", `{"post_id":null}`, false},
		{"null tags", `{"tags":null}`, false},
		{"null time", `{"posted_at":null}`, false},
		{"duplicate key, last wins", `{"post_id":"a","post_id":"b","tags":["x"],"tags":["y","z"]}`, true},
		{"duplicate metadata", `{"metadata":{"a":"1"},"metadata":{"b":"2"}}`, false},
		{"metadata", `{"metadata":{"model":"m","prompt_version":"v","model":"n"}}`, true},
		{"integer", `{"latency_ms":-42}`, true},
		{"integer zero", `{"latency_ms":0}`, true},
		{"integer with fraction", `{"latency_ms":1.0}`, false},
		{"integer with exponent", `{"latency_ms":1e3}`, false},
		{"integer with leading zero", `{"latency_ms":012}`, false},
		{"integer overflow", `{"latency_ms":9223372036854775808}`, false},
		{"integer as string", `{"latency_ms":"5"}`, false},
		{"minus alone", `{"latency_ms":-}`, false},
		{"time", `{"posted_at":"2024-12-04T09:00:28+00:00","occurred_at":"2026-12-07T06:00:00.123456789Z"}`, true},
		{"python time", `{"posted_at":"2024-12-04 09:00:28+00:00"}`, false},
		{"naive time", `{"posted_at":"2024-12-04T09:00:28"}`, false},
		{"time with escape", `{"posted_at":"2024-12-04T09:00:28\u002b00:00"}`, false},
		{"time as number", `{"posted_at":1733302828}`, false},
		{"tags of numbers", `{"tags":[1]}`, false},
		{"trailing comma", `{"post_id":"p",}`, false},
		{"trailing comma in array", `{"tags":["a",]}`, false},
		{"missing colon", `{"post_id" "p"}`, false},
		{"garbage after object", `{"post_id":"p"}x`, false},
		{"second object", `{"post_id":"p"}{}`, false},
		{"empty object", `{}`, true},
		{"invalid UTF-8 in a string", "{\"text\":\"a\xffb\"}", false},
		{"invalid UTF-8 after an escape", "{\"text\":\"a\\nb\xc3\"}", false},
		{"truncated rune", "{\"text\":\"\xd0\"}", false},
		{"surrogate encoded in UTF-8", "{\"text\":\"\xed\xa0\x80\"}", false},
		{"invalid UTF-8 in an unknown key", "{\"\xff\":1}", false},
		{"invalid UTF-8 outside strings", "{\"x\":1\xff}", false},
		{"four-byte rune", "{\"text\":\"\U0001F384 \u00e9\"}", true},
		{"not an object", `["post_id"]`, false},
		{"truncated", `{"post_id":"p"`, false},
		{"deep unknown value", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, problem := agree[PostTagged](tc.data)
			if problem != "" {
				t.Fatalf("%s: %s", tc.data, problem)
			}
			if ok != tc.fastOK {
				t.Fatalf("%s: fast path taken %v, want %v", tc.data, ok, tc.fastOK)
			}
			// The same field forms in posts.parsed (its own field set).
			data := strings.NewReplacer(`"tags"`, `"urls"`, `"latency_ms"`, `"views_count"`,
				`"metadata"`, `"media"`, `"tags_hash"`, `"content_hash"`).Replace(tc.data)
			if _, problem := agree[PostParsed](data); problem != "" {
				t.Fatalf("posts.parsed %s: %s", data, problem)
			}
		})
	}
}

// TestFastDecodeKeepsDecodeStrict checks that Decode's answers did not move:
// the inputs the fast path gives up on get encoding/json's reasons.
func TestFastDecodeKeepsDecodeStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data, reason string
	}{
		{`{"post_id":"p","tags":["a"],"tags_hash":"h","latency_ms":1.5}`, "field latency_ms has the wrong type"},
		{`{"post_id":"p","tags":null,"tags_hash":"h"}`, "missing required field tags"},
		{`{"post_id":"p","tags":["a"],"tags_hash":"h",}`, "data: invalid character"},
		{`{"post_id":"p","tags":["a"],"tags_hash":"h","posted_at":"yesterday"}`, "field posted_at"},
		{`{"post_id":"p","tags":["a"],"tags_hash":"h"}`, "tags_hash h does not match tags"},
		{"{\"post_id\":\"p\",\"tags\":[\"\xff\"],\"tags_hash\":\"h\"}", "data is not valid UTF-8"},
		{"{\"post_id\":\"p\",\"tags\":[\"a\"],\"tags_hash\":\"h\"} \xff", "data is not valid UTF-8"},
	}
	for _, tc := range tests {
		err := Decode(map[string]any{DataField: tc.data}, new(PostTagged))
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("Decode(%s) = %v, want a reason with %q", tc.data, err, tc.reason)
		}
	}
	// The old system's times still decode (through encoding/json's retry).
	var p PostParsed
	err := Decode(map[string]any{DataField: `{"post_id":"p","channel_id":"c","text":"t","posted_at":"2024-12-04 09:00:28+00:00"}`}, &p)
	if err != nil || !p.PostedAt.Equal(time.Date(2024, 12, 4, 9, 0, 28, 0, time.UTC)) {
		t.Errorf("python time: %v, posted_at %v", err, p.PostedAt)
	}
}

// FuzzFastDecodeAgreesWithEncodingJSON mutates real entries: whatever the
// fast decoder accepts, encoding/json must accept with the same result.
func FuzzFastDecodeAgreesWithEncodingJSON(f *testing.F) {
	parsed, tagged := corpusEvents(f, 20)
	for i := range parsed {
		f.Add(parsed[i])
		f.Add(tagged[i])
	}
	f.Add(`{"post_id":"p","x":{"a":[1,-2.5e+3,true,null]},"text":"\ud83d\ude00\u00e9\n"}`)
	f.Fuzz(func(t *testing.T, data string) {
		if !utf8.ValidString(data) {
			// Decode refuses it with its reason: the fast path must
			// give up on it.
			var p PostParsed
			var tg PostTagged
			if p.decodeFast(data) || tg.decodeFast(data) {
				t.Fatalf("fast path took invalid UTF-8 %q", data)
			}
			return
		}
		if _, problem := agree[PostParsed](data); problem != "" {
			t.Fatalf("posts.parsed %q: %s", data, problem)
		}
		if _, problem := agree[PostTagged](data); problem != "" {
			t.Fatalf("posts.tagged %q: %s", data, problem)
		}
	})
}

func BenchmarkDecodeTagged(b *testing.B) {
	_, tagged := corpusEvents(b, 200)
	for _, mode := range []string{"fast", "encoding/json"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				data := tagged[i%len(tagged)]
				var ev PostTagged
				if mode == "fast" {
					if !ev.decodeFast(data) {
						b.Fatal("gave up")
					}
				} else if err := json.Unmarshal([]byte(data), &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// encodeStd is Encode as it was, by encoding/json alone.
func encodeStd(ev Event) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// sameEncoding checks that Encode writes what encoding/json writes.
func sameEncoding(t *testing.T, ev Event) {
	t.Helper()
	want, wantErr := encodeStd(ev)
	values, err := Encode(ev)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Encode error %v, encoding/json's %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if got := values[DataField].(string); got != want {
		t.Fatalf("Encode wrote\n%s\nencoding/json writes\n%s", got, want)
	}
}

func TestFastEncodeWritesWhatEncodingJSONWrites(t *testing.T) {
	t.Parallel()
	parsed, tagged := corpusEvents(t, 300)
	for i := range parsed {
		var p PostParsed
		var tg PostTagged
		if !p.decodeFast(parsed[i]) || !tg.decodeFast(tagged[i]) {
			t.Fatalf("entry %d did not decode", i)
		}
		sameEncoding(t, &p)
		sameEncoding(t, &tg)
	}
	odd := "q\"b\\s/\b\f\n\r\t\x00\x1f\x7f<>&\u2028\u2029\xff\xc3é😀"
	tests := []Event{
		&PostParsed{},
		&PostTagged{},
		&PostParsed{Text: odd, URLs: []string{}, MediaSHA256List: []string{odd}, TGChannelID: -1, ViewsCount: 1 << 62,
			HasMedia: true, ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3*3600)), Retag: odd},
		&PostTagged{Text: odd, Tags: []string{}, URLs: []string{odd, ""}, Metadata: map[string]string{}, LatencyMS: -5},
		&PostTagged{Tags: []string{"b"}, Metadata: map[string]string{odd: odd, "b": "", "a": "x"}, UserID: "u", TenantID: "t"},
		&PostTagged{PostedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, // MarshalJSON refuses it
		&PostParsed{ReceivedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},  // so does encoding/json
	}
	for _, ev := range tests {
		sameEncoding(t, ev)
	}
}

func FuzzFastEncodeWritesWhatEncodingJSONWrites(f *testing.F) {
	f.Add("привет\n\"мир\"", "tag", "model", int64(7), int64(0))
	f.Add("\x00\xff\u2028", "", "\\", int64(-1), int64(1733302828123456789))
	f.Fuzz(func(t *testing.T, text, tag, meta string, n, nanos int64) {
		at := time.Unix(0, nanos).UTC()
		sameEncoding(t, &PostTagged{Envelope: Envelope{TraceID: meta, OccurredAt: at}, Text: text, Tags: []string{tag, text},
			LatencyMS: n, Metadata: map[string]string{meta: tag, tag: meta}, ChannelTitle: tag, ReceivedAt: at})
		sameEncoding(t, &PostParsed{Text: text, URLs: []string{tag}, TGMessageID: n, HasMedia: n%2 == 0, PostedAt: at,
			UserID: meta, Retag: tag})
	})
}

func BenchmarkEncodeTagged(b *testing.B) {
	_, tagged := corpusEvents(b, 200)
	evs := make([]*PostTagged, len(tagged))
	for i := range tagged {
		evs[i] = new(PostTagged)
		if !evs[i].decodeFast(tagged[i]) {
			b.Fatal("did not decode")
		}
	}
	for _, mode := range []string{"fast", "encoding/json"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ev := evs[i%len(evs)]
				if mode == "fast" {
					if _, err := Encode(ev); err != nil {
						b.Fatal(err)
					}
				} else if _, err := encodeStd(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
