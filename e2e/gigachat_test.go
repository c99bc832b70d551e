package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/aitest"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// postTextPrefix starts the user message of the tagging prompt
// (ai.BuildTagPrompt); the post text follows it.
const postTextPrefix = "Текст поста:\n"

// firstWords answers a tagging request with up to three distinct words of
// the post text (only letters, at least four of them), as a JSON array, so
// the correct answer for any long post is non-empty and grounded.
func firstWords(text string) string {
	var words []string
	for _, w := range strings.Fields(text) {
		w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) })
		if utf8.RuneCountInString(w) < 4 || strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLetter(r) }) >= 0 {
			continue
		}
		if slices.ContainsFunc(words, func(o string) bool { return strings.EqualFold(o, w) }) {
			continue
		}
		words = append(words, w)
		if len(words) == 3 {
			break
		}
	}
	if words == nil {
		words = []string{}
	}
	b, _ := json.Marshal(words)
	return string(b)
}

// chatFirstWords is the emulator's chat behaviour: firstWords of the post
// text in the last (user) message; for a batched prompt
// (stages.tag.prompt_batch), an object of firstWords keyed by post number.
func chatFirstWords(_ string, messages []aitest.Message) string {
	if len(messages) == 0 {
		return "[]"
	}
	text := messages[len(messages)-1].Content
	if posts := ai.SplitBatchPrompt(text); posts != nil {
		answer := make(map[string]json.RawMessage, len(posts))
		for i, p := range posts {
			answer[strconv.Itoa(i+1)] = json.RawMessage(firstWords(p))
		}
		b, _ := json.Marshal(answer)
		return string(b)
	}
	return firstWords(strings.TrimPrefix(text, postTextPrefix))
}

// failEveryFifthChat fails about 20% of the chat calls, in a fixed pattern
// over the call sequence: a 429 with Retry-After: 1, a 500, or a hang that
// the client's timeout ends, in turn.
func failEveryFifthChat(kind string, seq int) *aitest.Failure {
	if kind != aitest.KindChat || (seq*37)%100 >= 20 {
		return nil
	}
	switch seq % 3 {
	case 0:
		return &aitest.Failure{Status: http.StatusTooManyRequests, RetryAfter: "1"}
	case 1:
		return &aitest.Failure{Status: http.StatusInternalServerError}
	default:
		return &aitest.Failure{Hang: true}
	}
}

// TestGigaChatFailuresAreRetriedNotPublishedEmpty proves spec section 5,
// tag step 6, against the real binary: with GigaChat (an HTTP emulator)
// answering about 20% of chat calls with 429 (Retry-After: 1), 500 or a hang
// past the client timeout, every post is still tagged, each with exactly the
// tags a healthy model gives (so no post got empty tags because of an
// error), nothing is dead-lettered, and the failed calls show in /metrics
// (tagging_processed_total{status="error"}; the stage pauses for them
// without counting attempts, issue 21).
func TestGigaChatFailuresAreRetriedNotPublishedEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	emulator := aitest.NewGigaChat(t, aitest.Config{
		Script:  failEveryFifthChat,
		Chat:    chatFirstWords,
		AuthKey: "e2e-gigachat-key",
	})
	input := testenv.SamplePosts(t, 100)
	file, err := WriteJSONL(t.TempDir(), "posts.jsonl", input)
	if err != nil {
		t.Fatal(err)
	}
	stack := NewStack(t)
	daemon := stack.Start(ctx, Options{Env: map[string]string{
		"GIGACHAT_API_KEY":                       "e2e-gigachat-key",
		"ASSISTANT_AI_TAGGER":                    "gigachat",
		"ASSISTANT_AI_GIGACHAT_BASE_URL":         emulator.BaseURL(),
		"ASSISTANT_AI_GIGACHAT_AUTH_URL":         emulator.AuthURL(),
		"ASSISTANT_AI_GIGACHAT_TIMEOUT":          "2s",
		"ASSISTANT_AI_GIGACHAT_MAX_CONCURRENCY":  "4",
		"ASSISTANT_AI_GIGACHAT_BREAKER_FAILURES": "1000",
		"ASSISTANT_AI_GIGACHAT_BREAKER_COOLDOWN": "100ms",
		"ASSISTANT_STAGES_TAG_CALL_TIMEOUT":      "10s",
		"ASSISTANT_RUNNER_MAX_ATTEMPTS":          "10",
		"ASSISTANT_RUNNER_RETRY_INITIAL_BACKOFF": "100ms",
		"ASSISTANT_RUNNER_RETRY_MAX_BACKOFF":     "1s",
	}})
	stack.Ingest(ctx, file)
	stack.WaitDrained(ctx, 2*time.Minute)

	snap := requireAllStored(ctx, t, stack, input)
	long := 0
	for _, p := range input {
		id := postIDOf(p)
		row := snap.Tags[id]
		checkTagsRow(t, id, p.Text, row)
		want := []string{}
		if utf8.RuneCountInString(p.Text) >= 80 {
			long++
			want = ai.ValidateTags(firstWords(ai.CutInput(p.Text, 1000)), p.Text, 5).Tags
			if len(want) == 0 {
				t.Fatalf("post %s: the emulator's answer would be empty; pick posts with words", id)
			}
			if row.Provider != "gigachat" {
				t.Errorf("post %s: provider %q, want gigachat", id, row.Provider)
			}
		}
		if !slices.Equal(row.Tags, want) {
			t.Errorf("post %s: tags %q, want %q", id, row.Tags, want)
		}
	}
	stack.RequireDLQsEmpty(ctx)

	metrics, err := daemon.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	retries := metrics.Value("stage_retries_total", "stage", "tag")
	errorsSeen := metrics.Value("tagging_processed_total", "status", "error")
	success := metrics.Value("tagging_processed_total", "status", "success")
	// A 429, a 500 or a timeout is the provider's outage (issue 21): the
	// stage pauses without counting an attempt, so the failed calls show in
	// tagging_processed_total{status=error}, not in stage_retries_total.
	if errorsSeen == 0 {
		t.Errorf("failed calls not visible in /metrics: tagging_processed_total{status=error} %v", errorsSeen)
	}
	if int(success) < long {
		t.Errorf("tagging_processed_total{status=success} %v, want at least %d", success, long)
	}
	t.Logf("%d posts (%d long) tagged through %d chat calls; %v failed attempts, %v retries",
		len(input), long, emulator.Requests(aitest.KindChat), errorsSeen, retries)
	daemon.Stop()
}
