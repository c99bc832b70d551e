package config

import (
	"fmt"
	"sort"
	"strings"
)

// EnvName is the environment variable that overrides key:
// stages.bench-noop.workers -> ASSISTANT_STAGES_BENCH_NOOP_WORKERS.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// unknownEnv warns about each ASSISTANT_* variable of environ that sets no
// key: a misspelt override is otherwise silently ignored. The warning
// suggests the nearest known name when one is close.
func unknownEnv(environ []string, known map[string]string) []string {
	names := make([]string, 0, len(known))
	isKnown := make(map[string]bool, len(known))
	for key := range known {
		n := EnvName(key)
		names = append(names, n)
		isKnown[n] = true
	}
	sort.Strings(names)
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || isKnown[name] {
			continue
		}
		w := fmt.Sprintf("environment variable %s sets no configuration key and is ignored", name)
		if near := nearest(name, names); near != "" {
			w += fmt.Sprintf(" (did you mean %s?)", near)
		}
		warnings = append(warnings, w)
	}
	sort.Strings(warnings)
	return warnings
}

// nearest returns the candidate closest to name by edit distance, or "" when
// none is within a fifth of name's length, or 2 edits for a short name (a
// guess further off misleads more than it helps).
func nearest(name string, candidates []string) string {
	best, bestDist := "", max(len(name)/5, 2)+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes: the names are
// ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
