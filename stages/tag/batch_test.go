package tag_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/aitest"
	"github.com/assistant-dev/assistant/ai/gigachat"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/internal/testenv"
	"github.com/assistant-dev/assistant/stages/tag"
)

// sloppyBatchModel answers like a model that mostly follows the batched
// prompt: a post whose text contains DROP is left out, one containing SWAP
// gets the words of the post after it that its own text lacks (a mix-up
// whose tags happen to occur in both texts is not detectable, and harmless:
// those tags are grounded in the post), and every answer carries an extra
// key. Single-post prompts are answered correctly (aitest.EchoTags).
func sloppyBatchModel(model string, messages []aitest.Message) string {
	posts := ai.SplitBatchPrompt(messages[len(messages)-1].Content)
	if posts == nil {
		return aitest.EchoTags(model, messages)
	}
	answer := map[string]json.RawMessage{"99": json.RawMessage(`["лишний"]`)}
	for i, p := range posts {
		switch {
		case strings.Contains(p, "DROP"):
		case strings.Contains(p, "SWAP"):
			other := []string{"Луна-25"}
			for _, w := range strings.Fields(posts[(i+1)%len(posts)]) {
				if len([]rune(w)) >= 4 && !strings.Contains(ai.FoldTag(p), ai.FoldTag(w)) && len(other) < 3 {
					other = append(other, w)
				}
			}
			b, _ := json.Marshal(other)
			answer[strconv.Itoa(i+1)] = b
		default:
			answer[strconv.Itoa(i+1)] = json.RawMessage(aitest.EchoTags(model, []aitest.Message{{Content: p}}))
		}
	}
	b, _ := json.Marshal(answer)
	return string(b)
}

// TestTagStageBatchesPromptsAndFallsBackPerPost: with GigaChat behind the
// stage and prompt_batch 5, posts share calls; a post the batched answer
// drops or mixes up is tagged again on its own, and every post ends with
// exactly the tags the single-post prompt gives it, grounded in its own
// text. The dedup marks are set per post, so a replay asks for nothing.
func TestTagStageBatchesPromptsAndFallsBackPerPost(t *testing.T) {
	t.Parallel()
	emu := aitest.NewGigaChat(t, aitest.Config{Chat: sloppyBatchModel})
	gcfg := config.Default().AI.GigaChat
	gcfg.APIKey, gcfg.BaseURL, gcfg.AuthURL = "test-key", emu.BaseURL(), emu.AuthURL()
	client, err := gigachat.New(gcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(t, prefix, "")
	set := tag.DefaultConfig()
	set.PromptBatch = 5
	cfg.Stages.Set(tag.Name, set)
	e := &env{rdb: rdb, prefix: prefix, cfg: cfg, set: set, done: make(chan error, 1)}
	var evs []*events.PostParsed
	for i, p := range testenv.SamplePosts(t, 0) {
		if len([]rune(p.Text)) < 200 || len(evs) == 20 {
			continue
		}
		ev := parsedEvent(p, i)
		switch len(evs) % 7 {
		case 2:
			ev.Text = "DROP " + ev.Text
		case 4:
			ev.Text = "SWAP " + ev.Text
		}
		evs = append(evs, ev)
	}
	e.publish(t, evs...) // before the stage starts, so batches are full
	e.start(t, client.Tagger())
	testenv.WaitFor(t, "all posts tagged", 30*time.Second, func() bool { return e.drained(t) })
	out := e.tagged(t)
	if len(out) != len(evs) {
		t.Fatalf("%d posts tagged, want %d", len(out), len(evs))
	}
	batched := 0
	for _, o := range out {
		text := o.Text
		want := ai.ValidateTags(aitest.EchoTags("", []aitest.Message{{Content: ai.CutInput(text, 1000)}}), text, 5).Tags
		if !slices.Equal(o.Tags, want) {
			t.Errorf("post %s: tags %q, want %q", o.PostID, o.Tags, want)
		}
		for _, tg := range o.Tags {
			if !grounded(text, tg) {
				t.Errorf("post %s: tag %q not in its text", o.PostID, tg)
			}
		}
		sloppy := strings.HasPrefix(text, "DROP") || strings.HasPrefix(text, "SWAP")
		if sloppy && o.PromptVersion != ai.PromptVersion {
			t.Errorf("post %s, mangled in the batch, has prompt_version %q: not tagged on its own", o.PostID, o.PromptVersion)
		}
		if o.PromptVersion == ai.BatchPromptVersion {
			batched++
		}
	}
	calls := emu.Requests(aitest.KindChat)
	if batched == 0 || calls >= len(evs) {
		t.Errorf("%d chat calls for %d posts, %d tagged by a batched call: no batching", calls, len(evs), batched)
	}
	fallbacks := testutil.ToFloat64(counterVec(t, e.reg, "tagging_batch_fallbacks_total", "reason", ai.BatchMissing)) +
		testutil.ToFloat64(counterVec(t, e.reg, "tagging_batch_fallbacks_total", "reason", ai.BatchUngrounded))
	if fallbacks == 0 {
		t.Error("no fallback counted in tagging_batch_fallbacks_total")
	}
	t.Logf("%d posts, %d chat calls, %d tagged in batches, %v fallbacks", len(evs), calls, batched, fallbacks)

	// A replay of the same posts is answered from the dedup marks.
	e.stop(t)
	e.publish(t, evs...)
	e.start(t, client.Tagger())
	testenv.WaitFor(t, "replay drained", 30*time.Second, func() bool { return e.drained(t) })
	if n := emu.Requests(aitest.KindChat); n != calls {
		t.Errorf("replay made %d more chat calls", n-calls)
	}
}

// counterVec finds one labelled counter of a metrics family in reg.
func counterVec(t *testing.T, reg *prometheus.Registry, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
				}
			}
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return 0 })
}
