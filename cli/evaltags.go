package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/ai/tageval"
)

// evalTagsSet is one scored set of eval tags.
type evalTagsSet struct {
	Name      string  `json:"name"`
	Posts     int     `json:"posts"`
	Reachable float64 `json:"reachable"` // mean share of gold keywords that occur in the text
	ExactF1   float64 `json:"exact_f1"`
	StemP     float64 `json:"stem_p"`
	StemR     float64 `json:"stem_r"`
	StemF1    float64 `json:"stem_f1"`
	Proposed  int     `json:"proposed"`
	Grounded  int     `json:"grounded"`
}

// evalTagsCommand scores the offline tagger on gold keyword sets.
func (a *app) evalTagsCommand() *cobra.Command {
	var gold, rukw, views []string
	var k, limit int
	var asJSON bool
	var stats string
	cmd := &cobra.Command{
		Use:   "tags",
		Short: "P/R/F1@k of the offline tagger on gold keyword sets (exact and stem-level)",
		Long: `eval tags runs the local tagger, with the stage's settings (ai.local.channel_stats,
k tags per post, tags validated against the text as the tag stage does), over
gold keyword sets and prints exact F1@k and stem-level P/R/F1@k per set.

--gold FILE is a set in the testdata/tags-gold shape (JSON lines with text and
keywords); the default is the committed tuning and held-out parts (left out
when only --rukw is given).
--rukw FILE is one file of the public ru_kw_eval_datasets collection
(github.com/mannefedov/ru_kw_eval_datasets: editors' keywords of Независимая
газета and Russia Today articles; not redistributed here, unzip its data/*.zip
and pass the .jsonlines files), scored once per --view (lead: title, summary
and first paragraph; article: the whole text). Each file is tagged in order
with fresh channel statistics, the outlet being the channel.
"reachable" is the mean share of a post's keywords that occur in its text:
the recall a grounded tagger could reach with unlimited tags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			channelStats := cfg.AI.Local.ChannelStats
			switch stats {
			case "on":
				channelStats = true
			case "off":
				channelStats = false
			case "", "config":
			default:
				return fmt.Errorf("eval tags: --channel-stats %q: want on, off or config", stats)
			}
			type set struct {
				name  string
				items []tageval.Item
			}
			var sets []set
			if cmd.Flags().Changed("rukw") && !cmd.Flags().Changed("gold") {
				gold = nil // only the sets asked for
			}
			for _, path := range gold {
				items, err := tageval.Load(path)
				if err != nil {
					return fmt.Errorf("eval tags: %w", err)
				}
				sets = append(sets, set{filepath.Base(path), items})
			}
			for _, path := range rukw {
				for _, v := range views {
					view, err := tageval.ParseView(v)
					if err != nil {
						return fmt.Errorf("eval tags: %w", err)
					}
					items, err := tageval.LoadRuKW(path, view, limit)
					if err != nil {
						return fmt.Errorf("eval tags: %w", err)
					}
					sets = append(sets, set{strings.TrimSuffix(filepath.Base(path), ".jsonlines") + " " + string(view), items})
				}
			}
			out := make([]evalTagsSet, 0, len(sets))
			for _, s := range sets {
				var opts []local.Option
				if !channelStats {
					opts = append(opts, local.WithoutChannelStats())
				}
				rep, err := tageval.Evaluate(cmd.Context(), local.NewTagger(opts...), s.items, tageval.Options{K: k})
				if err != nil {
					return fmt.Errorf("eval tags %s: %w", s.name, err)
				}
				out = append(out, evalTagsSet{
					Name: s.name, Posts: rep.Posts, Reachable: tageval.Reachable(s.items),
					ExactF1: rep.Exact.F1, StemP: rep.Stem.P, StemR: rep.Stem.R, StemF1: rep.Stem.F1,
					Proposed: rep.Proposed, Grounded: rep.Grounded,
				})
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"model": local.TaggerModel, "k": k, "channel_stats": channelStats, "sets": out})
			}
			fmt.Fprintf(a.stdout, "tagger %s, %d tags per post, channel statistics %s\n", local.TaggerModel, k, onOff(channelStats))
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "set\tposts\treachable\texact F1@%d\tstem P\tstem R\tstem F1@%d\tgrounded\n", k, k)
			for _, s := range out {
				fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d/%d\n", s.Name, s.Posts, s.Reachable, s.ExactF1, s.StemP, s.StemR, s.StemF1, s.Grounded, s.Proposed)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringArrayVar(&gold, "gold", []string{"testdata/tags-gold/tuning.jsonl", "testdata/tags-gold/heldout.jsonl"}, "gold set in the tags-gold shape (repeatable)")
	cmd.Flags().StringArrayVar(&rukw, "rukw", nil, "a ru_kw_eval_datasets .jsonlines file (repeatable)")
	cmd.Flags().StringSliceVar(&views, "view", []string{"lead", "article"}, "what of a --rukw article the tagger reads: lead, article")
	cmd.Flags().IntVar(&k, "k", 5, "tags per post")
	cmd.Flags().IntVar(&limit, "limit", 0, "read at most this many articles of each --rukw file (0: all)")
	cmd.Flags().StringVar(&stats, "channel-stats", "config", "per-channel statistics: on, off or config (ai.local.channel_stats)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
