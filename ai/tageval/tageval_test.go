package tageval

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/assistant-dev/assistant/ai"
)

func TestStemKey(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"Иран", "Ирана", true},
		{"Украина", "Украины", true},
		{"Украине", "Украина", true},
		{"Москве", "Москва", true},
		{"Хантера Байдена", "Хантер Байден", true},
		{"тормозные нейроны", "тормозных нейронов", true},
		{"России", "Россия", true},
		{"Vector Databases", "vector database", true},
		{"libraries", "library", true},
		{"ИИ", "ИИ", true},
		{"Иран", "Ирак", false},
		{"Байден", "Хантер Байден", false},
		{"class", "clas", false},
		{"Go", "Golang", false},
	}
	for _, tt := range tests {
		if got := StemKey(tt.a) == StemKey(tt.b); got != tt.same {
			t.Errorf("StemKey(%q)=%q, StemKey(%q)=%q: same=%v, want %v", tt.a, StemKey(tt.a), tt.b, StemKey(tt.b), got, tt.same)
		}
	}
}

func TestMatchesOneToOne(t *testing.T) {
	gold := []string{"Иран", "санкции"}
	if n := Matches([]string{"Ирана", "Иран", "санкциях"}, gold, StemKey); n != 2 {
		t.Errorf("stem matches = %d, want 2 (one per keyword)", n)
	}
	if n := Matches([]string{"Ирана", "Иран", "санкциях"}, gold, ExactKey); n != 1 {
		t.Errorf("exact matches = %d, want 1", n)
	}
}

// fixedTagger answers with the given tags for every text.
type fixedTagger []string

func (f fixedTagger) Tag(_ context.Context, req ai.TagRequest) (ai.TagResponse, error) {
	raw, _ := json.Marshal([]string(f))
	return ai.TagResponse{Raw: string(raw)}, nil
}

func TestEvaluateScores(t *testing.T) {
	items := []Item{
		{PostID: "1", Text: "Иран и США обсудили санкции против Ирана.", Keywords: []string{"Иран", "США", "санкции", "переговоры"}},
	}
	// "переговоры" is not in the text: the validator drops it, so it
	// counts neither as proposed-and-kept nor as a match.
	rep, err := Evaluate(context.Background(), fixedTagger{"Ирана", "США", "обсудили", "переговоры"}, items, Options{K: 5})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Proposed != 4 || rep.Grounded != 3 {
		t.Errorf("proposed/grounded = %d/%d, want 4/3", rep.Proposed, rep.Grounded)
	}
	// exact: 1 of 3 tags (США), 1 of 4 keywords; stem: 2 of 3, 2 of 4.
	if got, want := rep.Exact, (Scores{1.0 / 3, 0.25, 2 * (1.0 / 3) * 0.25 / (1.0/3 + 0.25)}); !near(got, want) {
		t.Errorf("exact = %v, want %v", got, want)
	}
	if got, want := rep.Stem, (Scores{2.0 / 3, 0.5, 2 * (2.0 / 3) * 0.5 / (2.0/3 + 0.5)}); !near(got, want) {
		t.Errorf("stem = %v, want %v", got, want)
	}
}

func near(a, b Scores) bool {
	d := func(x, y float64) bool { return x-y < 1e-9 && y-x < 1e-9 }
	return d(a.P, b.P) && d(a.R, b.R) && d(a.F1, b.F1)
}

func TestLoadGold(t *testing.T) {
	var items []Item
	for _, part := range []string{"tuning", "heldout"} {
		got, err := Load("../../testdata/tags-gold/" + part + ".jsonl")
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, got...)
	}
	if len(items) != 150 {
		t.Errorf("%d gold posts, want 150", len(items))
	}
	for _, it := range items {
		if n := len(it.Keywords); n < 3 || n > 6 {
			t.Errorf("post %s: %d keywords, want 3–6", it.PostID, n)
		}
		raw, _ := json.Marshal(it.Keywords)
		if got := ai.ValidateTags(string(raw), it.Text, 10).Tags; len(got) != len(it.Keywords) {
			t.Errorf("post %s: keywords %q, only %q occur in the text", it.PostID, it.Keywords, got)
		}
	}
}
