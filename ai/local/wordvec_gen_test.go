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

// wordVecRawEnv names the directory holding the telegram-news-ru corpus as
// published (NKTKLN/telegram-news-classifier, data/raw/*.json, CC BY 4.0).
// With it set, TestWriteWordVectors rebuilds wordvec.bin.gz from the
// corpus, leaving out the posts of the 500-post sample the search sets are
// judged on (testdata/telegram-news-ru/sample.jsonl), so the table has not
// seen the evaluation targets.
const wordVecRawEnv = "WORDVEC_RAW"

// wordVecOptions are the options the embedded table is built with (chosen
// on testdata/search/paraphrase-tuning.json; docs/search.md).
var wordVecOptions = WordVectorOptions{Dim: 128, MinCount: 5, Window: 10}

func TestWriteWordVectors(t *testing.T) {
	dir := os.Getenv(wordVecRawEnv)
	if dir == "" {
		t.Skipf("%s not set", wordVecRawEnv)
	}
	docs, skipped := rawCorpus(t, dir, sampleKeys(t))
	if skipped != 500 {
		t.Fatalf("left out %d sample posts, want 500", skipped)
	}
	w, err := TrainWordVectors(docs, wordVecOptions)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(wordVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d posts, %d stems × %d in %s", len(docs), w.Len(), w.Dim, wordVectorsFile)
}

// sampleKeys are the "<channel_id>:<message_id>" keys of the 500-post
// sample.
func sampleKeys(t testing.TB) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "telegram-news-ru", "sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]bool{}
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
		keys[fmt.Sprint(p.ChannelID, ":", p.MessageID)] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// rawCorpus reads the distinct non-empty post texts of dir/*_messages.json,
// leaving out the posts whose keys are in exclude.
func rawCorpus(t testing.TB, dir string, exclude map[string]bool) (docs []string, skipped int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_messages.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *_messages.json in %s: %v", dir, err)
	}
	slices.Sort(files)
	seen := map[string]bool{}
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
			if exclude[fmt.Sprint(p.SenderID, ":", p.MessageID)] {
				skipped++
				continue
			}
			if strings.TrimSpace(p.Text) == "" || seen[p.Text] {
				continue
			}
			seen[p.Text] = true
			docs = append(docs, p.Text)
		}
	}
	return docs, skipped
}
