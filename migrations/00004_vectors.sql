-- +goose Up
-- The embedded vector store (store/postgres VectorStore): one row per post
-- and collection. Vectors are real[] so that the table works on any
-- PostgreSQL; with the pgvector extension installed, searches cast them to
-- vector and use its cosine operator.

-- One row per collection: its dimension and embedding model. The store
-- refuses to write vectors of another model or size into an existing
-- collection (never a silent mix of vectors).
CREATE TABLE vector_collections (
    name       text        PRIMARY KEY,
    dim        integer     NOT NULL CHECK (dim > 0),
    model      text        NOT NULL,
    distance   text        NOT NULL DEFAULT 'cosine',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vectors (
    collection   text    NOT NULL REFERENCES vector_collections (name) ON DELETE CASCADE,
    point_id     uuid    NOT NULL,
    post_id      text    NOT NULL,
    channel_id   text    NOT NULL DEFAULT '',
    tenant_id    text    NOT NULL DEFAULT '',
    tags         text[]  NOT NULL DEFAULT '{}',
    posted_at    bigint  NOT NULL DEFAULT 0,  -- unix seconds
    expires_at   bigint  NOT NULL DEFAULT 0,  -- unix seconds
    text_short   text    NOT NULL DEFAULT '',
    urls         text[]  NOT NULL DEFAULT '{}',
    content_hash text    NOT NULL DEFAULT '',
    embedding    real[]  NOT NULL,
    -- The transaction that last wrote the row: an in-process index reads
    -- the rows written since its last snapshot's xmin (VectorFeed.Changes).
    xid          xid8    NOT NULL DEFAULT pg_current_xact_id(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection, point_id)
);

-- TTL sweeps delete by expires_at; filters use channel, tenant and tags.
CREATE INDEX vectors_expires_at_idx ON vectors (collection, expires_at);
CREATE INDEX vectors_channel_idx ON vectors (collection, channel_id);
CREATE INDEX vectors_tenant_idx ON vectors (collection, tenant_id) WHERE tenant_id <> '';
CREATE INDEX vectors_tags_idx ON vectors USING gin (tags);
CREATE INDEX vectors_xid_idx ON vectors (collection, xid);

-- Deleted points, so that an in-process index can drop them too
-- (VectorFeed.Changes). Rows older than any index's cursor can be pruned.
CREATE TABLE vector_tombstones (
    collection text        NOT NULL,
    point_id   uuid        NOT NULL,
    xid        xid8        NOT NULL DEFAULT pg_current_xact_id(),
    deleted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vector_tombstones_xid_idx ON vector_tombstones (collection, xid);

-- +goose Down
DROP TABLE vector_tombstones;
DROP TABLE vectors;
DROP TABLE vector_collections;
