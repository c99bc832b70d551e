package extractbench

import (
	"math"
	"path/filepath"
	"testing"
)

const dataDir = "../testdata/article-extraction-benchmark"

func TestTokensAndShingles(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"Don’t stop—now!", []string{"Don", "t", "stop", "now"}},
		{"snake_case 3.14 Привет, мир 海外留学生", []string{"snake_case", "3", "14", "Привет", "мир", "海外留学生"}},
		{"", nil},
	}
	for _, tt := range tests {
		got := Tokens(tt.text)
		if len(got) != len(tt.want) {
			t.Fatalf("Tokens(%q) = %q, want %q", tt.text, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("Tokens(%q) = %q, want %q", tt.text, got, tt.want)
			}
		}
	}
	if got := shingles("a b"); len(got) != 1 || got["a\x00b"] != 1 {
		t.Errorf("short text shingles = %v", got)
	}
	if got := shingles("a b c d e"); len(got) != 2 {
		t.Errorf("shingles of 5 tokens = %v, want 2", got)
	}
}

func TestScorePage(t *testing.T) {
	same := Score("one two three four five", "one two three four five")
	if same.Precision() != 1 || same.Recall() != 1 || !same.Exact {
		t.Errorf("identical texts: %+v", same)
	}
	empty := Score("one two three four five", "")
	if empty.Precision() != 0 || empty.Recall() != 0 || !empty.LostHalf() {
		t.Errorf("empty prediction: %+v", empty)
	}
	half := Score("a b c d e f g h", "a b c d e")
	if half.Precision() != 1 || math.Abs(half.Recall()-0.4) > 1e-9 {
		t.Errorf("prefix prediction: p=%v r=%v", half.Precision(), half.Recall())
	}
}

// TestPublishedPeerScores checks the re-implementation of evaluate.py
// against figures the benchmark's README publishes for three peers whose
// outputs are copied in testdata: the same numbers, to three decimals.
func TestPublishedPeerScores(t *testing.T) {
	pages, err := Load(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 181 {
		t.Fatalf("%d pages, want 181", len(pages))
	}
	tests := []struct {
		name                  string
		f1, precision, recall float64
	}{
		{"go_readability", 0.934, 0.900, 0.971},
		{"trafilatura", 0.958, 0.938, 0.978},
		{"go_trafilatura", 0.960, 0.940, 0.980},
	}
	if raceEnabled || testing.Short() {
		tests = tests[:1]
	}
	for _, tt := range tests {
		pred, err := LoadPredictions(filepath.Join(dataDir, "output", tt.name+".json.gz"))
		if err != nil {
			t.Fatal(err)
		}
		m := ScorePredictions(pages, pred).All
		round := func(x float64) float64 { return math.Round(x*1000) / 1000 }
		if round(m.F1) != tt.f1 || round(m.Precision) != tt.precision || round(m.Recall) != tt.recall {
			t.Errorf("%s: F1 %.4f P %.4f R %.4f, published %.3f %.3f %.3f", tt.name, m.F1, m.Precision, m.Recall, tt.f1, tt.precision, tt.recall)
		}
	}
}
