package console

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// channelNames caches channel titles: the channels table persist keeps
// from posts.parsed channel_title, and the live telegram source's
// telegram_channels (bare ids, which posts spell -100<id>).
type channelNames struct {
	mu      sync.Mutex
	names   map[string]string
	read    time.Time
	lastErr error
}

const channelNamesTTL = 30 * time.Second

// ChannelOption is a channel of the search page's filter.
type ChannelOption struct{ ID, Title string }

func (c *Console) channelTitles(ctx context.Context) map[string]string {
	cn := &c.channels
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if c.o.Pool == nil || time.Since(cn.read) < channelNamesTTL {
		return cn.names
	}
	cn.read = time.Now()
	rows, err := c.o.Pool.Query(ctx, `
SELECT '-100' || channel_id::text, title FROM telegram_channels WHERE title <> ''
UNION ALL
SELECT channel_id, title FROM channels WHERE title <> ''`)
	if err != nil {
		if cn.lastErr == nil || cn.lastErr.Error() != err.Error() {
			c.log.Warn("console: channel names unavailable; showing ids", "err", err)
		}
		cn.lastErr = err
		return cn.names
	}
	names := map[string]string{}
	var id, title string
	if _, err := pgx.ForEachRow(rows, []any{&id, &title}, func() error {
		names[id] = title
		return nil
	}); err != nil {
		cn.lastErr = err
		return cn.names
	}
	cn.names, cn.lastErr = names, nil
	return names
}

// channelOptions lists the known channels by title.
func channelOptions(names map[string]string) []ChannelOption {
	out := make([]ChannelOption, 0, len(names))
	for id, t := range names {
		out = append(out, ChannelOption{ID: id, Title: t})
	}
	slices.SortFunc(out, func(a, b ChannelOption) int {
		if c := strings.Compare(strings.ToLower(a.Title), strings.ToLower(b.Title)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
