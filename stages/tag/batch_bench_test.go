package tag_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/aitest"
	"github.com/assistant-dev/assistant/ai/gigachat"
	"github.com/assistant-dev/assistant/ai/openai"
	"github.com/assistant-dev/assistant/ai/openrouter"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/stages/tag"
)

// Scripted model faults of BenchmarkPromptBatch, per post of a batched
// answer and per batched call. They are not a model's measured error rates
// (no model runs here): they make the cost of the fallback visible.
const (
	faultDropPerMille    = 20 // a post left out of the answer
	faultSwapPerMille    = 10 // a post given tags of another post
	faultInvalidPerMille = 20 // an answer cut off (invalid JSON)
)

func hashOf(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// faultyModel answers the batched prompt with the scripted faults,
// deterministic per post (by its text), and single prompts correctly.
func faultyModel(model string, messages []aitest.Message) string {
	user := messages[len(messages)-1].Content
	posts := ai.SplitBatchPrompt(user)
	if posts == nil {
		return aitest.EchoTags(model, messages)
	}
	answer := map[string]json.RawMessage{}
	for i, p := range posts {
		switch h := hashOf(p) % 1000; {
		case h < faultDropPerMille:
		case h < faultDropPerMille+faultSwapPerMille:
			answer[strconv.Itoa(i+1)] = json.RawMessage(`["Луна-25", "Роскосмос"]`)
		default:
			answer[strconv.Itoa(i+1)] = json.RawMessage(aitest.EchoTags(model, []aitest.Message{{Content: p}}))
		}
	}
	b, _ := json.Marshal(answer)
	if hashOf(user)%1000 < faultInvalidPerMille {
		return string(b[:len(b)/2])
	}
	return string(b)
}

// emulated is one provider behind the stage, with its emulator's counters.
type emulated struct {
	tagger   ai.Tagger
	requests func() int
	tokens   func() int
}

func emulatedProviders(b *testing.B) map[string]func() emulated {
	return map[string]func() emulated{
		"gigachat": func() emulated {
			emu := aitest.NewGigaChat(b, aitest.Config{Chat: faultyModel})
			c := config.Default().AI.GigaChat
			c.APIKey, c.BaseURL, c.AuthURL = "test-key", emu.BaseURL(), emu.AuthURL()
			cl, err := gigachat.New(c, nil)
			if err != nil {
				b.Fatal(err)
			}
			return emulated{cl.Tagger(), func() int { return emu.Requests(aitest.KindChat) }, emu.PromptTokens}
		},
		"openrouter": func() emulated {
			emu := aitest.NewOpenRouter(b, aitest.Config{Chat: faultyModel})
			c := config.Default().AI.OpenRouter
			c.APIKey, c.BaseURL = "test-key", emu.BaseURL()
			cl, err := openrouter.New(c, nil)
			if err != nil {
				b.Fatal(err)
			}
			return emulated{cl.Tagger(), func() int { return emu.Requests(aitest.KindChat) }, emu.PromptTokens}
		},
		"openai": func() emulated {
			emu := aitest.NewOpenAICompat(b, aitest.Ollama, aitest.Config{Chat: faultyModel}, aitest.CompatOptions{})
			c := config.Default().AI.OpenAI
			c.BaseURL, c.ChatModel = emu.BaseURL(), "qwen2.5:7b"
			cl, err := openai.New(openai.FromConfig(c), nil)
			if err != nil {
				b.Fatal(err)
			}
			return emulated{cl.Tagger(), func() int { return emu.Requests(aitest.KindChat) }, emu.PromptTokens}
		},
	}
}

// BenchmarkPromptBatch measures what stages.tag.prompt_batch saves: chat
// calls per post, estimated prompt tokens per post (aitest.EstimateTokens)
// and the share of posts tagged again alone, for each provider's emulation
// at batch sizes 1, 5, 10, 20, over the long posts (≥ min_chars) of the
// committed 500-post sample, handed to the stage 40 at a time (as the
// runner hands it batch_size entries). The model faults are scripted
// (faultDropPerMille and the others above). Run it once:
//
//	go test ./stages/tag -run '^$' -bench PromptBatch -benchtime 1x
func BenchmarkPromptBatch(b *testing.B) {
	var posts []*events.PostParsed
	for i, p := range testenv.SamplePosts(b, 0) {
		if len([]rune(p.Text)) >= 80 {
			posts = append(posts, parsedEvent(p, i))
		}
	}
	for _, name := range []string{"gigachat", "openrouter", "openai"} {
		for _, size := range []int{1, 5, 10, 20} {
			b.Run(fmt.Sprintf("%s/batch=%d", name, size), func(b *testing.B) {
				var calls, tokens, fallbacks, n int
				for range b.N {
					emu := emulatedProviders(b)[name]()
					rdb, prefix := testenv.Redis(b)
					cfg := testenv.Config(b, prefix, "")
					set := tag.DefaultConfig()
					set.PromptBatch = size
					reg := prometheus.NewRegistry()
					st, err := tag.NewWithTagger(pipeline.Deps{
						Config: cfg, StageConfig: set, Redis: rdb, Keys: pipeline.Keys{Prefix: prefix},
						Logger: slog.New(slog.DiscardHandler), Metrics: reg,
					}, emu.tagger)
					if err != nil {
						b.Fatal(err)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					for start := 0; start < len(posts); start += 40 {
						var batch []*pipeline.Message
						for i, ev := range posts[start:min(start+40, len(posts))] {
							values, err := events.Encode(ev)
							if err != nil {
								b.Fatal(err)
							}
							batch = append(batch, &pipeline.Message{Stream: cfg.Streams.Parsed, ID: strconv.Itoa(start+i) + "-0", Values: values, Attempt: 1})
						}
						if err := st.Handle(ctx, batch); err != nil {
							b.Fatal(err)
						}
						for _, m := range batch {
							if m.Err() != nil {
								b.Fatalf("post failed: %v", m.Err())
							}
						}
					}
					cancel()
					calls += emu.requests()
					tokens += emu.tokens()
					fallbacks += int(sumCounter(b, reg, "tagging_batch_fallbacks_total"))
					n += len(posts)
				}
				b.ReportMetric(float64(calls)/float64(n), "calls/post")
				b.ReportMetric(float64(tokens)/float64(n), "prompt_tokens/post")
				b.ReportMetric(100*float64(fallbacks)/float64(n), "fallback_%")
				b.ReportMetric(float64(n)/float64(b.N), "posts")
			})
		}
	}
}

func sumCounter(b *testing.B, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
