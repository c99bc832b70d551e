package legacy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
)

// source is what Import learned about the old database's tables: the old
// system's schema changed over its life, so every column beyond the few
// that make a post is optional and read only when it exists.
type source struct {
	schema string
	// cols maps "table.column" to the column's data type.
	cols map[string]string
	// expr holds the SELECT expression of each field of a row.
	expr map[string]string
	from string
}

// required are the posts columns without which there is no post to
// import.
var required = []string{"id", "content", "channel_id"}

// inspect reads the old tables' columns from the catalog.
func inspect(ctx context.Context, conn *pgx.Conn) (*source, error) {
	s := &source{cols: map[string]string{}, expr: map[string]string{}}
	var schema *string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("read the old database's schema: %w", err)
	}
	if schema == nil {
		return nil, errors.New("no schema of the old database's search_path exists")
	}
	s.schema = *schema
	rows, err := conn.Query(ctx, `
SELECT table_name || '.' || column_name, data_type FROM information_schema.columns
WHERE table_schema = $1 AND table_name IN ('posts', 'channels', 'post_enrichment')`, s.schema)
	if err != nil {
		return nil, fmt.Errorf("read the old tables' columns: %w", err)
	}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("read the old tables' columns: %w", err)
		}
		s.cols[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the old tables' columns: %w", err)
	}
	var missing []string
	for _, c := range required {
		if !s.has("posts." + c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("schema %q of the old database has no posts table with columns %s (is --from the old system's database? its search_path parameter names the schema)",
			s.schema, strings.Join(missing, ", "))
	}
	if !s.has("posts.created_at") && !s.has("posts.posted_at") {
		return nil, fmt.Errorf("the old posts table in schema %q has neither created_at nor posted_at", s.schema)
	}
	s.build()
	return s, nil
}

func (s *source) has(col string) bool { _, ok := s.cols[col]; return ok }

// instant is the expression of a time column of posts as an instant. The
// old models declare naive DateTime columns filled with datetime.utcnow(),
// so a timestamp without time zone holds UTC, whatever the session's
// TimeZone says.
func (s *source) instant(col string) string {
	expr := "p." + strings.TrimPrefix(col, "posts.")
	if s.cols[col] == "timestamp without time zone" {
		return "(" + expr + " AT TIME ZONE 'UTC')"
	}
	return expr
}

// opt is the expression of an optional column, or a typed NULL.
func (s *source) opt(col, expr, typ string) string {
	if s.has(col) {
		return expr
	}
	return "NULL::" + typ
}

// build writes the SELECT expressions. The import order is (created_at, id):
// the order the old system stored posts in, so that a later run picks up
// what it stored since.
func (s *source) build() {
	order := s.instant("posts.created_at")
	if !s.has("posts.created_at") {
		order = s.instant("posts.posted_at")
	}
	s.expr["order"] = "coalesce(" + order + ", 'epoch'::timestamptz)"
	s.expr["id"] = `p.id::text COLLATE "C"`
	s.expr["content"] = "coalesce(p.content, '')"
	s.expr["channel_id"] = "p.channel_id::text"
	// The old system renamed tg_message_id to telegram_message_id
	// (scripts/improve_posts_schema.sql); a database may hold either.
	s.expr["tg_message_id"] = s.opt("posts.tg_message_id", "p.tg_message_id::bigint", "bigint")
	if s.has("posts.telegram_message_id") {
		s.expr["tg_message_id"] = "p.telegram_message_id::bigint"
	}
	posted := []string{}
	for _, c := range []string{"posted_at", "created_at"} {
		if s.has("posts." + c) {
			posted = append(posted, s.instant("posts."+c))
		}
	}
	s.expr["posted_at"] = "coalesce(" + strings.Join(posted, ", ") + ")"
	media := "false"
	switch s.cols["posts.media_urls"] {
	case "":
	case "ARRAY":
		media = "coalesce(cardinality(p.media_urls) > 0, false)"
	default: // jsonb, json, text holding JSON
		media = "coalesce(jsonb_typeof(p.media_urls::jsonb) = 'array' AND jsonb_array_length(p.media_urls::jsonb) > 0, false)"
	}
	if s.has("posts.has_media") {
		media = "(" + media + " OR coalesce(p.has_media, false))"
	}
	s.expr["has_media"] = media
	s.expr["telegram_post_url"] = s.opt("posts.telegram_post_url", "p.telegram_post_url::text", "text")
	s.expr["views_count"] = s.opt("posts.views_count", "p.views_count::bigint", "bigint")
	s.expr["forwards_count"] = s.opt("posts.forwards_count", "p.forwards_count::bigint", "bigint")
	s.expr["reply_to_message_id"] = s.opt("posts.reply_to_message_id", "p.reply_to_message_id::bigint", "bigint")

	s.from = "posts p"
	joined := s.has("channels.id")
	if joined {
		s.from += " LEFT JOIN channels c ON c.id = p.channel_id"
	}
	chanCol := func(col, typ string) string {
		if joined && s.has("channels."+col) {
			return "c." + col + "::" + typ
		}
		return "NULL::" + typ
	}
	s.expr["tg_channel_id"] = chanCol("tg_channel_id", "bigint")
	s.expr["username"] = chanCol("username", "text")
	s.expr["title"] = chanCol("title", "text")
	// The old enrichment and indexing code read the tenant (and the user)
	// from post_enrichment.data; the channel's row is the fallback.
	// path is a jsonb path in post_enrichment.data: the old tagging task
	// keeps tenant_id at the top and user_id under metadata.
	fromData := func(path string) string {
		if !s.has("post_enrichment.data") || !s.has("post_enrichment.post_id") {
			return "NULL::text"
		}
		return "(SELECT e.data::jsonb#>>'" + path + "' FROM post_enrichment e WHERE e.post_id = p.id AND e.data::jsonb#>>'" +
			path + "' IS NOT NULL ORDER BY e.kind LIMIT 1)"
	}
	// The channel's tenant: a column in early schemas, channels.settings
	// in the current one.
	chanTenant := chanCol("tenant_id", "text")
	if joined && !s.has("channels.tenant_id") && s.has("channels.settings") {
		chanTenant = "c.settings::jsonb->>'tenant_id'"
	}
	s.expr["tenant_id"] = "coalesce(" + fromData("{tenant_id}") + ", " + chanTenant + ")"
	s.expr["user_id"] = "coalesce(" + fromData("{user_id}") + ", " + fromData("{metadata,user_id}") + ")"
}

// fields is the order of the SELECT list and of readRow's Scan.
var fields = []string{"order", "id", "content", "channel_id", "tg_message_id", "posted_at", "has_media",
	"telegram_post_url", "views_count", "forwards_count", "reply_to_message_id",
	"tg_channel_id", "username", "title", "tenant_id", "user_id"}

// afterClause selects the posts after the checkpoint ($1, $2) and before
// the settle cutoff ($3).
const afterClause = ` WHERE (%[1]s, %[2]s) > ($1::timestamptz, $2::text COLLATE "C") AND %[1]s < $3::timestamptz`

func (s *source) where() string {
	return fmt.Sprintf(afterClause, s.expr["order"], s.expr["id"])
}

func (s *source) countQuery() string {
	return "SELECT count(*) FROM " + s.from + s.where()
}

// selectQuery reads every post after the position, in order. It is one
// query whose rows stream in as they are consumed: the old table is sorted
// once, not once per batch.
func (s *source) selectQuery() string {
	list := make([]string, len(fields))
	for i, f := range fields {
		list[i] = s.expr[f]
	}
	return "SELECT " + strings.Join(list, ", ") + " FROM " + s.from + s.where() +
		" ORDER BY 1, 2"
}

// row is one old post as selected.
type row struct {
	order                             time.Time
	id, content, channelID            string
	tgMessageID                       *int64
	postedAt                          *time.Time
	hasMedia                          bool
	postURL                           *string
	views, forwards, replyTo          *int64
	tgChannelID                       *int64
	username, title, tenantID, userID *string
}

func (r *row) scan(rows pgx.Rows) error {
	return rows.Scan(&r.order, &r.id, &r.content, &r.channelID, &r.tgMessageID, &r.postedAt, &r.hasMedia,
		&r.postURL, &r.views, &r.forwards, &r.replyTo, &r.tgChannelID, &r.username, &r.title, &r.tenantID, &r.userID)
}

// event is the posts.parsed event of an old post. The post keeps its old
// id and channel id, so that everything downstream keys it as the old
// system did; the trace id is new (the old rows carry none).
func (r *row) event(now time.Time) *events.PostParsed {
	ev := &events.PostParsed{
		Envelope: events.Envelope{
			SchemaVersion: events.SchemaV1,
			TraceID:       uuid.NewString(),
			OccurredAt:    now.UTC(),
		},
		PostID:      r.id,
		ChannelID:   r.channelID,
		Text:        r.content,
		ContentHash: events.ContentHash(r.content),
		HasMedia:    r.hasMedia,
	}
	if r.postedAt != nil {
		ev.PostedAt = r.postedAt.UTC()
	} else {
		ev.PostedAt = r.order.UTC()
	}
	ev.TGMessageID = deref(r.tgMessageID)
	ev.ViewsCount = deref(r.views)
	ev.ForwardsCount = deref(r.forwards)
	ev.ReplyToMessageID = deref(r.replyTo)
	ev.TenantID = derefS(r.tenantID)
	ev.UserID = derefS(r.userID)
	ev.ChannelTitle = derefS(r.title)
	if id := deref(r.tgChannelID); id != 0 {
		// The old rows hold either the bare channel id or the marked one.
		if id > 0 {
			id = ingest.MarkedChannelID(id)
		}
		ev.TGChannelID = id
	}
	ev.TelegramPostURL = derefS(r.postURL)
	if ev.TelegramPostURL == "" && ev.TGMessageID != 0 && (ev.TGChannelID != 0 || derefS(r.username) != "") {
		ev.TelegramPostURL = ingest.TelegramPostURL(ev.TGChannelID, derefS(r.username), ev.TGMessageID)
	}
	ev.IdempotencyKey = ev.ParsedIdempotencyKey()
	return ev
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func derefS(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// String shows a position in logs and errors.
func (p position) String() string {
	return p.CreatedAt.Format(time.RFC3339Nano) + "/" + p.ID
}
