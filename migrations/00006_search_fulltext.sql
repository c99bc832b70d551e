-- +goose Up
-- Full-text search (assistant search, GET /v1/search). The built-in
-- `russian` configuration stems Cyrillic words with the Russian Snowball
-- stemmer and Latin (ASCII) words with the English one, so one tsvector
-- serves both languages of the channels; websearch_to_tsquery('russian', q)
-- gives users quotes, -exclusion and OR. Generated columns keep the vectors
-- current on every write without a trigger, whoever writes the row.
ALTER TABLE posts
    ADD COLUMN search_tsv tsvector
        GENERATED ALWAYS AS (to_tsvector('russian'::regconfig, coalesce(text, ''))) STORED;
CREATE INDEX posts_search_tsv_idx ON posts USING gin (search_tsv);

-- Crawled pages: every string of the crawl document (titles, Markdown), so
-- the index follows whatever shape the enrich stage writes.
ALTER TABLE post_enrichment
    ADD COLUMN search_tsv tsvector
        GENERATED ALWAYS AS (
            CASE WHEN kind = 'crawl'
                 THEN jsonb_to_tsvector('russian'::regconfig, data, '["string"]')
            END) STORED;
CREATE INDEX post_enrichment_crawl_search_tsv_idx ON post_enrichment USING gin (search_tsv)
    WHERE kind = 'crawl';

-- +goose Down
DROP INDEX post_enrichment_crawl_search_tsv_idx;
ALTER TABLE post_enrichment DROP COLUMN search_tsv;
DROP INDEX posts_search_tsv_idx;
ALTER TABLE posts DROP COLUMN search_tsv;
