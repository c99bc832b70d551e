-- The tables of the old Python system (telegram-assistant) that the daemon
-- replaces, as far as `assistant import legacy` and the migration refusal
-- need them, as its current models and migrations define them
-- (api/models/database.py): posts.id is a uuid, the text is `content`, the
-- message id is `telegram_message_id` (renamed from tg_message_id by
-- scripts/improve_posts_schema.sql; the importer reads either), media are a
-- JSON list of URLs, channels keep a tenant in `settings`, and
-- post_enrichment is keyed by (post_id, kind) with the tagging task's
-- tenant_id at the top of `data` and its user_id under data.metadata. It
-- lives in the old database's default schema (public), which is exactly
-- where our migrations must not go.
CREATE TABLE channels (
    id            uuid         PRIMARY KEY,
    tg_channel_id bigint       NOT NULL UNIQUE,
    username      varchar(255),
    title         varchar(500) NOT NULL,
    is_active     boolean      DEFAULT true,
    created_at    timestamp    DEFAULT now(),
    settings      json         DEFAULT '{}'
);

CREATE TABLE posts (
    id                  uuid      PRIMARY KEY,
    channel_id          uuid      NOT NULL REFERENCES channels (id),
    telegram_message_id bigint    NOT NULL,
    content             text,
    media_urls          json      DEFAULT '[]',
    posted_at           timestamp,
    url                 text,
    telegram_post_url   text,
    has_media           boolean   DEFAULT false,
    created_at          timestamp DEFAULT now(),
    is_processed        boolean   DEFAULT false,
    views_count         integer   DEFAULT 0,
    forwards_count      integer   DEFAULT 0,
    reply_to_message_id bigint,
    UNIQUE (channel_id, telegram_message_id)
);

CREATE TABLE post_enrichment (
    post_id     uuid        NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    kind        varchar(50) NOT NULL,
    provider    varchar(50) NOT NULL,
    params_hash varchar(64),
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status      varchar(20) NOT NULL DEFAULT 'ok',
    error       text,
    created_at  timestamp   DEFAULT now(),
    updated_at  timestamp   DEFAULT now(),
    PRIMARY KEY (post_id, kind)
);
