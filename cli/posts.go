package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/pipeline"
)

func (a *app) postsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "posts",
		Short: "Operate on posts",
	}
	var channel string
	del := &cobra.Command{
		Use:   "delete ID...",
		Short: "Delete posts from every store: publishes posts.deleted (reason=admin) for the cleanup stage",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			rdb, err := connectRedis(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer rdb.Close()
			stream := keysOf(cfg).Stream(cfg.Streams.Deleted)
			for _, id := range ids {
				if strings.TrimSpace(id) == "" {
					return errUsage(cmd, "a post id must not be empty")
				}
				ev := &events.PostDeleted{
					Envelope: events.Envelope{SchemaVersion: events.SchemaV1, TraceID: "admin-" + id,
						OccurredAt: time.Now().UTC(), IdempotencyKey: id + ":deleted"},
					PostID: id, ChannelID: channel, Reason: "admin",
				}
				values, err := pipeline.EncodeEvent(ev)
				if err != nil {
					return err
				}
				if err := rdb.XAdd(cmd.Context(), &redis.XAddArgs{Stream: stream, Values: values}).Err(); err != nil {
					return fmt.Errorf("posts delete: publish to %s: %w", stream, err)
				}
			}
			_, err = fmt.Fprintf(a.stdout, "%d deletion(s) published to %s\n", len(ids), stream)
			return err
		},
	}
	del.Flags().StringVar(&channel, "channel", "", "channel_id to put in the events (optional)")
	cmd.AddCommand(del)
	return cmd
}
