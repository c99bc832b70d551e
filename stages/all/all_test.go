package all_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/stages/all"
)

// clearEnv removes every variable config.Load reads, so the developer's or
// CI's environment cannot leak into a test.
func clearEnv(t *testing.T) {
	t.Helper()
	names := config.EnvNames()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, config.EnvPrefix+"_") {
			names = append(names, name)
		}
	}
	for _, name := range names {
		t.Setenv(name, "")
		if err := os.Unsetenv(name); err != nil {
			t.Fatalf("unset %s: %v", name, err)
		}
	}
}

// TestConfigYAMLMatchesDefaults keeps the commented config.yaml at the
// repository root true: with the production registry's stage sections it
// must decode to exactly the defaults.
func TestConfigYAMLMatchesDefaults(t *testing.T) {
	clearEnv(t)
	reg := all.Registry()
	got, err := reg.LoadConfig(filepath.Join("..", "..", "config.yaml"))
	if err != nil {
		t.Fatalf("load ../../config.yaml: %v", err)
	}
	if want := reg.DefaultConfig(); !reflect.DeepEqual(got, want) {
		gotYAML, _ := got.YAML()
		wantYAML, _ := want.YAML()
		t.Errorf("config.yaml differs from the defaults:\n got:\n%s\nwant:\n%s", gotYAML, wantYAML)
	}
	// Every stage of the registry has its block in the file.
	for _, name := range reg.Names() {
		if got.Stage(name) == nil {
			t.Errorf("config.yaml has no stages.%s block", name)
		}
	}
}

// TestStageEnvOverride proves the generic ASSISTANT_STAGES_<NAME>_<KEY>
// override reaches a real stage's own settings struct.
func TestStageEnvOverride(t *testing.T) {
	clearEnv(t)
	t.Setenv("ASSISTANT_STAGES_TAG_WORKERS", "8")
	t.Setenv("ASSISTANT_STAGES_PERSIST_RETENTION", "24h")
	t.Chdir(t.TempDir())
	cfg, err := all.Registry().LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := cfg.StagePool("tag"); p.Workers != 8 {
		t.Errorf("tag workers %d, want 8", p.Workers)
	}
	if got := reflect.ValueOf(cfg.Stage("persist")).Elem().FieldByName("Retention").Interface(); got.(interface{ Hours() float64 }).Hours() != 24 {
		t.Errorf("persist retention %v, want 24h", got)
	}
}

// TestProductionRegistryHasNoTestStages: benchmark and test stages live in
// registries of their own, never in the binary's.
func TestProductionRegistryHasNoTestStages(t *testing.T) {
	for _, name := range all.Registry().Names() {
		if strings.HasPrefix(name, "bench") || strings.HasPrefix(name, "test") {
			t.Errorf("production registry lists %s", name)
		}
	}
}

// TestConfigAndCLINameNoStage is the grep of the acceptance criteria: no
// string literal in the non-test code of config/ or cli/ names a stage of
// the production registry (comments and examples may). The topology lives
// in the stages' definitions, and a stage's commands and benchmark come
// with its Definition (internal/archtest checks the imports). Prose (a literal with a space: help text, messages) is not topology
// either, nor is the name of a command-line flag (`search --tag`) that
// happens to be a stage's name, nor a command's name (`assistant cleanup`).
func TestConfigAndCLINameNoStage(t *testing.T) {
	names := all.Registry().Names()
	var alts []string
	for _, n := range names {
		alts = append(alts, regexp.QuoteMeta(n))
	}
	// "telegram" is also the platform and an ingest format (`--format
	// telegram`): a word of the domain, not the service's name, in help
	// texts.
	domainWords := map[string]bool{"telegram": true}
	alts = alts[:0]
	for _, n := range names {
		if !domainWords[n] {
			alts = append(alts, regexp.QuoteMeta(n))
		}
	}
	word := regexp.MustCompile(`(^|[^a-z_-])(` + strings.Join(alts, "|") + `)($|[^a-z_-])`)
	for _, dir := range []string{"config", "cli"} {
		files, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if _, ok := n.(*ast.ImportSpec); ok {
					return false
				}
				if field, ok := n.(*ast.Field); ok {
					// Struct tags are keys of settings, not stage names; walk
					// the rest of the field.
					ast.Inspect(field.Type, func(ast.Node) bool { return true })
					return false
				}
				if kv, ok := n.(*ast.KeyValueExpr); ok {
					// A command's name (cobra's Use: "cleanup run") is the
					// command line the spec names, not topology.
					if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Use" {
						return false
					}
				}
				if call, ok := n.(*ast.CallExpr); ok && isParamAccess(call) {
					// v.Add("tag", t): the name of an API query parameter,
					// part of the HTTP contract, not topology.
					for _, arg := range call.Args[1:] {
						ast.Inspect(arg, func(ast.Node) bool { return true })
					}
					return false
				}
				if call, ok := n.(*ast.CallExpr); ok && isFlagDefinition(call) {
					// Walk every argument but the flag's name.
					for i, arg := range call.Args {
						if i != flagNameArg(call) {
							ast.Inspect(arg, func(ast.Node) bool { return true })
						}
					}
					return false
				}
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					s = lit.Value
				}
				if strings.ContainsAny(s, " \n\t") {
					return true
				}
				if m := word.FindStringSubmatch(strings.ToLower(s)); m != nil {
					t.Errorf("%s: string %q names stage %s", fset.Position(lit.Pos()), s, m[2])
				}
				return true
			})
		}
	}
}

// isParamAccess reports whether call reads or writes a named query
// parameter or header (url.Values and http.Header's Add, Set, Get, Del).
func isParamAccess(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || len(call.Args) == 0 {
		return false
	}
	switch sel.Sel.Name {
	case "Add", "Set", "Get", "Del":
	default:
		return false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	return ok && lit.Kind == token.STRING
}

// isFlagDefinition reports whether call defines a pflag flag
// (fl.StringSliceVar(&v, "tag", ...), fl.IntP("limit", "l", ...)).
func isFlagDefinition(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	for _, kind := range []string{"String", "Int", "Bool", "Duration", "Float", "Uint"} {
		if strings.HasPrefix(sel.Sel.Name, kind) {
			return flagNameArg(call) < len(call.Args)
		}
	}
	return false
}

// flagNameArg is the index of the flag's name among a definition's
// arguments: after the target pointer of the *Var forms.
func flagNameArg(call *ast.CallExpr) int {
	if sel, ok := call.Fun.(*ast.SelectorExpr); ok && strings.Contains(sel.Sel.Name, "Var") {
		return 1
	}
	return 0
}
