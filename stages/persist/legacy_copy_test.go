package persist_test

import (
	"slices"
	"testing"

	"github.com/assistant-dev/assistant/events"
)

// TestPersistOldAndNewCopyInOneBatch: the same post arrives in one batch as
// our full posts.tagged event and as the old worker's PostTaggedEventV1
// (no text, posted_at or content_hash; the model only in metadata), in
// either order and with equal occurred_at. The stored post is whole and its
// tags row names the model, whichever came last; a copy with other tags
// still brings its tags, and a copy of other content brings none of the
// full event's text.
func TestPersistOldAndNewCopyInOneBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// oldCopy is the post in the old format; model "" leaves metadata out.
	oldCopy := func(full *events.PostTagged, model string, tags ...string) *events.PostTagged {
		ev := &events.PostTagged{
			Envelope: full.Envelope,
			PostID:   full.PostID, ChannelID: full.ChannelID, TenantID: full.TenantID, UserID: "user-1",
			Tags: tags, TagsHash: events.TagsHash(tags), URLs: []string{}, Provider: full.Provider,
		}
		if model != "" {
			ev.Metadata = map[string]string{"model": model}
		}
		return ev
	}
	for _, tt := range []struct {
		name      string
		batch     func(full *events.PostTagged) []*events.PostTagged
		wantTags  []string
		wantModel string
	}{
		{"full then old copy", func(f *events.PostTagged) []*events.PostTagged {
			return []*events.PostTagged{f, oldCopy(f, "", "Python")}
		},
			[]string{"Python"}, "rake"},
		{"old copy then full", func(f *events.PostTagged) []*events.PostTagged {
			return []*events.PostTagged{oldCopy(f, "", "Python"), f}
		},
			[]string{"Python"}, "rake"},
		{"old copy with other tags last", func(f *events.PostTagged) []*events.PostTagged {
			return []*events.PostTagged{f, oldCopy(f, "GigaChat:latest", "GIL")}
		},
			[]string{"GIL"}, "GigaChat:latest"},
		{"old copy alone", func(f *events.PostTagged) []*events.PostTagged {
			return []*events.PostTagged{oldCopy(f, "GigaChat:latest", "Python")}
		},
			[]string{"Python"}, "GigaChat:latest"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			full := tagged("p-"+tt.name, 1, "Python")
			e.handle(t, tt.batch(full)...)
			got, err := e.repo.GetPost(e.ctx, full.PostID)
			if err != nil {
				t.Fatalf("read post: %v", err)
			}
			data, _, err := e.repo.GetTags(e.ctx, full.PostID)
			if err != nil {
				t.Fatalf("read tags: %v", err)
			}
			if !slices.Equal(data.Tags, tt.wantTags) || data.Model != tt.wantModel {
				t.Errorf("tags %q model %q, want %q %q", data.Tags, data.Model, tt.wantTags, tt.wantModel)
			}
			if tt.name == "old copy alone" {
				if got.Text != "" || !got.PostedAt.IsZero() {
					t.Errorf("an old copy alone has no text or posted_at to store: %+v", got)
				}
				return
			}
			if got.Text != full.Text || got.ContentHash != full.ContentHash || !got.PostedAt.Equal(full.PostedAt) ||
				got.ExpiresAt.IsZero() {
				t.Errorf("post stored incompletely: %+v", got)
			}
		})
	}
}
