package alerts

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// specMetrics are the metrics of spec sections 5 (tag, persist) and 9 (the
// runner), by the package that exports them.
var specMetrics = map[string]string{
	"stage_messages_total":              "pipeline",
	"stage_handle_duration_seconds":     "pipeline",
	"stage_inflight":                    "pipeline",
	"stream_lag":                        "pipeline",
	"stream_pending":                    "pipeline",
	"stream_oldest_pending_age_seconds": "pipeline",
	"stage_retries_total":               "pipeline",
	"stage_dlq_total":                   "pipeline",
	"stage_claimed_total":               "pipeline",
	"tagging_processed_total":           "stages/tag",
	"tagging_cache_size":                "stages/tag",
	"tagging_cache_evictions_total":     "stages/tag",
	"tagging_redis_dedup_hits_total":    "stages/tag",
	"tagging_latency_seconds":           "stages/tag",
	"tagging_rejected_tags_total":       "stages/tag",
	"tags_persisted_total":              "stages/persist",
	"tags_persist_latency_seconds":      "stages/persist",
	"tags_persist_conflicts_total":      "stages/persist",
}

func loadRules(t *testing.T) map[string]rule {
	t.Helper()
	raw, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	rules := map[string]rule{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("group %s: a rule without alert name or expr: %+v", g.Name, r)
			}
			if _, dup := rules[r.Alert]; dup {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s needs a severity label and a summary", r.Alert)
			}
			rules[r.Alert] = r
		}
	}
	return rules
}

func TestRulesCoverTheSpec(t *testing.T) {
	rules := loadRules(t)
	for _, name := range []string{
		"TaggingPipelineBroken", "TaggingCacheOverflow", "TaggingProviderErrors",
		"StreamLagHigh", "StreamOldestPendingOld", "StageDeadLettering", "StageStalled",
	} {
		if _, ok := rules[name]; !ok {
			t.Errorf("alert %s missing", name)
		}
	}
	broken := rules["TaggingPipelineBroken"]
	for _, part := range []string{
		`rate(tagging_processed_total{status="success"}[5m])) > 0`,
		`rate(tags_persisted_total{status="success"}[5m])) == 0`,
	} {
		if !strings.Contains(broken.Expr, part) {
			t.Errorf("TaggingPipelineBroken lacks %s", part)
		}
	}
	if broken.For != "5m" {
		t.Errorf("TaggingPipelineBroken for %s, want 5m", broken.For)
	}
	// A cache at its bound is healthy (issue 9, item 14): the alert must
	// not fire on the size, but on fresh entries evicted while duplicates
	// miss the cache, and say what to do.
	overflow := rules["TaggingCacheOverflow"]
	if strings.Contains(overflow.Expr, "tagging_cache_size") ||
		!strings.Contains(overflow.Expr, "tagging_cache_evictions_total") ||
		!strings.Contains(overflow.Expr, "tagging_redis_dedup_hits_total") {
		t.Errorf("TaggingCacheOverflow: %q", overflow.Expr)
	}
	if !strings.Contains(overflow.Annotations["description"], "stages.tag.cache_size") {
		t.Errorf("TaggingCacheOverflow does not say what to do: %q", overflow.Annotations["description"])
	}
	if !strings.Contains(rules["StageDeadLettering"].Expr, "stage_dlq_total") {
		t.Error("StageDeadLettering does not read stage_dlq_total")
	}
	if !strings.Contains(rules["TaggingProviderErrors"].Expr, `tagging_processed_total{status="error"}`) {
		t.Error("TaggingProviderErrors does not read the error rate")
	}
}

var (
	quoted     = regexp.MustCompile(`"[^"]*"`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricsIn lists the metric names an expression reads: identifiers with an
// underscore (the label names used here have none), minus functions.
func metricsIn(expr string) []string {
	var out []string
	for _, id := range identifier.FindAllString(quoted.ReplaceAllString(expr, `""`), -1) {
		if strings.Contains(id, "_") && id != "label_replace" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// TestRulesReadExportedMetrics guards against alerts on metrics that are
// never emitted (spec section 12): every metric a rule reads must be one of
// the spec's, and its name must appear as a string literal in the Go code of
// the package that exports it. A stage package that does not exist yet is
// reported, not failed.
func TestRulesReadExportedMetrics(t *testing.T) {
	root := filepath.Join("..", "..")
	for name, r := range loadRules(t) {
		metrics := metricsIn(r.Expr)
		if len(metrics) == 0 {
			t.Errorf("alert %s reads no metric", name)
		}
		for _, m := range metrics {
			pkg, ok := specMetrics[m]
			if !ok {
				t.Errorf("alert %s reads %s, which is not a metric of the spec", name, m)
				continue
			}
			dir := filepath.Join(root, pkg)
			if _, err := os.Stat(dir); err != nil {
				t.Logf("alert %s reads %s of %s, which does not exist yet", name, m, pkg)
				continue
			}
			if !literalInGoFiles(t, dir, `"`+m+`"`) {
				t.Errorf("alert %s reads %s, but %s does not register it", name, m, pkg)
			}
		}
	}
}

func literalInGoFiles(t *testing.T, dir, literal string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || found || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = bytes.Contains(src, []byte(literal))
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return found
}

// TestPromtool runs the rule unit tests with promtool when it is installed
// (.ci/run fetches it from Debian's prometheus package when it can).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH; the rules were checked by the YAML tests only")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
