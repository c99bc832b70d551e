-- +goose Up
CREATE TABLE indexing_status (
    post_id          text        PRIMARY KEY,
    embedding_status text        NOT NULL DEFAULT 'pending'
        CONSTRAINT indexing_status_embedding_status_check
        CHECK (embedding_status IN ('pending', 'processing', 'completed', 'failed', 'skipped')),
    graph_status     text        NOT NULL DEFAULT 'pending'
        CONSTRAINT indexing_status_graph_status_check
        CHECK (graph_status IN ('pending', 'processing', 'completed', 'failed', 'skipped')),
    vector_id        text,
    -- Hash of the embedding text and model: unchanged content is not embedded again.
    index_hash       text,
    error            text,
    attempts         integer     NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Operators and retry jobs look for posts whose indexing is not done; the
-- partial indexes stay small because most rows are completed.
CREATE INDEX indexing_status_embedding_pending_idx ON indexing_status (embedding_status)
    WHERE embedding_status <> 'completed';
CREATE INDEX indexing_status_graph_pending_idx ON indexing_status (graph_status)
    WHERE graph_status <> 'completed';

-- +goose Down
DROP TABLE indexing_status;
