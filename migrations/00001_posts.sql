-- +goose Up
-- posts is written by persist from posts.tagged (only the columns an event
-- carries, never cleared) and possibly by an external ingest as well, so
-- every column but the key is nullable.
CREATE TABLE posts (
    post_id      text        PRIMARY KEY,
    channel_id   text,
    tenant_id    text,
    text         text,
    urls         jsonb,
    posted_at    timestamptz,
    -- posted_at + retention; the cleanup sweep deletes rows past it.
    expires_at   timestamptz,
    content_hash text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The cleanup sweep scans expired posts in batches.
CREATE INDEX posts_expires_at_idx ON posts (expires_at);
-- Per-channel listings, newest first.
CREATE INDEX posts_channel_id_posted_at_idx ON posts (channel_id, posted_at DESC);
CREATE INDEX posts_tenant_id_idx ON posts (tenant_id) WHERE tenant_id IS NOT NULL;

-- +goose Down
DROP TABLE posts;
