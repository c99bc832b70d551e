package config

import (
	"slices"
	"strings"
	"testing"
)

// renamedSections is testSections with a block that moved two keys to
// stores:.
func renamedSections() []Section {
	secs := slices.Clone(testSections)
	secs[0].Renamed = map[string]string{
		"vector_store": "stores.vector.backend",
		"qdrant.url":   "stores.vector.qdrant.url",
	}
	return secs
}

func TestStoresSection(t *testing.T) {
	cases := []struct {
		name        string
		file        string
		env         map[string]string
		wantBackend string
		wantURL     string
		wantErr     string // a key the error names
		wantWarning string
	}{
		{name: "defaults", wantBackend: "postgres", wantURL: "http://localhost:6334"},
		{name: "file", file: "stores:\n  vector:\n    backend: qdrant\n    qdrant:\n      url: https://q:6334\n",
			wantBackend: "qdrant", wantURL: "https://q:6334"},
		{name: "seed variable over the file", file: "stores:\n  vector:\n    backend: qdrant\n    qdrant:\n      url: https://q:6334\n",
			env: map[string]string{"QDRANT_URL": "https://env:6334"}, wantBackend: "qdrant", wantURL: "https://env:6334"},
		{name: "invalid seed variable is checked", file: "stores:\n  vector:\n    backend: qdrant\n",
			env: map[string]string{"QDRANT_URL": "qdrant:6334"}, wantErr: "stores.vector.qdrant.url"},
		{name: "generic variable", env: map[string]string{"ASSISTANT_STORES_GRAPH_BACKEND": "arango"}, wantErr: "stores.graph.backend"},
		{name: "renamed key in the file", file: "stages:\n  demo:\n    vector_store: qdrant\n    qdrant:\n      url: https://old:6334\n",
			wantBackend: "qdrant", wantURL: "https://old:6334", wantWarning: "stages.demo.vector_store is deprecated: set stores.vector.backend"},
		{name: "renamed key in the environment", env: map[string]string{"ASSISTANT_STAGES_DEMO_VECTOR_STORE": "qdrant"},
			wantBackend: "qdrant", wantURL: "http://localhost:6334", wantWarning: "ASSISTANT_STORES_VECTOR_BACKEND"},
		{name: "renamed key agreeing with its replacement", file: "stores:\n  vector:\n    backend: qdrant\nstages:\n  demo:\n    vector_store: qdrant\n",
			wantBackend: "qdrant", wantURL: "http://localhost:6334", wantWarning: "deprecated"},
		{name: "renamed key contradicting its replacement", file: "stores:\n  vector:\n    backend: qdrant\nstages:\n  demo:\n    vector_store: postgres\n",
			wantErr: "stages.demo.vector_store"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			} else {
				t.Chdir(t.TempDir())
			}
			rep, err := Inspect(path, renamedSections()...)
			if err != nil {
				t.Fatal(err)
			}
			err = rep.Err()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Config.Stores.Vector.Backend; got != tt.wantBackend {
				t.Errorf("vector backend %q, want %q", got, tt.wantBackend)
			}
			if got := rep.Config.Stores.Vector.Qdrant.URL; got != tt.wantURL {
				t.Errorf("qdrant url %q, want %q", got, tt.wantURL)
			}
			warned := slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, tt.wantWarning) })
			if tt.wantWarning != "" && !warned {
				t.Errorf("warnings %q, want one containing %q", rep.Warnings, tt.wantWarning)
			}
			if tt.wantWarning == "" && len(rep.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", rep.Warnings)
			}
		})
	}
}
