package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
	"github.com/assistant-dev/assistant/internal/testenv"
)

// TestPipelineEndToEnd proves that the real binary, started with its default
// stages (tag and persist, local offline tagger), turns the committed corpus
// sample ingested with `assistant ingest` into exactly one posts row and one
// tags row per post; that every stored tag occurs in its post's text
// (case- and ё-folded, whitespace collapsed); that tags_hash is the spec's
// hash of the tags and data_hash equals it; that no entry was dead-lettered;
// and that the daemon stops cleanly on SIGTERM.
func TestPipelineEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stack := NewStack(t)
	daemon := stack.Start(ctx, Options{})

	summary := stack.Ingest(ctx, testenv.SamplePath())
	t.Logf("ingest: %s", strings.TrimSpace(summary))
	stack.WaitDrained(ctx, 90*time.Second)

	posts := testenv.SamplePosts(t, 0)
	snap, err := stack.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Posts) != len(posts) || len(snap.Tags) != len(posts) {
		t.Fatalf("%d posts rows and %d tags rows for %d posts in the sample", len(snap.Posts), len(snap.Tags), len(posts))
	}
	withTags := 0
	for _, p := range posts {
		id := ingest.PostID(channelIDOf(p), p.MessageID)
		row, ok := snap.Posts[id]
		if !ok {
			t.Errorf("post %d/%d (%s): no posts row", p.ChannelID, p.MessageID, id)
			continue
		}
		if row.Text != p.Text {
			t.Errorf("post %s: stored text differs from the corpus", id)
		}
		if row.ContentHash != events.ContentHash(p.Text) {
			t.Errorf("post %s: content_hash %s, want %s", id, row.ContentHash, events.ContentHash(p.Text))
		}
		tags, ok := snap.Tags[id]
		if !ok {
			t.Errorf("post %s: no tags row", id)
			continue
		}
		if len(tags.Tags) > 0 {
			withTags++
		}
		checkTagsRow(t, id, p.Text, tags)
	}
	if withTags < len(posts)/2 {
		t.Errorf("only %d of %d posts got tags", withTags, len(posts))
	}
	stack.RequireDLQsEmpty(ctx)
	daemon.Stop()
	t.Logf("%d posts stored, %d with tags", len(snap.Posts), withTags)
}

// checkTagsRow checks the invariants of one stored tags row: grounded tags,
// tags_hash is the hash of the tags, data_hash equals tags_hash.
func checkTagsRow(t *testing.T, id, text string, row TagsRow) {
	t.Helper()
	folded := ai.FoldTag(text)
	for _, tag := range row.Tags {
		if f := ai.FoldTag(tag); f == "" || !strings.Contains(folded, f) {
			t.Errorf("post %s: tag %q does not occur in the text", id, tag)
		}
	}
	if want := events.TagsHash(row.Tags); row.TagsHash != want {
		t.Errorf("post %s: tags_hash %s, want %s for %q", id, row.TagsHash, want, row.Tags)
	}
	if row.DataHash != row.TagsHash {
		t.Errorf("post %s: data_hash %s != tags_hash %s", id, row.DataHash, row.TagsHash)
	}
	if row.Status != "ok" {
		t.Errorf("post %s: status %q, want ok", id, row.Status)
	}
}

// channelIDOf is the channel_id ingest publishes for a corpus post.
func channelIDOf(p testenv.CorpusPost) string { return strconv.FormatInt(p.ChannelID, 10) }

// postIDOf is the post_id ingest publishes for a corpus post.
func postIDOf(p testenv.CorpusPost) string { return ingest.PostID(channelIDOf(p), p.MessageID) }
