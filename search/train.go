package search

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/ai/local"
)

// TrainResult describes a trained semantic model.
type TrainResult struct {
	Posts int           `json:"posts"`
	Model string        `json:"model"` // the content id
	Took  time.Duration `json:"took"`
	Path  string        `json:"path,omitempty"`
}

// TrainSemanticModel learns the offline embedder's latent semantic model
// from the stored, unexpired posts (their text with the crawled pages'
// text and the tags, as the index stage embeds them) and, when path is
// set, saves it there. The reindex that follows must re-embed every post:
// the embedder's model name carries the model's id.
func TrainSemanticModel(ctx context.Context, pool *pgxpool.Pool, path string, o local.TrainOptions) (*local.SemanticModel, TrainResult, error) {
	start := time.Now()
	rows, err := pool.Query(ctx, `
SELECT coalesce(p.text, '') || ' ' ||
       coalesce((SELECT string_agg(x #>> '{}', ' ') FROM jsonb_path_query(c.data, 'strict $.** ? (@.type() == "string")') x), '') || ' ' ||
       coalesce((SELECT string_agg(g, ' ') FROM jsonb_array_elements_text(t.data->'tags') g), '')
FROM posts p
LEFT JOIN post_enrichment t ON t.post_id = p.post_id AND t.kind = 'tags'
LEFT JOIN post_enrichment c ON c.post_id = p.post_id AND c.kind = 'crawl'
WHERE p.expires_at IS NULL OR p.expires_at > now()
ORDER BY p.post_id`)
	if err != nil {
		return nil, TrainResult{}, fmt.Errorf("train semantic model: read posts: %w", err)
	}
	docs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, TrainResult{}, fmt.Errorf("train semantic model: read posts: %w", err)
	}
	for i, d := range docs {
		if r := []rune(d); len(r) > 8000 {
			docs[i] = string(r[:8000])
		}
	}
	m, err := local.Train(docs, o)
	if err != nil {
		return nil, TrainResult{}, fmt.Errorf("train semantic model: %w", err)
	}
	res := TrainResult{Posts: len(docs), Model: m.ID, Took: time.Since(start), Path: path}
	if path != "" {
		if err := m.Save(path); err != nil {
			return nil, TrainResult{}, err
		}
	}
	return m, res, nil
}

// TrainOnCorpus learns the model from corpus posts directly (eval and bench
// sandboxes, which hold no crawled pages).
func TrainOnCorpus(posts []CorpusPost, o local.TrainOptions) (*local.SemanticModel, error) {
	docs := make([]string, len(posts))
	for i, p := range posts {
		docs[i] = p.Text
	}
	return local.Train(docs, o)
}
