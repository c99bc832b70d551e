package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/assistant-dev/assistant"

// listImports returns, for every package of the module, its direct
// (non-test) imports within the module, from `go list`.
func listImports(t *testing.T, template string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", template, module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		name := rel(fields[0])
		var deps []string
		for _, imp := range fields[1:] {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				deps = append(deps, rel(imp))
			}
		}
		pkgs[name] = deps
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages: the module is not where the test looks", len(pkgs))
	}
	return pkgs
}

// rel is a package's path inside the module ("" for the module's root).
func rel(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
}

// under reports whether pkg is dir or below it.
func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// stageOf is the stage package a package belongs to ("stages/index" for
// stages/index/x), or "" outside stages/ and for stages/all.
func stageOf(pkg string) string {
	parts := strings.Split(pkg, "/")
	if len(parts) < 2 || parts[0] != "stages" || parts[1] == "all" {
		return ""
	}
	return parts[0] + "/" + parts[1]
}

// rule is one import rule: a package of from must not import a package
// forbidden reports on.
type rule struct {
	name      string
	from      func(pkg string) bool
	forbidden func(from, imp string) bool
}

var rules = []rule{
	{
		name: "cli and config reach no stage but through stages/all",
		from: func(p string) bool { return under(p, "cli") || under(p, "config") },
		forbidden: func(_, imp string) bool {
			return stageOf(imp) != ""
		},
	},
	{
		name: "no stage imports another stage",
		from: func(p string) bool { return stageOf(p) != "" },
		forbidden: func(from, imp string) bool {
			s := stageOf(imp)
			return s != "" && s != stageOf(from)
		},
	},
	{
		name: "stores import nothing above them",
		from: func(p string) bool { return under(p, "store") },
		forbidden: func(_, imp string) bool {
			return slices.ContainsFunc([]string{"pipeline", "stages", "cli", "search", "console", "api", "bench", "ingest"},
				func(dir string) bool { return under(imp, dir) })
		},
	},
	{
		name: "the runner and its operator surface name no stage and no store",
		from: func(p string) bool { return under(p, "pipeline") },
		forbidden: func(_, imp string) bool {
			return under(imp, "stages") || under(imp, "store") || under(imp, "cli")
		},
	},
	{
		name:      "the benchmarks shared by the command line name no stage",
		from:      func(p string) bool { return under(p, "bench") },
		forbidden: func(_, imp string) bool { return stageOf(imp) != "" },
	},
}

// violations applies the rules to an import graph.
func violations(graph map[string][]string) []string {
	var out []string
	for pkg, imps := range graph {
		for _, r := range rules {
			if !r.from(pkg) {
				continue
			}
			for _, imp := range imps {
				if r.forbidden(pkg, imp) {
					out = append(out, r.name+": "+pkg+" imports "+imp)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestImportRules checks the rules on the direct imports of every package.
func TestImportRules(t *testing.T) {
	for _, v := range violations(listImports(t, "{{.ImportPath}} {{join .Imports \" \"}}")) {
		t.Error(v)
	}
}

// TestCLIAndConfigDependOnNoStage follows the whole dependency graph: the
// command line and the configuration do not reach a stage through another
// package either (only main, through stages/all, links the stages in).
func TestCLIAndConfigDependOnNoStage(t *testing.T) {
	deps := listImports(t, "{{.ImportPath}} {{join .Deps \" \"}}")
	for _, pkg := range []string{"cli", "config", "pipeline", "store", "store/backends"} {
		list, ok := deps[pkg]
		if !ok {
			t.Fatalf("go list does not know %s", pkg)
		}
		for _, d := range list {
			if under(d, "stages") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}

// TestRulesCatchViolations: each rule reports a graph that breaks it, so
// the rules are not vacuous.
func TestRulesCatchViolations(t *testing.T) {
	bad := map[string][]string{
		"cli":                 {"stages/index"},
		"config":              {"stages/all"},
		"stages/cleanup":      {"stages/index", "stages/cleanup/internal"},
		"store/postgres":      {"pipeline"},
		"pipeline":            {"store/postgres"},
		"bench":               {"stages/tag"},
		"stages/index/helper": {"stages/index"},
	}
	got := violations(bad)
	want := []string{
		"cli and config reach no stage but through stages/all: cli imports stages/index",
		"no stage imports another stage: stages/cleanup imports stages/index",
		"stores import nothing above them: store/postgres imports pipeline",
		"the benchmarks shared by the command line name no stage: bench imports stages/tag",
		"the runner and its operator surface name no stage and no store: pipeline imports store/postgres",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
