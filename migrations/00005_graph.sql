-- +goose Up
-- The embedded graph store (store/postgres GraphStore): the spec's graph
-- model as tables, so that "posts with tag X", "tags related to X" and
-- "what links here" are plain indexed queries.
--   (:Channel)-[:HAS_POST]->(:Post)   graph_posts.channel_id
--   (:Post)-[:TAGGED_AS]->(:Tag)      post_tags
--   (:Post)-[:REFERS_TO]->(:WebPage)  post_links
-- Post nodes are graph_posts, not posts: posts belongs to persist (and maybe
-- an external ingest), and the graph must not depend on it having run.

CREATE TABLE graph_channels (
    channel_id text        PRIMARY KEY,
    tenant_id  text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE graph_posts (
    post_id    text        PRIMARY KEY,
    -- HAS_POST; NULL when the post names no channel.
    channel_id text        REFERENCES graph_channels (channel_id),
    tenant_id  text        NOT NULL DEFAULT '',
    posted_at  timestamptz,
    expires_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX graph_posts_channel_idx ON graph_posts (channel_id);
CREATE INDEX graph_posts_expires_at_idx ON graph_posts (expires_at);

CREATE TABLE graph_tags (
    name       text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Edges reference their nodes: removing a post removes its edges, and a tag
-- or page that an edge still uses cannot be removed as an orphan.
CREATE TABLE post_tags (
    post_id text NOT NULL REFERENCES graph_posts (post_id) ON DELETE CASCADE,
    tag     text NOT NULL REFERENCES graph_tags (name) ON DELETE CASCADE,
    PRIMARY KEY (post_id, tag)
);
-- "posts with tag X" and co-occurrence start from the tag.
CREATE INDEX post_tags_tag_idx ON post_tags (tag, post_id);

CREATE TABLE web_pages (
    url        text        PRIMARY KEY,
    title      text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE post_links (
    post_id text NOT NULL REFERENCES graph_posts (post_id) ON DELETE CASCADE,
    url     text NOT NULL REFERENCES web_pages (url) ON DELETE CASCADE,
    PRIMARY KEY (post_id, url)
);
-- "what links here" starts from the page.
CREATE INDEX post_links_url_idx ON post_links (url, post_id);

-- +goose Down
DROP TABLE post_links;
DROP TABLE web_pages;
DROP TABLE post_tags;
DROP TABLE graph_tags;
DROP TABLE graph_posts;
DROP TABLE graph_channels;
