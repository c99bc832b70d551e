package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/ai/local"
	"github.com/assistant-dev/assistant/ai/tageval"
)

// rukwEnv names the directory holding the unzipped ru_kw_eval_datasets
// files (github.com/mannefedov/ru_kw_eval_datasets, data/*.zip; published
// without a licence, so not copied here). TestRuKW is skipped without it.
const rukwEnv = "TAGS_RUKW_DIR"

// TestRuKW prints the local tagger's stem-level F1@5 on the editors'
// keywords of Независимая газета (ng_*) and Russia Today (russia_today_*),
// leads and whole articles, with the channel statistics on and off. The
// _0 files are the tuning part (the learned ranking is fitted on them), the
// _1 files the held-out part, where the means of the two outlets must reach
// issue 26.1's goal: 0.22 on leads, 0.26 on whole articles (statistics
// off, the default). The same figures come from `assistant eval tags
// --rukw FILE`.
func TestRuKW(t *testing.T) {
	dir := os.Getenv(rukwEnv)
	if dir == "" {
		t.Skipf("%s not set", rukwEnv)
	}
	names := []string{"ng_0", "russia_today_0", "ng_1", "russia_today_1"}
	statsModes := []bool{true, false}
	if os.Getenv("TAGS_RUKW_TUNING") != "" {
		names, statsModes = names[:2], []bool{false} // the tuning part only
	}
	// held-out means of the two outlets, statistics off (the default)
	heldout := map[tageval.View]float64{}
	for _, name := range names {
		for _, view := range []tageval.View{tageval.Lead, tageval.Article} {
			items, err := tageval.LoadRuKW(filepath.Join(dir, name+".jsonlines"), view, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, stats := range statsModes {
				var opts []local.Option
				if !stats {
					opts = append(opts, local.WithoutChannelStats())
				}
				rep, err := tageval.Evaluate(context.Background(), local.NewTagger(opts...), items, tageval.Options{K: 5})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%-15s %-7s stats=%-5v reachable %.3f  %s", name, view, stats, tageval.Reachable(items), rep)
				if !stats && strings.HasSuffix(name, "_1") {
					heldout[view] += rep.Stem.F1 / 2
				}
			}
		}
	}
	if len(heldout) == 0 {
		return
	}
	// The goal (26.1), on the held-out parts: the ranking was
	// fitted on the _0 files only.
	for view, floor := range map[tageval.View]float64{tageval.Lead: 0.22, tageval.Article: 0.26} {
		t.Logf("held-out %-7s mean of the two outlets: stem F1@5 %.3f (goal %.2f)", view, heldout[view], floor)
		if heldout[view] < floor {
			t.Errorf("held-out %s: stem F1@5 %.3f, below the goal %.2f", view, heldout[view], floor)
		}
	}
}
