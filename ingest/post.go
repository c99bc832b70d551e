package ingest

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/assistant-dev/assistant/crawl/links"
	"github.com/assistant-dev/assistant/events"
)

// PostNamespace is the UUIDv5 namespace of post ids. It is
// uuid.NewSHA1(uuid.NameSpaceURL, "https://github.com/assistant-dev/assistant/ingest#post"),
// fixed here because every post id ever published depends on it.
const PostNamespace = "9f3e7e0d-8738-5b61-990b-4c85ecdff98c"

// postNamespace is PostNamespace parsed once; unexported so that nothing can
// change it.
var postNamespace = uuid.MustParse(PostNamespace)

// PostID is the deterministic id of a Telegram post: the UUIDv5 of
// "<channel_id>:<message_id>" in PostNamespace. Ingesting the same file
// twice, or the same channel from a JSONL dump and from a Desktop export,
// gives the same ids.
func PostID(channelID string, messageID int64) string {
	return uuid.NewSHA1(postNamespace, []byte(channelID+":"+strconv.FormatInt(messageID, 10))).String()
}

// channelIDOffset turns the bare id of a channel (or supergroup) into the
// Bot API / Telethon "marked" peer id: -100<id>, which is -(10^12 + id).
const channelIDOffset = 1_000_000_000_000

// MarkedChannelID returns the -100-prefixed peer id of a bare channel id,
// the form the corpus and Telethon use (-1001000724666 for 1000724666).
func MarkedChannelID(bareID int64) int64 { return -(channelIDOffset + bareID) }

// TelegramPostURL links to a post. With a public username it is
// https://t.me/<username>/<id>. Otherwise, for channels and supergroups, it
// is https://t.me/c/<bare id>/<id>: it opens the post for anyone who can see
// the channel, public or private, and needs nothing the inputs lack (neither
// the corpus nor Desktop exports carry usernames). Other chats (groups,
// personal chats) have no post links: "".
func TelegramPostURL(markedChannelID int64, username string, messageID int64) string {
	msg := strconv.FormatInt(messageID, 10)
	if username = strings.TrimPrefix(strings.TrimSpace(username), "@"); username != "" {
		return "https://t.me/" + username + "/" + msg
	}
	if markedChannelID <= -channelIDOffset {
		return "https://t.me/c/" + strconv.FormatInt(-markedChannelID-channelIDOffset, 10) + "/" + msg
	}
	return ""
}

// post is what both readers extract from a message before it becomes an
// event.
type post struct {
	chatID       int64 // marked peer id, see MarkedChannelID
	chatTitle    string
	username     string
	messageID    int64
	postedAt     time.Time
	text         string
	entities     []entity // Telegram entities, when the source has them
	hasMedia     bool
	replyToMsgID int64
}

// entity is a Telegram text entity as Desktop exports write it.
type entity struct {
	Type string `json:"type"`
	Text string `json:"text"`
	Href string `json:"href,omitempty"`
}

// event builds the posts.parsed event of p. The trace id is new for every
// event (spec: set once at ingest, kept by every stage).
func (p *post) event(now time.Time) *events.PostParsed {
	channelID := strconv.FormatInt(p.chatID, 10)
	ev := &events.PostParsed{
		Envelope: events.Envelope{
			SchemaVersion: events.SchemaV1,
			TraceID:       uuid.NewString(),
			OccurredAt:    now,
		},
		PostID:           PostID(channelID, p.messageID),
		ChannelID:        channelID,
		Text:             p.text,
		PostedAt:         p.postedAt.UTC(),
		TGChannelID:      p.chatID,
		TGMessageID:      p.messageID,
		TelegramPostURL:  TelegramPostURL(p.chatID, p.username, p.messageID),
		URLs:             p.urls(),
		ContentHash:      events.ContentHash(p.text),
		HasMedia:         p.hasMedia,
		ReplyToMessageID: p.replyToMsgID,
		ChannelTitle:     p.chatTitle,
	}
	ev.IdempotencyKey = ev.ParsedIdempotencyKey()
	return ev
}

// urls lists the entity URLs first (they are exact: Telegram marked them),
// then those found in the text, without repeats.
func (p *post) urls() []string {
	var set links.Set
	for _, e := range p.entities {
		switch e.Type {
		case "link":
			set.AddEntity(e.Text)
		case "text_link":
			set.AddEntity(e.Href)
		}
	}
	set.AddText(p.text)
	return set.List()
}
