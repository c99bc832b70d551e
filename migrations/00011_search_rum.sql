-- +goose Up
-- Keyword ranking with the RUM index (Debian: postgresql-15-rum), when the
-- server has the extension and this role may create it: RUM keeps word
-- positions in the index and returns full-text matches already ordered by
-- rank, so `assistant search` ranks only the best few hundred matches of a
-- common word instead of reading every matching tsvector (docs/search.md).
-- Without it nothing is created and search ranks through the GIN index of
-- 00006, as before; the schema check does not require this index. The
-- extension goes to the public schema (every test and daemon schema shares
-- it, and dropping one of those never drops it); search finds its operator
-- there by catalog lookup.
-- +goose StatementBegin
DO $$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'rum';
    IF ext_schema IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum') THEN
            RAISE NOTICE 'rum extension not available: keyword search ranks through GIN';
            RETURN;
        END IF;
        BEGIN
            CREATE EXTENSION IF NOT EXISTS rum SCHEMA public;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'rum extension not created (%): keyword search ranks through GIN', SQLERRM;
            RETURN;
        END;
        SELECT n.nspname INTO ext_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'rum';
    END IF;
    EXECUTE format('CREATE INDEX IF NOT EXISTS posts_search_rum_idx ON posts USING rum (search_tsv %I.rum_tsvector_ops)', ext_schema);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS posts_search_rum_idx;
