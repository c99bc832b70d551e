package local

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestDocFreqStores checks both tables against the same expectations: the
// share of a channel's posts holding a term, channels kept apart, and the
// bound on terms held (halving past it). Redis is the real server.
func TestDocFreqStores(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	stores := map[string]func(max int) (DocFreq, func(ch string) int){
		"memory": func(max int) (DocFreq, func(string) int) {
			m := NewMemoryDocFreq(max)
			return m, m.Len
		},
		"redis": func(max int) (DocFreq, func(string) int) {
			r := NewRedisDocFreq(rdb, prefix+fmt.Sprint(max)+":", max)
			return r, func(ch string) int {
				n, err := rdb.HLen(context.Background(), r.Key(ch)).Result()
				if err != nil {
					t.Fatal(err)
				}
				return int(n) - 1
			}
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			df, _ := mk(1000)
			var shares []float64
			var docs int
			var err error
			for i := range 10 {
				terms := []string{"vpn", fmt.Sprintf("word%d", i)}
				if i%2 == 0 {
					terms = append(terms, "even")
				}
				shares, docs, err = df.Observe(ctx, "-1001", terms)
				if err != nil {
					t.Fatal(err)
				}
			}
			// The 10th post: vpn in 10/10, word9 in 1/10.
			if docs != 10 || shares[0] != 1 || shares[1] != 0.1 {
				t.Errorf("docs %d shares %v, want 10 [1 0.1]", docs, shares)
			}
			shares, docs, _ = df.Observe(ctx, "-1002", []string{"vpn"})
			if docs != 1 || shares[0] != 1 {
				t.Errorf("other channel: docs %d shares %v, want 1 [1]", docs, shares)
			}
			shares, _, _ = df.Observe(ctx, "-1001", []string{"even"})
			if want := 6.0 / 11; shares[0] != want {
				t.Errorf("even: share %v, want %v", shares[0], want)
			}

			small, size := mk(50)
			for i := range 200 {
				if _, _, err := small.Observe(ctx, "c", []string{"sig", fmt.Sprintf("t%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			if n := size("c"); n > 51 || n < 1 {
				t.Errorf("table holds %d terms, bound 50", n)
			}
			shares, _, _ = small.Observe(ctx, "c", []string{"sig"})
			if shares[0] < 0.99 {
				t.Errorf("recurring term share %v after halving, want ≈1", shares[0])
			}
		})
	}
}

// bbcPost is a real corpus post shape: the news, then the channel's
// signature that closes most of its posts.
func bbcPost(news string) string {
	return news + "\n\n__Читать нас без VPN можно здесь: ____bit.ly/bbcrussian__"
}

// TestBoilerplateWeightedDown feeds a channel's posts through the tagger
// with the Redis table: once the channel has history, its signature
// («VPN») stops being a tag, while the same post in a fresh channel still
// gets it. Without Redis (a closed client) the tagger falls back to its
// in-process table and still answers.
func TestBoilerplateWeightedDown(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	posts := testenv.SamplePosts(t, 0)
	var bbc []string
	for _, p := range posts {
		if p.Channel == "BBC News | Русская служба" {
			bbc = append(bbc, p.Text)
		}
	}
	probe := bbcPost("**Катар отказался от посредничества**\n\nКатар больше не посредник между Израилем и ХАМАС.")
	fresh := NewTagger(WithDocFreq(NewRedisDocFreq(rdb, prefix+"fresh:", 0)))
	if tags := tagsOf(t, fresh, "bbc", probe); !containsFold(tags, "VPN") {
		t.Fatalf("without history the signature is expected among %q (test premise)", tags)
	}
	tagger := NewTagger(WithDocFreq(NewRedisDocFreq(rdb, prefix, 0)))
	for _, text := range bbc {
		tagsOf(t, tagger, "bbc", text)
	}
	n, err := rdb.HLen(ctx, prefix+"tagger:df:bbc").Result()
	if err != nil || n < 100 {
		t.Fatalf("Redis table holds %d terms (%v), want the channel's words", n, err)
	}
	tags := tagsOf(t, tagger, "bbc", probe)
	if containsFold(tags, "VPN") {
		t.Errorf("signature still a tag after %d posts of the channel: %q", len(bbc), tags)
	}
	if !containsFold(tags, "Катар") || !containsFold(tags, "ХАМАС") {
		t.Errorf("news lost: %q", tags)
	}

	dead := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr})
	dead.Close()
	offline := NewTagger(WithDocFreq(NewRedisDocFreq(dead, prefix, 0)))
	if tags := tagsOf(t, offline, "bbc", probe); !containsFold(tags, "Катар") {
		t.Errorf("with Redis down: %q, want tags from the in-process table", tags)
	}
}

func tagsOf(t *testing.T, tg *Tagger, channel, text string) []string {
	t.Helper()
	resp, err := tg.Tag(context.Background(), ai.TagRequest{Text: text, MaxTags: 5, Channel: channel})
	if err != nil {
		t.Fatal(err)
	}
	res := ai.ValidateTags(resp.Raw, text, 5)
	if len(res.Rejected) > 0 {
		t.Fatalf("validator rejected %v of %s", res.Rejected, resp.Raw)
	}
	return res.Tags
}

func containsFold(tags []string, want string) bool {
	return slices.ContainsFunc(tags, func(s string) bool { return strings.EqualFold(s, want) })
}
