-- +goose Up
-- One row per post and kind of enrichment. There is deliberately no foreign
-- key to posts: enrich and index never wait for persist, and cleanup deletes
-- a post's rows from every table explicitly.
CREATE TABLE post_enrichment (
    post_id            text        NOT NULL,
    kind               text        NOT NULL
        CONSTRAINT post_enrichment_kind_check
        CHECK (kind IN ('tags', 'crawl', 'vision', 'vision_ocr', 'classify', 'general')),
    provider           text,
    data               jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- tags_hash for kind='tags': the row changes only when it differs.
    data_hash          text,
    status             text        NOT NULL DEFAULT 'ok'
        CONSTRAINT post_enrichment_status_check
        CHECK (status IN ('ok', 'partial', 'error')),
    error              text,
    -- occurred_at of the event that wrote the row: an older event never
    -- overwrites a newer one.
    source_occurred_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, kind)
);

-- Lookups by post (every stage, the API service, cleanup) use the primary
-- key. Retry and monitoring jobs look for failed or partial enrichments of a
-- kind; the index is partial so that it stays small, and so that the planner
-- can never prefer it to the primary key for a (post_id, kind) lookup — a full
-- index on kind did exactly that on a table without statistics yet, scanning
-- every row of the kind for each looked-up post.
CREATE INDEX post_enrichment_kind_not_ok_idx ON post_enrichment (kind, updated_at)
    WHERE status <> 'ok';

-- +goose Down
DROP TABLE post_enrichment;
