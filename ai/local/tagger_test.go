package local

import (
	"context"
	"encoding/json"
	"flag"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/internal/testenv"
)

var corpusPath = flag.String("corpus", "", "JSONL corpus for TestCorpusQuality (default: the committed sample)")

// TestCorpusQuality measures the tagger the way the tag stage uses it: the
// whole text (the local tagger reads it all), the channel passed, tags
// validated with max 5; every tag must be grounded. Run it over the full
// corpus with -corpus=/work/shared/testdata/telegram-news-ru/posts.jsonl.
func TestCorpusQuality(t *testing.T) {
	path := *corpusPath
	if path == "" {
		path = testenv.SamplePath()
	}
	posts := testenv.ReadPosts(t, path, 0)
	tagger := NewTagger()
	ctx := context.Background()
	var long, longWith3, tagsTotal, tagsProposed, grounded int
	examples := 0
	for _, p := range posts {
		input := p.Text
		resp, err := tagger.Tag(ctx, ai.TagRequest{Text: input, MaxTags: 5, Channel: p.Channel})
		if err != nil {
			t.Fatalf("tag: %v", err)
		}
		var proposed []string
		if err := json.Unmarshal([]byte(resp.Raw), &proposed); err != nil {
			t.Fatalf("raw %q is not a JSON array: %v", resp.Raw, err)
		}
		res := ai.ValidateTags(resp.Raw, input, 5)
		tagsProposed += len(proposed)
		tagsTotal += len(res.Tags)
		folded := ai.FoldTag(input)
		for _, tag := range res.Tags {
			if strings.Contains(folded, ai.FoldTag(tag)) {
				grounded++
			}
		}
		if len(res.Tags) != len(proposed) {
			t.Errorf("validator dropped tags %q → %q (%v) of %q", proposed, res.Tags, res.Rejected, input)
		}
		if utf8.RuneCountInString(p.Text) >= 80 {
			long++
			if len(res.Tags) >= 3 {
				longWith3++
			} else if testing.Verbose() {
				t.Logf("fewer than 3 tags %q: %q", res.Tags, firstRunes(p.Text, 200))
			}
		}
		if examples < 10 && utf8.RuneCountInString(p.Text) >= 80 && len(posts) > 0 && (len(posts) < 20 || (long%(len(posts)/12+1)) == 0) {
			examples++
			t.Logf("example %q\n    tags %q", firstRunes(p.Text, 100), res.Tags)
		}
	}
	if long == 0 || tagsTotal == 0 {
		t.Fatalf("no posts of ≥ 80 characters in %s", path)
	}
	share3 := float64(longWith3) / float64(long)
	shareGrounded := float64(grounded) / float64(tagsTotal)
	t.Logf("corpus %s: %d posts, %d of ≥ 80 chars; %.2f%% of them got ≥ 3 tags; %d tags, %.2f%% in the text; %d proposed",
		path, len(posts), long, 100*share3, tagsTotal, 100*shareGrounded, tagsProposed)
	if share3 < 0.90 {
		t.Errorf("only %.2f%% of posts ≥ 80 chars got ≥ 3 tags, want ≥ 90%%", 100*share3)
	}
	if grounded != tagsTotal {
		t.Errorf("%d of %d tags not in the text", tagsTotal-grounded, tagsTotal)
	}
}

func firstRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

func TestTaggerDeterministicAndGrounded(t *testing.T) {
	posts := testenv.SamplePosts(t, 0)
	a, b := NewTagger(), NewTagger()
	for _, p := range posts[:100] {
		ra, _ := a.Tag(context.Background(), ai.TagRequest{Text: p.Text, MaxTags: 5})
		for range 3 {
			rb, _ := b.Tag(context.Background(), ai.TagRequest{Text: p.Text, MaxTags: 5})
			if ra != rb {
				t.Fatalf("not deterministic: %q vs %q", ra.Raw, rb.Raw)
			}
		}
	}
}

func TestTaggerTable(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []string // tags that must be among the answer
		notWant []string // substrings no tag may contain
	}{
		{
			name:    "markdown, URLs, emoji and hashtags",
			text:    "👀 **Ретроспектива развития архитектуры Redis**: на заметку разработчику\n\n👉 [Источник](https://twitter.com/alexxubyte/status/1772650411327136146)\n\n#инфографика https://habr.com/ru/articles/846908/?telegram_habr",
			want:    []string{"Redis"},
			notWant: []string{"http", "twitter", "habr", "*", "#", "](", "Источник", "alexxubyte"},
		},
		{
			name:    "news",
			text:    "Сбер представил GigaChat 2. Новая версия GigaChat умеет работать с документами, сообщил Сбер в среду. Подписаться: @sberbank",
			want:    []string{"GigaChat", "Сбер"},
			notWant: []string{"sberbank", "Подписаться", "сообщил"},
		},
		{
			name:    "english",
			text:    "OpenAI released a new reasoning model for developers. The model beats previous benchmarks on math and coding tasks. Read more at openai.com",
			want:    []string{"OpenAI"},
			notWant: []string{"openai.com", "Read more", "the "},
		},
	}
	tagger := NewTagger()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tagger.Tag(context.Background(), ai.TagRequest{Text: tt.text, MaxTags: 5})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Provider != "local" || resp.Model != TaggerModel {
				t.Errorf("provider/model = %s/%s", resp.Provider, resp.Model)
			}
			res := ai.ValidateTags(resp.Raw, tt.text, 5)
			var proposed []string
			_ = json.Unmarshal([]byte(resp.Raw), &proposed)
			if !reflect.DeepEqual(proposed, res.Tags) {
				t.Errorf("validation changed tags: %q → %q", proposed, res.Tags)
			}
			if len(res.Tags) < 3 {
				t.Errorf("only %d tags: %q", len(res.Tags), res.Tags)
			}
			for _, w := range tt.want {
				found := false
				for _, tag := range res.Tags {
					if strings.Contains(tag, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no tag contains %q: %q", w, res.Tags)
				}
			}
			for _, nw := range tt.notWant {
				for _, tag := range res.Tags {
					if strings.Contains(strings.ToLower(tag), strings.ToLower(nw)) {
						t.Errorf("tag %q contains %q", tag, nw)
					}
				}
			}
		})
	}
}

func TestTaggerEdgeCases(t *testing.T) {
	tagger := NewTagger()
	for _, text := range []string{"", "   ", "https://example.com", "и в на", "🚀🚀🚀", "a"} {
		resp, err := tagger.Tag(context.Background(), ai.TagRequest{Text: text, MaxTags: 5})
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if res := ai.ValidateTags(resp.Raw, text, 5); len(res.Tags) != 0 {
			t.Errorf("%q: tags %q", text, res.Tags)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tagger.Tag(ctx, ai.TagRequest{Text: "Сбер"}); err == nil {
		t.Error("cancelled context: no error")
	}
}

func BenchmarkLocalTagger(b *testing.B) {
	posts := testenv.SamplePosts(b, 0)
	tagger := NewTagger()
	ctx := context.Background()
	tags := 0
	b.ResetTimer()
	i := 0
	for b.Loop() {
		p := posts[i%len(posts)]
		i++
		resp, err := tagger.Tag(ctx, ai.TagRequest{Text: ai.CutInput(p.Text, 1000), MaxTags: 5})
		if err != nil {
			b.Fatal(err)
		}
		tags += len(ai.ValidateTags(resp.Raw, p.Text, 5).Tags)
	}
	b.ReportMetric(float64(tags)/b.Elapsed().Seconds(), "tags/s")
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "posts/s")
}
