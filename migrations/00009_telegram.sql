-- +goose Up
-- One row per followed channel: where the live telegram source resumes.
CREATE TABLE telegram_channels (
    channel_id      bigint      PRIMARY KEY, -- bare Telegram channel id
    access_hash     bigint      NOT NULL,
    username        text        NOT NULL DEFAULT '',
    title           text        NOT NULL DEFAULT '',
    -- Highest message id published; history is read above it on start.
    last_message_id bigint      NOT NULL DEFAULT 0,
    last_message_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- MTProto sessions (auth key and DC) of `assistant telegram login`, by name.
-- The data is a login: whoever reads it reads the account's channels.
CREATE TABLE telegram_sessions (
    name       text        PRIMARY KEY,
    data       bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE telegram_sessions;
DROP TABLE telegram_channels;
