package postgres

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestSplitSearchPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{`assistant`, []string{"assistant"}},
		{`"$user", public`, []string{"$user", "public"}},
		{`"My Schema",public`, []string{"My Schema", "public"}},
		{`"a""b"`, []string{`a"b`}},
		{`"a,b", c`, []string{"a,b", "c"}},
	}
	for _, tt := range tests {
		if got := splitSearchPath(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitSearchPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestApplySchema(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, schema, want string
	}{
		{"postgres://h/db", "assistant", `"assistant"`},
		{"postgres://h/db", `we"ird`, `"we""ird"`},
		{"postgres://h/db?search_path=t_1", "assistant", "t_1"}, // the URL's wins
		{"postgres://h/db", "", ""},                             // server default
	}
	for _, tt := range tests {
		cfg, err := pgx.ParseConfig(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		applySchema(cfg, tt.schema)
		if got := cfg.RuntimeParams["search_path"]; got != tt.want {
			t.Errorf("applySchema(%s, %q): search_path = %q, want %q", tt.url, tt.schema, got, tt.want)
		}
	}
}

// TestCreatedTables reads the embedded migrations: each names the tables
// it creates, which is what the refusal compares against.
func TestCreatedTables(t *testing.T) {
	t.Parallel()
	for file, want := range map[string][]string{
		"00001_posts.sql":           {"posts"},
		"00002_post_enrichment.sql": {"post_enrichment"},
		"00003_indexing_status.sql": {"indexing_status"},
	} {
		got, err := createdTables(file)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("createdTables(%s) = %v, want %v", file, got, want)
		}
	}
}
