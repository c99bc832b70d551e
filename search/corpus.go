package search

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assistant-dev/assistant/ai"
	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/config"
	crawllinks "github.com/assistant-dev/assistant/crawl/links"
	"github.com/assistant-dev/assistant/events"
	"github.com/assistant-dev/assistant/ingest"
	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
)

// CorpusPost is one line of the telegram-news-ru corpus (JSONL).
type CorpusPost struct {
	ChannelID int64  `json:"channel_id"`
	Channel   string `json:"channel"`
	MessageID int64  `json:"message_id"`
	Date      string `json:"date"`
	Text      string `json:"text"`
}

// ReadCorpus reads the first n posts of a corpus file (all when n <= 0).
func ReadCorpus(path string, n int) ([]CorpusPost, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open corpus: %w", err)
	}
	defer f.Close()
	var posts []CorpusPost
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() && (n <= 0 || len(posts) < n) {
		var p CorpusPost
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("corpus %s line %d: %w", path, len(posts)+1, err)
		}
		posts = append(posts, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read corpus %s: %w", path, err)
	}
	return posts, nil
}

// CorpusPostID is the id ingest gives a corpus post; copy > 0 names the
// copy-th repetition of it (benchmarks scale the corpus up that way).
func CorpusPostID(p CorpusPost, copy int) string {
	msg := p.MessageID
	if copy > 0 {
		msg += int64(copy) * 1_000_000_000
	}
	return ingest.PostID(strconv.FormatInt(p.ChannelID, 10), msg)
}

// EmbeddingText is what the index stage embeds (spec section 5, index 1):
// the post text (2,000 characters), crawled Markdown, and the tags,
// whitespace collapsed.
func EmbeddingText(text string, tags []string) string {
	r := []rune(text)
	if len(r) > 2000 {
		r = r[:2000]
	}
	return strings.Join(strings.Fields(string(r)+" "+strings.Join(tags, " ")), " ")
}

// LoadOptions shapes LoadCorpus.
type LoadOptions struct {
	// Copies repeats the corpus under new ids (1 = once). Copy c > 0 gets
	// vectors with a fixed random sign flip per dimension, so the copies
	// are as spread as the original and no two points tie.
	Copies int
	// Retention sets expires_at = posted_at + Retention (default 100
	// years: the corpus is from 2023–2024).
	Retention time.Duration
	// Batch is the rows per UPSERT (default 1000).
	Batch int
	// Store, when set, also receives the points (collection Collection,
	// created for the embedder's dimension and model): the index stage's
	// write path.
	Store      store.VectorStore
	Collection string
}

// LoadCorpus indexes corpus posts the way the pipeline does: tags from the
// local tagger (validated like the tag stage does), posts and tag rows
// written by persist's UPSERT, vectors from emb put into ix (when both are
// non-nil). It returns the post ids in corpus order (copy after copy).
func LoadCorpus(ctx context.Context, pool *pgxpool.Pool, emb ai.Embedder, ix *vecindex.Index, posts []CorpusPost, o LoadOptions) ([]string, error) {
	if o.Copies <= 0 {
		o.Copies = 1
	}
	if o.Retention <= 0 {
		o.Retention = 100 * 365 * 24 * time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	tagger := local.NewTagger()
	repo := postgres.NewRepository(pool)
	type base struct {
		tags []string
		vec  []float32
	}
	bases := make([]base, len(posts))
	for i, p := range posts {
		bases[i].tags = ai.ValidateTags(mustJSON(tagger.Extract(p.Text, 5)), p.Text, 5).Tags
	}
	if emb != nil && (ix != nil || o.Store != nil) {
		for start := 0; start < len(posts); start += 256 {
			end := min(start+256, len(posts))
			texts := make([]string, 0, end-start)
			for i := start; i < end; i++ {
				texts = append(texts, EmbeddingText(posts[i].Text, bases[i].tags))
			}
			vecs, err := emb.Embed(ctx, texts)
			if err != nil {
				return nil, fmt.Errorf("embed corpus: %w", err)
			}
			for j, v := range vecs {
				bases[start+j].vec = v
			}
		}
	}
	if o.Store != nil && emb != nil {
		if o.Collection == "" {
			o.Collection = "posts"
		}
		if err := o.Store.EnsureCollection(ctx, store.Collection{Name: o.Collection, Dim: emb.Dimension(), Model: emb.Model()}); err != nil {
			return nil, fmt.Errorf("vector collection: %w", err)
		}
	}
	now := time.Now()
	var ids []string
	var stPoints []store.Point
	var batch []*events.PostTagged
	var points []vecindex.Point
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := repo.UpsertTagged(ctx, batch, config.Posts{Retention: o.Retention}); err != nil {
			return fmt.Errorf("store corpus posts: %w", err)
		}
		if ix != nil && len(points) > 0 {
			if err := ix.Upsert(points...); err != nil {
				return fmt.Errorf("index corpus vectors: %w", err)
			}
		}
		if o.Store != nil && len(stPoints) > 0 {
			if err := o.Store.Upsert(ctx, o.Collection, stPoints); err != nil {
				return fmt.Errorf("store corpus vectors: %w", err)
			}
		}
		batch, points, stPoints = batch[:0], points[:0], stPoints[:0]
		return nil
	}
	for c := range o.Copies {
		var flip []float32
		if c > 0 && emb != nil {
			r := rand.New(rand.NewPCG(uint64(c), 0x5eed))
			flip = make([]float32, emb.Dimension())
			for d := range flip {
				flip[d] = float32(1 - 2*r.IntN(2))
			}
		}
		for i, p := range posts {
			postedAt, err := time.Parse(time.RFC3339, p.Date)
			if err != nil {
				return nil, fmt.Errorf("corpus post %d/%d: date: %w", p.ChannelID, p.MessageID, err)
			}
			id := CorpusPostID(p, c)
			ids = append(ids, id)
			tags := bases[i].tags
			ev := &events.PostTagged{
				Envelope: events.Envelope{
					SchemaVersion: "v1", TraceID: id, OccurredAt: now,
					IdempotencyKey: id + ":tagged:" + events.TagsHash(tags),
				},
				PostID: id, ChannelID: strconv.FormatInt(p.ChannelID, 10), Text: p.Text,
				URLs: crawllinks.Extract(p.Text), PostedAt: postedAt.UTC(),
				ContentHash: events.ContentHash(p.Text), Tags: tags, TagsHash: events.TagsHash(tags),
				Provider: "local", Model: "local", Trigger: events.TriggerInitial,
			}
			batch = append(batch, ev)
			if v := bases[i].vec; v != nil {
				if flip != nil {
					fv := make([]float32, len(v))
					for d := range v {
						fv[d] = v[d] * flip[d]
					}
					v = fv
				}
				if ix != nil {
					points = append(points, vecindex.Point{ID: id, Vector: v, Meta: vecindex.Meta{
						ChannelID: ev.ChannelID, PostedAt: postedAt.Unix(), ExpiresAt: postedAt.Add(o.Retention).Unix(),
					}})
				}
				if o.Store != nil {
					stPoints = append(stPoints, store.Point{ID: store.PointID(id), Vector: v, Payload: store.Payload{
						PostID: id, ChannelID: ev.ChannelID, Tags: tags, PostedAt: postedAt.Unix(),
						ExpiresAt: postedAt.Add(o.Retention).Unix(), TextShort: store.ShortText(p.Text),
						URLs: ev.URLs, ContentHash: ev.ContentHash,
					}})
				}
			}
			if len(batch) >= o.Batch {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return ids, nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
