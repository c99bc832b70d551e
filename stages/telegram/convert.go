package telegram

import (
	"time"
	"unicode/utf16"

	"github.com/google/uuid"
	"github.com/gotd/td/tg"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
)

// channelInfo is what a message needs from its channel.
type channelInfo struct {
	ID         int64 // bare
	AccessHash int64
	Username   string
	Title      string
}

// toMessage turns a channel message into an ingest.Message. ok is false
// for what is not a post: service messages, empty placeholders, and a
// message with neither text nor media.
func toMessage(ch channelInfo, mc tg.MessageClass) (ingest.Message, bool) {
	m, isMsg := mc.(*tg.Message)
	if !isMsg {
		return ingest.Message{}, false
	}
	out := ingest.Message{
		ChatID:        ingest.MarkedChannelID(ch.ID),
		ChatTitle:     ch.Title,
		Username:      ch.Username,
		MessageID:     int64(m.ID),
		PostedAt:      time.Unix(int64(m.Date), 0).UTC(),
		Text:          m.Message,
		Links:         links(m.Message, m.Entities),
		HasMedia:      hasMedia(m.Media),
		ViewsCount:    int64(m.Views),
		ForwardsCount: int64(m.Forwards),
	}
	if r, ok := m.ReplyTo.(*tg.MessageReplyHeader); ok {
		out.ReplyToMessageID = int64(r.ReplyToMsgID)
	}
	if out.Text == "" && !out.HasMedia {
		return ingest.Message{}, false
	}
	return out, true
}

// hasMedia reports a photo, document, poll, ... A link preview
// (MessageMediaWebPage) is not media of the post: Desktop exports do not
// list it either, and the URL is in the text.
func hasMedia(m tg.MessageMediaClass) bool {
	switch m.(type) {
	case nil, *tg.MessageMediaEmpty, *tg.MessageMediaWebPage:
		return false
	}
	return true
}

// links returns the URL entities of a message in order. Entity offsets and
// lengths count UTF-16 code units, so the text is indexed in UTF-16.
func links(text string, entities []tg.MessageEntityClass) []ingest.Link {
	var out []ingest.Link
	var u16 []uint16
	for _, e := range entities {
		switch e := e.(type) {
		case *tg.MessageEntityURL:
			if u16 == nil {
				u16 = utf16.Encode([]rune(text))
			}
			if e.Offset < 0 || e.Length <= 0 || e.Offset+e.Length > len(u16) {
				continue
			}
			out = append(out, ingest.Link{Text: string(utf16.Decode(u16[e.Offset : e.Offset+e.Length]))})
		case *tg.MessageEntityTextURL:
			out = append(out, ingest.Link{Href: e.URL})
		}
	}
	return out
}

// parsedEvent builds the posts.parsed event of a message.
func parsedEvent(ch channelInfo, mc tg.MessageClass, now time.Time) (*events.PostParsed, bool) {
	m, ok := toMessage(ch, mc)
	if !ok {
		return nil, false
	}
	return m.Event(now), true
}

// ReasonTelegram is the posts.deleted reason of a deletion in Telegram.
const ReasonTelegram = "telegram"

// deletedEvent builds the posts.deleted event of a deleted message.
func deletedEvent(channelID int64, messageID int, now time.Time) *events.PostDeleted {
	marked := ingest.MarkedChannelID(channelID)
	chID := itoa(marked)
	postID := ingest.PostID(chID, int64(messageID))
	return &events.PostDeleted{
		Envelope: events.Envelope{
			SchemaVersion:  events.SchemaV1,
			TraceID:        uuid.NewString(),
			OccurredAt:     now,
			IdempotencyKey: postID + ":deleted:" + ReasonTelegram,
		},
		PostID:    postID,
		ChannelID: chID,
		Reason:    ReasonTelegram,
	}
}
