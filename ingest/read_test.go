package ingest

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
)

func fixture(name string) string { return filepath.Join("..", "testdata", "ingest", name) }

// readAll reads a file and returns its events, problems and counts.
func readAll(t *testing.T, path string, format Format) ([]*events.PostParsed, []Problem, Counts, error) {
	t.Helper()
	var evs []*events.PostParsed
	var problems []Problem
	counts, err := ReadFile(context.Background(), path, format,
		func(ev *events.PostParsed) error { evs = append(evs, ev); return nil },
		func(p Problem) { problems = append(problems, p) })
	return evs, problems, counts, err
}

// stripRunFields checks and clears what differs between runs (trace id,
// occurred_at) so that the rest can be compared exactly.
func stripRunFields(t *testing.T, evs []*events.PostParsed) {
	t.Helper()
	for _, ev := range evs {
		id, err := uuid.Parse(ev.TraceID)
		if err != nil || id.Version() != 4 {
			t.Errorf("post %d: trace_id %q is not a UUIDv4", ev.TGMessageID, ev.TraceID)
		}
		if time.Since(ev.OccurredAt) > time.Minute || ev.OccurredAt.Location() != time.UTC {
			t.Errorf("post %d: occurred_at %v is not now in UTC", ev.TGMessageID, ev.OccurredAt)
		}
		ev.TraceID = ""
		ev.OccurredAt = time.Time{}
	}
}

// expected builds the event a reader must produce (minus trace id and
// occurred_at).
func expected(chatID int64, title string, msgID int64, postedAt, text string, urls []string, hasMedia bool, replyTo int64) *events.PostParsed {
	channelID := strconv.FormatInt(chatID, 10)
	ev := &events.PostParsed{
		Envelope:         events.Envelope{SchemaVersion: "v1"},
		PostID:           PostID(channelID, msgID),
		ChannelID:        channelID,
		Text:             text,
		PostedAt:         mustTime(postedAt),
		TGChannelID:      chatID,
		TGMessageID:      msgID,
		TelegramPostURL:  TelegramPostURL(chatID, "", msgID),
		URLs:             urls,
		ContentHash:      events.ContentHash(text),
		HasMedia:         hasMedia,
		ReplyToMessageID: replyTo,
		ChannelTitle:     title,
	}
	ev.IdempotencyKey = ev.PostID
	return ev
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

const fixtureChannel = -1001843271905

// channelPosts are the posts of result.json, shared with the full-account
// export (which holds posts 2 and 3 of the same channel).
var channelPosts = map[int64]*events.PostParsed{
	2: expected(fixtureChannel, "Наука и Код", 2, "2024-12-02T07:05:00Z",
		"Добро пожаловать в канал «Наука и Код»! Каждый день — короткие новости науки и программирования без лишнего шума.",
		nil, false, 0),
	3: expected(fixtureChannel, "Наука и Код", 3, "2024-12-03T09:30:00Z",
		"Вышел Python 3.13\n\nГлавное: экспериментальный режим без GIL, JIT-компилятор и новый интерактивный интерпретатор. Что нового: docs.python.org/3.13/whatsnew/3.13.html\n\nПодробный разбор — в нашей статье.",
		[]string{"https://docs.python.org/3.13/whatsnew/3.13.html", "https://example.org/blog/python-3-13"}, false, 0),
	4: expected(fixtureChannel, "Наука и Код", 4, "2024-12-03T12:45:10Z",
		"Телескоп «Джеймс Уэбб» впервые напрямую сфотографировал экзопланету у соседней звезды Эпсилон Индейца A.\n\nИсточник: https://science.nasa.gov/mission/webb/",
		[]string{"https://science.nasa.gov/mission/webb/"}, true, 0),
	6: expected(fixtureChannel, "Наука и Код", 6, "2024-12-04T15:20:00Z",
		"Собираем вопросы для AMA-сессии с командой @habr_com. Пишите в комментариях до пятницы! #ama #наука",
		nil, false, 0),
	7: expected(fixtureChannel, "Наука и Код", 7, "2024-12-04T18:02:33Z",
		"Почему язык Go называется именно так и при чём тут суслик? Коротко в Википедии: https://ru.wikipedia.org/wiki/Go_(язык_программирования).",
		[]string{"https://ru.wikipedia.org/wiki/Go_(язык_программирования)"}, false, 0),
	// A photo without a caption: a post with empty text and has_media.
	8: expected(fixtureChannel, "Наука и Код", 8, "2024-12-05T06:40:00Z", "", nil, true, 0),
	9: expected(fixtureChannel, "Наука и Код", 9, "2024-12-05T10:11:12Z",
		"Обновили разбор: https://example.org/blog/python-3-13. Обсуждение — в чате https://t.me/naukaikod_chat.",
		[]string{"https://example.org/r?id=313", "https://t.me/naukaikod_chat", "https://example.org/blog/python-3-13"}, false, 3),
}

func TestReadFixtures(t *testing.T) {
	tests := []struct {
		file         string
		format       Format
		want         []*events.PostParsed
		wantCounts   Counts
		wantProblems []Problem
	}{
		{
			file:   "result.json",
			format: FormatAuto,
			want: []*events.PostParsed{channelPosts[2], channelPosts[3], channelPosts[4], channelPosts[6],
				channelPosts[7], channelPosts[8], channelPosts[9]},
			// service: create_channel, pin_message, unsupported; the poll
			// (no text, no media). The photo without text is a post.
			wantCounts: Counts{Posts: 7, MediaOnly: 1, SkippedService: 3, SkippedEmpty: 1},
		},
		{
			file:   "account_result.json",
			format: FormatAuto,
			want: []*events.PostParsed{channelPosts[2], channelPosts[3],
				expected(-1001522334455, "Архив технопрогноза", 880, "2024-11-20T17:45:00Z",
					"Итоги года в микроэлектронике: читать обзор", []string{"https://example.com/review-2024"}, false, 0)},
			wantCounts: Counts{Posts: 3, SkippedChats: 2, Malformed: 1},
			wantProblems: []Problem{{File: fixture("account_result.json"), Chat: "Наука и Код", Index: 2, MessageID: 12,
				Reason: "field text is neither a string nor an array"}},
		},
		{
			file:   "broken.jsonl",
			format: FormatAuto,
			want: []*events.PostParsed{
				expected(fixtureChannel, "Наука и Код", 101, "2024-12-05T08:15:00Z",
					"**Новый рекорд квантовых вычислений**\n\nКоманда физиков удержала кубит в когерентном состоянии почти секунду. [Подробнее](https://example.org/quantum-record), обсуждение на https://news.example.com/item?id=42.",
					[]string{"https://example.org/quantum-record", "https://news.example.com/item?id=42"}, false, 0),
				expected(fixtureChannel, "Наука и Код", 102, "2024-12-05T06:00:00Z",
					"Что такое кубит, проще всего объясняет Википедия (см. https://en.wikipedia.org/wiki/Qubit_(disambiguation))",
					[]string{"https://en.wikipedia.org/wiki/Qubit_(disambiguation)"}, false, 0),
				expected(fixtureChannel, "Наука и Код", 105, "2024-12-05T12:30:00Z",
					"Вечерний дайджест: https://example.org/digest/2024-12-05, https://example.org/digest/2024-12-05 и https://t.me/naukaikod/3!",
					[]string{"https://example.org/digest/2024-12-05", "https://t.me/naukaikod/3"}, false, 0),
			},
			wantCounts: Counts{Posts: 3, SkippedEmpty: 1, Malformed: 4},
			wantProblems: []Problem{
				{File: fixture("broken.jsonl"), Line: 3, Index: -1, Reason: "invalid JSON: unexpected end of JSON input"},
				{File: fixture("broken.jsonl"), Line: 4, Index: -1, Reason: "JSON but not an object"},
				{File: fixture("broken.jsonl"), Line: 5, Index: -1, Reason: "field message_id has the wrong type (string, want int64)"},
				{File: fixture("broken.jsonl"), Line: 9, Index: -1, MessageID: 107, Reason: "missing field date"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, problems, counts, err := readAll(t, fixture(tt.file), tt.format)
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			stripRunFields(t, got)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, *got[i], *tt.want[i])
				}
				if err := got[i].Validate(); err != nil {
					t.Errorf("event %d does not validate: %v", i, err)
				}
			}
			if counts != tt.wantCounts {
				t.Errorf("counts = %+v, want %+v", counts, tt.wantCounts)
			}
			if !reflect.DeepEqual(problems, tt.wantProblems) {
				t.Errorf("problems:\n got %+v\nwant %+v", problems, tt.wantProblems)
			}
		})
	}
}

func TestPostIDsAgreeAcrossFormatsAndRuns(t *testing.T) {
	single, _, _, err := readAll(t, fixture("result.json"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	again, _, _, err := readAll(t, fixture("result.json"), FormatExport)
	if err != nil {
		t.Fatal(err)
	}
	account, _, _, err := readAll(t, fixture("account_result.json"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	for i := range single {
		if single[i].PostID != again[i].PostID {
			t.Errorf("post %d: ids differ between runs: %s, %s", single[i].TGMessageID, single[i].PostID, again[i].PostID)
		}
		if single[i].TraceID == again[i].TraceID {
			t.Errorf("post %d: trace ids must be fresh per event", single[i].TGMessageID)
		}
	}
	// The same channel post read from a single-chat export, a full-account
	// export and a corpus-format line has one id.
	line := `{"channel_id": -1001843271905, "channel": "Наука и Код", "message_id": 3, "date": "2024-12-03T09:30:00+00:00", "text": "x"}`
	var fromJSONL *events.PostParsed
	if _, err := Read(context.Background(), strings.NewReader(line), "inline", FormatAuto,
		func(ev *events.PostParsed) error { fromJSONL = ev; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if single[1].PostID != account[1].PostID || single[1].PostID != fromJSONL.PostID || single[1].TGMessageID != 3 {
		t.Errorf("post 3 ids: single %s, account %s, jsonl %s", single[1].PostID, account[1].PostID, fromJSONL.PostID)
	}
}

func TestPostIDIsStable(t *testing.T) {
	// Every post id ever published depends on the namespace: pin it.
	if got := uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/assistant-dev/assistant/ingest#post")).String(); got != PostNamespace {
		t.Errorf("PostNamespace = %s, derivation gives %s", PostNamespace, got)
	}
	if got, want := PostID("-1001000724666", 11877), "0a36117b-e3c8-5248-835a-1cadb2988324"; got != want {
		t.Errorf("PostID = %s, want %s", got, want)
	}
}

func TestDetectFormat(t *testing.T) {
	big := `{"about": "` + strings.Repeat("x", 2*sniffBytes) + `", "chats": {"list": []}}`
	tests := []struct {
		name, input string
		want        Format
	}{
		{"corpus line", `{"channel_id": -1001, "message_id": 1, "text": "messages"}` + "\n" + `{"channel_id": -1001}`, FormatJSONL},
		{"corpus line with nested value", `{"channel_id": -1001, "extra": {"messages": []}}`, FormatJSONL},
		{"single chat", "\n  {\n \"name\": \"x\",\n \"type\": \"public_channel\",\n \"id\": 1,\n \"messages\": []\n}", FormatExport},
		{"full account", `{"about": "…", "personal_information": {"user_id": 1}, "chats": {"list": []}}`, FormatExport},
		{"full account, chats beyond the window", big, FormatExport},
		{"array", `[1, 2]`, FormatJSONL},
		{"truncated first line", `{"channel_id": -1001, "date": "2024`, FormatJSONL},
		{"empty", ``, FormatJSONL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.input), sniffBytes)
			if got := detectFormat(br); got != tt.want {
				t.Errorf("detectFormat = %s, want %s", got, tt.want)
			}
		})
	}
	sample, _ := os.Open(testenv.SamplePath())
	defer sample.Close()
	if got := detectFormat(bufio.NewReaderSize(sample, sniffBytes)); got != FormatJSONL {
		t.Errorf("sample detected as %s", got)
	}
}

func TestReadExportEdgeCases(t *testing.T) {
	tests := []struct {
		name         string
		input        string
		wantIDs      []string // channel_id:message_id of the evs
		wantCounts   Counts
		wantErr      bool
		wantProblems []string
	}{
		{
			name: "messages before type and id",
			input: `{"messages": [{"id": 1, "type": "message", "date_unixtime": "1733123100", "text": "первый"}],
			         "name": "Канал", "type": "private_channel", "id": 42}`,
			wantIDs:    []string{"-1000000000042:1"},
			wantCounts: Counts{Posts: 1},
		},
		{
			name: "no chat id: from_id decides",
			input: `{"name": "Канал", "messages": [
			  {"id": 7, "type": "message", "date_unixtime": 1733123100, "from_id": "channel1843271905", "text": "число вместо строки в date_unixtime"}]}`,
			wantIDs:    []string{"-1001843271905:7"},
			wantCounts: Counts{Posts: 1},
		},
		{
			name: "old export without date_unixtime nor text_entities",
			input: `{"name": "Канал", "type": "public_channel", "id": 5, "messages": [
			  {"id": 1, "type": "message", "date": "2019-05-01T10:00:00", "text": ["см. ", {"type": "link", "text": "https://example.org"}]}]}`,
			wantIDs:    []string{"-1000000000005:1"},
			wantCounts: Counts{Posts: 1},
		},
		{
			name: "malformed messages are skipped, the rest goes on",
			input: `{"name": "Канал", "type": "public_channel", "id": 5, "messages": [
			  "not an object",
			  {"id": "x", "type": "message", "date_unixtime": "1733123100", "text": "bad id"},
			  {"id": 2, "type": "message", "text": "no date"},
			  {"id": 3, "type": "message", "date_unixtime": "soon", "text": "bad date"},
			  {"id": 4, "type": "message", "date_unixtime": "1733123100", "text": [1]},
			  {"id": 5, "type": "message", "date_unixtime": "1733123100", "text": "хороший"}]}`,
			wantIDs:    []string{"-1000000000005:5"},
			wantCounts: Counts{Posts: 1, Malformed: 5},
			wantProblems: []string{
				`messages[0]: wrong type (string, want ingest.exportMessage)`,
				`messages[1]: field id has the wrong type (string, want int64)`,
				`messages[2] (message 2): missing field date_unixtime`,
				`messages[3] (message 3): "soon" is not an integer`,
				`messages[4] (message 4): field text[0] is neither a string nor an entity object`,
			},
		},
		{
			name: "truncated export: posts before the break are kept",
			input: `{"name": "Канал", "type": "public_channel", "id": 5, "messages": [
			  {"id": 1, "type": "message", "date_unixtime": "1733123100", "text": "до обрыва"},
			  {"id": 2, "type": "message", "date_unixt`,
			wantIDs:      []string{"-1000000000005:1"},
			wantCounts:   Counts{Posts: 1},
			wantErr:      true,
			wantProblems: []string{`messages[1]: export unreadable at byte`},
		},
		{
			name:         "chats of the wrong shape",
			input:        `{"name": "Канал", "chats": 1}`,
			wantCounts:   Counts{Malformed: 1},
			wantProblems: []string{`chats is not an object`},
		},
		{
			name:         "neither messages nor chats",
			input:        `{"name": "Канал", "type": "public_channel"}`,
			wantErr:      true,
			wantProblems: []string{`the export has neither messages nor chats`},
		},
		{
			name:         "not an object",
			input:        `[{"id": 1}]`,
			wantErr:      true,
			wantProblems: []string{`the export is not a JSON object`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ids []string
			var problems []Problem
			counts, err := Read(context.Background(), strings.NewReader(tt.input), "in", FormatExport,
				func(ev *events.PostParsed) error {
					if err := ev.Validate(); err != nil {
						t.Errorf("invalid event: %v", err)
					}
					ids = append(ids, ev.ChannelID+":"+strconv.FormatInt(ev.TGMessageID, 10))
					return nil
				},
				func(p Problem) { problems = append(problems, p) })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids = %q, want %q", ids, tt.wantIDs)
			}
			if counts != tt.wantCounts {
				t.Errorf("counts = %+v, want %+v", counts, tt.wantCounts)
			}
			if len(problems) != len(tt.wantProblems) {
				t.Fatalf("problems = %v, want %d", problems, len(tt.wantProblems))
			}
			for i, p := range problems {
				if !strings.Contains(p.String(), tt.wantProblems[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, p.String(), tt.wantProblems[i])
				}
			}
		})
	}
}

func TestReadJSONLLongLine(t *testing.T) {
	var in bytes.Buffer
	in.WriteString(`{"channel_id": -1001, "message_id": 1, "date": "2024-12-05T08:15:00Z", "text": "`)
	in.WriteString(strings.Repeat("я", MaxLineBytes/2+10))
	in.WriteString("\"}\r\n")
	in.WriteString(`{"channel_id": -1001, "message_id": 2, "date": "2024-12-05T08:15:00Z", "text": "после длинной строки"}` + "\r\n")
	in.WriteString(`{"channel_id": -1001, "message_id": 3, "date": "2024-12-05T08:15:00Z", "text": "` + strings.Repeat("ю", 700_000) + `"}`) // longer than the reader's buffer, no final newline
	var got []int64
	var problems []Problem
	counts, err := Read(context.Background(), &in, "long.jsonl", FormatJSONL,
		func(ev *events.PostParsed) error { got = append(got, ev.TGMessageID); return nil },
		func(p Problem) { problems = append(problems, p) })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []int64{2, 3}) {
		t.Errorf("posts %v, want [2 3]", got)
	}
	if len(problems) != 1 || problems[0].Line != 1 || !strings.Contains(problems[0].Reason, "longer than") {
		t.Errorf("problems = %+v", problems)
	}
	if counts.Malformed != 1 || counts.Posts != 2 {
		t.Errorf("counts = %+v", counts)
	}
}

func TestReadStopsOnEmitErrorAndCancel(t *testing.T) {
	stop := errorString("stop")
	n := 0
	_, err := ReadFile(context.Background(), testenv.SamplePath(), FormatAuto,
		func(*events.PostParsed) error {
			if n++; n == 3 {
				return stop
			}
			return nil
		}, nil)
	if err != stop || n != 3 {
		t.Errorf("err = %v after %d posts, want the emit error after 3", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadFile(ctx, testenv.SamplePath(), FormatAuto, func(*events.PostParsed) error { return nil }, nil); err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
