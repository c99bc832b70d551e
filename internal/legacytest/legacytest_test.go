package legacytest

import (
	"strings"
	"testing"
	"time"
)

// TestOldTagsHashVectors checks the hash against the spec's test vectors
// (computed with the old Python code).
func TestOldTagsHashVectors(t *testing.T) {
	for _, tt := range []struct {
		tags []string
		want string
	}{
		{nil, "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},
		{[]string{"Python", "релиз", "производительность"}, "cb69c9ed575b8a569dbd5d9f8ee3200ee4aac0268b7b23f4cfe190bb86108a6e"},
		{[]string{"производительность", "Python", "релиз", "Python"}, "cb69c9ed575b8a569dbd5d9f8ee3200ee4aac0268b7b23f4cfe190bb86108a6e"},
		{[]string{"ИИ", "Сбер", "GigaChat 2"}, "0cf9b561544d3299fbf16786409f542a3d0f603ae99fab6255fe8a3d2f38d140"},
	} {
		if got := OldTagsHash(tt.tags); got != tt.want {
			t.Errorf("OldTagsHash(%q) = %s, want %s", tt.tags, got, tt.want)
		}
	}
}

func TestWireForms(t *testing.T) {
	at := time.Date(2024, 12, 4, 9, 0, 28, 0, time.UTC)
	fields := []Field{{"post_id", "p1"}, {"text", "Привет \"мир\"\n"}, {"has_media", true}, {"views_count", int64(42)},
		{"urls", []string{"https://пример.рф/a"}}, {"posted_at", at}, {"tenant_id", nil}}
	flat := Flat(fields...)
	want := map[string]string{"post_id": "p1", "text": "Привет \"мир\"\n", "has_media": "True", "views_count": "42",
		"urls": `["https://пример.рф/a"]`, "posted_at": "2024-12-04 09:00:28+00:00"}
	if len(flat) != len(want) {
		t.Fatalf("flat = %v", flat)
	}
	for k, v := range want {
		if flat[k] != v {
			t.Errorf("flat[%s] = %q, want %q", k, flat[k], v)
		}
	}
	data := Data(fields...)["data"].(string)
	if wantData := `{"post_id": "p1", "text": "Привет \"мир\"\n", "has_media": true, "views_count": 42, "urls": ["https://пример.рф/a"], "posted_at": "2024-12-04 09:00:28+00:00"}`; data != wantData {
		t.Errorf("data =\n%s\nwant\n%s", data, wantData)
	}
	if got := PyStr(at.Add(123456 * time.Microsecond)); got != "2024-12-04 09:00:28.123456+00:00" {
		t.Errorf("PyStr with microseconds = %s", got)
	}
}

func TestDecodeOldTagged(t *testing.T) {
	good := `{"schema_version": "v1", "trace_id": "t", "occurred_at": "2024-12-04T09:00:28Z", "idempotency_key": "p:tagged:v1", "post_id": "p", "tags": ["ИИ", "Сбер", "GigaChat 2"], "tags_hash": "0cf9b561544d3299fbf16786409f542a3d0f603ae99fab6255fe8a3d2f38d140", "metadata": {"model": "GigaChat"}, "user_id": "u1", "extra": 1}`
	ev, err := DecodeOldTagged(map[string]any{"data": good})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Metadata["model"] != "GigaChat" || *ev.UserID != "u1" || ev.Provider != "gigachat" {
		t.Errorf("decoded %+v", ev)
	}
	for name, bad := range map[string]string{
		"wrong key":      strings.Replace(good, "p:tagged:v1", "p:tagged:abc", 1),
		"wrong hash":     strings.Replace(good, "0cf9", "1cf9", 1),
		"int user":       strings.Replace(good, `"u1"`, `7`, 1),
		"missing hash":   strings.Replace(good, `"tags_hash"`, `"x"`, 1),
		"metadata list":  strings.Replace(good, `{"model": "GigaChat"}`, `[]`, 1),
		"bad occurrence": strings.Replace(good, `2024-12-04T09:00:28Z`, `yesterday`, 1),
	} {
		if _, err := DecodeOldTagged(map[string]any{"data": bad}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
