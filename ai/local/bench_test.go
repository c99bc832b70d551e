package local_test

import (
	"context"
	"testing"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// BenchmarkTaggers compares keyphrase-v1 (the copy in oldtagger_test.go)
// with today's tagger on the committed 500-post sample, whole texts, five
// tags, the channel passed (so v2 pays for its in-process statistics). One
// op is one post; compare the ns/op of the two in the same run:
//
//	go test ./ai/local -run '^$' -bench Taggers -benchtime 3000x
func BenchmarkTaggers(b *testing.B) {
	posts := testenv.SamplePosts(b, 0)
	taggers := []struct {
		name   string
		tagger ai.Tagger
	}{
		{"v1", newOldTagger()},
		{"v2", local.NewTagger()},
	}
	for _, tt := range taggers {
		b.Run(tt.name, func(b *testing.B) {
			ctx := context.Background()
			i := 0
			for b.Loop() {
				p := posts[i%len(posts)]
				i++
				if _, err := tt.tagger.Tag(ctx, ai.TagRequest{Text: p.Text, MaxTags: 5, Channel: p.Channel}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
