// Package promcheck lets tests check that what reads the daemon's metrics —
// alert rules, dashboards — reads only metrics the daemon exports (the old
// system alerted on metrics it never emitted). It lists the metric names a
// PromQL expression reads, and the metric names the Go code registers.
package promcheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	quoted     = regexp.MustCompile(`"[^"]*"`)
	variable   = regexp.MustCompile(`\$\{?__?[a-zA-Z_]+\}?`)
	rangeSel   = regexp.MustCompile(`\[[^\]]*\]`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	metricName = regexp.MustCompile(`^[a-z][a-z0-9_]*_[a-z0-9_]+$`)
)

// functions are PromQL functions and keywords with an underscore in their
// name (the label names the project uses have none).
var functions = []string{
	"histogram_quantile", "label_replace", "label_join", "clamp_min", "clamp_max",
	"count_values", "absent_over_time", "avg_over_time", "max_over_time", "min_over_time",
	"sum_over_time", "count_over_time", "last_over_time", "quantile_over_time",
	"present_over_time", "stddev_over_time", "group_left", "group_right",
	"day_of_month", "day_of_week", "days_in_month", "predict_linear", "holt_winters",
}

// MetricsIn lists, once each, the metric names an expression reads: the
// identifiers with an underscore that are not functions, after quoted
// strings, Grafana variables and range selectors are removed.
func MetricsIn(expr string) []string {
	expr = quoted.ReplaceAllString(expr, `""`)
	expr = variable.ReplaceAllString(expr, "")
	expr = rangeSel.ReplaceAllString(expr, "")
	var out []string
	for _, id := range identifier.FindAllString(expr, -1) {
		if strings.Contains(id, "_") && !slices.Contains(functions, id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Family strips the suffixes Prometheus adds to a histogram's or summary's
// series, giving the name the code registers.
func Family(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok {
			return base
		}
	}
	return series
}

// Registered returns the string literals shaped like metric names in the
// non-test Go files under root (vendor and testdata skipped): the names the
// daemon can register. A name built at run time would be missed, which is
// why the project spells every metric name out as a literal.
func Registered(root string) (map[string]bool, error) {
	all, err := Literals(root)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for s := range all {
		if metricName.MatchString(s) {
			names[s] = true
		}
	}
	return names, nil
}

// Literals returns every string literal of the non-test Go files under
// root (vendor and testdata skipped): what the daemon can name, such as a
// metric or an environment variable.
func Literals(root string) (map[string]bool, error) {
	names := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "vendor", "testdata", ".git", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil {
				names[s] = true
			}
			return true
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s for string literals: %w", root, err)
	}
	return names, nil
}
