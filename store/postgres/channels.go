package postgres

import (
	"context"
	"fmt"
)

// UpsertChannelTitles records channel names (channel_id -> title); an
// unchanged name is not rewritten.
func (r *Repository) UpsertChannelTitles(ctx context.Context, titles map[string]string) error {
	if len(titles) == 0 {
		return nil
	}
	ids, names := make([]string, 0, len(titles)), make([]string, 0, len(titles))
	for id, t := range titles {
		ids, names = append(ids, id), append(names, t)
	}
	_, err := r.pool.Exec(ctx, `INSERT INTO channels (channel_id, title)
SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT (channel_id) DO UPDATE SET title = EXCLUDED.title, updated_at = now()
WHERE channels.title IS DISTINCT FROM EXCLUDED.title`, ids, names)
	if err != nil {
		return fmt.Errorf("upsert %d channel titles: %w", len(titles), err)
	}
	return nil
}
