// Package deploy holds the container files (docker-compose.yml; the
// Dockerfile lives at the repository root) and the tests that keep them
// true: every compose service has a health check, the daemon's is the
// binary's own probe, the image is built with its version and revision, and
// only what the default stages use starts by default.
package deploy

import (
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type composeFile struct {
	Services map[string]struct {
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Build   struct {
			Args map[string]string `yaml:"args"`
		} `yaml:"build"`
		Profiles    []string `yaml:"profiles"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var byDefault, daemons []string
	for name, s := range f.Services {
		if len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no healthcheck", name)
		}
		if len(s.Profiles) == 0 {
			byDefault = append(byDefault, name)
		}
		if !slices.Contains(s.Command, "run") {
			continue
		}
		daemons = append(daemons, name)
		if got := strings.Join(s.Healthcheck.Test, " "); !strings.HasPrefix(got, "CMD assistant healthcheck --ready") {
			t.Errorf("daemon %s: healthcheck %q, want the binary's own probe", name, got)
		}
		for _, arg := range []string{"VERSION", "REVISION"} {
			if _, ok := s.Build.Args[arg]; !ok {
				t.Errorf("daemon %s: no %s build argument", name, arg)
			}
		}
		for dep, d := range s.DependsOn {
			if len(f.Services[dep].Profiles) > 0 {
				t.Errorf("daemon %s depends on %s, which only starts with a profile", name, dep)
			}
			if d.Condition != "service_healthy" {
				t.Errorf("daemon %s waits for %s to be %q, want service_healthy", name, dep, d.Condition)
			}
		}
	}
	sort.Strings(byDefault)
	// The default stages and the api role use Redis and PostgreSQL only.
	if want := []string{"api", "cleaner", "enricher", "indexer", "persister", "postgres", "redis", "tagger"}; !slices.Equal(byDefault, want) {
		t.Errorf("started by default: %v, want %v (the rest behind profiles)", byDefault, want)
	}
	if len(daemons) == 0 {
		t.Error("no daemon service")
	}
}

func TestDockerfileHealthcheck(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, want := range []string{
		"HEALTHCHECK ", `CMD ["assistant", "healthcheck", "--ready"`,
		"ARG REVISION", "cli.revision=${REVISION}", "ARG VERSION", "cli.version=${VERSION}",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
}
