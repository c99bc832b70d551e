package ai

import (
	"slices"
	"strings"
	"testing"
)

var batchTexts = []string{
	"Сбер представил GigaChat на конференции в Москве",
	"Банк России сохранил ключевую ставку на уровне 16%",
	"Роскосмос перенёс запуск ракеты Ангара с Плесецка",
}

func TestBatchPromptRoundTrip(t *testing.T) {
	texts := append(slices.Clone(batchTexts), "пост с пустой строкой\n\nвнутри и «### Пост» в тексте")
	system, user := BuildBatchTagPrompt(texts, 5)
	if !strings.Contains(system, "JSON-объектом") || !strings.Contains(system, "3–5") {
		t.Errorf("system prompt %q", system)
	}
	if got := SplitBatchPrompt(user); !slices.Equal(got, texts) {
		t.Errorf("SplitBatchPrompt = %q, want %q", got, texts)
	}
	_, single := BuildTagPrompt("x", 5)
	if SplitBatchPrompt(single) != nil {
		t.Error("a single-post prompt read as a batch")
	}
}

func TestValidateBatch(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantTags  [][]string // nil entry: that post falls back
		wantWhy   []string
		wantExtra int
	}{
		{name: "all posts answered",
			raw:      `{"1": ["Сбер", "GigaChat"], "2": ["Банк России", "ключевую ставку"], "3": ["Роскосмос", "Ангара"]}`,
			wantTags: [][]string{{"Сбер", "GigaChat"}, {"Банк России", "ключевую ставку"}, {"Роскосмос", "Ангара"}},
			wantWhy:  []string{"", "", ""}},
		{name: "numbers mixed up: 2 and 3 swapped",
			raw:      `{"1": ["Сбер"], "2": ["Роскосмос", "Ангара"], "3": ["Банк России"]}`,
			wantTags: [][]string{{"Сбер"}, nil, nil},
			wantWhy:  []string{"", BatchUngrounded, BatchUngrounded}},
		{name: "one post dropped",
			raw:      `{"1": ["Сбер"], "3": ["Ангара"]}`,
			wantTags: [][]string{{"Сбер"}, nil, {"Ангара"}},
			wantWhy:  []string{"", BatchMissing, ""}},
		{name: "invalid JSON: cut off mid-answer",
			raw:      `{"1": ["Сбер"], "2": ["Банк Ро`,
			wantTags: [][]string{nil, nil, nil},
			wantWhy:  []string{BatchNoAnswer, BatchNoAnswer, BatchNoAnswer}},
		{name: "an array instead of an object",
			raw:      `[["Сбер"], ["Банк России"], ["Ангара"]]`,
			wantTags: [][]string{nil, nil, nil},
			wantWhy:  []string{BatchNoAnswer, BatchNoAnswer, BatchNoAnswer}},
		{name: "extra keys are ignored",
			raw:      `{"1": ["Сбер"], "2": [], "3": ["Ангара"], "4": ["Луна"], "note": "готово", "0": ["x"]}`,
			wantTags: [][]string{{"Сбер"}, {}, {"Ангара"}},
			wantWhy:  []string{"", "", ""}, wantExtra: 3},
		{name: "fenced, with prose, keys spelt as «Пост N»",
			raw:      "Вот ответ:\n```json\n{\"Пост 1\": [\"GigaChat\"], \"Пост 2\": [\"ключевую ставку\"], \"#3\": [\"Плесецка\"]}\n```",
			wantTags: [][]string{{"GigaChat"}, {"ключевую ставку"}, {"Плесецка"}},
			wantWhy:  []string{"", "", ""}},
		{name: "a value that is not an array",
			raw:      `{"1": "Сбер, GigaChat", "2": ["Банк России"], "3": null}`,
			wantTags: [][]string{nil, {"Банк России"}, nil},
			wantWhy:  []string{BatchNotArray, "", BatchNotArray}},
		{name: "grounded per post: a tag from another post is dropped, the rest kept",
			raw:      `{"1": ["Сбер", "Ангара"], "2": ["ставку"], "3": ["ракеты"]}`,
			wantTags: [][]string{{"Сбер"}, {"ставку"}, {"ракеты"}},
			wantWhy:  []string{"", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, extra := ValidateBatch(tt.raw, batchTexts, 5)
			if extra != tt.wantExtra {
				t.Errorf("extra %d, want %d", extra, tt.wantExtra)
			}
			for i, p := range parts {
				if p.Fallback != tt.wantWhy[i] {
					t.Errorf("post %d: fallback %q, want %q", i+1, p.Fallback, tt.wantWhy[i])
				}
				if p.Fallback == "" && !slices.Equal(p.Result.Tags, tt.wantTags[i]) && (len(p.Result.Tags) != 0 || len(tt.wantTags[i]) != 0) {
					t.Errorf("post %d: tags %q, want %q", i+1, p.Result.Tags, tt.wantTags[i])
				}
			}
		})
	}
}
