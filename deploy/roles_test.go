package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/stages/all"
)

// TestEveryEnabledStageRuns reads the compose file and the k8s manifests
// and checks that each runs the whole pipeline config.yaml enables: every
// enabled stage in some role (so no stream's consumer group is left
// without a consumer and no lag grows forever), and the api role, with its
// port published (compose) or behind a Service (k8s).
func TestEveryEnabledStageRuns(t *testing.T) {
	for _, name := range config.EnvNames() {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	reg := all.Registry()
	cfg, err := reg.LoadConfig(filepath.Join("..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var enabled []string
	for _, name := range reg.Names() {
		if cfg.StageEnabled(name) {
			enabled = append(enabled, name)
		}
	}
	if len(enabled) < 5 {
		t.Fatalf("config.yaml enables %v: fewer stages than this test was written for", enabled)
	}

	deployments := map[string][]string{
		"docker-compose.yml": composeRoles(t),
		"k8s":                k8sRoles(t),
	}
	for where, roles := range deployments {
		runs := map[string]bool{}
		for _, r := range roles {
			for _, s := range strings.Split(r, ",") {
				runs[s] = true
			}
		}
		for _, s := range enabled {
			if !runs[s] {
				t.Errorf("%s: stage %s is enabled in config.yaml but runs in no role (roles: %v)", where, s, roles)
			}
		}
		// Every stream an enabled stage reads has a consumer for each
		// enabled group on it.
		for _, stream := range reg.Streams(cfg.Streams) {
			for _, group := range reg.Readers(cfg.Streams, stream) {
				if slices.Contains(enabled, group) && !runs[group] {
					t.Errorf("%s: stream %s: group %s has no consumer", where, stream, group)
				}
			}
		}
		if !runs["api"] {
			t.Errorf("%s: no role serves the API and the console (--stages=...,api); roles: %v", where, roles)
		}
	}
}

// composeRoles returns the --stages of every compose service that runs the
// daemon, checking that the api role's service publishes its port.
func composeRoles(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Ports       []string          `yaml:"ports"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var roles []string
	for name, s := range f.Services {
		if len(s.Command) == 0 || s.Command[0] != "run" {
			continue
		}
		stages, ok := stagesArg(s.Command)
		if !ok {
			t.Errorf("compose service %s: run without --stages", name)
			continue
		}
		roles = append(roles, stages)
		if slices.Contains(strings.Split(stages, ","), "api") {
			addr := s.Environment["ASSISTANT_API_ADDR"]
			_, port, _ := strings.Cut(addr, ":")
			published := false
			for _, p := range s.Ports {
				if port != "" && strings.HasSuffix(p, ":"+port) {
					published = true
				}
			}
			if !published {
				t.Errorf("compose service %s serves the API on %q but publishes %v", name, addr, s.Ports)
			}
		}
	}
	return roles
}

// k8sRoles returns the --stages of every Deployment, checking that a
// Service selects the api role's pods.
func k8sRoles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("k8s", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type object struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Containers []struct {
						Args []string `yaml:"args"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	var roles []string
	var apiLabels []map[string]string
	var serviceSelectors []map[string]string
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			var o object
			if err := doc.Decode(&o); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			switch o.Kind {
			case "Deployment":
				for _, c := range o.Spec.Template.Spec.Containers {
					stages, ok := stagesArg(c.Args)
					if !ok {
						t.Errorf("Deployment %s: args %v without --stages", o.Metadata.Name, c.Args)
						continue
					}
					roles = append(roles, stages)
					if slices.Contains(strings.Split(stages, ","), "api") {
						apiLabels = append(apiLabels, o.Spec.Template.Metadata.Labels)
					}
				}
			case "Service":
				var svc struct {
					Spec struct {
						Selector map[string]string `yaml:"selector"`
					} `yaml:"spec"`
				}
				if err := doc.Decode(&svc); err == nil {
					serviceSelectors = append(serviceSelectors, svc.Spec.Selector)
				}
			}
		}
	}
	selected := false
	for _, sel := range serviceSelectors {
		for _, labels := range apiLabels {
			match := len(sel) > 0
			for k, v := range sel {
				if labels[k] != v {
					match = false
				}
			}
			selected = selected || match
		}
	}
	if !selected {
		t.Error("k8s: no Service selects the pods of the api role")
	}
	return roles
}

// stagesArg is the value of --stages=... (or --stages ...) in args.
func stagesArg(args []string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--stages="); ok {
			return v, true
		}
		if a == "--stages" && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}
