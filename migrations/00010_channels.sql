-- +goose Up
-- The name of each channel posts came from (posts.parsed channel_title),
-- written by persist, so that the console and search show "Naked Science"
-- rather than -1001136626166. One row per channel_id as posts spell it.
CREATE TABLE channels (
    channel_id text        PRIMARY KEY,
    title      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE channels;
