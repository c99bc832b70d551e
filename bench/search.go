package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/search/vecindex"
	"github.com/assistant-dev/assistant/store"
	"github.com/assistant-dev/assistant/store/postgres"
)

// SearchOptions configures the search benchmark.
type SearchOptions struct {
	DatabaseURL string
	// Corpus is repeated under new ids (copies get sign-flipped vectors, so
	// no two points tie) until each size is reached.
	Corpus string
	// Set is the judged query set whose queries are searched.
	Set string
	// Sizes are the numbers of indexed posts to measure at.
	Sizes []int
	// VectorQueries is how many query vectors measure the vector backend.
	VectorQueries int
	// Rounds is how many times each judged query is run per mode for the
	// latency percentiles.
	Rounds int
	// Concurrency is the number of clients of the QPS measurement.
	Concurrency int
	// Duration is how long each mode's QPS measurement runs.
	Duration time.Duration
	Out      io.Writer
}

// SearchSizeResult is one size's figures.
type SearchSizeResult struct {
	Posts        int
	LoadTime     time.Duration // corpus into PostgreSQL (posts, tags, vectors)
	MirrorLoad   time.Duration // vectors into the in-memory index
	Memory       vecindex.Memory
	VectorP50    time.Duration
	VectorP99    time.Duration
	VectorRecall float64 // recall@10 against the exact float32 scan
	SQLScanP50   time.Duration
	// Snapshot is the one-shot process's vector path (search.DiskVectors):
	// the file's build by one Scan, its size, and one process's call —
	// open (the store's changes since the snapshot, the mapping) and
	// search — per query.
	SnapshotBuild   time.Duration
	SnapshotBytes   int64
	SnapshotCallP50 time.Duration
	SnapshotCallP99 time.Duration
	// FullText is the index keyword matches are ranked through ("rum" or
	// "gin"); with RUM, Modes also has the GIN reference rows and
	// RUMOverlap10 is the share of GIN's top 10 (keyword mode, the judged
	// queries) that the RUM path returns too.
	FullText     string
	RUMOverlap10 float64
	RUMBuild     time.Duration
	Modes        []ModeLatency
	RSSKiB       int64
	PeakRSSKiB   int64
}

// ModeLatency is one search mode's service-level figures.
type ModeLatency struct {
	Mode search.Mode
	// Index is "gin" for the reference rows ranked through GIN when the
	// service itself uses RUM; "" otherwise.
	Index    string
	P50, P99 time.Duration
	QPS      float64
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	idx := func(p float64) int { return min(len(d)-1, int(p*float64(len(d)))) }
	return d[idx(0.50)], d[idx(0.99)]
}

// Search measures `assistant search` at each size: the vector backend
// (in-memory mirror of the PostgreSQL vectors: latency, recall@10 against
// an exact scan, memory), the whole service per mode (latency, QPS with
// concurrent clients) and the process RSS. Each size works in a temporary
// schema, dropped at the end.
func Search(ctx context.Context, o SearchOptions) ([]SearchSizeResult, error) {
	if o.VectorQueries <= 0 {
		o.VectorQueries = 200
	}
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	posts, err := search.ReadCorpus(o.Corpus, 0)
	if err != nil {
		return nil, err
	}
	set, err := search.ReadJudgedSet(o.Set)
	if err != nil {
		return nil, err
	}
	// The default configuration's embedder (no trained model): hashed words
	// and word vectors, so hybrid and semantic queries pay the re-ranking.
	emb := local.NewEmbedder(0, local.WithWordVectors(local.DefaultWordVectors(), 0))
	var texts []string
	for _, q := range set.Queries {
		texts = append(texts, q.Query)
	}
	queryVecs, err := emb.Embed(ctx, texts)
	if err != nil {
		return nil, err
	}
	var results []SearchSizeResult
	for _, size := range o.Sizes {
		r, err := searchAtSize(ctx, o, posts, set, emb, queryVecs, size)
		if err != nil {
			return nil, fmt.Errorf("bench search at %d posts: %w", size, err)
		}
		results = append(results, r)
		writeSearchResult(o.Out, r)
	}
	return results, nil
}

func searchAtSize(ctx context.Context, o SearchOptions, posts []search.CorpusPost, set *search.JudgedSet,
	emb *local.Embedder, queryVecs [][]float32, size int) (SearchSizeResult, error) {
	res := SearchSizeResult{}
	resetPeakRSS()
	copies := (size + len(posts) - 1) / len(posts)
	start := time.Now()
	sb, err := search.NewSandbox(ctx, search.SandboxOptions{
		DatabaseURL: o.DatabaseURL, Posts: posts, Embedder: emb, VectorStore: true,
		Load: search.LoadOptions{Copies: copies, Batch: 2000},
	})
	if err != nil {
		return res, err
	}
	defer sb.Close()
	res.LoadTime = time.Since(start)
	res.Posts = len(sb.IDs)
	// The mirror loaded inside NewSandbox; load a second copy to time it.
	m2 := search.NewMirror(sb.Store, sb.Store, "posts", emb.Dimension(), search.MirrorOptions{Refresh: time.Hour})
	t0 := time.Now()
	if err := m2.Load(ctx); err != nil {
		return res, err
	}
	res.MirrorLoad = time.Since(t0)
	m2 = nil
	res.Memory = sb.Mirror.Index().Memory()

	// Query vectors: the judged queries' embeddings and stored points'
	// vectors ("more like this"), from every copy.
	r := rand.New(rand.NewPCG(1, 2))
	vecs := append([][]float32{}, queryVecs...)
	for len(vecs) < o.VectorQueries {
		v, ok, err := sb.Store.Vector(ctx, "posts", store.PointID(sb.IDs[r.IntN(len(sb.IDs))]))
		if err != nil {
			return res, err
		}
		if ok {
			vecs = append(vecs, v)
		}
	}
	// Vector backend latency (sequential, the mirror's whole path: integer
	// scan, re-rank with exact vectors read from the table).
	f := search.VectorFilter{Now: time.Now()}
	var lat []time.Duration
	got := make([][]search.VectorHit, len(vecs))
	for i, v := range vecs {
		t := time.Now()
		hits, err := sb.Mirror.Nearest(ctx, v, 10, f)
		if err != nil {
			return res, err
		}
		lat = append(lat, time.Since(t))
		got[i] = hits
	}
	res.VectorP50, res.VectorP99 = percentiles(lat)
	res.RSSKiB = currentRSS()

	// Exact reference: every vector, float32, brute force.
	exact := vecindex.New(emb.Dimension(), vecindex.Options{KeepExact: true})
	postOf := map[string]string{}
	if _, err := sb.Store.Scan(ctx, "posts", func(p store.Point) error {
		postOf[p.ID] = p.Payload.PostID
		return exact.Upsert(vecindex.Point{ID: p.ID, Vector: p.Vector, Meta: vecindex.Meta{ExpiresAt: p.Payload.ExpiresAt}})
	}); err != nil {
		return res, err
	}
	found, total := 0, 0
	for i, v := range vecs {
		want, err := exact.ExactSearch(v, 10, vecindex.Filter{Now: f.Now.Unix()})
		if err != nil {
			return res, err
		}
		in := map[string]bool{}
		for _, h := range got[i] {
			in[h.PostID] = true
		}
		for _, w := range want {
			total++
			if in[postOf[w.ID]] {
				found++
			}
		}
	}
	res.VectorRecall = float64(found) / float64(max(total, 1))
	exact = nil

	// The store's own exact SQL scan, for comparison (one query: it is slow).
	sqlVec := search.StoreVectors{Store: sb.Store, Collection: "posts"}
	var sqlLat []time.Duration
	for _, v := range vecs[:1] {
		t := time.Now()
		if _, err := sqlVec.Nearest(ctx, v, 10, f); err != nil {
			return res, err
		}
		sqlLat = append(sqlLat, time.Since(t))
	}
	res.SQLScanP50, _ = percentiles(sqlLat)

	// search.rum: the RUM index built over the loaded posts, as `migrate
	// up` builds it over an existing table.
	t0 = time.Now()
	rum, err := postgres.EnsureSearchRUM(ctx, sb.Pool, true)
	if err != nil {
		return res, err
	}
	res.RUMBuild = time.Since(t0)
	if rum.Unavailable != "" {
		fmt.Fprintf(o.Out, "no RUM index (%s): keyword rows rank through GIN only\n", rum.Unavailable)
	}

	// The one-shot process's path: a snapshot file built once, then per
	// query a fresh DiskVectors (what one `assistant search` does).
	dir, err := os.MkdirTemp("", "bench-search-snapshot-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	snap := filepath.Join(dir, "vectors.idx")
	t0 = time.Now()
	dv := search.NewDiskVectors(sb.Store, sb.Pool, "posts", emb.Dimension(), snap, nil)
	if _, err := dv.Nearest(ctx, vecs[0], 10, f); err != nil {
		return res, err
	}
	res.SnapshotBuild = time.Since(t0)
	_ = dv.Close()
	if st, err := os.Stat(snap); err == nil {
		res.SnapshotBytes = st.Size()
	}
	var callLat []time.Duration
	for _, v := range vecs[:min(len(vecs), 50)] {
		t := time.Now()
		d := search.NewDiskVectors(sb.Store, sb.Pool, "posts", emb.Dimension(), snap, nil)
		if _, err := d.Nearest(ctx, v, 100, f); err != nil {
			return res, err
		}
		callLat = append(callLat, time.Since(t))
		_ = d.Close()
	}
	res.SnapshotCallP50, res.SnapshotCallP99 = percentiles(callLat)

	// The service per mode: sequential latency, then QPS with clients;
	// with RUM, keyword and hybrid again through GIN (the reference).
	res.FullText = sb.Service.FullTextIndex(ctx)
	type run struct {
		mode  search.Mode
		index string
		svc   *search.Service
	}
	runs := []run{{search.Keyword, "", sb.Service}, {search.Semantic, "", sb.Service}, {search.Hybrid, "", sb.Service}}
	if res.FullText == "rum" {
		gin := search.DefaultOptions()
		gin.FullText = search.FullTextGIN
		ginSvc := search.New(sb.Pool, emb, sb.Mirror, gin)
		runs = append(runs, run{search.Keyword, "gin", ginSvc}, run{search.Hybrid, "gin", ginSvc})
		same, total := 0, 0
		for _, q := range set.Queries {
			a, err := ginSvc.Search(ctx, search.Query{Text: q.Query, Mode: search.Keyword, Limit: 10})
			if err != nil {
				return res, err
			}
			b, err := sb.Service.Search(ctx, search.Query{Text: q.Query, Mode: search.Keyword, Limit: 10})
			if err != nil {
				return res, err
			}
			for _, r := range a.Results {
				total++
				for _, x := range b.Results {
					if x.PostID == r.PostID {
						same++
						break
					}
				}
			}
		}
		res.RUMOverlap10 = float64(same) / float64(max(total, 1))
	}
	for _, rn := range runs {
		mode, svc := rn.mode, rn.svc
		ml := ModeLatency{Mode: mode, Index: rn.index}
		var d []time.Duration
		for range o.Rounds {
			for _, q := range set.Queries {
				t := time.Now()
				if _, err := svc.Search(ctx, search.Query{Text: q.Query, Mode: mode, Limit: 10}); err != nil {
					return res, err
				}
				d = append(d, time.Since(t))
			}
		}
		ml.P50, ml.P99 = percentiles(d)
		var n atomic.Int64
		var firstErr atomic.Pointer[error]
		qctx, cancel := context.WithTimeout(ctx, o.Duration)
		var wg sync.WaitGroup
		t0 := time.Now()
		for c := range o.Concurrency {
			wg.Go(func() {
				for i := c; qctx.Err() == nil; i += o.Concurrency {
					q := set.Queries[i%len(set.Queries)]
					if _, err := svc.Search(qctx, search.Query{Text: q.Query, Mode: mode, Limit: 10}); err != nil {
						if qctx.Err() == nil {
							firstErr.CompareAndSwap(nil, &err)
						}
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		cancel()
		if e := firstErr.Load(); e != nil {
			return res, *e
		}
		ml.QPS = float64(n.Load()) / time.Since(t0).Seconds()
		res.Modes = append(res.Modes, ml)
	}
	res.PeakRSSKiB = peakRSS()
	return res, nil
}

func currentRSS() int64 { return procStatusKiB("VmRSS:") }

func writeSearchResult(out io.Writer, r SearchSizeResult) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	fmt.Fprintf(out, "== %d posts (loaded into PostgreSQL in %s; vector mirror loaded in %s)\n",
		r.Posts, r.LoadTime.Round(time.Second), r.MirrorLoad.Round(time.Millisecond))
	fmt.Fprintf(out, "vector backend (in-memory int8 mirror, float re-rank of the candidates): p50 %s  p99 %s  recall@10 vs exact scan %.3f\n",
		ms(r.VectorP50), ms(r.VectorP99), r.VectorRecall)
	fmt.Fprintf(out, "  mirror memory: codes %s + ids/metadata %s = %s (%d points); PostgreSQL exact SQL scan p50 %s\n",
		mib(r.Memory.Codes), mib(r.Memory.Meta), mib(r.Memory.Total), r.Memory.Points, ms(r.SQLScanP50))
	fmt.Fprintf(out, "one-shot vector path (snapshot file %s, built in %s): open + nearest 100 per process p50 %s  p99 %s\n",
		mib(r.SnapshotBytes), r.SnapshotBuild.Round(time.Millisecond), ms(r.SnapshotCallP50), ms(r.SnapshotCallP99))
	fmt.Fprintf(out, "full text ranked through %s", r.FullText)
	if r.FullText == "rum" {
		fmt.Fprintf(out, " (index built in %s; keyword top-10 overlap with GIN's on the judged queries %.3f)",
			r.RUMBuild.Round(time.Millisecond), r.RUMOverlap10)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tp50\tp99\tQPS\t")
	for _, m := range r.Modes {
		name := string(m.Mode)
		if m.Index != "" {
			name += " (" + m.Index + ")"
		} else if m.Mode != search.Semantic {
			name += " (" + r.FullText + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t\n", name, ms(m.P50), ms(m.P99), m.QPS)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "RSS %s (peak %s, including the exact reference index)\n", mib(r.RSSKiB*1024), mib(r.PeakRSSKiB*1024))
}
