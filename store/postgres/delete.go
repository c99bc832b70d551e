package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DeletePostRows removes posts' rows from posts, post_enrichment and
// indexing_status in one short transaction (post_enrichment has no foreign
// key to posts, so each table is named explicitly). It returns how many
// posts rows existed; deleting what is gone is not an error.
func DeletePostRows(ctx context.Context, pool *pgxpool.Pool, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM post_enrichment WHERE post_id = ANY($1::text[])`, ids); err != nil {
			return fmt.Errorf("post_enrichment: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM indexing_status WHERE post_id = ANY($1::text[])`, ids); err != nil {
			return fmt.Errorf("indexing_status: %w", err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM posts WHERE post_id = ANY($1::text[])`, ids)
		if err != nil {
			return fmt.Errorf("posts: %w", err)
		}
		n = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete %d posts: %w", len(ids), err)
	}
	return n, nil
}

// DeletePosts removes posts' rows from every post table (DeletePostRows).
func (r *Repository) DeletePosts(ctx context.Context, ids []string) (int, error) {
	return DeletePostRows(ctx, r.pool, ids)
}

// KnownPosts returns the ids, of those given, that a post table holds
// (posts, post_enrichment or indexing_status): what a deletion can find.
// A database the daemon never migrated knows no post.
func KnownPosts(ctx context.Context, pool *pgxpool.Pool, ids []string) (map[string]bool, error) {
	known := map[string]bool{}
	if len(ids) == 0 {
		return known, nil
	}
	rows, err := pool.Query(ctx, `
SELECT post_id FROM posts WHERE post_id = ANY($1::text[])
UNION SELECT post_id FROM post_enrichment WHERE post_id = ANY($1::text[])
UNION SELECT post_id FROM indexing_status WHERE post_id = ANY($1::text[])`, ids)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return known, nil // undefined_table: never migrated, nothing stored
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: look up %d posts: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("postgres: look up posts: %w", err)
		}
		known[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: look up posts: %w", err)
	}
	return known, nil
}
