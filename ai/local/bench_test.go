package local_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkTaggersInterleaved tags each post with v1 and then v2, timing
// each call, so both see the same machine load (other processes on a
// shared machine make back-to-back runs differ more than the taggers do).
// It reports each one's posts/s and v2's speed as a share of v1's:
//
//	go test ./ai/local -run '^$' -bench TaggersInterleaved -benchtime 5000x
func BenchmarkTaggersInterleaved(b *testing.B) {
	posts := testenv.SamplePosts(b, 0)
	v1, v2 := newOldTagger(), local.NewTagger()
	ctx := context.Background()
	var d1, d2 time.Duration
	i := 0
	for b.Loop() {
		p := posts[i%len(posts)]
		i++
		req := ai.TagRequest{Text: p.Text, MaxTags: 5, Channel: p.Channel}
		start := time.Now()
		if _, err := v1.Tag(ctx, req); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := v2.Tag(ctx, req); err != nil {
			b.Fatal(err)
		}
		d1 += mid.Sub(start)
		d2 += time.Since(mid)
	}
	b.ReportMetric(float64(i)/d1.Seconds(), "v1-posts/s")
	b.ReportMetric(float64(i)/d2.Seconds(), "v2-posts/s")
	b.ReportMetric(d1.Seconds()/d2.Seconds(), "v2/v1-speed")
}

// BenchmarkTaggerWithRedis is v2 as the daemon runs it — per-channel
// statistics in the real Redis, one Lua call per post — against v1, both
// called from 4 goroutines as the tag stage's 4 workers call them (the
// Redis round trip of one overlaps the others' work). Compare the two
// sub-benchmarks' posts/s in one run:
//
//	go test ./ai/local -run '^$' -bench TaggerWithRedis -benchtime 3000x
func BenchmarkTaggerWithRedis(b *testing.B) {
	posts := testenv.SamplePosts(b, 0)
	rdb, prefix := testenv.Redis(b)
	for _, tt := range []struct {
		name   string
		tagger ai.Tagger
	}{
		{"v1", newOldTagger()},
		{"v2-redis", local.NewTagger(local.WithDocFreq(local.NewRedisDocFreq(rdb, prefix, 0)))},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 workers
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					p := posts[int(next.Add(1))%len(posts)]
					if _, err := tt.tagger.Tag(ctx, ai.TagRequest{Text: p.Text, MaxTags: 5, Channel: p.Channel}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
		})
	}
}

// BenchmarkEmbedder embeds the 500-post sample one post per op: hashed
// words only, with the embedded word vectors (the default without a trained
// model), with an LSA model trained on the sample, and with the model and
// the word vectors (the default with a trained model):
//
//	go test ./ai/local -run '^$' -bench Embedder -benchtime 3000x
func BenchmarkEmbedder(b *testing.B) {
	posts := testenv.SamplePosts(b, 0)
	texts := make([]string, len(posts))
	for i, p := range posts {
		texts[i] = p.Text
	}
	m, err := local.Train(texts, local.TrainOptions{})
	if err != nil {
		b.Fatal(err)
	}
	embedders := []struct {
		name string
		e    *local.Embedder
	}{
		{"hash", local.NewEmbedder(384)},
		{"hash+wordvec", local.NewEmbedder(384, local.WithWordVectors(local.DefaultWordVectors(), local.DefaultWordVectorShare))},
		{"lsa", local.NewEmbedder(384, local.WithSemanticModel(m, 0.6))},
		{"lsa+wordvec", local.NewEmbedder(384, local.WithSemanticModel(m, local.DefaultSemanticShare),
			local.WithWordVectors(local.DefaultWordVectors(), local.DefaultWordVectorShare))},
	}
	for _, tt := range embedders {
		b.Run(tt.name, func(b *testing.B) {
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if _, err := tt.e.Embed(ctx, texts[i%len(texts):i%len(texts)+1]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkMatchTexts is the re-ranking cost of one query: the embedded
// word vectors' soft match of a query against 30, 50 and 100 posts of the
// sample (search.rerank's old default, its default, search.candidates).
// The windows cycle through the 500 posts, so after the first 500 texts
// every post is found in MatchTexts' cache of prepared texts: the figures
// are those of posts re-ranked again (a cold text also costs Stems and
// PrepareText, as every text did before the cache).
//
//	go test ./ai/local -run '^$' -bench MatchTexts
func BenchmarkMatchTexts(b *testing.B) {
	posts := testenv.SamplePosts(b, 0)
	texts := make([]string, len(posts))
	for i, p := range posts {
		texts[i] = p.Text
	}
	m, err := local.Train(texts, local.TrainOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e := local.NewEmbedder(384, local.WithSemanticModel(m, local.DefaultSemanticShare),
		local.WithWordVectors(local.DefaultWordVectors(), local.DefaultWordVectorShare))
	ctx := context.Background()
	for _, n := range []int{30, 50, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				head := texts[(i*n)%(len(texts)-n):][:n]
				if _, err := e.MatchTexts(ctx, "криптовалюта почти дошла до ста тысяч долларов", head); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
