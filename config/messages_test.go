package config

import (
	"strings"
	"testing"
)

// TestDurationHints: a duration Go cannot parse is reported with its key;
// days, weeks and years, which people write for retentions, get the hours
// to write instead. The hook applies to every duration key alike.
func TestDurationHints(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		value, want string
	}{
		{"10y", `runner.shutdown_timeout = "10y": cannot be decoded: "10y" is not a Go duration (units ns, us, ms, s, m, h; no days or years): write 87600h`},
		{"30d", "write 720h"},
		{"2w", "write 336h"},
		{"1.5d", "write 36h"},
		{"soon", `time: invalid duration "soon" (Go durations look like 500ms, 30s, 5m, 24h)`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			_, err := Load(writeConfig(t, "runner:\n  shutdown_timeout: "+tt.value+"\n"), testSections...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("shutdown_timeout: %s: got %v, want %q", tt.value, err, tt.want)
			}
		})
	}
	if _, err := Load(writeConfig(t, "runner:\n  shutdown_timeout: 87600h\n"), testSections...); err != nil {
		t.Fatalf("the hinted value is refused: %v", err)
	}
}

// TestYAMLTabIsNamed: wherever the tab is — indenting a key, after a colon,
// before the first key — the error says "tab" with the tab's line and
// column, not yaml.v3's "found character that cannot start any token".
func TestYAMLTabIsNamed(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name, file, want string
	}{
		{"after spaces", "log:\n  level: info\n  \tformat: json\n", "line 3, column 3: a tab character"},
		{"in a list", "stages:\n  enrich:\n    deny_domains:\n\t- a.org\n", "line 4, column 1: a tab character"},
		{"before the first key", "\tlog:\n  level: info\n", "line 1, column 1: a tab character"},
		{"indenting a key", "log:\n  level: info\n\tformat: json\n", "line 3, column 1: a tab character"},
		{"a comment's tab is no error", "log: # a\tcomment\n  level: info\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Inspect(writeConfig(t, tt.file), testSections...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// TestUnknownKeyDidYouMean: a misspelt key in the file gets the same
// nearest-name suggestion a misspelt environment variable does; a key
// nothing resembles gets none.
func TestUnknownKeyDidYouMean(t *testing.T) {
	clearEnv(t)
	_, err := Load(writeConfig(t, "runner:\n  shutdown_timout: 5s\n  frobnicate: 1\n"), testSections...)
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, "runner.shutdown_timout") || !strings.Contains(msg, "did you mean runner.shutdown_timeout?") {
		t.Errorf("misspelt key: %v", msg)
	}
	if !strings.Contains(msg, "runner.frobnicate") || strings.Count(msg, "did you mean") != 1 {
		t.Errorf("a key like no other got a guess: %v", msg)
	}
}
