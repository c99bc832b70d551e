package ingest

import (
	"time"

	"github.com/assistant-dev/assistant/events"
)

// Message is a Telegram channel message read from somewhere other than a
// file (the live telegram source). It goes through the same event builder as
// exported posts, so a post read live and from an export has one post_id,
// one content hash and the same URL order.
type Message struct {
	// ChatID is the marked peer id (see MarkedChannelID).
	ChatID    int64
	ChatTitle string
	// Username is the channel's public username, if any; it only changes
	// TelegramPostURL, never the post id.
	Username  string
	MessageID int64
	PostedAt  time.Time
	Text      string
	// Links are the message's URL entities in text order.
	Links            []Link
	HasMedia         bool
	ReplyToMessageID int64
	ViewsCount       int64
	ForwardsCount    int64
}

// Link is a URL entity of a message: a displayed URL (Href empty, Text the
// URL as shown) or a text link (Href the target).
type Link struct {
	Text string
	Href string
}

// Event builds the posts.parsed event of m, exactly as file ingest builds
// the event of an exported post.
func (m *Message) Event(now time.Time) *events.PostParsed {
	p := post{
		chatID:       m.ChatID,
		chatTitle:    m.ChatTitle,
		username:     m.Username,
		messageID:    m.MessageID,
		postedAt:     m.PostedAt,
		text:         m.Text,
		hasMedia:     m.HasMedia,
		replyToMsgID: m.ReplyToMessageID,
	}
	for _, l := range m.Links {
		if l.Href != "" {
			p.entities = append(p.entities, entity{Type: "text_link", Text: l.Text, Href: l.Href})
		} else {
			p.entities = append(p.entities, entity{Type: "link", Text: l.Text})
		}
	}
	ev := p.event(now)
	ev.ViewsCount = m.ViewsCount
	ev.ForwardsCount = m.ForwardsCount
	return ev
}
