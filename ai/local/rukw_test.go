package local_test

import (
	"context"
	"os"
	"path/filepath"
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
// _0 files are the tuning part, the _1 files the held-out part. It only
// reports (the floors are on the committed sets, TestGoldFloor); the same
// figures come from `assistant eval tags --rukw FILE`.
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
			}
		}
	}
}
