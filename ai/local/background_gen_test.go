package local

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// backgroundRawEnv names the directory holding the telegram-news-ru
// corpus as published (NKTKLN/telegram-news-classifier, data/raw/*.json,
// CC BY 4.0). With it set, TestWriteBackgroundDF rebuilds
// background_df.txt from the corpus, leaving out the posts of the judged
// gold set (testdata/tags-gold), so the table has not seen them.
const backgroundRawEnv = "TAGS_BACKGROUND_RAW"

func TestWriteBackgroundDF(t *testing.T) {
	dir := os.Getenv(backgroundRawEnv)
	if dir == "" {
		t.Skipf("%s not set", backgroundRawEnv)
	}
	gold := map[string]bool{}
	for _, part := range []string{"tuning", "heldout"} {
		f, err := os.Open(filepath.Join("..", "..", "testdata", "tags-gold", part+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var p struct {
				ChannelID int64 `json:"channel_id"`
				MessageID int64 `json:"message_id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			gold[fmt.Sprint(p.ChannelID, ":", p.MessageID)] = true
		}
		f.Close()
	}
	files, err := filepath.Glob(filepath.Join(dir, "*_messages.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *_messages.json in %s: %v", dir, err)
	}
	slices.Sort(files)
	tg := NewTagger(WithoutChannelStats())
	df := map[string]int{}
	docs, skipped := 0, 0
	seenText := map[string]bool{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var posts []struct {
			MessageID int64  `json:"message_id"`
			SenderID  int64  `json:"sender_id"`
			Text      string `json:"text"`
		}
		if err := json.Unmarshal(b, &posts); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, p := range posts {
			if strings.TrimSpace(p.Text) == "" || seenText[p.Text] {
				continue
			}
			if gold[fmt.Sprint(p.SenderID, ":", p.MessageID)] {
				skipped++
				continue
			}
			seenText[p.Text] = true
			docs++
			for s := range backgroundTerms(tg.tokenize(p.Text)) {
				df[s]++
			}
		}
	}
	if skipped != 150 {
		t.Fatalf("left out %d gold posts, want 150", skipped)
	}
	if err := os.WriteFile(backgroundFile, []byte(formatBackgroundDF(docs, df)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d posts, %d terms in %s (df >= %d)", docs, len(df), backgroundFile, backgroundMinDF)
}
