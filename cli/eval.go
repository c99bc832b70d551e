package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/search"
	"github.com/assistant-dev/assistant/store/postgres"
)

// evalCommand groups quality evaluations.
func (a *app) evalCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Measure quality against judged sets",
	}
	var setPath, poolPath, corpusPath, semantic string
	var asJSON, rum bool
	searchCmd := &cobra.Command{
		Use:   "search",
		Short: "nDCG@10 and recall@20 of keyword, semantic (local embedder) and hybrid search on the judged query set",
		Long: `eval search indexes the judged set's corpus into a temporary schema of the
configured database (local tagger, local embedder, the in-memory vector index),
runs every query in each mode and reports nDCG@10, recall@20 and MRR.
--pool FILE writes, per query, the union of every mode's top 20 with the post
texts and the current judgments, for judging new queries by reading them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			set, err := search.ReadJudgedSet(setPath)
			if err != nil {
				return err
			}
			if corpusPath == "" {
				corpusPath = filepath.Join(filepath.Dir(setPath), set.Corpus)
			}
			posts, err := search.ReadCorpus(corpusPath, 0)
			if err != nil {
				return err
			}
			emb, model, err := evalEmbedder(cfg.AI.Local, semantic, posts)
			if err != nil {
				return fmt.Errorf("eval search: %w", err)
			}
			opts := search.DefaultOptions()
			opts.RRFK, opts.KeywordWeight, opts.SemanticWeight = cfg.Search.RRFK, cfg.Search.KeywordWeight, cfg.Search.SemanticWeight
			opts.CrawlWeight, opts.Candidates = cfg.Search.CrawlWeight, cfg.Search.Candidates
			opts.MinSemanticScore = cfg.Search.MinSemanticScore
			opts.Rerank, opts.RerankWeight, opts.PartialWeight = cfg.Search.Rerank, cfg.Search.RerankWeight, cfg.Search.PartialWeight
			sb, err := search.NewSandbox(cmd.Context(), search.SandboxOptions{
				DatabaseURL: cfg.Database.URL, Posts: posts,
				Embedder: emb, Search: opts,
			})
			if err != nil {
				return fmt.Errorf("eval search: %w", err)
			}
			defer sb.Close()
			if rum {
				st, err := postgres.EnsureSearchRUM(cmd.Context(), sb.Pool, true)
				if err != nil {
					return fmt.Errorf("eval search: %w", err)
				}
				if st.Unavailable != "" {
					return fmt.Errorf("eval search --rum: %s", st.Unavailable)
				}
			}
			modes := []search.Mode{search.Keyword, search.Semantic, search.Hybrid}
			if poolPath != "" {
				if err := writePools(cmd, sb, set, posts, modes, poolPath); err != nil {
					return err
				}
			}
			metrics, per, err := search.Evaluate(cmd.Context(), sb.Service, set, sb.KeyOf, modes)
			if err != nil {
				return fmt.Errorf("eval search: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"queries": len(set.Queries), "posts": len(posts), "corpus": corpusPath,
					"embedder": model, "metrics": metrics, "per_query": per})
			}
			fmt.Fprintf(a.stdout, "%d judged queries of %s over %d posts (%s), embedder %s, full text through %s\n",
				len(set.Queries), setPath, len(posts), corpusPath, model, sb.Service.FullTextIndex(cmd.Context()))
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "mode\tnDCG@10\trecall@20\tMRR\thits@10")
			for _, m := range metrics {
				fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%d/%d\n", m.Mode, m.NDCG10, m.Recall20, m.MRR, m.Hits10, m.Queries)
			}
			return tw.Flush()
		},
	}
	searchCmd.Flags().StringVar(&setPath, "set", "testdata/search/judged.json", "judged query set")
	searchCmd.Flags().StringVar(&poolPath, "pool", "", "write every query's pooled candidates (all modes' top 20) to this file")
	searchCmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, with per-query figures")
	searchCmd.Flags().BoolVar(&rum, "rum", false, "rank keyword matches through a RUM index (search.rum) instead of GIN")
	searchCmd.Flags().StringVar(&corpusPath, "corpus", "", "index this corpus file instead of the set's (it must hold the judged posts)")
	searchCmd.Flags().StringVar(&semantic, "semantic-model", "train", `local embedder's semantic model: "train" (learnt from the corpus indexed, as reindex does), "none" (no model: hashed words and word vectors, as before search train) or a model file`)
	cmd.AddCommand(searchCmd)
	cmd.AddCommand(a.evalCrawlCommand())
	cmd.AddCommand(a.evalTagsCommand())
	return cmd
}

// evalEmbedder is the local embedder eval search indexes with.
func evalEmbedder(c config.Local, semantic string, posts []search.CorpusPost) (*local.Embedder, string, error) {
	switch semantic {
	case "none", "":
		e := local.NewEmbedder(c.EmbeddingDim, local.WithWordVectors(local.DefaultWordVectors(), c.WordVectorShare))
		return e, e.Model(), nil
	case "train":
		m, err := search.TrainOnCorpus(posts, local.TrainOptions{})
		if err != nil {
			return nil, "", err
		}
		e := local.NewEmbedder(c.EmbeddingDim, local.WithSemanticModel(m, c.SemanticShare),
			local.WithWordVectors(local.DefaultWordVectors(), c.WordVectorShare))
		return e, e.Model(), nil
	}
	m, err := local.LoadSemanticModel(semantic)
	if err != nil {
		return nil, "", err
	}
	e := local.NewEmbedder(c.EmbeddingDim, local.WithSemanticModel(m, c.SemanticShare),
		local.WithWordVectors(local.DefaultWordVectors(), c.WordVectorShare))
	return e, e.Model(), nil
}

func writePools(cmd *cobra.Command, sb *search.Sandbox, set *search.JudgedSet, posts []search.CorpusPost, modes []search.Mode, path string) error {
	byKey := map[string]search.CorpusPost{}
	for _, p := range posts {
		byKey[search.PostKey(p)] = p
	}
	var b strings.Builder
	for _, q := range set.Queries {
		seen := map[string][]string{}
		var order []string
		for _, mode := range modes {
			keys, err := search.Ranking(cmd.Context(), sb.Service, q.Query, mode, 20, sb.KeyOf)
			if err != nil {
				return err
			}
			for i, k := range keys {
				if _, ok := seen[k]; !ok {
					order = append(order, k)
				}
				seen[k] = append(seen[k], fmt.Sprintf("%s#%d", mode[:1], i+1))
			}
		}
		sort.SliceStable(order, func(i, j int) bool { return q.Relevant[order[i]] > q.Relevant[order[j]] })
		fmt.Fprintf(&b, "=== %s %q (%d candidates)\n", q.ID, q.Query, len(order))
		for _, k := range order {
			text := strings.Join(strings.Fields(byKey[k].Text), " ")
			if r := []rune(text); len(r) > 260 {
				text = string(r[:260]) + "…"
			}
			fmt.Fprintf(&b, "[%d] %s %s | %s\n", q.Relevant[k], k, strings.Join(seen[k], ","), text)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
