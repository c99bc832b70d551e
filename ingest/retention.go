package ingest

import (
	"fmt"
	"time"

	"github.com/assistant-dev/assistant/config"
)

// RetentionTally counts the posts of a run that are already older than
// posts.retention when received: history (a backfill, an import, the
// bundled 2024 sample). They are kept only by posts.receipt_floor — or,
// with the floor at 0, expire on arrival — and the user is told so at once
// (Notice) instead of finding them gone.
type RetentionTally struct {
	// Posts is the retention in force (config posts).
	Posts config.Posts `json:"-"`
	// Now is the time of receipt (when the run started).
	Now time.Time `json:"-"`
	// Past is how many posts were older than posts.retention.
	Past int `json:"past_retention"`
	// Oldest is the posted_at of the oldest of them.
	Oldest time.Time `json:"oldest_posted_at,omitzero"`
}

// NewRetentionTally starts a tally of posts received at now.
func NewRetentionTally(posts config.Posts, now time.Time) *RetentionTally {
	return &RetentionTally{Posts: posts, Now: now}
}

// Observe counts one received post.
func (t *RetentionTally) Observe(posted time.Time) {
	if t == nil || t.Posts.Retention <= 0 || !t.Posts.PastRetention(posted, t.Now) {
		return
	}
	t.Past++
	if t.Oldest.IsZero() || posted.Before(t.Oldest) {
		t.Oldest = posted
	}
}

// Notice says, in one or two lines, how many posts were older than the
// retention, what happens to them and which setting keeps them; "" when
// none was.
func (t *RetentionTally) Notice() string {
	if t == nil || t.Past == 0 {
		return ""
	}
	keep := suggestRetention(t.Now.Sub(t.Oldest) + t.Posts.Retention)
	head := fmt.Sprintf("%d %s older than posts.retention (%s; the oldest posted %s)",
		t.Past, plural(t.Past, "post is", "posts are"), days(t.Posts.Retention), t.Oldest.UTC().Format("2006-01-02"))
	if t.Posts.ReceiptFloor > 0 {
		until := t.Now.Add(t.Posts.ReceiptFloor).UTC().Format("2006-01-02")
		return fmt.Sprintf("%s: kept until %s by posts.receipt_floor (%s after receipt), then deleted; "+
			"to keep them longer set posts.retention, e.g. ASSISTANT_POSTS_RETENTION=%s", head, until, days(t.Posts.ReceiptFloor), keep)
	}
	return fmt.Sprintf("%s: they expire on arrival (posts.receipt_floor is 0) and will not be searchable; "+
		"to keep them set posts.receipt_floor or posts.retention, e.g. ASSISTANT_POSTS_RETENTION=%s", head, keep)
}

// suggestRetention rounds d up to whole days, written in hours (Go
// durations have no day unit).
func suggestRetention(d time.Duration) string {
	const day = 24 * time.Hour
	n := (d + day - 1) / day
	return fmt.Sprintf("%dh", int64(n)*24)
}

// days renders a duration of whole days as "90 days", others as Go does.
func days(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		return fmt.Sprintf("%d %s", n, plural(n, "day", "days"))
	}
	return d.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
