package cli

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/store/postgres"
)

func (a *app) postsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "posts",
		Short: "Operate on posts",
	}
	var (
		channel string
		force   bool
	)
	del := &cobra.Command{
		Use:   "delete ID...",
		Short: "Delete posts from every store: publishes posts.deleted (reason=admin) for the cleanup stage",
		Long: `Delete publishes one posts.deleted event (reason=admin) per post; the cleanup
stage removes the post from PostgreSQL, the vector store and the graph.

Each id is looked up first: an id that is not a post id (not a UUID, and no
store knows it) is an error and nothing is published; an id no store knows is
reported and not published, the others are, and the command exits 1.
--force publishes without looking (PostgreSQL down, or a post only an
external store holds).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			for _, id := range ids {
				if reason := malformedPostID(id); reason != "" {
					return errUsage(cmd, "%q is not a post id: %s; nothing published", id, reason)
				}
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			publish := ids
			var unknown []string
			if !force {
				pool, err := postgres.Open(cmd.Context(), cfg.Database, postgres.WithApplicationName("assistant-posts"))
				if err != nil {
					return fmt.Errorf("posts delete: look up the posts: %w (--force publishes without looking)", err)
				}
				known, err := postgres.KnownPosts(cmd.Context(), pool, ids)
				pool.Close()
				if err != nil {
					return fmt.Errorf("posts delete: %w (--force publishes without looking)", err)
				}
				publish = nil
				var notPostIDs []string
				for _, id := range ids {
					switch {
					case known[id]:
						publish = append(publish, id)
					case uuid.Validate(id) != nil:
						notPostIDs = append(notPostIDs, id)
					default:
						unknown = append(unknown, id)
					}
				}
				if len(notPostIDs) > 0 {
					return errUsage(cmd, "%s: not a post id (not a UUID, and no store knows it); nothing published", quoteAll(notPostIDs))
				}
			}
			rdb, err := connectRedis(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			stream := keysOf(cfg).Stream(cfg.Streams.Deleted)
			for _, id := range publish {
				ev := &events.PostDeleted{
					Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: "admin-" + id,
						OccurredAt: time.Now().UTC(), IdempotencyKey: id + ":deleted"},
					PostID: id, ChannelID: channel, Reason: "admin",
				}
				values, err := events.Encode(ev)
				if err != nil {
					return err
				}
				if err := rdb.XAdd(cmd.Context(), &redis.XAddArgs{Stream: stream, Values: values}).Err(); err != nil {
					return fmt.Errorf("posts delete: publish to %s: %w", stream, err)
				}
			}
			if len(publish) > 0 {
				if _, err := fmt.Fprintf(a.stdout, "%d deletion(s) published to %s\n", len(publish), stream); err != nil {
					return err
				}
			}
			if len(unknown) > 0 {
				return fmt.Errorf("posts delete: no store knows %d post(s): %s; not published", len(unknown), quoteAll(unknown))
			}
			return nil
		},
	}
	del.Flags().StringVar(&channel, "channel", "", "channel_id to put in the events (optional)")
	del.Flags().BoolVar(&force, "force", false, "publish without looking the ids up in PostgreSQL")
	cmd.AddCommand(del)
	return cmd
}

// malformedPostID says why id cannot be any post's id ("" when it can):
// empty, or holding white space or control characters. Whether a
// well-formed id is a post is for the stores to say.
func malformedPostID(id string) string {
	switch {
	case strings.TrimSpace(id) == "":
		return "empty"
	case len(id) > 512:
		return "longer than 512 bytes"
	case strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "it holds white space or control characters"
	}
	return ""
}

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}
