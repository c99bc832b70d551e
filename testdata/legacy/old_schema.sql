-- The tables of the old Python system (telegram-assistant) that the daemon
-- replaces, as far as `assistant import legacy` and the migration refusal
-- need them. Written from the columns the old code reads and writes
-- (issue 10): posts.id is a uuid, the text is `content`, media are a JSON
-- list of URLs, and post_enrichment is keyed by a uuid post_id with a
-- params_hash and no created_at. It lives in the old database's default
-- schema (public), which is exactly where our migrations must not go.
CREATE TABLE channels (
    id            uuid        PRIMARY KEY,
    tg_channel_id bigint      NOT NULL UNIQUE,
    username      text,
    title         text,
    tenant_id     uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE posts (
    id                uuid        PRIMARY KEY,
    channel_id        uuid        NOT NULL REFERENCES channels (id),
    tg_message_id     bigint      NOT NULL,
    content           text,
    media_urls        jsonb       NOT NULL DEFAULT '[]'::jsonb,
    posted_at         timestamptz,
    telegram_post_url text,
    views_count       integer,
    forwards_count    integer,
    is_processed      boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, tg_message_id)
);

CREATE TABLE post_enrichment (
    post_id     uuid        NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    kind        text        NOT NULL,
    provider    text,
    params_hash text,
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status      text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, kind)
);
